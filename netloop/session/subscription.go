package session

import (
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"edgepush/frame"
	"edgepush/hub"
	"edgepush/netloop"
)

// subscription is one connection's subscription to one key: the
// hub.Subscriber the hub delivers the key's pushes to.
type subscription struct {
	key  hub.Key
	conn netloop.Conn
	// queue: the hub wakes the writers after each fan-out, so pushes are
	// queued without a wake (conn.Queue), else sent (conn.Send).
	queue bool
	// sent is the highest seq queued to the connection; a push at or
	// below it was already sent (by a replay) and is skipped.
	sent atomic.Uint64
	// epoch is the epoch of sent. A live push of another epoch (the
	// history behind the key was lost: seqs start over) is preceded by a
	// gap, and sent starts over. Written by the session before release,
	// then only by Send, whose calls for one key do not overlap.
	epoch string
	// recovery holds live pushes while the history is read; nil after.
	recovery atomic.Pointer[recovery]
}

// recovery is a subscription's state while its history is read.
type recovery struct {
	max int

	mu       sync.Mutex // guards the following fields
	held     []heldPush
	overflow bool // more than max pushes arrived: they were not held
	done     bool // released: pushes go straight to the connection
}

type heldPush struct {
	seq   uint64
	frame *frame.Frame
}

func newSubscription(k hub.Key, c netloop.Conn, maxHeld int, wakes bool) *subscription {
	s := &subscription{key: k, conn: c, queue: wakes}
	s.recovery.Store(&recovery{max: maxHeld})
	return s
}

// Send implements hub.Subscriber. Pushes are held while the subscription
// recovers, skipped if already sent, and else queued to the connection,
// whose writer the hub wakes at the end of the fan-out.
func (s *subscription) Send(seq uint64, epoch string, f *frame.Frame) bool {
	if seq == 0 { // a notice: no place in the seqs
		return s.deliver(f)
	}
	if r := s.recovery.Load(); r != nil && r.hold(seq, f) {
		return true
	}
	if epoch != s.epoch && epoch != "" {
		s.restart(seq, epoch)
	}
	if seq <= s.sent.Load() {
		return true
	}
	s.sent.Store(seq)
	return s.deliver(f)
}

// deliver queues f to the connection, or sends it when the hub does not
// wake the writers.
func (s *subscription) deliver(f *frame.Frame) bool {
	if s.queue {
		return s.conn.Queue(f)
	}
	return s.conn.Send(f)
}

// restart tells the client that the key's history was lost, with a gap of
// reason epoch, and lets the new epoch's seqs through. It runs when a live
// push of a new epoch arrives: rarely, so its frame may be built here.
func (s *subscription) restart(seq uint64, epoch string) {
	since := s.sent.Load()
	s.epoch = epoch
	s.sent.Store(0)
	f := s.conn.Frames().Build(ws.OpText, func(dst []byte) []byte {
		return appendGap(dst, s.key, gapEpoch, since, hub.Position{Seq: seq - 1, Epoch: epoch})
	})
	s.conn.Queue(f)
	f.Release()
}

// hold keeps f until release; it reports false once released.
func (r *recovery) hold(seq uint64, f *frame.Frame) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.done:
		return false
	case len(r.held) >= r.max:
		r.overflow = true
	default:
		f.Retain()
		r.held = append(r.held, heldPush{seq: seq, frame: f})
	}
	return true
}

// replay sends f, push seq of the key's history, to the connection.
func (s *subscription) replay(seq uint64, f *frame.Frame) {
	if seq <= s.sent.Load() {
		return
	}
	s.sent.Store(seq)
	s.conn.Send(f)
}

// release sends the held pushes newer than what was replayed and lets the
// next ones through. It reports false if pushes had to be dropped while
// held (the caller closes the connection: the client recovers from the
// history on its next one).
func (s *subscription) release() bool {
	r := s.recovery.Load()
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range r.held {
		s.replay(p.seq, p.frame)
		p.frame.Release()
		r.held[i] = heldPush{}
	}
	r.held = nil
	r.done = true
	s.recovery.Store(nil)
	return !r.overflow
}
