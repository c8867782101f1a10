package frame

import (
	"github.com/gobwas/ws"
	"github.com/valyala/bytebufferpool"
)

// Static returns a frame that is never returned to a pool: Retain and
// Release are no-ops on it. Use it for prebuilt control frames.
func Static(b []byte) *Frame {
	return &Frame{buf: &bytebufferpool.ByteBuffer{B: b}, static: true}
}

// Controls holds the prebuilt control frames a server sends.
type Controls struct {
	Ping  *Frame // an empty ping
	close map[ws.StatusCode]*Frame
}

// closeReasons are the texts sent with the server's close codes.
var closeReasons = map[ws.StatusCode]string{
	ws.StatusNormalClosure:           "",
	ws.StatusGoingAway:               "server shutting down",
	ws.StatusProtocolError:           "protocol error",
	ws.StatusUnsupportedData:         "unsupported data",
	ws.StatusInvalidFramePayloadData: "invalid UTF-8",
	ws.StatusPolicyViolation:         "policy violation",
	ws.StatusMessageTooBig:           "message too big",
	ws.StatusInternalServerError:     "internal error",
}

// NewControls compiles the control frames.
func NewControls() *Controls {
	c := &Controls{
		Ping:  Static(ws.MustCompileFrame(ws.NewPingFrame(nil))),
		close: make(map[ws.StatusCode]*Frame, len(closeReasons)),
	}
	for code, reason := range closeReasons {
		body := ws.NewCloseFrameBody(code, reason)
		c.close[code] = Static(ws.MustCompileFrame(ws.NewCloseFrame(body)))
	}
	return c
}

// Close returns the close frame for code: prebuilt for the codes the server
// sends itself, built from pool for any other (an echoed client code).
func (c *Controls) Close(pool *Pool, code ws.StatusCode) *Frame {
	if f, ok := c.close[code]; ok {
		return f
	}
	return pool.Build(ws.OpClose, func(dst []byte) []byte {
		return append(dst, byte(code>>8), byte(code))
	})
}
