package amqpbus

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// busCounts are the bus's counters; every field is updated atomically.
type busCounts struct {
	connects     atomic.Uint64 // connections made, the first included
	received     atomic.Uint64 // deliveries taken off the node's queue
	undecodable  atomic.Uint64 // deliveries without the headers of a push
	bindFailures atomic.Uint64 // rounds of binds, and unbinds, that failed
}

// Metrics returns the bus's series for a prometheus.Registry: its
// connection, what it received, and how it put pushes back in order.
func (b *Bus) Metrics() prometheus.Collector {
	var set metricset.Set
	set.Gauge("edgepush_amqp_bus_connected", "1 while the bus holds a connection to RabbitMQ, else 0.",
		func() float64 { return metricset.Bool(b.Connected()) })
	set.Counter("edgepush_amqp_bus_connects_total", "Connections of the bus to RabbitMQ, the first included.", b.counts.connects.Load)
	set.Counter("edgepush_amqp_bus_received_total", "Messages taken off this node's queue.", b.counts.received.Load)
	set.Counter("edgepush_amqp_bus_undecodable_total", "Messages on this node's queue without the headers of a push, dropped.", b.counts.undecodable.Load)
	set.Counter("edgepush_amqp_bus_bind_failures_total", "Rounds of binds or unbinds of keys on this node's queue that failed (retried).", b.counts.bindFailures.Load)
	st := &b.order.stats
	set.Counter("edgepush_amqp_bus_reordered_total", "Pushes that came out of order, held, and delivered in order.", st.reordered.Load)
	set.Counter("edgepush_amqp_bus_filled_total", "Pushes read from the history to fill a hole in a key's seqs.", st.filled.Load)
	set.Counter("edgepush_amqp_bus_skipped_total", "Seqs neither the bus nor the history had: subscribers see the jump and recover.", st.skipped.Load)
	set.Counter("edgepush_amqp_bus_stale_total", "Pushes at or below a seq already delivered, dropped.", st.stale.Load)
	return set
}
