// Package hub is the middle layer: the subscription index from keys
// (app, id) to subscribers, the fan-out, and the publish pipeline in front
// of them.
//
// A publish takes one path (pipeline.go): validate, then sequence and
// append to the key's history in a Store, atomically per key; then hand the
// sequenced push to a Bus, whose consumer on every node calls Hub.Deliver.
// The Hub itself does no I/O, takes no context and never blocks: Deliver
// looks the key up, encodes the push once into a frame (package frame) only
// if the key has local subscribers, and hands the same frame to each.
//
//	h := hub.New(hub.Config{})
//	store := hub.NewMemoryStore(hub.MemoryStoreConfig{Watched: h.Watched})
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
//	h.Subscribe(sub, hub.Key{App: "demo", ID: "001"}) // sub implements Subscriber
//	api := p.Source("api") // publishes counted as the API's in p.Metrics()
//	api.Publish(ctx, hub.Key{App: "demo", ID: "001"}, hub.Text, []byte(`21.5`))
//	p.SendText("demo", "001", []byte(`{"t":21.5}`), func(r hub.Result, err error) {
//		// r.Seq is the key's new sequence number, r.Delivered the number of
//		// subscribers the push was queued to.
//	})
//
// Lock order (a lock may be taken while holding the ones above it):
//
//	Pipeline key lock (one per key, held from the append to the end of Deliver)
//	MemoryStore shard mu
//	Hub shard mu (read-held for a fan-out; Subscriber.Send runs under it)
//
// Pipeline.mu, which guards the list of Sources, is a leaf: nothing else is
// taken while it is held.
//
// Subscriber.Send runs under a shard's read lock, so it must not block or
// call back into the hub.
package hub

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgepush/frame"
)

// Subscriber is what the hub delivers frames to: in the server, one
// connection's subscription to one key.
type Subscriber interface {
	// Send queues f, the push with sequence number seq of epoch, and
	// reports whether it was queued. It must not block and must not call
	// into the hub. If it keeps f it calls f.Retain and later f.Release.
	// Calls for one key do not overlap, and come in increasing seq order
	// within an epoch; a new epoch (the history was lost) starts over.
	// Seq 0 (and epoch "") is a notice (Kind.Notice), not a push: it has
	// no place in the seqs and goes to the client as it comes.
	Send(seq uint64, epoch string, f *frame.Frame) bool
}

// Subscription is one subscriber of one key, for UnsubscribeAll.
type Subscription struct {
	Key        Key
	Subscriber Subscriber
}

// Config tunes a Hub. The zero value works.
type Config struct {
	// Shards is the number of index shards, rounded up to a power of two.
	// Default 64.
	Shards int
	// Frames is the pool pushes are encoded into. Default a new pool.
	Frames *frame.Pool
	// Wake, if set, is called after each fan-out that queued a frame, once
	// per Deliver: subscribers may queue without waking their writers and
	// let Wake do it once for the whole fan-out.
	Wake func()
	// Changed, if set, is called after a key's local subscribers changed,
	// with no hub lock held, once per key per Subscribe, Unsubscribe or
	// UnsubscribeAll that changed it. Calls for one key may come in any
	// order from different goroutines: an observer reads the current count
	// (Subscribers) when it acts, rather than trusting the order. It must
	// be quick and must not block: a write-through index marks the key
	// dirty and writes later.
	Changed func(Key)
}

// Stats are the hub's counters since it started.
type Stats struct {
	Deliveries  uint64 // pushes handed to Deliver
	Encoded     uint64 // pushes encoded: Deliveries to keys with subscribers
	Delivered   uint64 // frames queued to subscribers
	Dropped     uint64 // frames a subscriber refused (closed or slow)
	Topics      int    // keys with at least one subscriber now
	Subscribers int    // subscriptions now
}

// Hub is the sharded subscription index. It is safe for concurrent use.
type Hub struct {
	frames  *frame.Pool
	wake    func()
	changed func(Key)
	shards  []shard
	mask    uint32

	deliveries  atomic.Uint64
	encoded     atomic.Uint64
	delivered   atomic.Uint64
	dropped     atomic.Uint64
	topics      atomic.Int64
	subscribers atomic.Int64
}

type shard struct {
	mu     sync.RWMutex // guards topics and the topics' fields
	topics map[Key]*topic
	_      [32]byte // keeps neighbouring shards' locks off one cache line
}

// topic is one key's subscribers: a slice for the fan-out and an index for
// constant-time removal.
type topic struct {
	subs  []Subscriber
	index map[Subscriber]int
}

// New returns an empty hub.
func New(cfg Config) *Hub {
	n := 1
	for n < cfg.Shards || n < 2 {
		n <<= 1
	}
	if cfg.Shards == 0 {
		n = 64
	}
	h := &Hub{
		frames:  cfg.Frames,
		wake:    cfg.Wake,
		changed: cfg.Changed,
		shards:  make([]shard, n),
		mask:    uint32(n - 1),
	}
	if h.frames == nil {
		h.frames = frame.NewPool()
	}
	for i := range h.shards {
		h.shards[i].topics = make(map[Key]*topic)
	}
	return h
}

// Wakes reports whether the hub calls Config.Wake after each fan-out, so
// that subscribers may queue without waking.
func (h *Hub) Wakes() bool { return h.wake != nil }

// Frames returns the pool the hub encodes pushes with.
func (h *Hub) Frames() *frame.Pool { return h.frames }

func (h *Hub) shardIndex(k Key) uint32 { return k.hash() & h.mask }

func (h *Hub) shard(k Key) *shard { return &h.shards[h.shardIndex(k)] }

// Subscribe adds sub to key's subscribers; it reports false if sub was
// already there. The caller validates key (see Key.Validate).
func (h *Hub) Subscribe(sub Subscriber, k Key) bool {
	s := h.shard(k)
	s.mu.Lock()
	added := h.add(s, sub, k)
	s.mu.Unlock()
	if added {
		h.notify(k)
	}
	return added
}

// notify tells the Changed observer, if any, that k's subscribers changed.
func (h *Hub) notify(k Key) {
	if h.changed != nil {
		h.changed(k)
	}
}

// add is Subscribe with s locked.
func (h *Hub) add(s *shard, sub Subscriber, k Key) bool {
	t := s.topics[k]
	if t == nil {
		t = &topic{index: make(map[Subscriber]int, 1)}
		s.topics[k] = t
		h.topics.Add(1)
	}
	if _, ok := t.index[sub]; ok {
		return false
	}
	t.index[sub] = len(t.subs)
	t.subs = append(t.subs, sub)
	h.subscribers.Add(1)
	return true
}

// Unsubscribe removes sub from key's subscribers; it reports false if sub
// was not there.
func (h *Hub) Unsubscribe(sub Subscriber, k Key) bool {
	s := h.shard(k)
	s.mu.Lock()
	removed := h.remove(s, sub, k)
	s.mu.Unlock()
	if removed {
		h.notify(k)
	}
	return removed
}

// remove is Unsubscribe with s locked.
func (h *Hub) remove(s *shard, sub Subscriber, k Key) bool {
	t := s.topics[k]
	if t == nil {
		return false
	}
	i, ok := t.index[sub]
	if !ok {
		return false
	}
	last := len(t.subs) - 1
	t.subs[i] = t.subs[last]
	t.index[t.subs[i]] = i
	t.subs[last] = nil
	t.subs = t.subs[:last]
	delete(t.index, sub)
	h.subscribers.Add(-1)
	if len(t.subs) == 0 {
		delete(s.topics, k)
		h.topics.Add(-1)
	}
	return true
}

// UnsubscribeAll removes every subscription in subs, taking each shard's
// lock once: what a closing connection calls. It reorders subs and clears
// the Subscriber of those that were not there.
func (h *Hub) UnsubscribeAll(subs []Subscription) {
	slices.SortFunc(subs, func(a, b Subscription) int {
		return int(h.shardIndex(a.Key)) - int(h.shardIndex(b.Key))
	})
	for len(subs) > 0 {
		i := h.shardIndex(subs[0].Key)
		n := 1
		for n < len(subs) && h.shardIndex(subs[n].Key) == i {
			n++
		}
		s := &h.shards[i]
		s.mu.Lock()
		for j, sub := range subs[:n] {
			if !h.remove(s, sub.Subscriber, sub.Key) {
				subs[j].Subscriber = nil // not there: nothing changed
			}
		}
		s.mu.Unlock()
		for _, sub := range subs[:n] {
			if sub.Subscriber != nil {
				h.notify(sub.Key)
			}
		}
		subs = subs[n:]
	}
}

// Subscribers returns how many subscribers key has.
func (h *Hub) Subscribers(k Key) int {
	s := h.shard(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.topics[k]; t != nil {
		return len(t.subs)
	}
	return 0
}

// KeyCount is one id's subscribers, in total and per node.
type KeyCount struct {
	ID          string         `json:"id"`
	Subscribers int            `json:"subscribers"`
	Nodes       map[string]int `json:"nodes,omitempty"`
}

// SortKeyCounts sorts by id.
func SortKeyCounts(list []KeyCount) {
	slices.SortFunc(list, func(a, b KeyCount) int { return strings.Compare(a.ID, b.ID) })
}

// App returns the ids of app with local subscribers, counted as node's,
// sorted by id. It reads every shard (under its read lock, one at a time):
// for an operator's question, not for the push path.
func (h *Hub) App(app, node string) []KeyCount {
	var out []KeyCount
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for k, t := range s.topics {
			if k.App == app {
				out = append(out, KeyCount{ID: k.ID, Subscribers: len(t.subs), Nodes: map[string]int{node: len(t.subs)}})
			}
		}
		s.mu.RUnlock()
	}
	SortKeyCounts(out)
	return out
}

// Watched reports whether key has a subscriber on this hub.
func (h *Hub) Watched(k Key) bool { return h.Subscribers(k) > 0 }

// Stats returns the hub's counters; the gauges are kept as subscriptions
// change, so Stats takes no lock.
func (h *Hub) Stats() Stats {
	return Stats{
		Deliveries:  h.deliveries.Load(),
		Encoded:     h.encoded.Load(),
		Delivered:   h.delivered.Load(),
		Dropped:     h.dropped.Load(),
		Topics:      int(h.topics.Load()),
		Subscribers: int(h.subscribers.Load()),
	}
}

// Deliver queues an already sequenced push to every local subscriber of
// k and returns how many took it. A key without subscribers costs a lookup:
// nothing is encoded. Calls for one key must not overlap and must come in
// seq order (the pipeline's key lock, or a bus consumer's ordering, sees to
// it). Deliver never blocks.
func (h *Hub) Deliver(k Key, e Entry) int {
	return h.DeliverMessage(Message{Key: k, Entry: e})
}

// DeliverMessage is Deliver of a message off the bus: the frame is stamped
// with m.Published and the start of the fan-out (frame.Frame.Stamp), for
// the transport's latency histograms.
func (h *Hub) DeliverMessage(m Message) int {
	h.deliveries.Add(1)
	k, e := m.Key, m.Entry
	s := h.shard(k)
	s.mu.RLock()
	t := s.topics[k]
	if t == nil {
		s.mu.RUnlock()
		return 0
	}
	f := h.Encode(k, e)
	f.Stamp(m.Published, time.Now().UnixNano())
	n := h.fanout(t, e.Seq, e.Epoch, f)
	s.mu.RUnlock()
	f.Release()
	if n > 0 && h.wake != nil {
		h.wake()
	}
	return n
}

// Encode returns the frame of push e of key k, as Deliver sends it; the
// caller releases it. It counts in Stats.Encoded.
func (h *Hub) Encode(k Key, e Entry) *frame.Frame {
	if e.Kind.Notice() {
		return h.encodeNotice(k, e)
	}
	h.encoded.Add(1)
	push := frame.Push{App: k.App, ID: k.ID, Seq: e.Seq, TS: e.TS, Data: e.Data}
	if e.Kind == Binary {
		return h.frames.Binary(push)
	}
	return h.frames.Text(push)
}

// fanout queues f to every subscriber of t and returns how many took it.
// The caller holds t's shard lock.
func (h *Hub) fanout(t *topic, seq uint64, epoch string, f *frame.Frame) int {
	n, dropped := 0, 0
	for _, sub := range t.subs {
		if sub.Send(seq, epoch, f) {
			n++
		} else {
			dropped++
		}
	}
	h.delivered.Add(uint64(n))
	if dropped > 0 {
		h.dropped.Add(uint64(dropped))
	}
	return n
}
