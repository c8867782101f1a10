// Package hub is the middle layer: the subscription index from keys
// (app, id) to subscribers, sequence numbers, and push.
//
// The index is split into a fixed array of shards, each with its own lock,
// chosen by a hash of the key, so that work on different keys does not
// contend. A publish encodes the value once into a frame (package frame) and
// hands the same frame to every subscriber of the key.
//
//	h := hub.New(hub.Config{}, hub.NewMemoryStore())
//	h.Subscribe(conn, hub.Key{App: "demo", ID: "001"}) // conn implements Subscriber
//	h.SendText("demo", "001", []byte(`{"t":21.5}`), func(r hub.Result, err error) {
//		// r.Seq is the key's new sequence number, r.Delivered the number of
//		// connections the frame was queued to.
//	})
//
// Lock rules: a shard's mu is held while its topics are read or changed,
// and read-held for a whole publish: the sequence number, the encoding and
// the fan-out. A topic's publishing mutex, taken under the shard's read
// lock, orders publishes to one key. Subscriber.Send runs under both, so it
// must not block or call back into the hub.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"edgepush/frame"
)

// ErrInvalidJSON reports a text push whose data is not a JSON value in
// valid UTF-8 (a text frame must be UTF-8, RFC 6455 section 5.6).
var ErrInvalidJSON = errors.New("data is not valid JSON in UTF-8")

// Subscriber is what the hub delivers frames to: in the server, a
// connection's write queue.
type Subscriber interface {
	// Send queues f for writing and reports whether it was queued. It must
	// not block and must not call into the hub. If it keeps f it calls
	// f.Retain and later f.Release.
	Send(f *frame.Frame) bool
}

// Config tunes a Hub. The zero value works.
type Config struct {
	// Shards is the number of index shards, rounded up to a power of two.
	// Default 64.
	Shards int
	// Now is the clock for push timestamps. Default time.Now.
	Now func() time.Time
}

// Result is the outcome of a publish.
type Result struct {
	Seq       uint64 // the key's sequence number for this push
	Delivered int    // connections the frame was queued to
}

// Stats are the hub's counters since it started.
type Stats struct {
	Publishes   uint64 // pushes encoded
	Delivered   uint64 // frames queued to subscribers
	Dropped     uint64 // frames a subscriber refused (closed or slow)
	Topics      int    // keys with at least one subscriber now
	Subscribers int    // subscriptions now
}

// Hub is the sharded subscription index. It is safe for concurrent use.
type Hub struct {
	store  Store
	frames *frame.Pool
	now    func() time.Time
	shards []shard
	mask   uint32

	publishes atomic.Uint64
	delivered atomic.Uint64
	dropped   atomic.Uint64
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
	// publishing is held from taking a sequence number to the end of the
	// fan-out, so that concurrent publishes to one key reach every
	// subscriber in sequence order.
	publishing sync.Mutex
}

// New returns a hub backed by store.
func New(cfg Config, store Store) *Hub {
	n := 1
	for n < cfg.Shards || n < 2 {
		n <<= 1
	}
	if cfg.Shards == 0 {
		n = 64
	}
	h := &Hub{
		store:  store,
		frames: frame.NewPool(),
		now:    cfg.Now,
		shards: make([]shard, n),
		mask:   uint32(n - 1),
	}
	if h.now == nil {
		h.now = time.Now
	}
	for i := range h.shards {
		h.shards[i].topics = make(map[Key]*topic)
	}
	return h
}

// Frames returns the pool the hub encodes pushes with, so that the edge can
// build its own frames from the same buffers.
func (h *Hub) Frames() *frame.Pool { return h.frames }

func (h *Hub) shard(k Key) *shard { return &h.shards[k.hash()&h.mask] }

// Subscribe adds sub to key's subscribers; it reports false if sub was
// already there. The caller validates key (see Key.Validate).
func (h *Hub) Subscribe(sub Subscriber, k Key) bool {
	s := h.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[k]
	if t == nil {
		t = &topic{index: make(map[Subscriber]int, 1)}
		s.topics[k] = t
	}
	if _, ok := t.index[sub]; ok {
		return false
	}
	t.index[sub] = len(t.subs)
	t.subs = append(t.subs, sub)
	return true
}

// Unsubscribe removes sub from key's subscribers; it reports false if sub
// was not there.
func (h *Hub) Unsubscribe(sub Subscriber, k Key) bool {
	s := h.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if len(t.subs) == 0 {
		delete(s.topics, k)
	}
	return true
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

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	st := Stats{
		Publishes: h.publishes.Load(),
		Delivered: h.delivered.Load(),
		Dropped:   h.dropped.Load(),
	}
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		st.Topics += len(s.topics)
		for _, t := range s.topics {
			st.Subscribers += len(t.subs)
		}
		s.mu.RUnlock()
	}
	return st
}

// fanout queues f to every subscriber of t and returns how many took it.
// The caller holds t's shard lock; t may be nil (no subscribers).
func (h *Hub) fanout(t *topic, f *frame.Frame) int {
	if t == nil {
		return 0
	}
	n, dropped := 0, 0
	for _, sub := range t.subs {
		if sub.Send(f) {
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

// Kind is the frame type of a push.
type Kind uint8

// The kinds of push.
const (
	Text   Kind = iota // a text frame; data is a JSON value
	Binary             // a binary frame; data is any bytes
)

// Publish assigns key its next sequence number, encodes data once and queues
// it to every subscriber. For Text, data must be a JSON value.
func (h *Hub) Publish(ctx context.Context, k Key, kind Kind, data []byte) (Result, error) {
	if err := k.Validate(); err != nil {
		return Result{}, err
	}
	if kind == Text && (!json.Valid(data) || !utf8.Valid(data)) {
		return Result{}, ErrInvalidJSON
	}
	s := h.shard(k)
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.topics[k]
	if t != nil {
		t.publishing.Lock()
		defer t.publishing.Unlock()
	}
	seq, err := h.store.NextSeq(ctx, k)
	if err != nil {
		return Result{}, fmt.Errorf("hub: next seq of %s/%s: %w", k.App, k.ID, err)
	}
	push := frame.Push{App: k.App, ID: k.ID, Seq: seq, TS: h.now().UnixMilli(), Data: data}
	var f *frame.Frame
	if kind == Binary {
		f = h.frames.Binary(push)
	} else {
		f = h.frames.Text(push)
	}
	h.publishes.Add(1)
	n := h.fanout(t, f)
	f.Release()
	return Result{Seq: seq, Delivered: n}, nil
}

// SendText publishes data, a JSON value, to app/id as a text push and then
// calls callback, if not nil, with the outcome (the paper's sendText).
func (h *Hub) SendText(app, id string, data []byte, callback func(Result, error)) {
	r, err := h.Publish(context.Background(), Key{App: app, ID: id}, Text, data)
	if callback != nil {
		callback(r, err)
	}
}

// SendBinary publishes data to app/id as a binary push and then calls
// callback, if not nil, with the outcome (the paper's sendBinary).
func (h *Hub) SendBinary(app, id string, data []byte, callback func(Result, error)) {
	r, err := h.Publish(context.Background(), Key{App: app, ID: id}, Binary, data)
	if callback != nil {
		callback(r, err)
	}
}
