package session

import (
	"context"

	"edgepush/hub"
)

// Gap reasons (docs/protocol.md).
const (
	gapEpoch   = "epoch"   // the client's epoch is not the key's
	gapEvicted = "evicted" // the history no longer holds every push after since
	gapAhead   = "ahead"   // since is past the key's current seq
)

// recover sends, for a new subscription, what follows the ack: the last
// value without since, else the replay or a gap and the last value; then,
// if the key's source is failing, the stale notice.
func (s *session) recover(sub *subscription, since map[string]since, st hub.Stream) {
	s.replayStream(sub, since, st)
	if st.Stale != 0 {
		f := s.handler.hub.Encode(sub.key, hub.Entry{Kind: hub.Stale, TS: st.Stale})
		s.conn.Send(f)
		f.Release()
	}
}

// replayStream is recover's part before the notice.
func (s *session) replayStream(sub *subscription, since map[string]since, st hub.Stream) {
	sub.epoch = st.Epoch
	at, ok := since[sub.key.ID]
	if !ok {
		s.sendEntries(sub, st.Entries)
		s.handler.metrics.add(counterLastValues, len(st.Entries))
		return
	}
	reason := gapReason(at, st)
	if reason == "" {
		s.sendEntries(sub, st.Entries)
		s.handler.metrics.add(counterReplayed, len(st.Entries))
		return
	}
	s.handler.metrics.gap(reason)
	s.answer(func(dst []byte) []byte { return appendGap(dst, sub.key, reason, at.seq, st.Position) })
	last := st.Entries
	if st.Recovered {
		last = s.last(sub.key, st)
	}
	s.sendEntries(sub, last)
}

// gapReason returns why since cannot be replayed from st, or "".
func gapReason(at since, st hub.Stream) string {
	switch {
	case at.hasEpoch && at.seq > 0 && at.epoch != st.Epoch:
		return gapEpoch
	case at.seq > st.Seq:
		return gapAhead
	case !st.Recovered:
		return gapEvicted
	}
	return ""
}

// last returns the last value for a gap when st, a recovered read, does not
// hold it: the tail of its entries, or a read of its own.
func (s *session) last(k hub.Key, st hub.Stream) []hub.Entry {
	if n := len(st.Entries); n > 0 {
		return st.Entries[n-1:]
	}
	if st.Seq == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.handler.cfg.HistoryTimeout)
	defer cancel()
	fresh, err := s.handler.history.Last(ctx, k)
	if err != nil {
		s.handler.errors.log("history read failed", err)
		return nil
	}
	return fresh.Entries
}

// sendEntries encodes and sends entries, in order, skipping what the
// subscription already sent.
func (s *session) sendEntries(sub *subscription, entries []hub.Entry) {
	for _, e := range entries {
		f := s.handler.hub.Encode(sub.key, e)
		sub.replay(e.Seq, f)
		f.Release()
	}
}
