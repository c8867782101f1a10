package netloop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"

	"edgepush/frame"
)

// phase is where a connection is in its life.
type phase int32

const (
	phaseHandshake phase = iota // reading the HTTP request head
	phaseOpen                   // WebSocket frames flow both ways
	phaseClosing                // a close frame or final HTTP response is queued; input is discarded
)

// route is what an upgraded connection speaks.
type route uint8

const (
	routePush route = iota // /ws: the Handler's protocol
	routeEcho              // /echo: every message sent back
)

// conn is one client connection.
//
// Lock rules: the read-side fields are touched only by onRequest, which
// netpoll runs once at a time per connection, and by the close callback,
// which netpoll runs after the last onRequest has returned. mu guards the
// write queue; wmu guards the file descriptor (see conn_write.go). Neither
// is held while calling the session.
type conn struct {
	server *Server
	nc     netpoll.Connection
	fd     int
	writer *writer

	phase        atomic.Int32 // a phase
	createdAt    int64        // unix ns
	lastRead     atomic.Int64 // unix ns of the last bytes read
	pingSent     atomic.Int64 // unix ns of an unanswered keepalive ping, or 0
	partialSince atomic.Int64 // unix ns since a partial frame is pending, or 0
	messageSince atomic.Int64 // unix ns of the first frame of a fragmented message in progress, or 0
	closingSince atomic.Int64 // unix ns of entering phaseClosing, or 0
	reason       atomic.Int32 // the closeReason recorded first

	// Read side.
	route    route
	pending  []byte   // bytes of a partial frame or request head, owned copy
	message  *message // the fragmented message being reassembled, or nil
	text     utf8Stream
	unmasked int64   // payload bytes of the pending frame already unmasked and checked
	session  Session // on routePush once upgraded; ended by the closer

	// Write side.
	mu        sync.Mutex // guards the following fields
	queue     []*frame.Frame
	spare     []*frame.Frame // owned by whoever holds scheduled
	queued    int            // bytes in queue and in netpoll's output buffer
	scheduled bool           // a writer or a flush goroutine owns the drain
	refusing  bool           // no more frames are accepted
	after     afterWrite     // what to do once the queue is written

	wmu      sync.Mutex // guards fdClosed, handed and every use of fd and nc.Writer()
	fdClosed bool
	handed   handedFrames // the last hand-off to netpoll's buffer
}

// afterWrite is what the writer does once it has written what is queued.
type afterWrite uint8

const (
	afterNothing  afterWrite = iota
	afterShutdown            // half-close: the peer answers our close frame and hangs up
)

// A conn is the context netpoll hands back to onRequest: it carries no
// deadline, cancellation or values, and saves an allocation per connection
// over context.WithValue.
func (c *conn) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *conn) Done() <-chan struct{}       { return nil }
func (c *conn) Err() error                  { return nil }
func (c *conn) Value(any) any               { return nil }

// onPrepare runs when netpoll accepts a connection, before any I/O.
func (s *Server) onPrepare(nc netpoll.Connection) context.Context {
	c := &conn{server: s, nc: nc, createdAt: now()}
	c.lastRead.Store(c.createdAt)
	if fc, ok := nc.(netpoll.Conn); ok {
		c.fd = fc.Fd()
	}
	c.writer = s.writers[s.nextID.Add(1)%uint64(len(s.writers))]
	s.metrics.add(counterAccepted, 1)
	s.registry.add(c)
	nc.AddCloseCallback(c.onClose)
	if s.closing.Load() || c.fd <= 0 {
		s.metrics.reject(rejectShutdown)
		c.recordReason(reasonShutdown)
		nc.Close()
	}
	return c
}

// onClose runs once, when netpoll closes the connection and before it
// closes the file descriptor.
func (c *conn) onClose(netpoll.Connection) error {
	if c.phase.CompareAndSwap(int32(phaseOpen), int32(phaseClosing)) {
		c.server.open.Add(-1) // gone without a closing handshake
		c.closingSince.Store(now())
	}
	c.wmu.Lock()
	c.fdClosed = true
	c.wmu.Unlock()
	c.mu.Lock()
	c.refusing = true // what is queued, its owner releases (see flush)
	c.mu.Unlock()
	if c.session != nil {
		c.server.closer.add(c.session)
		c.session = nil
	}
	c.recordReason(reasonPeerGone)
	c.server.metrics.closed(closeReason(c.reason.Load()))
	c.server.registry.remove(c)
	return nil
}

// recordReason keeps the first reason the connection ends for.
func (c *conn) recordReason(r closeReason) {
	c.reason.CompareAndSwap(int32(reasonNone), int32(r))
}
