package netloop

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/internal/metricset"
)

// TestDrainRefusesUpgradesAndClosesInBatches: after BeginDrain an upgrade
// gets 503 with Retry-After while the open connections stay open; each
// CloseSome(n) sends 1001 to n more of them, and OpenConns counts down.
func TestDrainRefusesUpgradesAndClosesInBatches(t *testing.T) {
	srv := startServer(t, Config{})
	const total = 10
	clients := make([]*websocket.Conn, total)
	for i := range clients {
		clients[i] = dialWS(t, srv.Addr, "/ws")
	}
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == total }) {
		t.Fatalf("OpenConns = %d, want %d", srv.OpenConns(), total)
	}

	srv.BeginDrain()
	if !srv.Draining() {
		t.Fatal("Draining() = false after BeginDrain")
	}
	status, header := upgradeStatus(t, srv.Addr, "/ws")
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") != strconv.Itoa(DrainRetryAfter) {
		t.Fatalf("upgrade during a drain: %d, Retry-After %q; want 503, %d", status, header.Get("Retry-After"), DrainRetryAfter)
	}
	if got := srv.OpenConns(); got != total {
		t.Fatalf("OpenConns = %d right after BeginDrain, want %d (nothing closed yet)", got, total)
	}

	var (
		mu     sync.Mutex
		codes  = map[int]int{}
		wg     sync.WaitGroup
		closed = make(chan struct{}, total)
	)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, _, err := c.ReadMessage()
			code := -1
			if ce, ok := err.(*websocket.CloseError); ok {
				code = ce.Code
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
			closed <- struct{}{}
		}()
	}

	if n := srv.CloseSome(3); n != 3 {
		t.Fatalf("CloseSome(3) = %d, want 3", n)
	}
	for range 3 {
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			t.Fatal("a client closed by CloseSome(3) saw no close")
		}
	}
	if got := srv.OpenConns(); got != total-3 {
		t.Fatalf("OpenConns = %d after CloseSome(3), want %d", got, total-3)
	}
	select {
	case <-closed:
		t.Fatal("a fourth client was closed by CloseSome(3)")
	case <-time.After(100 * time.Millisecond):
	}
	if n := srv.CloseSome(100); n != total-3 {
		t.Fatalf("CloseSome(100) = %d, want the %d left", n, total-3)
	}
	if n := srv.CloseSome(1); n != 0 {
		t.Fatalf("CloseSome(1) with none open = %d, want 0", n)
	}
	wg.Wait()
	if codes[websocket.CloseGoingAway] != total {
		t.Fatalf("close codes seen by the clients: %v, want %d × 1001", codes, total)
	}
	if got := srv.metrics.counters[counterDrained].Load(); got != total {
		t.Fatalf("edgepush_drain_closes_total = %d, want %d", got, total)
	}
	m, err := metricset.Text(srv.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"edgepush_drain_closes_total 10\n", "edgepush_draining 1\n"} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// TestOpenConnsCountsPeerGone: a client that hangs up without a close frame
// leaves OpenConns as one that closes properly does.
func TestOpenConnsCountsPeerGone(t *testing.T) {
	srv := startServer(t, Config{})
	a := dialWS(t, srv.Addr, "/ws")
	b := dialWS(t, srv.Addr, "/ws")
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == 2 }) {
		t.Fatalf("OpenConns = %d, want 2", srv.OpenConns())
	}
	a.NetConn().Close() // no close frame
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == 1 }) {
		t.Fatalf("OpenConns = %d after a client hung up, want 1", srv.OpenConns())
	}
	b.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == 0 }) {
		t.Fatalf("OpenConns = %d after a client closed, want 0", srv.OpenConns())
	}
	if n := srv.CloseSome(5); n != 0 {
		t.Fatalf("CloseSome(5) with none open = %d, want 0", n)
	}
}

// TestCloseSomeConcurrent: CloseSome from several goroutines while clients
// connect and hang up closes each connection at most once, and the counts
// add up (run with -race).
func TestCloseSomeConcurrent(t *testing.T) {
	srv := startServer(t, Config{})
	const total = 40
	clients := make([]*websocket.Conn, total)
	for i := range clients {
		clients[i] = dialWS(t, srv.Addr, "/ws")
	}
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == total }) {
		t.Fatalf("OpenConns = %d, want %d", srv.OpenConns(), total)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				n := srv.CloseSome(1)
				mu.Lock()
				sum += n
				mu.Unlock()
			}
		}()
	}
	for _, c := range clients[:5] {
		c.NetConn().Close()
	}
	wg.Wait()
	sum += srv.CloseSome(total) // whatever the 80 single closes left
	if !waitFor(10*time.Second, func() bool { return srv.OpenConns() == 0 }) {
		t.Fatalf("OpenConns = %d after closing every connection, want 0", srv.OpenConns())
	}
	// Each connection was closed once: by CloseSome, or by its client
	// hanging up (5 of them, which CloseSome may have reached first).
	if sum < total-5 || sum > total {
		t.Fatalf("CloseSome closed %d in all, want %d to %d", sum, total-5, total)
	}
	if got := srv.metrics.counters[counterDrained].Load(); int(got) != sum {
		t.Fatalf("drain closes counted %d, CloseSome returned %d in all", got, sum)
	}
}

// upgradeStatus sends an upgrade request and returns the response's status
// and headers.
func upgradeStatus(t *testing.T, addr, path string) (int, http.Header) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the upgrade's answer: %v", err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header
}

// TestLogNetpollLine: a line of netpoll's log becomes one record without
// its own timestamp.
func TestLogNetpollLine(t *testing.T) {
	var buf strings.Builder
	w := netpollLog{slog.New(slog.NewJSONHandler(&buf, nil))}
	w.Write([]byte("2026/12/01 15:12:02 NETPOLL: closeCallback[true,true] detach operator failed: no such file or directory\n"))
	var rec map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["level"] != "WARN" || rec["msg"] != "netpoll" || rec["detail"] != "closeCallback[true,true] detach operator failed: no such file or directory" {
		t.Fatalf("record %v", rec)
	}
}
