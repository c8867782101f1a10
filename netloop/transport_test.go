package netloop

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func dialWS(t *testing.T, addr, path string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", path, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	return ws
}

func TestBinaryOnPushRouteCloses1003(t *testing.T) {
	srv := startServer(t, Config{})
	ws := dialWS(t, srv.Addr, "/ws")
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("read after binary message: %v, want close 1003", err)
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	srv := startServer(t, Config{})
	ws := dialWS(t, srv.Addr, "/ws")
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub"}`)); err != nil {
		t.Fatal(err)
	}
	if _, ack, err := ws.ReadMessage(); err != nil || string(ack) != `{"op":"ack"}` {
		t.Fatalf("answer %q, %v; want the test protocol's ack", ack, err)
	}
	go srv.Shutdown(t.Context())
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("read during shutdown: %v, want close 1001", err)
	}
}

func TestInsertConnectionClose(t *testing.T) {
	in := append([]byte("prefix"), "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"...)
	got := string(insertConnectionClose(in, len("prefix")))
	want := "prefixHTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestShutdownRightAfterServeFreesThePort: a Shutdown that races the start
// of Serve still closes the listener, every time.
func TestShutdownRightAfterServeFreesThePort(t *testing.T) {
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		srv := New(Config{Handler: newTestHandler()})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		if i%2 == 0 {
			time.Sleep(time.Duration(i) * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		srv.Shutdown(ctx)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Serve did not return after Shutdown", i)
		}
		again, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: the port is still held after Shutdown: %v", i, err)
		}
		again.Close()
	}
}
