// Package amqpbus is a hub.Bus over RabbitMQ: every node publishes its
// sequenced pushes to one topic exchange and consumes its own queue, bound
// only to the keys its local clients watch, so a node receives nothing for
// keys nobody on it watches.
//
//	bus, err := amqpbus.New(amqpbus.Config{URLs: urls, Node: "edge-a"}, h.Subscribers, store.Since)
//	h := hub.New(hub.Config{Changed: bus.Changed, ...})
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, bus, h)
//
// Routing: a key's routing key is the hex of the first 16 bytes of SHA-256
// over app, a zero byte and id: 32 characters, never a '.', '*' or '#', so
// no id can reach into another's binding, and within AMQP's 255 bytes for
// any key (an escaped 64-byte app and id would not be). The app, id, seq,
// ts and kind travel in the headers, the data as the body; the consumer
// checks the key in the headers.
//
// Publish waits for the broker's confirm: a nil error means RabbitMQ has
// the message. Each node's queue is exclusive and auto-delete: it lives as
// long as the node's connection, and a reconnect declares it again and
// binds every watched key again. What was published while a node was
// disconnected does not reach it live; its clients recover it with since.
//
// Order: one goroutine consumes the queue and puts each key's messages
// back in seq order (reorder.go) before the consumer (Hub.Deliver).
//
// Binding: the keys to bind go to the broker in batches of up to 1,024,
// one round trip a batch (bus_run.go), so a burst of subscribes to new
// keys costs a few round trips, not one each.
//
// Lock order: Bus.mu, then the hub's shard locks (count is
// Hub.Subscribers); no call to the broker is made with Bus.mu held.
package amqpbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
)

// Errors of the bus.
var (
	ErrURL          = errors.New("amqpbus: bad URL")
	ErrNotConnected = errors.New("amqpbus: not connected to RabbitMQ")
	ErrNacked       = errors.New("amqpbus: the broker refused the message")
	ErrClosed       = errors.New("amqpbus: closed")
)

// Config tunes a Bus. URLs and Node are required; each other zero field
// takes the default written beside it.
type Config struct {
	URLs        []string      // amqp:// or amqps:// URLs, tried in turn
	Node        string        // this node's id, for the logs and the queue's name
	Exchange    string        // the topic exchange; default "edgepush"
	Linger      time.Duration // an unwatched key stays bound this long, against churn; default 2 s
	ReorderWait time.Duration // the longest a message waits for an earlier seq; default 50 ms
	MaxHeld     int           // messages held per key at most while waiting; default 1024
	Logger      *slog.Logger  // default slog.Default()
}

func (c Config) withDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = "edgepush"
	}
	if c.Linger <= 0 {
		c.Linger = 2 * time.Second
	}
	if c.ReorderWait <= 0 {
		c.ReorderWait = 50 * time.Millisecond
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// CheckURLs reports whether every URL is an AMQP URL.
func CheckURLs(urls []string) error {
	if len(urls) == 0 {
		return fmt.Errorf("%w: no URL", ErrURL)
	}
	for _, raw := range urls {
		if _, err := amqp.ParseURI(raw); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrURL, Redact(raw), err)
		}
	}
	return nil
}

// Redact drops the password from a URL, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// Bus is a hub.Bus over RabbitMQ. It is safe for concurrent use.
type Bus struct {
	cfg      Config
	count    func(hub.Key) int
	consumer atomic.Pointer[hub.Consumer]
	order    *reorder
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	counts   busCounts

	mu       sync.Mutex // guards the following fields
	conn     *amqp.Connection
	pub      *amqp.Channel // confirm mode
	ctl      *amqp.Channel // binds and unbinds
	queue    string
	bound    map[hub.Key]bool            // keys bound on the current connection
	known    map[hub.Key]struct{}        // keys watched here, bound or to bind, across reconnects
	unbindAt map[hub.Key]time.Time       // bound keys no local client watches, and when to unbind them
	dirty    map[hub.Key]struct{}        // keys whose local subscribers changed
	waiting  map[hub.Key][]chan struct{} // WaitBound callers, closed once the key is bound
}

var (
	_ hub.Bus    = (*Bus)(nil)
	_ hub.Sender = (*Bus)(nil)
)

// New returns a bus that connects to the first URL that answers, and keeps
// reconnecting until Close. count gives this node's local subscribers of a
// key (Hub.Subscribers); fill reads a key's history (Store.Since), to fill
// a hole a lost or late message left.
func New(cfg Config, count func(hub.Key) int, fill func(context.Context, hub.Key, uint64) (hub.Stream, error)) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := CheckURLs(cfg.URLs); err != nil {
		return nil, err
	}
	if cfg.Node == "" {
		return nil, errors.New("amqpbus: Node is required")
	}
	b := &Bus{cfg: cfg, count: count, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		bound: map[hub.Key]bool{}, known: map[hub.Key]struct{}{}, unbindAt: map[hub.Key]time.Time{}, dirty: map[hub.Key]struct{}{},
		waiting: map[hub.Key][]chan struct{}{}}
	b.order = newReorder(cfg.ReorderWait, cfg.MaxHeld, fill, b.deliver)
	go b.run()
	return b, nil
}

// RoutingKey is k's routing key.
func RoutingKey(k hub.Key) string {
	sum := sha256.Sum256([]byte(k.App + "\x00" + k.ID))
	return hex.EncodeToString(sum[:16])
}

// Consume implements hub.Bus.
func (b *Bus) Consume(c hub.Consumer) { b.consumer.Store(&c) }

// Changed marks k for binding or unbinding: the hub's Changed observer.
func (b *Bus) Changed(k hub.Key) {
	b.mu.Lock()
	b.dirty[k] = struct{}{}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// WaitBound returns once k is bound on this node's queue, so that every
// push published from then on reaches this node: a session calls it (via
// the pipeline) between adding a subscriber and reading the history, or a
// push published meanwhile would reach neither. The caller has made k
// watched (Hub.Subscribe) before.
func (b *Bus) WaitBound(ctx context.Context, k hub.Key) error {
	b.mu.Lock()
	if b.bound[k] {
		b.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	b.waiting[k] = append(b.waiting[k], done)
	b.dirty[k] = struct{}{}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("amqpbus: binding %s/%s: %w", k.App, k.ID, ctx.Err())
	}
}

// Connected reports whether the bus has a connection now.
func (b *Bus) Connected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pub != nil
}

// Publish implements hub.Bus: it returns once the broker confirmed m, with
// 0 subscribers reached (delivery on every node, this one included, comes
// from the queues).
func (b *Bus) Publish(ctx context.Context, m hub.Message) (int, error) {
	wait, err := b.Send(ctx, m)
	if err != nil {
		return 0, err
	}
	return 0, wait(ctx)
}

// Send implements hub.Sender: it writes m to the broker, in order with
// every other send of this node, and returns the wait for its confirm.
func (b *Bus) Send(ctx context.Context, m hub.Message) (func(context.Context) error, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	b.mu.Lock()
	ch := b.pub
	b.mu.Unlock()
	if ch == nil {
		return nil, ErrNotConnected
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, b.cfg.Exchange, RoutingKey(m.Key), false, false, amqp.Publishing{
		Headers: amqp.Table{
			"app": m.Key.App, "id": m.Key.ID, "seq": int64(m.Seq), "ts": m.TS, "kind": int32(m.Kind), "epoch": m.Epoch,
			"pub": m.Published,
		},
		Body: m.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("amqpbus: publish: %w", err)
	}
	return func(ctx context.Context) error {
		ok, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("amqpbus: confirm: %w", err)
		case !ok:
			return ErrNacked
		}
		return nil
	}, nil
}

// Close implements hub.Bus: it closes the connection (the node's queue and
// bindings go with it).
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.stop)
	<-b.done
	return nil
}

// deliver hands an ordered message to the consumer.
func (b *Bus) deliver(m hub.Message) {
	if c := b.consumer.Load(); c != nil {
		(*c)(m)
	}
}

// decode reads a delivery back into a message; the body becomes its data.
func decode(d amqp.Delivery) (hub.Message, bool) {
	app, ok1 := d.Headers["app"].(string)
	id, ok2 := d.Headers["id"].(string)
	seq, ok3 := d.Headers["seq"].(int64)
	ts, ok4 := d.Headers["ts"].(int64)
	kind, ok5 := d.Headers["kind"].(int32)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || kind < 0 || kind > int32(hub.Fresh) {
		return hub.Message{}, false
	}
	if notice := hub.Kind(kind).Notice(); notice != (seq == 0) || seq < 0 { // a push has a seq, a notice none
		return hub.Message{}, false
	}
	k := hub.Key{App: app, ID: id}
	if d.RoutingKey != RoutingKey(k) {
		return hub.Message{}, false
	}
	epoch, _ := d.Headers["epoch"].(string)
	published, _ := d.Headers["pub"].(int64) // 0 from a node that sends none
	return hub.Message{Key: k, Entry: hub.Entry{Seq: uint64(seq), TS: ts, Kind: hub.Kind(kind), Data: d.Body, Epoch: epoch}, Published: published}, true
}

// nodeQueue is the name of a node's queue.
func nodeQueue(exchange, node string) string {
	return exchange + ".node." + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, node)
}
