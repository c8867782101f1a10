package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsOfAScriptedSession runs a session whose every byte is known
// (two clients on raw sockets, one of them stalled until it is cut off as
// a slow consumer, bad messages, a bad handshake, a bad publish,
// disconnects) and reads /metrics back with the Prometheus text parser:
// each series named below must have moved by exactly what happened.
func TestMetricsOfAScriptedSession(t *testing.T) {
	const (
		pushes  = 300
		size    = 32 << 10 // bytes of each push's data
		pending = 256 << 10
	)
	s := StartServer(t, "-max-pending", fmt.Sprint(pending), "-ping-interval", "10m")
	waitGauge(t, s, "edgepush_connections", 0) // the start's probe has gone
	before := scrape(t, s)

	healthy := dialRaw(t, s.Addr, 0)
	stalled := dialRaw(t, s.Addr, 4096) // a small receive buffer fills sooner
	healthy.sendText(t, `{"op":"sub","app":"m","ids":["k"],"ref":"a"}`)
	stalled.sendText(t, `{"op":"sub","app":"m","ids":["k"],"ref":"b"}`)
	healthy.expectText(t, `"op":"ack"`)
	stalled.expectText(t, `"op":"ack"`)

	// Bad messages: each answered with an error, the connection kept.
	healthy.sendText(t, `nope`)
	healthy.sendText(t, `{"op":"dance","app":"m","ids":["k"]}`)
	healthy.sendText(t, `{"op":"sub","app":"m","ids":["bad\u0001id"]}`)
	for _, code := range []string{"bad_json", "unknown_op", "bad_key"} {
		healthy.expectText(t, `"code":"`+code+`"`)
	}
	badHandshake(t, s.Addr)

	// The healthy client reads every push while the stalled one reads none.
	received := make(chan int, 1)
	go func() { received <- healthy.countPushes(pushes) }()
	data := []byte(`"` + strings.Repeat("x", size) + `"`)
	for range pushes {
		s.Publish(t, "m", "k", "application/json", data)
	}
	if status, _ := s.PublishRaw(t, "m", "k", "application/json", []byte(`{not json`)); status != http.StatusBadRequest {
		t.Fatalf("bad publish: HTTP %d, want 400", status)
	}
	select {
	case n := <-received:
		if n != pushes {
			t.Fatalf("healthy client got %d pushes, want %d", n, pushes)
		}
	case <-time.After(stepTimeout):
		t.Fatal("healthy client did not get every push")
	}
	healthy.closeCleanly(t)
	stalled.conn.Close()
	waitGauge(t, s, "edgepush_connections", 0)
	after := scrape(t, s)

	delta := func(name string, labels ...string) float64 {
		was, _ := lookup(before, name, labels...) // a labelled series appears with its first count
		return value(t, after, name, labels...) - was
	}
	exact := map[string]float64{
		"edgepush_connections_accepted_total":                     3, // healthy, stalled, bad handshake
		"edgepush_upgrades_total":                                 2,
		"edgepush_upgrades_failed_total reason=handshake":         1,
		"edgepush_upgrades_failed_total reason=bad_key":           0,
		"edgepush_connections_rejected_total reason=draining":     0,
		"edgepush_http_requests_total":                            1, // the 400 of the bad handshake
		"edgepush_sessions_total":                                 2,
		"edgepush_subscribes_total":                               2,
		"edgepush_messages_received_total":                        5, // 2 subs, 3 bad
		"edgepush_frames_read_total":                              6, // and the healthy one's close
		"edgepush_bytes_read_total":                               float64(healthy.sent + stalled.sent + badHandshakeSize),
		"edgepush_protocol_errors_total code=bad_json":            1,
		"edgepush_protocol_errors_total code=unknown_op":          1,
		"edgepush_protocol_errors_total code=bad_key":             1,
		"edgepush_protocol_errors_total code=bad_request":         0,
		"edgepush_publishes_total source=api":                     pushes,
		"edgepush_publishes_failed_total source=api reason=store": 0,
		"edgepush_api_requests_total route=publish code=200":      pushes,
		"edgepush_api_requests_total route=publish code=400":      1, // the bad publish, refused before the pipeline
		"edgepush_pushes_received_total":                          pushes,
		"edgepush_pushes_encoded_total":                           pushes,
		"edgepush_closes_total reason=client_close":               1,
		"edgepush_closes_total reason=slow_consumer":              1,
		"edgepush_closes_total reason=handshake_rejected":         1,
		"edgepush_closes_total reason=write_error":                0,
		"edgepush_frames_dropped_total reason=closed":             0, // a slow consumer's backlog counts as slow_consumer
		"edgepush_frames_dropped_total reason=write_error":        0,
	}
	for series, want := range exact {
		name, labels, _ := strings.Cut(series, " ")
		if got := delta(name, strings.Fields(labels)...); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	for _, gauge := range []string{"edgepush_connections", "edgepush_subscriptions", "edgepush_keys", "edgepush_connections_websocket"} {
		if got := value(t, after, gauge); got != 0 {
			t.Errorf("%s = %v after every client left, want 0", gauge, got)
		}
	}

	// Every push frame queued or refused was written or dropped, and
	// each one written was observed by both histograms. The stalled
	// client is offered pushes until it is cut off and unsubscribed.
	queued := delta("edgepush_deliveries_total") + delta("edgepush_deliveries_refused_total")
	if queued <= pushes || queued >= 2*pushes {
		t.Errorf("deliveries queued + refused = %v, want the healthy client's %d and some, not all, for the stalled one", queued, pushes)
	}
	written := delta("edgepush_publish_to_write_seconds_count")
	dropped := delta("edgepush_frames_dropped_total", "reason=slow_consumer")
	if written+dropped != queued {
		t.Errorf("push frames written %v + dropped %v = %v, want %v queued", written, dropped, written+dropped, queued)
	}
	if dropped < 1 || written < pushes {
		t.Errorf("written %v, dropped %v: want the healthy client's %d written and a slow consumer's backlog dropped", written, dropped, pushes)
	}
	if waited := delta("edgepush_queue_wait_seconds_count"); waited != written {
		t.Errorf("queue wait observed %v frames, publish-to-written %v: want the same", waited, written)
	}
	if b := delta("edgepush_bytes_dropped_total", "reason=slow_consumer"); b < dropped*size {
		t.Errorf("bytes dropped as slow_consumer %v, want at least %v (%v frames of over %d bytes)", b, dropped*size, dropped, size)
	}
	// Frames written: to the healthy client its 101, the ack, the pushes,
	// 3 errors and the close reply; to the stalled one its 101, its ack
	// and the pushes written; the bad handshake's 400.
	if got, want := delta("edgepush_frames_written_total"), written+9; got != want {
		t.Errorf("edgepush_frames_written_total moved by %v, want %v", got, want)
	}
	if got := delta("edgepush_publish_to_write_seconds_sum"); got <= 0 {
		t.Errorf("publish-to-written sum moved by %v, want > 0", got)
	}
	requireHelp(t, after)
}

// requireHelp fails for a family without HELP text.
func requireHelp(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
}

// scrape reads the server's /metrics with the Prometheus text parser.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value returns the series of name whose labels include every
// "name=value" given, which must be exactly one: a counter's or gauge's
// value, or for NAME_count and NAME_sum a histogram's.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, err := lookup(families, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lookup is value without a test.
func lookup(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, error) {
	family, part := families[name], ""
	if family == nil {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && families[base] != nil {
				family, part = families[base], suffix
			}
		}
	}
	if family == nil {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	var found []*dto.Metric
	for _, m := range family.GetMetric() {
		if hasLabels(m, labels) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("/metrics has %d series %s%v, want 1", len(found), name, labels)
	}
	m := found[0]
	switch {
	case part == "_count":
		return float64(m.GetHistogram().GetSampleCount()), nil
	case part == "_sum":
		return m.GetHistogram().GetSampleSum(), nil
	case m.Counter != nil:
		return m.GetCounter().GetValue(), nil
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("%s is neither a counter nor a gauge", name)
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for _, l := range labels {
		name, want, _ := strings.Cut(l, "=")
		ok := false
		for _, pair := range m.GetLabel() {
			ok = ok || (pair.GetName() == name && pair.GetValue() == want)
		}
		if !ok {
			return false
		}
	}
	return true
}

// waitGauge waits until a gauge of the server reads want.
func waitGauge(t *testing.T, s *Server, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		got := value(t, scrape(t, s), name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawClient is a WebSocket client on a plain socket that counts the bytes
// it sends.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
	sent int
}

// dialRaw connects and upgrades; rcvbuf, if not 0, sets SO_RCVBUF first.
func dialRaw(t *testing.T, addr string, rcvbuf int) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: stepTimeout}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
		}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{conn: conn, r: bufio.NewReader(conn)}
	c.write(t, []byte("GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	conn.SetReadDeadline(time.Now().Add(stepTimeout))
	status, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("upgrade: %q, %v", status, err)
	}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("upgrade response: %v", err)
		}
		if line == "\r\n" {
			return c
		}
	}
}

func (c *rawClient) write(t *testing.T, b []byte) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.conn.Write(b)
	c.sent += n
	if err != nil {
		t.Fatalf("write: %v", err)
	}
}

// sendText sends one masked text frame.
func (c *rawClient) sendText(t *testing.T, text string) {
	t.Helper()
	c.sendFrame(t, ws.NewTextFrame([]byte(text)))
}

func (c *rawClient) sendFrame(t *testing.T, f ws.Frame) {
	t.Helper()
	var buf bytes.Buffer
	if err := ws.WriteFrame(&buf, ws.MaskFrameInPlace(f)); err != nil {
		t.Fatal(err)
	}
	c.write(t, buf.Bytes())
}

// expectText reads the next frame and fails unless it is a text frame
// holding part.
func (c *rawClient) expectText(t *testing.T, part string) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(stepTimeout))
	f, err := ws.ReadFrame(c.r)
	if err != nil || f.Header.OpCode != ws.OpText || !bytes.Contains(f.Payload, []byte(part)) {
		t.Fatalf("read %v %q (%v), want a text frame with %s", f.Header.OpCode, f.Payload, err, part)
	}
}

// countPushes reads data frames until it has want of them, or the
// connection fails; it returns how many it read.
func (c *rawClient) countPushes(want int) int {
	n := 0
	for n < want {
		c.conn.SetReadDeadline(time.Now().Add(stepTimeout))
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			return n
		}
		if f.Header.OpCode == ws.OpText && bytes.HasPrefix(f.Payload, []byte(`{"op":"data"`)) {
			n++
		}
	}
	return n
}

// closeCleanly sends close 1000, reads the server's close and hangs up.
func (c *rawClient) closeCleanly(t *testing.T) {
	t.Helper()
	c.sendFrame(t, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	c.conn.SetReadDeadline(time.Now().Add(stepTimeout))
	for {
		f, err := ws.ReadFrame(c.r)
		if err != nil {
			t.Fatalf("waiting for the server's close: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			break
		}
	}
	io.Copy(io.Discard, c.r) // until the server hangs up
	c.conn.Close()
}

// badHandshakeRequest is a GET /ws without the WebSocket headers.
const badHandshakeRequest = "GET /ws HTTP/1.1\r\nHost: edgepush\r\n\r\n"

const badHandshakeSize = len(badHandshakeRequest)

// badHandshake sends badHandshakeRequest and reads the 400.
func badHandshake(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, stepTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, badHandshakeRequest); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(stepTimeout))
	answer, _ := io.ReadAll(conn)
	if !bytes.HasPrefix(answer, []byte("HTTP/1.1 400")) {
		t.Fatalf("bad handshake answered %q, want 400", answer)
	}
}
