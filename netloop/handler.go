package netloop

import (
	"github.com/gobwas/ws"

	"edgepush/frame"
)

// Handler speaks a protocol over the connections upgraded on /ws; the
// transport knows nothing of it but its messages. The push protocol's
// handler is package netloop/session.
type Handler interface {
	// Open starts the session of a connection just upgraded. It runs on the
	// connection's reading goroutine, before any Message.
	Open(c Conn) Session
}

// Session is one connection's protocol state.
//
// Message and Closed are called one at a time: Message for each whole
// message as it is read, on netpoll's goroutine for the connection (so a
// Message that blocks delays only its own connection); Closed once, after
// the last Message has returned, on the transport's closer goroutine, never
// on a writer or the sweep.
type Session interface {
	// Message handles one whole client message: op is ws.OpText (valid
	// UTF-8) or ws.OpBinary. data is valid only during the call.
	Message(op ws.OpCode, data []byte)
	// Closed ends the session: the connection is gone.
	Closed()
}

// Conn is a connection as its Session sees it. Its methods are safe for
// concurrent use and never block.
type Conn interface {
	// Send queues f and wakes the connection's writer. It reports false if
	// the connection refused f (closing, or over MaxPending: then it is cut
	// off as a slow consumer). It takes its own reference to f.
	Send(f *frame.Frame) bool
	// Queue is Send without the wake: the writer starts on the next Send or
	// Server.Wake. For fan-outs, which call Wake once at the end.
	Queue(f *frame.Frame) bool
	// Close starts the closing handshake with code; later frames are
	// refused.
	Close(code ws.StatusCode)
	// Frames is the pool the connection's own frames come from.
	Frames() *frame.Pool
}
