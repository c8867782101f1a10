package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// nextOps reads ws until it has seen the ops of want in order (data pushes
// between them are skipped unless asked for), or fails.
func nextOps(t *testing.T, ws *websocket.Conn, want ...string) []map[string]any {
	t.Helper()
	var got []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for len(want) > 0 {
		ws.SetReadDeadline(deadline)
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %v: %v (got %v)", want, err, got)
		}
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if m["op"] == want[0] {
			got = append(got, m)
			want = want[1:]
		} else if m["op"] != "data" {
			t.Fatalf("got %s while waiting for %v", msg, want)
		}
	}
	return got
}

// TestStaleAndFreshAcrossNodes: two nodes on one Redis and RabbitMQ poll a
// data center that starts failing: the subscribers on both get a stale
// notice, a client subscribing meanwhile on either is told at once after
// the ack, and when the data center answers again everyone gets fresh,
// then the new value.
func TestStaleAndFreshAcrossNodes(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	var failing atomic.Bool
	var version atomic.Int64
	dc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		app := r.URL.Query().Get("app")
		fmt.Fprintf(w, `{"app":%q,"items":[{"id":"001","ts":%d,"value":%d}]}`, app, time.Now().UnixMilli(), version.Load())
	}))
	defer dc.Close()
	app := fmt.Sprintf("stale-%d", time.Now().UnixNano())
	args := func(node string) []string {
		return []string{"-redis", redisURL, "-amqp", amqpURL, "-node-id", node, "-datacenter", dc.URL, "-poll-apps", app,
			"-poll-interval", "100ms", "-stale-after", "1s"}
	}
	a, b := StartServer(t, args("sa")...), StartServer(t, args("sb")...)
	for _, s := range []*Server{a, b} {
		waitReady(t, s)
	}
	onA, onB := subscribeOn(t, a, app, "001"), subscribeOn(t, b, app, "001")
	for _, ws := range []*websocket.Conn{onA, onB} {
		nextOps(t, ws, "data")
	}
	failing.Store(true)
	for _, ws := range []*websocket.Conn{onA, onB} {
		stale := nextOps(t, ws, "stale")[0]
		if stale["app"] != app || stale["id"] != "001" || stale["since"] == nil {
			t.Errorf("stale notice %v", stale)
		}
	}
	for _, s := range []*Server{a, b} { // told at once, after the ack and the last value
		late := subscribeOn(t, s, app, "001")
		nextOps(t, late, "data", "stale")
	}
	version.Store(7)
	failing.Store(false)
	for _, ws := range []*websocket.Conn{onA, onB} {
		got := nextOps(t, ws, "fresh", "data")
		if data, _ := json.Marshal(got[1]["data"]); string(data) != "7" {
			t.Errorf("after fresh: %v, want the value 7", got[1])
		}
	}
	if body := metricsOf(t, a) + metricsOf(t, b); !strings.Contains(body, `edgepush_poller_total{event="stale"} 1`) {
		t.Errorf("no node counted the stale key:\n%s", body)
	}
}

func metricsOf(t *testing.T, s *Server) string {
	t.Helper()
	_, body := getBody(t, s.APIURL("/metrics"))
	return body
}
