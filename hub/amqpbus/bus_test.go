package amqpbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"edgepush/hub"
)

// node is one bus with a miniature hub: local subscriber counts, and what
// its consumer received.
type node struct {
	bus *Bus

	mu       sync.Mutex // guards the following fields
	counts   map[hub.Key]int
	received []hub.Message
}

func startBusNode(t *testing.T, name string) *node {
	t.Helper()
	q := needBroker(t)
	n := &node{counts: map[hub.Key]int{}}
	bus, err := New(Config{URLs: []string{q.URL()}, Node: name, Exchange: "test-" + t.Name(), Linger: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, n.count,
		func(context.Context, hub.Key, uint64) (hub.Stream, error) { return hub.Stream{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	bus.Consume(func(m hub.Message) int {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.received = append(n.received, m)
		return 1
	})
	n.bus = bus
	t.Cleanup(func() { bus.Close() })
	waitUntil(t, name+" connected", bus.Connected)
	return n
}

func (n *node) count(k hub.Key) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counts[k]
}

func (n *node) watch(k hub.Key, subscribers int) {
	n.mu.Lock()
	n.counts[k] = subscribers
	n.mu.Unlock()
	n.bus.Changed(k)
}

// got returns "id:seq" of what the node received.
func (n *node) got() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.received {
		out = append(out, fmt.Sprintf("%s:%d", m.Key.ID, m.Seq))
	}
	return strings.Join(out, " ")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// bindings returns the routing keys bound to the node's queue.
func bindings(t *testing.T, n *node) string {
	t.Helper()
	out, err := broker.Ctl("list_bindings", "destination_name", "routing_key")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == n.bus.queue && fields[1] != n.bus.queue {
			keys = append(keys, fields[1])
		}
	}
	return strings.Join(keys, " ")
}

func publish(t *testing.T, n *node, k hub.Key, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.bus.Publish(ctx, hub.Message{Key: k, Entry: hub.Entry{Seq: seq, TS: 1, Kind: hub.Text, Data: []byte(`1`)}}); err != nil {
		t.Fatalf("publish %s:%d: %v", k.ID, seq, err)
	}
}

// TestOnlyWatchedKeysReachANode: a node gets the pushes of the keys its
// clients watch, whoever publishes them, and after the last of them leaves
// (and the linger) neither the pushes nor the binding.
func TestOnlyWatchedKeysReachANode(t *testing.T) {
	a, b := startBusNode(t, "a"), startBusNode(t, "b")
	watched, other := hub.Key{App: "demo", ID: "a.b*#c"}, hub.Key{App: "demo", ID: "a.b"}
	b.watch(watched, 2)
	waitUntil(t, "b's binding", func() bool { return bindings(t, b) == RoutingKey(watched) })
	publish(t, a, watched, 1)
	publish(t, a, other, 1)
	publish(t, b, watched, 2)
	waitUntil(t, "b to receive seq 1 and 2", func() bool { return b.got() == "a.b*#c:1 a.b*#c:2" })
	if got := a.got(); got != "" {
		t.Fatalf("a, which watches nothing, received %q", got)
	}
	b.watch(watched, 0)
	waitUntil(t, "b's unbinding after the linger", func() bool { return bindings(t, b) == "" })
	publish(t, a, watched, 3)
	time.Sleep(200 * time.Millisecond)
	if got := b.got(); got != "a.b*#c:1 a.b*#c:2" {
		t.Fatalf("b received %q after its last client left", got)
	}
}

// TestLingerKeepsAChurningKeyBound: leaving and coming back within the
// linger does not unbind.
func TestLingerKeepsAChurningKeyBound(t *testing.T) {
	b := startBusNode(t, "b")
	k := hub.Key{App: "demo", ID: "churn"}
	b.watch(k, 1)
	waitUntil(t, "the binding", func() bool { return bindings(t, b) == RoutingKey(k) })
	b.watch(k, 0)
	b.watch(k, 1)
	time.Sleep(400 * time.Millisecond) // twice the linger
	if got := bindings(t, b); got != RoutingKey(k) {
		t.Fatalf("bindings %q after a churn within the linger, want the key still bound", got)
	}
}

func TestRoutingKeysDoNotCollide(t *testing.T) {
	seen := map[string]hub.Key{}
	for _, k := range []hub.Key{{App: "a", ID: "b.c"}, {App: "a.b", ID: "c"}, {App: "a", ID: "*"}, {App: "a", ID: "#"}, {App: "a", ID: "b c"}, {App: "a", ID: "é"}, {App: "a", ID: "e\u0301"}} {
		rk := RoutingKey(k)
		if prev, ok := seen[rk]; ok {
			t.Fatalf("%v and %v share routing key %s", prev, k, rk)
		}
		if len(rk) != 32 || strings.ContainsAny(rk, ".*#") {
			t.Fatalf("routing key %q of %v", rk, k)
		}
		seen[rk] = k
	}
}

func TestBadURLs(t *testing.T) {
	for _, urls := range [][]string{nil, {"localhost:5672"}, {"http://h:1"}, {"amqp://h:notaport"}} {
		if _, err := New(Config{URLs: urls, Node: "n"}, nil, nil); err == nil {
			t.Errorf("New(%q) succeeded", urls)
		}
	}
}

// TestPublishWithoutBroker fails at once with ErrNotConnected, the
// pipeline's cue for a 503.
func TestPublishWithoutBroker(t *testing.T) {
	bus, err := New(Config{URLs: []string{"amqp://guest:guest@127.0.0.1:1/"}, Node: "n", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	if _, err := bus.Publish(context.Background(), hub.Message{Key: hub.Key{App: "a", ID: "1"}}); err != ErrNotConnected {
		t.Fatalf("Publish without a broker = %v, want ErrNotConnected", err)
	}
}

// TestHotKeyPublishesOverlapInOrder: publishes of one key from many
// goroutines through a pipeline overlap their confirms (the pipeline holds
// the key's lock only across the append and the send) and still reach
// another node in seq order, each once.
func TestHotKeyPublishesOverlapInOrder(t *testing.T) {
	a, b := startBusNode(t, "a"), startBusNode(t, "b")
	hot := hub.Key{App: "demo", ID: "hot"}
	b.watch(hot, 1)
	waitUntil(t, "b's binding", func() bool { return bindings(t, b) == RoutingKey(hot) })
	p := hub.NewPipeline(hub.PipelineConfig{}, hub.NewMemoryStore(hub.MemoryStoreConfig{}), a.bus, hub.New(hub.Config{}))
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := p.Publish(ctx, hot, hub.Text, []byte(`1`))
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := make([]string, writers*each)
	for i := range want {
		want[i] = fmt.Sprintf("hot:%d", i+1)
	}
	waitUntil(t, "b to receive every seq in order", func() bool { return b.got() == strings.Join(want, " ") })
}

// TestManyKeysBindInBatches: 3,000 keys watched at once are all bound (in
// batches: see bindBatch), every WaitBound returns, and a push to the last
// one arrives.
func TestManyKeysBindInBatches(t *testing.T) {
	a, b := startBusNode(t, "a"), startBusNode(t, "b")
	const n = 3000
	keys := make([]hub.Key, n)
	for i := range keys {
		keys[i] = hub.Key{App: "many", ID: fmt.Sprint(i)}
		b.watch(keys[i], 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := b.bus.WaitBound(ctx, k); err != nil {
			t.Fatalf("WaitBound(%s): %v", k.ID, err)
		}
	}
	if got := len(strings.Fields(bindings(t, b))); got != n {
		t.Fatalf("%d bindings on b's queue, want %d", got, n)
	}
	publish(t, a, keys[n-1], 1)
	waitUntil(t, "the push to the last key", func() bool { return b.got() == fmt.Sprintf("%d:1", n-1) })
}
