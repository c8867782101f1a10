package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const memoryStoreShards = 64

// MemoryStoreConfig tunes a MemoryStore. The zero value works: each zero
// field takes the default written beside it.
type MemoryStoreConfig struct {
	// HistorySize is the most entries kept per key, the last value
	// included. Default 64.
	HistorySize int
	// HistoryTTL drops entries older than this from a key's history; the
	// last value is kept whatever its age. Default 2 minutes.
	HistoryTTL time.Duration
	// KeyTTL forgets a key, with its seq, epoch and last value, once it has
	// had no publish for this long and Watched says nobody watches it.
	// Default 1 hour.
	KeyTTL time.Duration
	// Watched reports whether a key has subscribers; keys it reports true
	// for are never forgotten. Default: none is watched. It is called with
	// a store lock held, so it must be quick and must not call the store
	// (Hub.Watched is).
	Watched func(Key) bool
	// Now is the clock for entry ages. Default time.Now.
	Now func() time.Time
}

func (c MemoryStoreConfig) withDefaults() MemoryStoreConfig {
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = DefaultKeyTTL
	}
	if c.Watched == nil {
		c.Watched = func(Key) bool { return false }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// MemoryStore is a Store held in this process's memory. Its epochs are made
// from a random instance id, so every key's epoch changes when the process
// restarts, and from a counter, so a forgotten key published again gets a
// new epoch too.
//
// A key's history is a ring that grows as needed up to HistorySize; an
// entry's buffer is reused by the entry that replaces it, so appends of
// values of similar size allocate nothing in steady state.
type MemoryStore struct {
	cfg     MemoryStoreConfig
	id      string        // random, per instance
	streams atomic.Uint64 // streams ever created, for epochs
	shards  [memoryStoreShards]memoryShard
	stop    chan struct{}
	once    sync.Once
	closed  atomic.Bool
}

type memoryShard struct {
	mu      sync.Mutex // guards streams and the streams' fields
	streams map[Key]*stream
}

// stream is one key's sequence, epoch and history.
type stream struct {
	epoch   string
	seq     uint64
	touched int64   // unix ns of the last append, or of the creation
	ring    []entry // grows to HistorySize
	head    int     // index of the oldest entry held
	count   int     // entries held, at least 1 once published
	stale   int64   // unix ms since the key's source fails (SetStale); 0: fresh
}

// entry is a held value; data is owned by the ring slot. Its age, for
// HistoryTTL, is its ts: 48 bytes a value besides the data.
type entry struct {
	seq  uint64
	ts   int64
	kind Kind
	data []byte
}

// NewMemoryStore returns an empty in-memory store; its sweeper forgets old
// keys and trims old history until Close.
func NewMemoryStore(cfg MemoryStoreConfig) *MemoryStore {
	s := &MemoryStore{cfg: cfg.withDefaults(), id: newInstanceID(), stop: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].streams = make(map[Key]*stream)
	}
	go s.sweep()
	return s
}

func newInstanceID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (s *MemoryStore) shard(k Key) *memoryShard {
	return &s.shards[k.hash()%memoryStoreShards]
}

// Append implements Store.
func (s *MemoryStore) Append(ctx context.Context, k Key, kind Kind, ts int64, data []byte) (Position, error) {
	pos, _, err := s.AppendIf(ctx, k, 0, kind, ts, data)
	return pos, err
}

var (
	_ ConditionalStore = (*MemoryStore)(nil)
	_ Staler           = (*MemoryStore)(nil)
)

// SetStale implements Staler.
func (s *MemoryStore) SetStale(_ context.Context, k Key, since int64) error {
	if s.closed.Load() {
		return ErrStoreClosed
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.stream(sh, k, s.cfg.Now().UnixNano()).stale = since
	return nil
}

// AppendIf implements ConditionalStore.
func (s *MemoryStore) AppendIf(_ context.Context, k Key, cond Condition, kind Kind, ts int64, data []byte) (Position, bool, error) {
	if s.closed.Load() {
		return Position{}, false, ErrStoreClosed
	}
	now := s.cfg.Now().UnixNano()
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := s.stream(sh, k, now)
	if st.count > 0 {
		last := st.at(st.count - 1)
		if !cond.meets(last.kind, last.ts, last.data, kind, ts, data) {
			return Position{Seq: st.seq, Epoch: st.epoch}, false, nil
		}
	}
	st.seq++
	st.touched = now
	st.stale = 0
	st.push(s.cfg.HistorySize, entry{seq: st.seq, ts: ts, kind: kind}, data)
	st.trim(s.cutoff(now))
	return Position{Seq: st.seq, Epoch: st.epoch}, true, nil
}

// stream returns k's stream, created with a new epoch if it does not
// exist. The caller holds sh.mu.
func (s *MemoryStore) stream(sh *memoryShard, k Key, now int64) *stream {
	st := sh.streams[k]
	if st == nil {
		st = &stream{epoch: s.id + "." + strconv.FormatUint(s.streams.Add(1), 36), touched: now}
		sh.streams[k] = st
	}
	return st
}

// Last implements Store.
func (s *MemoryStore) Last(_ context.Context, k Key) (Stream, error) {
	if s.closed.Load() {
		return Stream{}, ErrStoreClosed
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := s.stream(sh, k, s.cfg.Now().UnixNano())
	out := Stream{Position: Position{Seq: st.seq, Epoch: st.epoch}, Stale: st.stale}
	if st.count > 0 {
		out.Entries = []Entry{st.at(st.count - 1).export(st.epoch)}
	}
	return out, nil
}

// Since implements Store.
func (s *MemoryStore) Since(_ context.Context, k Key, seq uint64) (Stream, error) {
	if s.closed.Load() {
		return Stream{}, ErrStoreClosed
	}
	now := s.cfg.Now().UnixNano()
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := s.stream(sh, k, now)
	out := Stream{Position: Position{Seq: st.seq, Epoch: st.epoch}, Stale: st.stale}
	if seq == st.seq {
		out.Recovered = true
		return out, nil
	}
	if seq > st.seq { // ahead: the key has not come this far
		if st.count > 0 {
			out.Entries = []Entry{st.at(st.count - 1).export(st.epoch)}
		}
		return out, nil
	}
	st.trim(s.cutoff(now))
	if seq+1 < st.at(0).seq { // evicted
		out.Entries = []Entry{st.at(st.count - 1).export(st.epoch)}
		return out, nil
	}
	n := int(st.seq - seq)
	out.Recovered = true
	out.Entries = make([]Entry, n)
	for i := range n {
		out.Entries[i] = st.at(st.count - n + i).export(st.epoch)
	}
	return out, nil
}

// Keys returns how many keys the store holds.
func (s *MemoryStore) Keys() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.streams)
		sh.mu.Unlock()
	}
	return n
}

// Close implements Store: the sweeper stops and later calls fail.
func (s *MemoryStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	return nil
}

// sweep forgets old unwatched keys and trims old history, a few times per
// the shorter TTL.
func (s *MemoryStore) sweep() {
	every := min(s.cfg.HistoryTTL, s.cfg.KeyTTL) / 4
	ticker := time.NewTicker(max(every, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		for i := range s.shards {
			s.sweepShard(&s.shards[i])
		}
	}
}

func (s *MemoryStore) sweepShard(sh *memoryShard) {
	now := s.cfg.Now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, st := range sh.streams {
		if now-st.touched > int64(s.cfg.KeyTTL) && !s.cfg.Watched(k) {
			delete(sh.streams, k)
			continue
		}
		st.trim(s.cutoff(now))
	}
}

// at returns the i-th entry held, oldest first.
func (st *stream) at(i int) *entry {
	return &st.ring[(st.head+i)%len(st.ring)]
}

// push appends e with a copy of data, dropping the oldest entry when the
// ring is full at size.
func (st *stream) push(size int, e entry, data []byte) {
	if st.count == len(st.ring) && len(st.ring) < size {
		st.grow(size)
	}
	var slot *entry
	if st.count == len(st.ring) {
		slot = st.at(0)
		st.head = (st.head + 1) % len(st.ring)
	} else {
		slot = st.at(st.count)
		st.count++
	}
	buf := slot.data[:0]
	if cap(buf) > 1024 && cap(buf) > 4*len(data) {
		buf = nil // do not pin a large buffer behind a small value
	}
	e.data = append(buf, data...)
	*slot = e
}

// grow doubles the ring, at most to size, keeping the entries in order.
func (st *stream) grow(size int) {
	ring := make([]entry, min(max(2*len(st.ring), 2), size))
	for i := range st.count {
		ring[i] = *st.at(i)
	}
	st.ring, st.head = ring, 0
}

// cutoff returns the ts (unix ms) before which entries are past
// HistoryTTL at now (unix ns).
func (s *MemoryStore) cutoff(now int64) int64 {
	return (now - int64(s.cfg.HistoryTTL)) / int64(time.Millisecond)
}

// trim drops entries published before cutoff (unix ms), keeping the last.
func (st *stream) trim(cutoff int64) {
	for st.count > 1 && st.at(0).ts < cutoff {
		st.at(0).data = st.at(0).data[:0]
		st.head = (st.head + 1) % len(st.ring)
		st.count--
	}
}

func (e *entry) export(epoch string) Entry {
	return Entry{Seq: e.seq, TS: e.ts, Kind: e.kind, Data: append([]byte(nil), e.data...), Epoch: epoch}
}
