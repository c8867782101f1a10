package hub

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gobwas/ws"

	"edgepush/frame"
)

// AppendNotice appends the text message of notice e (Kind Stale or Fresh)
// of k: {"op":"stale","app":A,"id":X,"since":<unix ms>} or
// {"op":"fresh","app":A,"id":X}.
func AppendNotice(dst []byte, k Key, e Entry) []byte {
	op := "fresh"
	if e.Kind == Stale {
		op = "stale"
	}
	dst = append(dst, `{"op":"`...)
	dst = append(dst, op...)
	dst = append(dst, `","app":`...)
	dst = frame.AppendJSONString(dst, k.App)
	dst = append(dst, `,"id":`...)
	dst = frame.AppendJSONString(dst, k.ID)
	if e.Kind == Stale {
		dst = append(dst, `,"since":`...)
		dst = strconv.AppendInt(dst, e.TS, 10)
	}
	return append(dst, '}')
}

// encodeNotice returns the frame of notice e of k.
func (h *Hub) encodeNotice(k Key, e Entry) *frame.Frame {
	return h.frames.Build(ws.OpText, func(dst []byte) []byte { return AppendNotice(dst, k, e) })
}

// Notify tells k's subscribers on every node that its source has been
// failing since since (kind Stale, unix ms), or answers again (kind
// Fresh, before the next value): through the bus, under k's lock so that
// it is in order with k's publishes; the store keeps the mark for clients
// that subscribe later (Staler, Stream.Stale), if it can.
func (p *Pipeline) Notify(ctx context.Context, k Key, kind Kind, since int64) error {
	if !kind.Notice() {
		return fmt.Errorf("hub: notify with kind %d, not a notice", kind)
	}
	if kind == Fresh {
		since = 0
	}
	kl := p.keys.lock(k)
	defer p.keys.unlock(k, kl)
	if s, ok := p.store.(Staler); ok {
		if err := s.SetStale(ctx, k, since); err != nil {
			p.counts.storeErrors[storeMark].Add(1)
			return fmt.Errorf("%w: mark %s/%s: %w", ErrStore, k.App, k.ID, err)
		}
	}
	if _, err := p.bus.Publish(ctx, Message{Key: k, Entry: Entry{Kind: kind, TS: since}}); err != nil {
		p.counts.busErrors[busPublish].Add(1)
		return fmt.Errorf("%w: notice for %s/%s: %w", ErrBus, k.App, k.ID, err)
	}
	return nil
}
