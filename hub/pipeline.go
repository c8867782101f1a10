package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// ErrInvalidJSON reports a text push whose data is not a JSON value in
// valid UTF-8 (a text frame must be UTF-8, RFC 6455 section 5.6).
var ErrInvalidJSON = errors.New("data is not valid JSON in UTF-8")

// ErrKind reports a publish of a kind that is not a push (a notice goes
// through Notify).
var ErrKind = errors.New("hub: a push is Text or Binary")

// ErrStore wraps a failure of the store; ErrBus one of the bus.
var (
	ErrStore = errors.New("hub: store")
	ErrBus   = errors.New("hub: bus")
)

// Result is the outcome of a publish.
type Result struct {
	Seq       uint64 // the key's sequence number for this push
	Epoch     string // the epoch of that seq
	Delivered int    // local subscribers the push was queued to
}

// PipelineConfig tunes a Pipeline. The zero value works.
type PipelineConfig struct {
	// Now is the clock for push timestamps. Default time.Now.
	Now func() time.Time
}

// Pipeline is the one path every publish takes: validate, sequence and
// append in the Store, hand to the Bus; the bus's consumer on every node
// is that node's Hub.Deliver. It is also where sessions read a key's
// history, so that a read and the publishes of the same key are ordered.
// It is safe for concurrent use.
type Pipeline struct {
	store Store
	bus   Bus
	hub   *Hub
	now   func() time.Time
	keys  keyLocks

	counts  pipelineCounts
	direct  *Source    // the publishes made on the Pipeline itself
	mu      sync.Mutex // guards sources
	sources []*Source
}

// NewPipeline returns a pipeline publishing through store and bus, and
// makes h the bus's consumer on this node.
func NewPipeline(cfg PipelineConfig, store Store, bus Bus, h *Hub) *Pipeline {
	p := &Pipeline{store: store, bus: bus, hub: h, now: cfg.Now}
	if p.now == nil {
		p.now = time.Now
	}
	p.keys.init()
	p.direct = p.Source("direct")
	bus.Consume(h.DeliverMessage)
	return p
}

// Validate checks a publish without making it: the key, and for Text that
// data is a JSON value in UTF-8.
func Validate(k Key, kind Kind, data []byte) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if kind != Text && kind != Binary {
		return ErrKind
	}
	if kind == Text && (!utf8.Valid(data) || !json.Valid(data)) {
		return ErrInvalidJSON
	}
	return nil
}

// Publish validates data, appends it to k's history with the key's next
// seq and hands it to the bus. The key's lock is held from the append to
// the end of the bus's publish (with a Sender bus, to the end of its Send:
// the wait for the broker is outside), so publishes to one key reach every
// subscriber in seq order; nothing of the hub is locked meanwhile except
// the fan-out's own shard read lock.
func (p *Pipeline) Publish(ctx context.Context, k Key, kind Kind, data []byte) (Result, error) {
	return p.direct.Publish(ctx, k, kind, data)
}

// ErrNotConditional reports a PublishIf on a store that cannot compare
// with the last value as it appends (see ConditionalStore).
var ErrNotConditional = errors.New("hub: the store has no conditional append")

// PublishIf is Publish with the push's ts given (unix ms: when the value
// was read at its source) and only when k's last value meets cond, checked
// by the store as one step with the append (ConditionalStore): of two
// nodes publishing the same reading at once, one publishes it. It reports
// whether it published.
func (p *Pipeline) PublishIf(ctx context.Context, k Key, cond Condition, kind Kind, ts int64, data []byte) (Result, bool, error) {
	return p.direct.PublishIf(ctx, k, cond, kind, ts, data)
}

// publication is one publish on its way through the pipeline.
type publication struct {
	key       Key
	cond      Condition // 0: unconditional
	kind      Kind
	ts        int64 // the push's timestamp, unix ms
	data      []byte
	published int64 // when the pipeline took it, unix ns (Message.Published)
}

func (p *Pipeline) publish(ctx context.Context, pub publication) (Result, bool, error) {
	if err := Validate(pub.key, pub.kind, pub.data); err != nil {
		return Result{}, false, err
	}
	r, appended, wait, err := p.appendAndSend(ctx, pub)
	if err == nil && wait != nil {
		err = wait(ctx)
	}
	if err != nil && r.Seq != 0 {
		err = fmt.Errorf("%w: publish %s/%s seq %d: %w", ErrBus, pub.key.App, pub.key.ID, r.Seq, err)
	}
	return r, appended, err
}

// appendAndSend is the part of a publish under its key's lock. With a
// Sender bus it returns the wait for the broker, which the caller runs
// unlocked. With a cond the store may append nothing (appended false), and
// nothing is sent.
func (p *Pipeline) appendAndSend(ctx context.Context, pub publication) (r Result, appended bool, wait func(context.Context) error, err error) {
	k := pub.key
	kl := p.keys.lock(k)
	defer p.keys.unlock(k, kl)
	var pos Position
	if pub.cond == 0 {
		pos, err = p.store.Append(ctx, k, pub.kind, pub.ts, pub.data)
		appended = true
	} else {
		pos, appended, err = p.store.(ConditionalStore).AppendIf(ctx, k, pub.cond, pub.kind, pub.ts, pub.data)
	}
	if err != nil {
		p.counts.storeErrors[storeAppend].Add(1)
		return Result{}, false, nil, fmt.Errorf("%w: append to %s/%s: %w", ErrStore, k.App, k.ID, err)
	}
	r = Result{Seq: pos.Seq, Epoch: pos.Epoch}
	if !appended {
		return r, false, nil, nil
	}
	m := Message{Key: k, Entry: Entry{Seq: pos.Seq, TS: pub.ts, Kind: pub.kind, Data: pub.data, Epoch: pos.Epoch}, Published: pub.published}
	if s, ok := p.bus.(Sender); ok {
		wait, err = s.Send(ctx, m)
		return r, true, wait, err
	}
	r.Delivered, err = p.bus.Publish(ctx, m)
	return r, true, nil, err
}

// SendText publishes data, a JSON value, to app/id as a text push and then
// calls callback, if not nil, with the outcome (the paper's sendText).
func (p *Pipeline) SendText(app, id string, data []byte, callback func(Result, error)) {
	r, err := p.Publish(context.Background(), Key{App: app, ID: id}, Text, data)
	if callback != nil {
		callback(r, err)
	}
}

// SendBinary publishes data to app/id as a binary push and then calls
// callback, if not nil, with the outcome (the paper's sendBinary).
func (p *Pipeline) SendBinary(app, id string, data []byte, callback func(Result, error)) {
	r, err := p.Publish(context.Background(), Key{App: app, ID: id}, Binary, data)
	if callback != nil {
		callback(r, err)
	}
}

// Binder is what a Bus with asynchronous delivery between nodes also does:
// WaitBound returns once every push published from then on reaches this
// node (amqpbus binds the key on the node's queue). The pipeline calls it
// before reading a key's history, after the session added its subscriber.
type Binder interface {
	WaitBound(ctx context.Context, k Key) error
}

// ready waits, with a Binder bus, until k's pushes reach this node.
func (p *Pipeline) ready(ctx context.Context, k Key) error {
	if b, ok := p.bus.(Binder); ok {
		if err := b.WaitBound(ctx, k); err != nil {
			p.counts.busErrors[busBind].Add(1)
			return fmt.Errorf("%w: %w", ErrBus, err)
		}
	}
	return nil
}

// Last returns k's position and last value (see Store.Last).
func (p *Pipeline) Last(ctx context.Context, k Key) (Stream, error) {
	if err := p.ready(ctx, k); err != nil {
		return Stream{}, err
	}
	kl := p.keys.lock(k)
	defer p.keys.unlock(k, kl)
	st, err := p.store.Last(ctx, k)
	if err != nil {
		p.counts.storeErrors[storeRead].Add(1)
		return Stream{}, fmt.Errorf("%w: last of %s/%s: %w", ErrStore, k.App, k.ID, err)
	}
	return st, nil
}

// Since returns k's history after seq (see Store.Since).
//
// A subscriber added to the hub before the call gets, live, every push
// after the returned position: with the local bus the read holds k's lock,
// so no publish of k is between its append and its delivery; with a Binder
// bus the read waits until the node receives k's pushes. A push at or
// before the position may still arrive live; the session skips it by seq.
func (p *Pipeline) Since(ctx context.Context, k Key, seq uint64) (Stream, error) {
	if err := p.ready(ctx, k); err != nil {
		return Stream{}, err
	}
	kl := p.keys.lock(k)
	defer p.keys.unlock(k, kl)
	st, err := p.store.Since(ctx, k, seq)
	if err != nil {
		p.counts.storeErrors[storeRead].Add(1)
		return Stream{}, fmt.Errorf("%w: history of %s/%s: %w", ErrStore, k.App, k.ID, err)
	}
	return st, nil
}
