package amqpsource

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// outcomes are the values of the outcome label of
// edgepush_amqp_source_total, before the rejection reasons.
var outcomes = []string{"received", "redelivered", "published", "requeued"}

// rejectedOutcomes are the outcome label of each rejection reason.
var rejectedOutcomes = [numReasons]string{
	reasonNoKey:       "rejected_no_key",
	reasonBadKey:      "rejected_bad_key",
	reasonContentType: "rejected_content_type",
	reasonJSON:        "rejected_json",
	reasonUTF8:        "rejected_utf8",
	reasonTooLarge:    "rejected_too_large",
	reasonRefused:     "rejected_refused",
}

// Metrics returns the source's series for a prometheus.Registry: messages
// by outcome, reconnects, and whether it consumes now.
func (s *Source) Metrics() prometheus.Collector {
	var set metricset.Set
	counts := [...]func() uint64{s.received.Load, s.redelivered.Load, s.published.Load, s.requeued.Load}
	labels := append(outcomes[:len(outcomes):len(outcomes)], rejectedOutcomes[:]...)
	set.CounterBy("edgepush_amqp_source_total", "Messages of the -amqp-source queue, by outcome: received, redelivered, published (and acked), requeued (a failed publish), or rejected for a reason (dead-lettered).",
		"outcome", labels, func(i int) uint64 {
			if i < len(counts) {
				return counts[i]()
			}
			return s.rejected[i-len(counts)].Load()
		})
	set.Counter("edgepush_amqp_source_reconnects_total", "Connections of the AMQP source that consumed, after the first.",
		s.reconnects)
	set.Gauge("edgepush_amqp_source_connected", "1 while the source has its queue on an open connection, else 0.",
		func() float64 { return metricset.Bool(s.Connected()) })
	set.Gauge("edgepush_amqp_source_consuming", "1 while the source takes deliveries (not paused after a failed publish), else 0.",
		func() float64 { return metricset.Bool(s.State().Consuming) })
	return set
}
