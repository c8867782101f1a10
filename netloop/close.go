package netloop

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"edgepush/frame"
)

// closeCode is a WebSocket close status code; closeNone means none.
type closeCode = ws.StatusCode

// The close codes the server sends.
const (
	closeNone        closeCode = 0
	closeNormal      closeCode = ws.StatusNormalClosure           // 1000
	closeShutdown    closeCode = ws.StatusGoingAway               // 1001
	closeProtocol    closeCode = ws.StatusProtocolError           // 1002
	closeUnsupported closeCode = ws.StatusUnsupportedData         // 1003
	closeBadUTF8     closeCode = ws.StatusInvalidFramePayloadData // 1007
	closePolicy      closeCode = ws.StatusPolicyViolation         // 1008
	closeTooBig      closeCode = ws.StatusMessageTooBig           // 1009
	closeTryAgain    closeCode = 1013                             // try again later
)

// reasonFor maps a close code the server sends to the reason it counts.
func reasonFor(code closeCode) closeReason {
	switch code {
	case closeShutdown:
		return reasonShutdown
	case closeProtocol:
		return reasonProtocol
	case closeUnsupported:
		return reasonUnsupported
	case closeBadUTF8:
		return reasonBadUTF8
	case closePolicy:
		return reasonPolicy
	case closeTryAgain:
		return reasonTryAgain
	case closeTooBig:
		return reasonTooBig
	}
	return reasonNone
}

// reply queues a frame the caller built and gives up the caller's
// reference to it.
func (c *conn) reply(f *frame.Frame) {
	c.enqueue(f, afterNothing, true)
	f.Release()
}

// fail starts the closing handshake with code: the close frame is the last
// thing written, then the write side is shut and the client is expected to
// hang up (the sweep closes it after CloseTimeout otherwise). Before the
// upgrade there is no handshake to start: the connection is closed.
func (c *conn) fail(code closeCode) {
	c.recordReason(reasonFor(code))
	if c.phase.CompareAndSwap(int32(phaseHandshake), int32(phaseClosing)) {
		c.closingSince.Store(now())
		c.nc.Close()
		return
	}
	c.closeWith(c.server.controls.Close(c.server.frames, code), afterShutdown)
}

// closeWith moves an open connection to phaseClosing and queues f as its
// last frame; it does nothing and reports false if the connection is not
// open.
func (c *conn) closeWith(f *frame.Frame, after afterWrite) bool {
	defer f.Release()
	if !c.phase.CompareAndSwap(int32(phaseOpen), int32(phaseClosing)) {
		return false
	}
	c.server.open.Add(-1)
	c.closingSince.Store(now())
	c.enqueue(f, after, true)
	return true
}

// handleClose answers a client's close frame (RFC 6455, section 5.5.1):
// the code is echoed, then the write side is shut. The connection is closed
// when the client hangs up (or after CloseTimeout), not at once: closing
// with unread client bytes would reset it and could destroy the answer.
func (c *conn) handleClose(payload []byte) {
	switch {
	case len(payload) == 0:
		c.recordReason(reasonClientClose)
		c.closeWith(c.server.controls.Close(c.server.frames, closeNormal), afterShutdown)
	case len(payload) == 1:
		c.fail(closeProtocol)
	default:
		code := closeCode(binary.BigEndian.Uint16(payload))
		switch {
		case !validCloseCode(code):
			c.fail(closeProtocol)
		case !utf8.Valid(payload[2:]):
			c.fail(closeBadUTF8)
		default:
			c.recordReason(reasonClientClose)
			c.closeWith(c.server.controls.Close(c.server.frames, code), afterShutdown)
		}
	}
}

// validCloseCode reports whether a client may send code: the codes RFC 6455
// and the IANA registry define for use in a close frame, and the ranges for
// libraries (3000-3999) and applications (4000-4999).
func validCloseCode(code closeCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
