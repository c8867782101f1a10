package hub

import (
	"context"
	"sync/atomic"
)

// LocalBus is a Bus within one process: Publish calls the consumer at once,
// on the publisher's goroutine.
type LocalBus struct {
	consumer atomic.Pointer[Consumer]
	closed   atomic.Bool
}

// NewLocalBus returns an in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

// Consume implements Bus.
func (b *LocalBus) Consume(c Consumer) { b.consumer.Store(&c) }

// Publish implements Bus.
func (b *LocalBus) Publish(_ context.Context, m Message) (int, error) {
	if b.closed.Load() {
		return 0, ErrBusClosed
	}
	c := b.consumer.Load()
	if c == nil {
		return 0, nil
	}
	return (*c)(m), nil
}

// Close implements Bus.
func (b *LocalBus) Close() error {
	b.closed.Store(true)
	return nil
}
