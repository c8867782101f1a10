package hub

import (
	"context"
	"errors"
)

// ErrBusClosed is returned by a Bus used after Close.
var ErrBusClosed = errors.New("hub: bus closed")

// Message is a sequenced push on its way from the node that published it to
// the hubs of every node: what a Bus carries.
type Message struct {
	Key Key
	Entry
	// Published is when the pipeline took the publish, in unix
	// nanoseconds (0: unknown): the start of the publish-to-written
	// latency the transport measures. It is not kept in the history.
	Published int64
}

// Consumer takes a message off a bus on one node and returns how many
// local subscribers it was queued to; the pipeline's is Hub.Deliver.
// m.Data is valid only during the call.
type Consumer func(m Message) int

// Bus carries sequenced pushes to every node's consumer. The default is in
// process (NewLocalBus); a RabbitMQ bus carries them between nodes.
//
// Ordering: for one key, a bus hands messages to a node's consumer one at a
// time and in the order they were published on that node.
type Bus interface {
	// Consume sets the consumer of this node; call it once, before Publish.
	Consume(c Consumer)
	// Publish sends m to every node and returns how many subscribers of
	// this node it reached when the bus knows it at once (the local bus),
	// else 0.
	Publish(ctx context.Context, m Message) (int, error)
	// Close stops the bus.
	Close() error
}

// Sender is what a Bus whose Publish ends waiting for the broker also
// does: Send hands m to the bus, in order with the other sends of this
// node, and returns the wait for the broker's answer apart. The pipeline
// holds a key's lock across the append and Send only, not across the
// wait, so that the publishes of one hot key overlap their waits and still
// reach every node in seq order. Publish is Send, then the wait.
type Sender interface {
	Send(ctx context.Context, m Message) (wait func(context.Context) error, err error)
}
