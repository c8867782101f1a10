package hub

import (
	"context"
	"sync"
)

const memoryStoreShards = 64

// MemoryStore is a Store held in this process's memory. Sequence numbers
// start over when the process restarts.
type MemoryStore struct {
	shards [memoryStoreShards]memoryShard
}

type memoryShard struct {
	mu  sync.Mutex // guards seq
	seq map[Key]uint64
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{}
	for i := range s.shards {
		s.shards[i].seq = make(map[Key]uint64)
	}
	return s
}

// NextSeq implements Store.
func (s *MemoryStore) NextSeq(_ context.Context, k Key) (uint64, error) {
	sh := &s.shards[k.hash()%memoryStoreShards]
	sh.mu.Lock()
	n := sh.seq[k] + 1
	sh.seq[k] = n
	sh.mu.Unlock()
	return n, nil
}

// Close implements Store; it has nothing to release.
func (s *MemoryStore) Close() error { return nil }
