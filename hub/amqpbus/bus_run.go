package amqpbus

import (
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
)

// The connection's life: connect (each URL in turn, with backoff), declare,
// bind what is watched, consume until the connection dies or Close, then
// again.

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	tickEvery  = 10 * time.Millisecond
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
		b.cfg.Logger.Info("amqp bus connected", "queue", b.queue)
		delay = backoffMin
		attempt = -1
		if !b.serve(deliveries, lost) {
			b.disconnect()
			return
		}
		b.cfg.Logger.Warn("amqp bus: connection lost; reconnecting")
		b.disconnect()
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
	b.bind()
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
			if m, ok := decode(d); ok {
				b.order.add(m, time.Now())
			}
		case <-b.wake:
			b.bind()
		case now := <-tick.C:
			b.order.tick(now, idleKey)
			b.bind()
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

// bind binds the dirty keys someone here watches, and unbinds those nobody
// has watched for Linger.
func (b *Bus) bind() {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctl == nil {
		return
	}
	for k := range b.dirty {
		delete(b.dirty, k)
		watched := b.count(k) > 0
		switch {
		case watched && !b.bound[k]:
			if err := b.ctl.QueueBind(b.queue, RoutingKey(k), b.cfg.Exchange, false, nil); err != nil {
				b.dirty[k] = struct{}{}
				b.cfg.Logger.Warn("amqp bus: bind failed", "app", k.App, "id", k.ID, "err", err)
				return // the channel is likely gone: the reconnect binds again
			}
			b.bound[k] = true
			b.known[k] = struct{}{}
			delete(b.unbindAt, k)
			b.release(k)
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
		if now.Before(at) {
			continue
		}
		if b.count(k) > 0 {
			delete(b.unbindAt, k)
			continue
		}
		if err := b.ctl.QueueUnbind(b.queue, RoutingKey(k), b.cfg.Exchange, nil); err != nil {
			b.cfg.Logger.Warn("amqp bus: unbind failed", "app", k.App, "id", k.ID, "err", err)
			return
		}
		delete(b.unbindAt, k)
		delete(b.bound, k)
		delete(b.known, k)
	}
}
