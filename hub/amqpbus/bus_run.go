package amqpbus

import (
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
)

// The connection's life: connect (each URL in turn, with backoff), declare,
// consume until the connection dies or Close, then again; meanwhile the
// binder binds what is watched, on a goroutine of its own.

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	tickEvery  = 10 * time.Millisecond  // the reorder's clock
	bindEvery  = 100 * time.Millisecond // the linger's clock
	idleKey    = time.Minute
)

func (b *Bus) run() {
	defer close(b.done)
	delay := backoffMin
	for attempt := 0; ; attempt++ {
		deliveries, lost, err := b.connect(attempt)
		if err != nil {
			if attempt == 0 || attempt%20 == 0 {
				b.cfg.Logger.Warn("amqp bus: not connected; retrying", "err", err, "attempt", attempt+1)
			}
			select {
			case <-b.stop:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, backoffMax)
			continue
		}
		b.counts.connects.Add(1)
		b.cfg.Logger.Info("amqp bus connected", "queue", b.queue)
		delay = backoffMin
		attempt = -1
		quit, bound := make(chan struct{}), make(chan struct{})
		go func() { defer close(bound); b.binder(quit) }()
		again := b.serve(deliveries, lost)
		close(quit)
		b.disconnect() // a call of the binder's to the broker fails now
		<-bound
		if !again {
			return
		}
		b.cfg.Logger.Warn("amqp bus: connection lost; reconnecting")
	}
}

// binder binds and unbinds (bind) on its own goroutine, so that the
// broker's answers to binds never hold up the consumer, until quit.
func (b *Bus) binder(quit <-chan struct{}) {
	tick := time.NewTicker(bindEvery)
	defer tick.Stop()
	for {
		b.bind()
		select {
		case <-quit:
			return
		case <-b.wake:
		case <-tick.C:
		}
	}
}

// connect dials the URLs in turn and sets up the exchange, the node's
// queue, the bindings of every watched key and the consumer.
func (b *Bus) connect(attempt int) (<-chan amqp.Delivery, chan *amqp.Error, error) {
	raw := b.cfg.URLs[attempt%len(b.cfg.URLs)]
	conn, err := amqp.DialConfig(raw, amqp.Config{Heartbeat: 10 * time.Second, Properties: amqp.Table{"connection_name": "edgepush " + b.cfg.Node}})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (<-chan amqp.Delivery, chan *amqp.Error, error) {
		conn.Close()
		return nil, nil, err
	}
	pub, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	if err := pub.Confirm(false); err != nil {
		return fail(err)
	}
	ctl, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	if err := ctl.ExchangeDeclare(b.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fail(err)
	}
	q, err := ctl.QueueDeclare(nodeQueue(b.cfg.Exchange, b.cfg.Node), false, true, true, false, nil)
	if err != nil {
		return fail(err)
	}
	sub, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	deliveries, err := sub.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return fail(err)
	}
	lost := conn.NotifyClose(make(chan *amqp.Error, 1))
	b.mu.Lock()
	b.conn, b.pub, b.ctl, b.queue = conn, pub, ctl, q.Name
	clear(b.bound)
	clear(b.unbindAt)
	b.mu.Unlock()
	b.markAll()
	return deliveries, lost, nil
}

// markAll marks every key watched here dirty, to bind again.
func (b *Bus) markAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.known {
		b.dirty[k] = struct{}{}
	}
}

// serve consumes until the connection is lost (true) or Close (false).
func (b *Bus) serve(deliveries <-chan amqp.Delivery, lost chan *amqp.Error) bool {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return false
		case <-lost:
			return true
		case d, ok := <-deliveries:
			if !ok {
				return true
			}
			b.counts.received.Add(1)
			m, ok := decode(d)
			switch {
			case !ok:
				b.counts.undecodable.Add(1)
			case ok && m.Kind.Notice():
				b.deliver(m) // no seq to put in order
			case ok:
				b.order.add(m, time.Now())
			}
		case now := <-tick.C:
			b.order.tick(now, idleKey)
		}
	}
}

// disconnect closes the connection and forgets what was in flight.
func (b *Bus) disconnect() {
	b.mu.Lock()
	conn := b.conn
	b.conn, b.pub, b.ctl = nil, nil, nil
	b.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	b.order.reset()
}

// release wakes the WaitBound callers of k, now bound. The caller holds mu.
func (b *Bus) release(k hub.Key) {
	for _, done := range b.waiting[k] {
		close(done)
	}
	delete(b.waiting, k)
}

// bindBatch is the most keys one bind round binds: one round trip to the
// broker however many (every bind but the last is sent without waiting;
// the broker answers a channel's methods in order, so the last one's
// answer says all took).
const bindBatch = 1024

// unbindBatch is the most keys one round unbinds: an unbind waits for its
// answer, so a round's unbinds are few, and binds for new subscribers
// never wait long behind a mass of keys leaving.
const unbindBatch = 64

// bind binds the dirty keys someone here watches, and unbinds those nobody
// has watched for Linger. The broker is called without mu held, so
// publishes and WaitBound never wait for it.
func (b *Bus) bind() {
	ctl, toBind, toUnbind := b.plan(time.Now())
	if ctl == nil {
		return
	}
	if err := bindAll(ctl, b.queue, b.cfg.Exchange, toBind); err != nil {
		b.counts.bindFailures.Add(1)
		b.cfg.Logger.Warn("amqp bus: bind failed", "keys", len(toBind), "err", err)
		b.mu.Lock()
		for _, k := range toBind {
			b.dirty[k] = struct{}{}
		}
		b.mu.Unlock()
		return // the channel is likely gone: the reconnect binds again
	}
	b.mu.Lock()
	for _, k := range toBind {
		b.bound[k] = true
		b.release(k)
	}
	b.mu.Unlock()
	if len(toBind) == bindBatch || len(toUnbind) == unbindBatch {
		b.poke() // more may be waiting
	}
	for _, k := range toUnbind {
		if err := ctl.QueueUnbind(b.queue, RoutingKey(k), b.cfg.Exchange, nil); err != nil {
			b.counts.bindFailures.Add(1)
			b.cfg.Logger.Warn("amqp bus: unbind failed", "app", k.App, "id", k.ID, "err", err)
			return
		}
		b.mu.Lock()
		if b.count(k) > 0 {
			b.dirty[k] = struct{}{} // watched again meanwhile: bind again
		} else if _, again := b.dirty[k]; !again {
			delete(b.known, k)
		}
		b.mu.Unlock()
	}
}

// plan takes the dirty keys under mu: those to bind (up to bindBatch) and
// those whose linger is over, to unbind; keys that need no call to the
// broker are settled here.
func (b *Bus) plan(now time.Time) (ctl *amqp.Channel, toBind, toUnbind []hub.Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctl == nil {
		return nil, nil, nil
	}
	for k := range b.dirty {
		if len(toBind) == bindBatch {
			break
		}
		delete(b.dirty, k)
		watched := b.count(k) > 0
		switch {
		case watched && !b.bound[k]:
			toBind = append(toBind, k)
			b.known[k] = struct{}{}
			delete(b.unbindAt, k)
		case watched:
			delete(b.unbindAt, k)
			b.release(k)
		case b.bound[k]:
			if _, waiting := b.unbindAt[k]; !waiting {
				b.unbindAt[k] = now.Add(b.cfg.Linger)
			}
		default:
			delete(b.known, k)
		}
	}
	for k, at := range b.unbindAt {
		if now.Before(at) || len(toUnbind) == unbindBatch {
			continue
		}
		delete(b.unbindAt, k)
		if b.count(k) == 0 {
			toUnbind = append(toUnbind, k)
			delete(b.bound, k) // from now on WaitBound waits for a new bind
		}
	}
	return b.ctl, toBind, toUnbind
}

// bindAll binds keys on queue in one round trip.
func bindAll(ctl *amqp.Channel, queue, exchange string, keys []hub.Key) error {
	for i, k := range keys {
		last := i == len(keys)-1
		if err := ctl.QueueBind(queue, RoutingKey(k), exchange, !last, nil); err != nil {
			return err
		}
	}
	return nil
}

// poke wakes the serve loop to bind.
func (b *Bus) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
