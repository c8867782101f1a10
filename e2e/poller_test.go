package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/sources/datacenter"
)

// countingDataCenter answers GET /realtime with a value per id that
// changes every step, and counts who asked for each id.
type countingDataCenter struct {
	step  time.Duration
	start time.Time

	mu    sync.Mutex
	asked map[string]map[string]int // id -> node (from the User-Agent) -> requests
}

func (d *countingDataCenter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	node := strings.TrimPrefix(r.UserAgent(), "edgepush-poller/")
	app, ids, err := datacenter.ParseQuery(r.URL.RawQuery, datacenter.DefaultMaxIDs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	version := int64(time.Since(d.start) / d.step)
	ts := d.start.Add(time.Duration(version) * d.step).UnixMilli()
	type item struct {
		ID    string `json:"id"`
		TS    int64  `json:"ts"`
		Value string `json:"value"`
	}
	answer := struct {
		App   string `json:"app"`
		Items []item `json:"items"`
	}{App: app, Items: []item{}}
	d.mu.Lock()
	for _, id := range ids {
		if d.asked[id] == nil {
			d.asked[id] = map[string]int{}
		}
		d.asked[id][node]++
		answer.Items = append(answer.Items, item{ID: id, TS: ts, Value: fmt.Sprintf("%s-v%d", id, version)})
	}
	d.mu.Unlock()
	json.NewEncoder(w).Encode(answer)
}

// reset forgets the counts and returns those so far.
func (d *countingDataCenter) reset() map[string]map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.asked
	d.asked = map[string]map[string]int{}
	return out
}

// pushLog reads a connection's pushes in the background.
type pushLog struct {
	mu     sync.Mutex
	values map[string][]string // id -> data of each push, in order
	seqs   map[string][]uint64
	err    error
}

func readPushes(ws *websocket.Conn) *pushLog {
	l := &pushLog{values: map[string][]string{}, seqs: map[string][]uint64{}}
	go func() {
		for {
			ws.SetReadDeadline(time.Now().Add(time.Minute))
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var push struct {
				Op   string          `json:"op"`
				ID   string          `json:"id"`
				Seq  uint64          `json:"seq"`
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(msg, &push) != nil || push.Op != "data" {
				continue
			}
			l.mu.Lock()
			l.values[push.ID] = append(l.values[push.ID], string(push.Data))
			l.seqs[push.ID] = append(l.seqs[push.ID], push.Seq)
			l.mu.Unlock()
		}
	}()
	return l
}

// check fails the test if an id got a value twice or a seq out of turn,
// and returns the pushes of each id.
func (l *pushLog) check(t *testing.T, who string) map[string]int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	for id, values := range l.values {
		seen := map[string]bool{}
		for i, v := range values {
			if seen[v] {
				t.Errorf("%s: %s got %s twice: %v", who, id, v, values)
			}
			seen[v] = true
			if seqs := l.seqs[id]; i > 0 && seqs[i] != seqs[i-1]+1 {
				t.Errorf("%s: %s seqs %v are not consecutive", who, id, seqs)
			}
		}
		counts[id] = len(values)
	}
	return counts
}

// TestClusterPollsEachIDOnce: two nodes on one Redis and RabbitMQ poll one
// data center for ids clients on both watch; each id is asked by exactly
// one node, every value reaches both nodes' clients once; after kill -9
// of a node the other takes over its ids within a few seconds, and still
// no value is published twice.
func TestClusterPollsEachIDOnce(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	dc := &countingDataCenter{step: 300 * time.Millisecond, start: time.Now(), asked: map[string]map[string]int{}}
	srv := httptest.NewServer(dc)
	defer srv.Close()
	app := fmt.Sprintf("poll-%d", time.Now().UnixNano())
	args := func(node string) []string {
		return []string{"-redis", redisURL, "-amqp", amqpURL, "-node-id", node,
			"-datacenter", srv.URL, "-poll-apps", app, "-poll-interval", "100ms"}
	}
	a, b := StartServer(t, args("pa")...), StartServer(t, args("pb")...)
	for _, s := range []*Server{a, b} {
		waitReady(t, s)
	}
	ids := []string{"001", "002", "003", "004", "005", "006", "007", "008"}
	onA, onB := readPushes(subscribeOn(t, a, app, ids...)), readPushes(subscribeOn(t, b, app, ids...))
	time.Sleep(2 * time.Second) // both nodes beat and see each other
	dc.reset()
	time.Sleep(2 * time.Second)
	owners := map[string]string{}
	for id, byNode := range dc.reset() {
		if len(byNode) != 1 {
			t.Errorf("%s asked by %d nodes: %v", id, len(byNode), byNode)
		}
		for node := range byNode {
			owners[id] = node
		}
	}
	if len(owners) != len(ids) {
		t.Fatalf("%d of %d ids polled: %v", len(owners), len(ids), owners)
	}
	a.Kill()
	killed := time.Now()
	// pb takes over once pa's heartbeat is older than the poller's 6 s.
	deadline := killed.Add(30 * time.Second)
	for {
		time.Sleep(time.Second)
		asked := dc.reset()
		all := len(asked) == len(ids)
		for _, byNode := range asked {
			all = all && byNode["pb"] > 0 && byNode["pa"] == 0
		}
		if all {
			t.Logf("pb polls every id within %v of kill -9 of pa", time.Since(killed).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after kill -9 of pa, pb does not poll every id: %v", asked)
		}
	}
	before := onB.check(t, "pb's client")
	time.Sleep(2 * time.Second)
	after := onB.check(t, "pb's client")
	for _, id := range ids {
		if after[id] <= before[id] {
			t.Errorf("%s: no new value on pb after the takeover (%d, then %d)", id, before[id], after[id])
		}
	}
	onA.check(t, "pa's client")
}
