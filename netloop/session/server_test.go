package session

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"edgepush/hub"
	"edgepush/netloop"
)

// testServer is the whole push stack on a loopback port: transport,
// session, hub, pipeline and the in-memory store.
type testServer struct {
	*netloop.Server
	Hub      *hub.Hub
	Pipeline *hub.Pipeline
	Store    *hub.MemoryStore
	Addr     string     // host:port
	done     chan error // Serve's result, sent once
	stopOnce sync.Once
}

// startServer starts the stack with cfg and store settings on addr
// ("127.0.0.1:0" for any port) and stops it when the test ends.
func startServer(t testing.TB, cfg Config, storeCfg hub.MemoryStoreConfig, addr string) *testServer {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	var srv *netloop.Server
	h := hub.New(hub.Config{Wake: func() { srv.Wake() }})
	storeCfg.Watched = h.Watched
	store := hub.NewMemoryStore(storeCfg)
	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
	srv = netloop.New(netloop.Config{Handler: New(cfg, h, p), Logger: cfg.Logger})
	ln, err := listenRetry(addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	ts := &testServer{Server: srv, Hub: h, Pipeline: p, Store: store, Addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// listenRetry listens on addr, retrying a port still held by a server
// just stopped.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 200 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// stop shuts the stack down, once, and waits until Serve has returned and
// the port is free.
func (ts *testServer) stop(t testing.TB) {
	ts.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ts.Shutdown(ctx)
		ts.Store.Close()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
}

// publish publishes data as text to app/id and fails the test on error.
func (ts *testServer) publish(t testing.TB, app, id, data string) hub.Result {
	t.Helper()
	r, err := ts.Pipeline.Publish(context.Background(), hub.Key{App: app, ID: id}, hub.Text, []byte(data))
	if err != nil {
		t.Fatalf("publish %s/%s: %v", app, id, err)
	}
	return r
}

// waitFor polls cond until it holds or the deadline passes.
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
