package session

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/gobwas/ws"

	"edgepush/hub"
	"edgepush/netloop"
)

// session is one connection's protocol state. Message and Closed run one
// at a time (netloop.Session), so its fields need no lock.
type session struct {
	handler *Handler
	conn    netloop.Conn
	subs    []*subscription // sorted by key
	bucket  bucket
	strikes int // messages refused for the rate since the last accepted
}

// Message implements netloop.Session.
func (s *session) Message(op ws.OpCode, data []byte) {
	h := s.handler
	h.metrics.add(counterMessages, 1)
	if op != ws.OpText {
		s.conn.Close(ws.StatusUnsupportedData)
		return
	}
	if !s.bucket.take(time.Now(), h.cfg.MessageRate, h.cfg.MessageBurst) {
		s.refuse()
		return
	}
	s.strikes = 0
	m, perr := parseClientMessage(data, h.cfg.MaxIDs)
	switch {
	case perr != nil:
		s.answerError(m.Ref, perr)
	case m.Op == "sub":
		s.subscribe(m)
	default:
		s.unsubscribe(m)
		s.answer(func(dst []byte) []byte { return appendAck(dst, m.Ref) })
	}
}

// refuse answers a message over the rate, and closes the connection with
// 1008 after MaxStrikes of them in a row.
func (s *session) refuse() {
	h := s.handler
	s.strikes++
	if s.strikes > h.cfg.MaxStrikes {
		h.metrics.add(counterRateCloses, 1)
		s.conn.Close(ws.StatusPolicyViolation)
		return
	}
	s.answerError("", errorf(codeRateLimited, "more than %g messages a second", h.cfg.MessageRate))
}

// Closed implements netloop.Session: the connection leaves every key in one
// call to the hub.
func (s *session) Closed() {
	if len(s.subs) == 0 {
		return
	}
	all := make([]hub.Subscription, len(s.subs))
	for i, sub := range s.subs {
		all[i] = hub.Subscription{Key: sub.key, Subscriber: sub}
	}
	s.handler.hub.UnsubscribeAll(all)
	s.subs = nil
}

// answer sends the text frame whose payload appendTo writes.
func (s *session) answer(appendTo func(dst []byte) []byte) {
	f := s.conn.Frames().Build(ws.OpText, appendTo)
	s.conn.Send(f)
	f.Release()
}

func (s *session) answerError(ref string, perr *protocolError) {
	s.handler.metrics.protocolError(perr.code)
	s.answer(func(dst []byte) []byte { return appendError(dst, ref, perr) })
}

func compareKeys(a, b hub.Key) int {
	return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.ID, b.ID))
}

// find returns the index of k's subscription, or where it would go.
func (s *session) find(k hub.Key) (int, bool) {
	return slices.BinarySearchFunc(s.subs, k, func(sub *subscription, k hub.Key) int {
		return compareKeys(sub.key, k)
	})
}

// unsubscribe removes every key of m; keys not subscribed are ignored.
func (s *session) unsubscribe(m clientMessage) {
	for _, id := range m.IDs {
		k := hub.Key{App: m.App, ID: id}
		if i, ok := s.find(k); ok {
			s.handler.hub.Unsubscribe(s.subs[i], k)
			s.subs = slices.Delete(s.subs, i, i+1)
		}
	}
}

// subscribe adds every key of m, or none if that would take the connection
// past MaxSubscriptions or the history cannot be read, and answers: the
// ack with every position, then per new key its last value, replay or
// gap.
func (s *session) subscribe(m clientMessage) {
	h := s.handler
	count := 0
	for _, id := range m.IDs {
		if !s.has(hub.Key{App: m.App, ID: id}) {
			count++
		}
	}
	if len(s.subs)+count > h.cfg.MaxSubscriptions {
		s.answerError(m.Ref, errorf(codeTooManySubscriptions, "at most %d subscriptions per connection", h.cfg.MaxSubscriptions))
		return
	}
	fresh := make([]*subscription, len(m.IDs)) // nil where already subscribed
	for i, id := range m.IDs {
		if k := (hub.Key{App: m.App, ID: id}); !s.has(k) {
			fresh[i] = s.add(k)
		}
	}
	streams, err := s.read(m, fresh)
	if err != nil {
		s.rollBack(fresh)
		h.errors.log("history read failed", err)
		s.answerError(m.Ref, errorf(codeUnavailable, "the history is unavailable; try again"))
		return
	}
	h.metrics.add(counterSubscribes, count)
	s.answer(func(dst []byte) []byte { return appendSubAck(dst, m.Ref, m.IDs, streams) })
	for i, sub := range fresh {
		if sub == nil {
			continue
		}
		s.recover(sub, m.since, streams[i])
		if !sub.release() {
			h.metrics.add(counterHeldOverflows, 1)
			s.conn.Close(1013) // try again later: the next connection recovers
		}
	}
}

// has reports whether the connection is subscribed to k.
func (s *session) has(k hub.Key) bool {
	_, ok := s.find(k)
	return ok
}

// add subscribes the connection to k, holding pushes until released.
func (s *session) add(k hub.Key) *subscription {
	sub := newSubscription(k, s.conn, s.handler.cfg.MaxHeld, s.handler.hub.Wakes())
	i, _ := s.find(k)
	s.subs = slices.Insert(s.subs, i, sub)
	s.handler.hub.Subscribe(sub, k)
	return sub
}

// rollBack removes the subscriptions just added.
func (s *session) rollBack(fresh []*subscription) {
	for _, sub := range fresh {
		if sub == nil {
			continue
		}
		s.handler.hub.Unsubscribe(sub, sub.key)
		if i, ok := s.find(sub.key); ok {
			s.subs = slices.Delete(s.subs, i, i+1)
		}
		sub.release()
	}
}

// read reads the stream of every id of m: the history after since for new
// keys that have one, else the last value.
func (s *session) read(m clientMessage, fresh []*subscription) ([]hub.Stream, error) {
	h := s.handler
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HistoryTimeout)
	defer cancel()
	streams := make([]hub.Stream, len(m.IDs))
	for i, id := range m.IDs {
		k := hub.Key{App: m.App, ID: id}
		var err error
		if at, ok := m.since[id]; ok && fresh[i] != nil {
			streams[i], err = h.history.Since(ctx, k, at.seq)
		} else {
			streams[i], err = h.history.Last(ctx, k)
		}
		if err != nil {
			return nil, err
		}
	}
	return streams, nil
}
