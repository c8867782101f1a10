package hub

import "context"

// Store is the state behind the index that outlives a connection and is
// shared by the nodes that use the same store: today, each key's sequence
// number. The default is in memory (NewMemoryStore); a Redis store keeps the
// same contract across processes.
type Store interface {
	// NextSeq increments key's sequence number and returns the new value;
	// the first call for a key returns 1.
	NextSeq(ctx context.Context, k Key) (uint64, error)
	// Close releases the store's resources.
	Close() error
}
