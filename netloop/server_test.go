package netloop

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"edgepush/frame"
)

// testServer is a server listening on 127.0.0.1 for one test, with the
// test protocol on /ws.
type testServer struct {
	*Server
	handler *testHandler
	Addr    string // host:port
}

// testHandler is the transport tests' protocol: every text message is
// answered {"op":"ack"} and makes the connection a subscriber of
// publish, which queues one frame to every subscriber as a fan-out does;
// a binary message closes with 1003.
type testHandler struct {
	server *Server

	mu       sync.Mutex // guards sessions
	sessions map[*testSession]bool
}

type testSession struct {
	handler *testHandler
	conn    Conn
}

func newTestHandler() *testHandler { return &testHandler{sessions: map[*testSession]bool{}} }

func (h *testHandler) Open(c Conn) Session { return &testSession{handler: h, conn: c} }

func (s *testSession) Message(op ws.OpCode, _ []byte) {
	if op != ws.OpText {
		s.conn.Close(ws.StatusUnsupportedData)
		return
	}
	s.handler.mu.Lock()
	s.handler.sessions[s] = true
	s.handler.mu.Unlock()
	f := s.conn.Frames().Message(ws.OpText, []byte(`{"op":"ack"}`))
	s.conn.Send(f)
	f.Release()
}

func (s *testSession) Closed() {
	s.handler.mu.Lock()
	delete(s.handler.sessions, s)
	s.handler.mu.Unlock()
}

// publish queues one push to every subscriber and wakes the writers once;
// it returns how many took it.
func (h *testHandler) publish(kind ws.OpCode, data []byte) int {
	push := frame.Push{App: "test", ID: "k", Seq: 1, TS: 1, Data: data}
	var f *frame.Frame
	if kind == ws.OpBinary {
		f = h.server.frames.Binary(push)
	} else {
		f = h.server.frames.Text(push)
	}
	defer f.Release()
	h.mu.Lock()
	n := 0
	for s := range h.sessions {
		if s.conn.Queue(f) {
			n++
		}
	}
	h.mu.Unlock()
	h.server.Wake()
	return n
}

// subscribers returns how many sessions are open and subscribed.
func (h *testHandler) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// startServer starts a server with cfg and stops it when the test ends.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	handler := newTestHandler()
	cfg.Handler = handler
	srv := New(cfg)
	handler.server = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return &testServer{Server: srv, handler: handler, Addr: ln.Addr().String()}
}

// waitFor polls cond every few milliseconds until it holds or the deadline
// passes; it reports whether it held.
func waitFor(deadline time.Duration, cond func() bool) bool {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}
