// Package netloop is the user service layer: it accepts TCP connections on a
// netpoll event loop, upgrades them to WebSocket with gobwas/ws, reads client
// frames when data is ready, and writes queued frames without ever blocking
// the loop. No goroutine is kept per connection.
//
//	srv := netloop.New(netloop.Config{Handler: handler}) // handler speaks the protocol on /ws
//	ln, _ := net.Listen("tcp", ":8080")
//	go srv.Serve(ln)          // returns after Shutdown
//	...
//	srv.Shutdown(ctx)         // every client gets close 1001
//
// A graceful drain (drain.go) comes before Shutdown: BeginDrain refuses new
// upgrades with 503, CloseSome closes open connections with 1001 a batch at
// a time, paced by the caller.
//
// Reading: netpoll calls OnRequest on a pooled goroutine, one at a time per
// connection. The handler consumes every byte it is given: whole frames are
// handled in place (unmasked in netpoll's buffer), and a partial frame or
// handshake is copied into the connection's own pending buffer, bounded by
// the message and handshake limits, to be parsed once it is complete. A
// client sending one byte a second therefore holds no goroutine.
//
// Writing: every byte a connection sends, from the handshake response to
// pushes, pongs and close frames, goes through its bounded queue of shared
// frames (see conn_write.go). Writer goroutines, a fixed number, drain the
// queues with one writev(2) per connection per round, so several queued
// frames leave in one system call.
//
// The transport knows bytes, frames and close codes, not keys: a Handler
// (handler.go) gets each upgraded connection's messages and its close.
//
// Lock order: conn.wmu, then conn.mu, then writer.mu; registry.mu and
// closer.mu are taken alone.
package netloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/gobwas/ws"

	"edgepush/frame"
)

// ErrNotTCP is returned by Serve for a listener that is not TCP.
var ErrNotTCP = errors.New("netloop: listener is not a *net.TCPListener")

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("netloop: server closed")

// Server is a WebSocket edge. It is safe for concurrent use.
type Server struct {
	cfg      Config
	frames   *frame.Pool
	controls *frame.Controls
	upgrader ws.Upgrader           // the zero value: RFC 6455 checks, no extensions
	files    map[string]staticFile // Config.Files as whole responses
	metrics  metrics
	latency  *latency // nil with Config.NoHistograms
	registry registry
	closer   closer
	writers  []*writer
	nextID   atomic.Uint64
	closing  atomic.Bool
	draining atomic.Bool  // BeginDrain was called: upgrades get 503
	open     atomic.Int64 // connections in phaseOpen (see OpenConns)
	stop     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex // guards the following fields
	loop    netpoll.EventLoop
	serving chan struct{} // closed when Serve returns; nil before Serve
}

// New returns a server; cfg.Handler speaks the protocol on /ws.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		frames:   cfg.Frames,
		controls: frame.NewControls(),
		files:    compileFiles(cfg.Files),
		stop:     make(chan struct{}),
	}
	s.registry.init()
	s.closer.init()
	if !cfg.NoHistograms {
		s.latency = newLatency(cfg.Writers)
	}
	s.writers = make([]*writer, cfg.Writers)
	for i := range s.writers {
		s.writers[i] = newWriter(&s.metrics, s.latency.part(i))
		go s.writers[i].run(s.stop)
	}
	go s.sweep()
	go s.closer.run(s.stop)
	return s
}

// Wake wakes every writer that has connections queued by Conn.Queue: the
// end of a fan-out.
func (s *Server) Wake() {
	for _, w := range s.writers {
		w.wakeIfPending()
	}
}

// Serve accepts connections on ln until Shutdown. ln must be a
// *net.TCPListener (one from net.ListenConfig with SO_REUSEPORT works).
func (s *Server) Serve(ln net.Listener) error {
	if _, ok := ln.(*net.TCPListener); !ok {
		return ErrNotTCP
	}
	loop, err := netpoll.NewEventLoop(s.onRequest,
		netpoll.WithOnPrepare(s.onPrepare),
		netpoll.WithWriteTimeout(s.cfg.WriteTimeout),
	)
	if err != nil {
		return fmt.Errorf("netloop: event loop: %w", err)
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close() // shut down before it served: nobody else closes it
		return ErrServerClosed
	}
	s.loop = loop
	serving := make(chan struct{})
	s.serving = serving
	s.mu.Unlock()
	defer close(serving)
	if err := loop.Serve(ln); err != nil && !s.closing.Load() {
		return fmt.Errorf("netloop: serve: %w", err)
	}
	return ErrServerClosed
}

// stopLoop shuts the event loop down and waits for Serve to return. A
// Shutdown may come between Serve's start and the loop's: netpoll's
// Shutdown then finds nothing to stop, so it is repeated until Serve
// returns or ctx is done.
func (s *Server) stopLoop(ctx context.Context) error {
	s.mu.Lock()
	loop, serving := s.loop, s.serving
	s.mu.Unlock()
	if loop == nil {
		return nil
	}
	for {
		err := loop.Shutdown(ctx)
		select {
		case <-serving:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Shutdown stops accepting, sends close 1001 to every client, waits for them
// to close (at most CloseTimeout, or until ctx is done) and then closes what
// is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	for _, c := range s.registry.snapshot(nil) {
		c.fail(closeShutdown)
	}
	wait, cancel := context.WithTimeout(ctx, s.cfg.CloseTimeout)
	s.registry.waitEmpty(wait)
	cancel()
	err := s.stopLoop(ctx)
	for _, c := range s.registry.snapshot(nil) {
		c.nc.Close()
	}
	s.stopOnce.Do(func() { close(s.stop) })
	return err
}

// Stats are a server's gauges.
type Stats struct {
	Connections int // open TCP connections, upgraded or not
}

// Stats returns the server's gauges.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.registry.count()}
}

// registry holds every open connection, for the keepalive sweep and
// shutdown.
type registry struct {
	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}
	empty chan struct{} // closed and replaced when conns becomes empty
}

func (r *registry) init() {
	r.conns = make(map[*conn]struct{})
	r.empty = make(chan struct{})
}

func (r *registry) add(c *conn) {
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.mu.Unlock()
}

func (r *registry) remove(c *conn) {
	r.mu.Lock()
	delete(r.conns, c)
	if len(r.conns) == 0 {
		close(r.empty)
		r.empty = make(chan struct{})
	}
	r.mu.Unlock()
}

func (r *registry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// snapshot appends every connection to dst.
func (r *registry) snapshot(dst []*conn) []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		dst = append(dst, c)
	}
	return dst
}

// waitEmpty returns when no connection is left or ctx is done.
func (r *registry) waitEmpty(ctx context.Context) {
	r.mu.Lock()
	if len(r.conns) == 0 {
		r.mu.Unlock()
		return
	}
	empty := r.empty
	r.mu.Unlock()
	select {
	case <-empty:
	case <-ctx.Done():
	}
}

// now is the server's clock for timeouts, in unix nanoseconds.
func now() int64 { return time.Now().UnixNano() }
