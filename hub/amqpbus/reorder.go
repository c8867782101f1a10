package amqpbus

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"edgepush/hub"
)

// reorder puts each key's messages back in seq order on this node. Two
// nodes publishing to one key at once have distinct seqs (the store gives
// them) but their messages can reach a third node's queue in either order.
// A message past the next expected seq is held up to wait; when the wait
// ends, the missing seqs are read from the history (fill), and whatever is
// still missing is skipped: the subscribers see the jump and recover with
// since. It is used by one goroutine only.
type reorder struct {
	wait    time.Duration
	maxHeld int
	fill    func(ctx context.Context, k hub.Key, seq uint64) (hub.Stream, error)
	deliver func(hub.Message)
	keys    map[hub.Key]*keyOrder
	stats   reorderStats
}

// reorderStats are written by the reorder's goroutine and read by
// scrapes.
type reorderStats struct {
	reordered atomic.Uint64 // messages held, then delivered in order
	filled    atomic.Uint64 // messages read from the history to fill a hole
	skipped   atomic.Uint64 // seqs neither the bus nor the history had
	stale     atomic.Uint64 // messages at or below a seq already delivered
}

// keyOrder is one key's state.
type keyOrder struct {
	epoch string        // the epoch of last and held: a new one starts over
	last  uint64        // the last seq delivered; 0: none yet
	held  []hub.Message // past last+1, sorted by seq, owning their data
	since time.Time     // when the oldest held message came
	seen  time.Time     // the last message, for forgetting idle keys
}

func newReorder(wait time.Duration, maxHeld int, fill func(context.Context, hub.Key, uint64) (hub.Stream, error), deliver func(hub.Message)) *reorder {
	return &reorder{wait: wait, maxHeld: maxHeld, fill: fill, deliver: deliver, keys: make(map[hub.Key]*keyOrder)}
}

// add takes one message off the queue. m.Data must stay valid: add holds
// it when it must wait.
func (r *reorder) add(m hub.Message, now time.Time) {
	st := r.keys[m.Key]
	if st == nil {
		st = &keyOrder{}
		r.keys[m.Key] = st
	}
	st.seen = now
	if m.Epoch != st.epoch { // the history was lost: seqs start over
		st.epoch, st.last, st.held = m.Epoch, 0, nil
	}
	switch {
	case st.last == 0 || m.Seq == st.last+1:
		r.send(st, m)
		r.drain(st)
	case m.Seq <= st.last:
		r.stats.stale.Add(1)
	default:
		if len(st.held) == 0 {
			st.since = now
		}
		i, found := slices.BinarySearchFunc(st.held, m.Seq, func(h hub.Message, seq uint64) int { return cmpSeq(h.Seq, seq) })
		if !found {
			st.held = slices.Insert(st.held, i, m)
		}
		if len(st.held) > r.maxHeld {
			r.resolve(m.Key, st)
		}
	}
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r *reorder) send(st *keyOrder, m hub.Message) {
	st.last = m.Seq
	r.deliver(m)
}

// drain delivers the held messages that now follow.
func (r *reorder) drain(st *keyOrder) {
	for len(st.held) > 0 && st.held[0].Seq <= st.last+1 {
		m := st.held[0]
		st.held = st.held[1:]
		if m.Seq == st.last+1 {
			r.stats.reordered.Add(1)
			r.send(st, m)
		}
	}
	if len(st.held) == 0 {
		st.held = nil
	}
}

// tick resolves the keys whose wait is over and forgets keys idle for
// idle.
func (r *reorder) tick(now time.Time, idle time.Duration) {
	for k, st := range r.keys {
		switch {
		case len(st.held) > 0 && now.Sub(st.since) >= r.wait:
			r.resolve(k, st)
		case len(st.held) == 0 && now.Sub(st.seen) > idle:
			delete(r.keys, k)
		}
	}
}

// resolve fills the hole before the first held message from the history,
// then delivers what it holds, skipping what neither had.
func (r *reorder) resolve(k hub.Key, st *keyOrder) {
	first := st.held[0].Seq
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	history, err := r.fill(ctx, k, st.last)
	cancel()
	if err == nil && history.Recovered && history.Epoch == st.epoch { // another epoch's seqs are not these
		for _, e := range history.Entries {
			if e.Seq > st.last && e.Seq < first {
				r.stats.filled.Add(1)
				r.send(st, hub.Message{Key: k, Entry: e})
			}
		}
	}
	if first > st.last+1 {
		r.stats.skipped.Add(first - st.last - 1)
		st.last = first - 1
	}
	r.drain(st)
	if len(st.held) > 0 {
		st.since = time.Now()
	}
}

// reset forgets every key's order: after a reconnect, what was in flight
// is gone and the next message of each key starts it again.
func (r *reorder) reset() { clear(r.keys) }
