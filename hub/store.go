package hub

import (
	"context"
	"errors"
	"time"
)

// The defaults of every store's history (docs/protocol.md says why).
const (
	DefaultHistorySize = 64
	DefaultHistoryTTL  = 2 * time.Minute
	DefaultKeyTTL      = time.Hour
)

// ErrStoreClosed is returned by a Store used after Close.
var ErrStoreClosed = errors.New("hub: store closed")

// Kind is the frame type of a push.
type Kind uint8

// The kinds of push.
const (
	Text   Kind = iota // a text frame; data is a JSON value
	Binary             // a binary frame; data is any bytes
)

// Entry is one published value of a key, as sequenced by the store.
type Entry struct {
	Seq  uint64
	TS   int64 // unix milliseconds, set by the publisher; the entry's age in the history
	Kind Kind
	Data []byte // a JSON value for Text, any bytes for Binary
	// Epoch is the epoch the seq belongs to (Position.Epoch).
	Epoch string
}

// Position is where a key's stream stands: the seq of its last value (0 for
// a key never published) and the epoch those seqs belong to. The epoch is
// an opaque string, given to a key when the store first sees it (a read
// or an append), that changes whenever the history behind the key is lost.
type Position struct {
	Seq   uint64
	Epoch string
}

// Stream is what a store read returns for a key.
type Stream struct {
	Position
	// Recovered reports whether Entries are exactly every entry after the
	// seq that Since was asked for, in order (none if it was the current
	// seq). When it is false, Entries holds the last value alone, if the
	// key has one.
	Recovered bool
	// Entries are copies, owned by the caller.
	Entries []Entry
}

// Store is the state behind the index that outlives a connection and is
// shared by the nodes that use the same store: each key's sequence, its
// last value and a bounded history. The default is in memory
// (NewMemoryStore); a Redis store keeps the same contract across processes.
//
// Atomicity: Append assigns the seq and appends the entry as one step, so
// two appends to a key never get the same seq and the history never has a
// hole. Appends to one key may run concurrently; the store orders them.
type Store interface {
	// Append assigns k its next seq (the first is 1), appends the entry
	// with that seq to k's history, makes it the last value and returns the
	// new position. The store keeps its own copy of data.
	Append(ctx context.Context, k Key, kind Kind, ts int64, data []byte) (Position, error)
	// Last returns k's position and its last value (Recovered false). A key
	// the store does not know yet gets its epoch here, at seq 0, so that a
	// subscriber learns the epoch of the pushes to come.
	Last(ctx context.Context, k Key) (Stream, error)
	// Since returns k's position and, if the history holds every entry
	// after seq, those entries with Recovered set; otherwise the last
	// value alone. Since does not check epochs: the caller compares. Like
	// Last, it gives an unknown key its epoch.
	Since(ctx context.Context, k Key, seq uint64) (Stream, error)
	// Close releases the store's resources.
	Close() error
}
