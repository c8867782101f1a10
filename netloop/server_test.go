package netloop

import (
	"context"
	"net"
	"testing"
	"time"

	"edgepush/hub"
)

// testServer is a server listening on 127.0.0.1 for one test.
type testServer struct {
	*Server
	Hub  *hub.Hub
	Addr string // host:port
}

// startServer starts a server with cfg and stops it when the test ends.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	h := hub.New(hub.Config{}, hub.NewMemoryStore())
	srv := New(cfg, h)
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
	return &testServer{Server: srv, Hub: h, Addr: ln.Addr().String()}
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
