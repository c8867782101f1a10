package netloop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// rawUpgrade dials addr and completes a WebSocket handshake on a plain
// net.Conn, which starts no goroutine of its own.
func rawUpgrade(addr string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReaderSize(nc, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake status %d", resp.StatusCode)
	}
	return nc, br, nil
}

// TestGoroutinesDoNotGrowWithConnections opens 5,000 connections, each
// subscribed to one key, pushes one value to all of them, and checks that
// the server's goroutine count stays flat.
func TestGoroutinesDoNotGrowWithConnections(t *testing.T) {
	const conns = 5000
	srv := startServer(t, Config{})
	time.Sleep(50 * time.Millisecond) // let the loop's own goroutines start
	before := runtime.NumGoroutine()

	clients := make([]net.Conn, 0, conns)
	readers := make([]*bufio.Reader, 0, conns)
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	sub := clientFrame(true, 1, []byte(`{"op":"sub","app":"load","ids":["k"]}`))
	for i := 0; i < conns; i++ {
		nc, br, err := rawUpgrade(srv.Addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		clients = append(clients, nc)
		readers = append(readers, br)
		if _, err := nc.Write(sub); err != nil {
			t.Fatalf("connection %d: write sub: %v", i, err)
		}
	}
	for i, br := range readers {
		if ack, err := readServerFrame(br); err != nil || !bytes.Contains(ack, []byte(`"ack"`)) {
			t.Fatalf("connection %d: sub answer %q, %v", i, ack, err)
		}
	}
	during := runtime.NumGoroutine()
	if grown := during - before; grown > 50 {
		t.Fatalf("goroutines grew by %d with %d connections (%d before, %d after)", grown, conns, before, during)
	}

	if n := srv.handler.publish(ws.OpText, []byte(`"all"`)); n != conns {
		t.Fatalf("publish delivered %d, want %d", n, conns)
	}
	for i, br := range readers {
		push, err := readServerFrame(br)
		if err != nil || !bytes.Contains(push, []byte(`"data":"all"`)) {
			t.Fatalf("connection %d: push %q, %v", i, push, err)
		}
	}
	t.Logf("%d connections: %d goroutines before, %d with them open", conns, before, during)
}

// readServerFrame reads one unmasked server frame and returns its payload.
func readServerFrame(br *bufio.Reader) ([]byte, error) {
	var head [10]byte
	if _, err := io.ReadFull(br, head[:2]); err != nil {
		return nil, err
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(br, head[2:4]); err != nil {
			return nil, err
		}
		n = uint64(head[2])<<8 | uint64(head[3])
	case 127:
		if _, err := io.ReadFull(br, head[2:10]); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range head[2:10] {
			n = n<<8 | uint64(b)
		}
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(br, payload)
	return payload, err
}
