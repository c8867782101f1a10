package hub

import (
	"bytes"
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
	// Notices: a bus carries them like pushes, with seq 0, but no store
	// holds them and subscribers get them as they come (docs/protocol.md).
	Stale // the key's source has been failing since TS (unix ms)
	Fresh // the key's source answers again; its next value follows
)

// Notice reports whether k is a notice, not a push.
func (k Kind) Notice() bool { return k == Stale || k == Fresh }

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
	// Stale is when the key's source began failing (unix ms), as SetStale
	// said; 0: it is not stale.
	Stale int64
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

// Condition says when AppendIf appends.
type Condition uint8

// The conditions of AppendIf.
const (
	// IfChanged appends unless the last value has the same kind and data.
	IfChanged Condition = 1 << iota
	// IfNewer appends unless the last value's ts is later than the new one:
	// a reading older than the one already published is not published.
	IfNewer
)

// ConditionalStore is what a Store that can compare with the last value
// as part of the append also does; the data sources' poller uses it, so
// that two nodes polling one key during a handover publish a value once.
type ConditionalStore interface {
	// AppendIf is Append when the key's last value meets cond (a key
	// without one always does); else it appends nothing and returns the
	// position as it is and false. The comparison and the append are one
	// step: no other append of the key comes between.
	AppendIf(ctx context.Context, k Key, cond Condition, kind Kind, ts int64, data []byte) (Position, bool, error)
}

// meets reports whether a new value (kind, ts, data) meets cond against
// the last value (lastKind, lastTS, lastData).
func (cond Condition) meets(lastKind Kind, lastTS int64, lastData []byte, kind Kind, ts int64, data []byte) bool {
	if cond&IfNewer != 0 && ts < lastTS {
		return false
	}
	if cond&IfChanged != 0 && kind == lastKind && bytes.Equal(data, lastData) {
		return false
	}
	return true
}

// Staler is what a Store that keeps whether a key is stale also does, so
// that a client subscribing on any node is told at once (Stream.Stale).
type Staler interface {
	// SetStale marks k stale since since (unix ms), or not stale with 0.
	// An append clears the mark.
	SetStale(ctx context.Context, k Key, since int64) error
}
