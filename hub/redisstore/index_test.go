package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"edgepush/hub"
)

// localCounts is a node's hub in miniature: its local subscriber counts.
type localCounts struct {
	mu sync.Mutex
	n  map[hub.Key]int
}

func (c *localCounts) set(ix *Index, k hub.Key, n int) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[hub.Key]int{}
	}
	c.n[k] = n
	c.mu.Unlock()
	ix.Changed(k)
}

func (c *localCounts) count(k hub.Key) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

type testNode struct {
	ix     *Index
	counts *localCounts
	stop   context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, s *Store, name string, ttl time.Duration) *testNode {
	t.Helper()
	n := &testNode{counts: &localCounts{}, done: make(chan struct{})}
	ix, err := s.NewIndex(IndexConfig{Node: name, Heartbeat: ttl / 5, TTL: ttl, FlushEvery: 5 * time.Millisecond}, n.counts.count)
	if err != nil {
		t.Fatal(err)
	}
	n.ix = ix
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = func() { cancel(); <-n.done }
	go func() { defer close(n.done); ix.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

// waitApp polls the index of app until it reads want or the deadline
// passes (the flush is asynchronous).
func waitApp(t *testing.T, ix *Index, app, want string) {
	t.Helper()
	var got string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		list, err := ix.App(context.Background(), app)
		if err != nil {
			t.Fatal(err)
		}
		got = fmt.Sprint(list)
		if got == want {
			return
		}
	}
	t.Fatalf("index of %s = %s, want %s", app, got, want)
}

func TestIndexCountsAcrossNodes(t *testing.T) {
	s := newStore(t, Config{})
	a := startNode(t, s, "a", 2*time.Second)
	b := startNode(t, s, "b", 2*time.Second)
	k1, k2 := hub.Key{App: "demo", ID: "001"}, hub.Key{App: "demo", ID: "0.*#2"}
	a.counts.set(a.ix, k1, 3)
	b.counts.set(b.ix, k1, 2)
	b.counts.set(b.ix, k2, 1)
	waitApp(t, a.ix, "demo", "[{0.*#2 1 map[b:1]} {001 5 map[a:3 b:2]}]")
	b.counts.set(b.ix, k1, 0)
	waitApp(t, b.ix, "demo", "[{0.*#2 1 map[b:1]} {001 3 map[a:3]}]")
	// A clean stop removes the node's entries.
	b.stop()
	waitApp(t, a.ix, "demo", "[{001 3 map[a:3]}]")
}

// TestIndexBatchesABurst: 5,000 changes reach Redis in a few batches, and
// the last count of each key wins.
func TestIndexBatchesABurst(t *testing.T) {
	s := newStore(t, Config{})
	a := startNode(t, s, "a", 2*time.Second)
	for i := range 5000 {
		a.counts.set(a.ix, hub.Key{App: "burst", ID: fmt.Sprint(i % 100)}, i/100+1)
	}
	var want []hub.KeyCount
	for i := range 100 {
		want = append(want, hub.KeyCount{ID: fmt.Sprint(i), Subscribers: 50, Nodes: map[string]int{"a": 50}})
	}
	hub.SortKeyCounts(want)
	waitApp(t, a.ix, "burst", fmt.Sprint(want))
}

// TestIndexReapsADeadNode: a node that beat once, wrote its counts and
// then went silent (killed) is removed by a survivor once its heartbeat
// expires.
func TestIndexReapsADeadNode(t *testing.T) {
	s := newStore(t, Config{})
	a := startNode(t, s, "a", time.Second)
	counts := &localCounts{}
	dead, err := s.NewIndex(IndexConfig{Node: "dead", TTL: time.Second}, counts.count)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dead.beat(ctx)
	counts.set(dead, hub.Key{App: "reap", ID: "1"}, 4)
	dead.flush(ctx)
	waitApp(t, a.ix, "reap", "[{1 4 map[dead:4]}]")
	waitApp(t, a.ix, "reap", "[]") // after its TTL, by node a
	if n, _ := s.client.ZScore(ctx, a.ix.nodesKey(), "dead").Result(); n != 0 {
		t.Fatalf("the dead node is still listed among the nodes (score %v)", n)
	}
}

// TestIndexWritesAgainAfterRedisLostIt: a flushed Redis gets the node's
// counts back at the next heartbeat.
func TestIndexWritesAgainAfterRedisLostIt(t *testing.T) {
	s := newStore(t, Config{Prefix: "resync:"})
	a := startNode(t, s, "a", time.Second)
	a.counts.set(a.ix, hub.Key{App: "re", ID: "1"}, 2)
	waitApp(t, a.ix, "re", "[{1 2 map[a:2]}]")
	ctx := context.Background()
	keys, _ := s.client.Keys(ctx, "resync:*").Result()
	s.client.Del(ctx, keys...)
	waitApp(t, a.ix, "re", "[{1 2 map[a:2]}]")
}

func TestIndexNodeID(t *testing.T) {
	s := newStore(t, Config{})
	for _, bad := range []string{"", "a{b", "a}b", "a\x00b", string(make([]byte, 65))} {
		if _, err := s.NewIndex(IndexConfig{Node: bad}, nil); err != ErrNode {
			t.Errorf("node id %q: %v, want ErrNode", bad, err)
		}
	}
}

// TestWatchedStreamsDoNotExpire: a key this node's clients watch keeps its
// stream (epoch, seq, last value) past KeyTTL without a publish; an
// unwatched one expires and starts over under a new epoch.
func TestWatchedStreamsDoNotExpire(t *testing.T) {
	ctx := context.Background()
	const ttl = 1200 * time.Millisecond
	s := newStore(t, Config{KeyTTL: ttl})
	a := startNode(t, s, "a", 2*time.Second)
	run := fmt.Sprint(time.Now().UnixNano())
	watched, idle := hub.Key{App: "keep", ID: "w" + run}, hub.Key{App: "keep", ID: "i" + run}
	first := map[hub.Key]hub.Position{}
	for _, k := range []hub.Key{watched, idle} {
		pos, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`1`))
		if err != nil {
			t.Fatal(err)
		}
		first[k] = pos
	}
	a.counts.set(a.ix, watched, 1)
	waitApp(t, a.ix, "keep", fmt.Sprintf("[{%s 1 map[a:1]}]", watched.ID))
	time.Sleep(3 * ttl) // no publish, no read: only the index's keep-alive
	tests := []struct {
		key       hub.Key
		sameEpoch bool
	}{{watched, true}, {idle, false}}
	for _, tt := range tests {
		st, err := s.Last(ctx, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if kept := st.Epoch == first[tt.key].Epoch && st.Seq == 1; kept != tt.sameEpoch {
			t.Errorf("%s after 3 TTLs: seq %d epoch %q (first %q); kept %v, want %v", tt.key.ID, st.Seq, st.Epoch, first[tt.key].Epoch, kept, tt.sameEpoch)
		}
	}
}
