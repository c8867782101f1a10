package netloop

import (
	"sync"
	"testing"

	"github.com/cloudwego/netpoll"

	"edgepush/frame"
)

// fakeConnection stands in for netpoll's connection in tests that drive a
// conn without a socket. Only Close is implemented; any other call panics.
type fakeConnection struct {
	netpoll.Connection
	mu     sync.Mutex
	closed bool
}

func (f *fakeConnection) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// newDetachedConn returns an open conn on route rt whose frames stay in
// its queue: its writer has no goroutine.
func newDetachedConn(t testing.TB, cfg Config, rt route) *conn {
	t.Helper()
	return newDetachedServer(cfg).conn(rt)
}

// newDetachedServer returns a server with no event loop, writers or sweep.
func newDetachedServer(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults()}
	s.frames = s.cfg.Frames
	s.controls = frame.NewControls()
	s.registry.init()
	s.closer.init()
	if !s.cfg.NoHistograms {
		s.latency = newLatency(1)
	}
	return s
}

// conn returns an open conn on route rt whose writer has no goroutine.
func (s *Server) conn(rt route) *conn {
	c := &conn{server: s, nc: &fakeConnection{}, writer: newWriter(&s.metrics, s.latency.part(0)), route: rt}
	c.phase.Store(int32(phaseOpen))
	return c
}

// output returns the bytes queued to c, in order, and empties the queue.
func (c *conn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	for _, f := range c.queue {
		out = append(out, f.Bytes()...)
		f.Release()
	}
	c.queue = c.queue[:0]
	c.queued = 0
	return out
}
