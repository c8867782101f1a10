package netloop

import (
	"net/http"
	"strconv"

	"edgepush/frame"
)

// Draining takes a server out of service without cutting every client off
// in the same instant:
//
//	srv.BeginDrain()              // upgrades now get 503 with Retry-After
//	for srv.OpenConns() > 0 {     // the caller paces, e.g. over 30 s
//		srv.CloseSome(batch)      // close 1001 to batch more clients
//		time.Sleep(tick)
//	}
//	srv.Shutdown(ctx)             // whatever is left, then the event loop
//
// The transport only refuses and closes; how many to close when is the
// caller's (cmd/edgepush spreads the closes evenly over -drain-timeout).
// No goroutine is started per connection: CloseSome queues each close frame
// on the connection's writer, as any other frame.

// DrainRetryAfter is the Retry-After, in seconds, of the 503 that answers an
// upgrade during a drain or a shutdown: a client (or a proxy) that honours
// it comes back after the node has left its load balancer's pool.
const DrainRetryAfter = 5

// unavailableResponse answers every upgrade while the server drains or
// shuts down; it is shared by all servers and never released.
var unavailableResponse = frame.Static(appendResponse(nil, http.StatusServiceUnavailable,
	"Retry-After: "+strconv.Itoa(DrainRetryAfter)+"\r\n", "text/plain; charset=utf-8",
	[]byte("draining: connect to another node\n"), false))

// BeginDrain starts a drain: from now on every WebSocket upgrade (on /ws
// and /echo) is answered 503 with a Retry-After header instead of 101.
// Connections already open stay open until CloseSome or Shutdown closes
// them; static files are still served. It is idempotent, safe for
// concurrent use, and cannot be undone.
func (s *Server) BeginDrain() { s.draining.Store(true) }

// Draining reports whether BeginDrain (or Shutdown) was called.
func (s *Server) Draining() bool { return s.draining.Load() || s.closing.Load() }

// OpenConns returns the number of upgraded connections that are open and
// have not started closing: what a drain still has to close. It is one
// atomic load, cheap enough to call on every tick of a pacer.
func (s *Server) OpenConns() int {
	return int(max(s.open.Load(), 0))
}

// CloseSome starts the closing handshake with close code 1001 (going away)
// on at most n open connections and returns how many it started; fewer
// than n when fewer are open, or when some of those it picked began closing
// on their own meanwhile (then the next call picks others).
//
// It runs on the caller's goroutine and starts none: it holds the registry
// lock only to pick the connections (a walk of the registry that stops once
// it has n; at worst every connection, when few are still open), then,
// without it, queues each one's close frame on its writer, which sends it;
// the client's answer or CloseTimeout ends the connection as in Shutdown. It is safe with concurrent opens,
// closes, CloseSome, BeginDrain and Shutdown: a connection is moved from
// open to closing by a single compare-and-swap, so each is closed once and
// counted once (edgepush_drain_closes_total).
func (s *Server) CloseSome(n int) int {
	if n <= 0 {
		return 0
	}
	picked := s.registry.pickOpen(make([]*conn, 0, min(n, 4096)), n)
	closed := 0
	for _, c := range picked {
		if c.goAway() {
			closed++
		}
	}
	s.metrics.add(counterDrained, closed)
	return closed
}

// goAway sends close 1001 to an open connection; it reports false if the
// connection was not open (still in its handshake, or already closing).
func (c *conn) goAway() bool {
	if phase(c.phase.Load()) != phaseOpen {
		return false
	}
	c.recordReason(reasonShutdown)
	return c.closeWith(c.server.controls.Close(c.server.frames, closeShutdown), afterShutdown)
}

// pickOpen appends to dst up to n connections in phaseOpen.
func (r *registry) pickOpen(dst []*conn, n int) []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		if len(dst) == n {
			break
		}
		if phase(c.phase.Load()) == phaseOpen {
			dst = append(dst, c)
		}
	}
	return dst
}
