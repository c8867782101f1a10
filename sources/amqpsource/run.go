package amqpsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
	"edgepush/hub/amqpbus"
)

// The connection's life: dial the URLs in turn, with backoff; on a
// connection, find the queue and consume on a channel until the connection
// is lost or ctx is done; after a failed publish, close the channel (the
// broker takes back what it held), pause, and consume on a new one.

const (
	dialTimeout = 10 * time.Second
	heartbeat   = 10 * time.Second
)

// Run consumes the queue and publishes its messages until ctx is done,
// then closes the connection (what was delivered and not acked goes back
// to the queue) and returns.
func (s *Source) Run(ctx context.Context) {
	s.logger.Info("amqp source started", "queue", s.cfg.Queue, "urls", len(s.cfg.URLs), "prefetch", s.cfg.Prefetch)
	delay := s.cfg.BackoffMin
	for attempt := 0; ctx.Err() == nil; attempt++ {
		raw := s.cfg.URLs[attempt%len(s.cfg.URLs)]
		consumed, err := s.connect(ctx, raw)
		if ctx.Err() != nil {
			break
		}
		if consumed {
			delay = s.cfg.BackoffMin // a connection that worked starts the backoff over
		}
		s.setState(State{Err: err})
		s.logs.Warn(s.logger, "connect", "amqp source: not consuming; retrying", "queue", s.cfg.Queue, "url", amqpbus.Redact(raw), "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			break
		}
		if !consumed {
			delay = min(2*delay, s.cfg.BackoffMax)
		}
	}
	s.setState(State{Err: ErrNotRunning})
	s.logger.Info("amqp source stopped", "queue", s.cfg.Queue)
}

// connect dials raw and consumes on it until the connection is lost or
// ctx is done. It reports whether it consumed at all, and why it stopped.
func (s *Source) connect(ctx context.Context, raw string) (bool, error) {
	conn, err := amqp.DialConfig(raw, amqp.Config{
		Heartbeat:  heartbeat,
		Dial:       amqp.DefaultDial(dialTimeout),
		Properties: amqp.Table{"connection_name": "edgepush amqpsource " + s.cfg.Queue},
	})
	if err != nil {
		return false, fmt.Errorf("amqpsource: dial %s: %w", amqpbus.Redact(raw), err)
	}
	defer conn.Close()
	lost := conn.NotifyClose(make(chan *amqp.Error, 1))
	for consumed := false; ; consumed = true {
		ch, deliveries, err := s.consume(conn)
		if err != nil {
			return consumed, lostReason(err, lost)
		}
		if !consumed {
			s.connects.Add(1)
			s.logger.Info("amqp source consuming", "queue", s.cfg.Queue, "url", amqpbus.Redact(raw))
		}
		s.setState(State{Connected: true, Consuming: true})
		failed := s.serve(ctx, deliveries)
		ch.Close()
		if ctx.Err() != nil {
			return true, nil
		}
		if failed == nil {
			return true, lostReason(ErrLost, lost)
		}
		s.setState(State{Connected: true, Err: failed})
		if !sleep(ctx, s.nextPause()) {
			return true, nil
		}
	}
}

// lostReason adds to err the broker's reason for closing the connection,
// if it did.
func lostReason(err error, lost <-chan *amqp.Error) error {
	select {
	case e, ok := <-lost:
		if ok && e != nil {
			return fmt.Errorf("%w: %v", err, e)
		}
	default:
	}
	return err
}

// consume opens a channel, finds the queue, sets the prefetch and starts
// consuming.
func (s *Source) consume(conn *amqp.Connection) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := s.openQueue(conn)
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Qos(s.cfg.Prefetch, 0, false); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqpsource: prefetch: %w", err)
	}
	deliveries, err := ch.Consume(s.cfg.Queue, "", false, s.cfg.Exclusive, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqpsource: consume %q: %w", s.cfg.Queue, err)
	}
	return ch, deliveries, nil
}

// openQueue opens a channel on which the queue exists: a passive declare,
// then, if the queue is missing and Declare is set, a durable declare.
func (s *Source) openQueue(conn *amqp.Connection) (*amqp.Channel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqpsource: channel: %w", err)
	}
	_, err = ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil)
	if err == nil {
		return ch, nil
	}
	ch.Close()
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.NotFound {
		return nil, fmt.Errorf("amqpsource: queue %q: %w", s.cfg.Queue, err)
	}
	if !s.cfg.Declare {
		return nil, fmt.Errorf("%w: %q (declare it, or set Declare)", ErrNoQueue, s.cfg.Queue)
	}
	if ch, err = conn.Channel(); err != nil { // the broker closed the last one
		return nil, fmt.Errorf("amqpsource: channel: %w", err)
	}
	if _, err := ch.QueueDeclare(s.cfg.Queue, true, false, false, false, nil); err != nil {
		ch.Close()
		return nil, fmt.Errorf("amqpsource: declare queue %q: %w", s.cfg.Queue, err)
	}
	return ch, nil
}

// serve handles deliveries in order until the channel closes (nil), ctx is
// done (nil) or a publish failed (its error).
func (s *Source) serve(ctx context.Context, deliveries <-chan amqp.Delivery) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return nil
			}
			if err := s.handle(ctx, &d); err != nil {
				return err
			}
		}
	}
}

// handle publishes one delivery and acks it, or rejects it if it is
// malformed; a publish that failed otherwise is nacked back to the queue
// and returned.
func (s *Source) handle(ctx context.Context, d *amqp.Delivery) error {
	s.received.Add(1)
	if d.Redelivered {
		s.redelivered.Add(1)
	}
	p, err := decode(d, s.cfg.App, s.cfg.MaxBody)
	if err != nil {
		s.reject(d, err)
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	_, err = s.pub.Publish(pctx, p.key, p.kind, p.data)
	cancel()
	switch {
	case err == nil:
		s.pause = 0
		s.published.Add(1)
		if err := d.Ack(false); err != nil {
			s.logs.Warn(s.logger, "ack", "amqp source: ack failed; the message will come again", "queue", s.cfg.Queue, "err", err)
		}
		return nil
	case invalid(err):
		s.reject(d, fmt.Errorf("%w: %w", ErrRefused, err))
		return nil
	}
	s.requeued.Add(1)
	if err := d.Nack(false, true); err != nil {
		s.logs.Warn(s.logger, "nack", "amqp source: nack failed", "queue", s.cfg.Queue, "err", err)
	}
	err = fmt.Errorf("amqpsource: publish %s/%s: %w", p.key.App, p.key.ID, err)
	if ctx.Err() == nil {
		s.logs.Warn(s.logger, "publish", "amqp source: publish failed; requeued, pausing", "queue", s.cfg.Queue, "err", err, "pause", s.peekPause())
	}
	return err
}

// invalid reports whether a publish failed for the push itself (a key or
// data the pipeline refuses), which no retry mends; a failure of the store
// or the bus, a timeout or any other error is worth a retry.
func invalid(err error) bool {
	if errors.Is(err, hub.ErrStore) || errors.Is(err, hub.ErrBus) {
		return false
	}
	for _, e := range []error{hub.ErrInvalidJSON, hub.ErrEmptyKey, hub.ErrKeyTooLong, hub.ErrKeyControl, hub.ErrKeyUTF8} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// reject rejects d without requeue, for err, and counts it.
func (s *Source) reject(d *amqp.Delivery, err error) {
	r := reasonOf(err)
	s.rejected[r].Add(1)
	if rerr := d.Reject(false); rerr != nil {
		s.logs.Warn(s.logger, "reject", "amqp source: reject failed; the message will come again", "queue", s.cfg.Queue, "err", rerr)
	}
	name := reasons[r].name
	s.logs.Warn(s.logger, "rejected "+name, "amqp source: message rejected", "queue", s.cfg.Queue, "reason", name,
		"routing_key", d.RoutingKey, "err", err)
}

// peekPause is the pause nextPause will give.
func (s *Source) peekPause() time.Duration { return max(s.pause, s.cfg.BackoffMin) }

// nextPause returns the pause after a failed publish and doubles the next
// one, up to BackoffMax; a publish that succeeds starts it over.
func (s *Source) nextPause() time.Duration {
	p := s.peekPause()
	s.pause = min(2*p, s.cfg.BackoffMax)
	return p
}

// sleep waits d, or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
