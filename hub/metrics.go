package hub

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// The store and bus operations the pipeline counts failures of.
type storeOp int

const (
	storeAppend storeOp = iota // Append, AppendIf
	storeRead                  // Last, Since
	storeMark                  // SetStale
	storeOpCount
)

var storeOpNames = [storeOpCount]string{storeAppend: "append", storeRead: "read", storeMark: "mark"}

type busOp int

const (
	busPublish busOp = iota // Publish, Send and its wait
	busBind                 // WaitBound
	busOpCount
)

var busOpNames = [busOpCount]string{busPublish: "publish", busBind: "bind"}

// pipelineCounts are the pipeline's failures; the publishes are counted by
// Source.
type pipelineCounts struct {
	storeErrors [storeOpCount]atomic.Uint64
	busErrors   [busOpCount]atomic.Uint64
}

// Metrics returns the hub's series for a prometheus.Registry: pushes
// received and encoded, frames queued and refused, and the keys and
// subscriptions held now (kept as they change, not counted at scrape).
func (h *Hub) Metrics() prometheus.Collector {
	var set metricset.Set
	set.Counter("edgepush_pushes_received_total", "Pushes and notices this node's hub took off the bus.", h.deliveries.Load)
	set.Counter("edgepush_pushes_encoded_total", "Pushes encoded into a frame: those received for a key with local subscribers.", h.encoded.Load)
	set.Counter("edgepush_deliveries_total", "Frames the hub queued to a subscriber.", h.delivered.Load)
	set.Counter("edgepush_deliveries_refused_total", "Frames a subscriber refused, closing or slow (edgepush_frames_dropped_total has the reasons).", h.dropped.Load)
	set.Gauge("edgepush_keys", "Keys with at least one subscriber on this node.", func() float64 { return float64(h.topics.Load()) })
	set.Gauge("edgepush_subscriptions", "Subscriptions (a connection and a key) on this node.", func() float64 { return float64(h.subscribers.Load()) })
	return set
}

// Metrics returns the pipeline's series for a prometheus.Registry:
// publishes by source and outcome, and failures of the store and the bus.
func (p *Pipeline) Metrics() prometheus.Collector { return pipelineCollector{p} }

var (
	publishesDesc = prometheus.NewDesc("edgepush_publishes_total",
		"Publishes appended to the history and handed to the bus, by source.", []string{"source"}, nil)
	unchangedDesc = prometheus.NewDesc("edgepush_publishes_unchanged_total",
		"Conditional publishes (the poller's) not made: the value was unchanged or older than the last.", []string{"source"}, nil)
	failedDesc = prometheus.NewDesc("edgepush_publishes_failed_total",
		"Publishes that failed, by source and reason: invalid (key, kind or data), store or bus.", []string{"source", "reason"}, nil)
	storeErrorsDesc = prometheus.NewDesc("edgepush_store_errors_total",
		"Failed store operations, by operation: append, read (a subscribe's history) or mark (stale).", []string{"op"}, nil)
	busErrorsDesc = prometheus.NewDesc("edgepush_bus_errors_total",
		"Failed bus operations, by operation: publish (or its confirm) or bind (a subscribe's wait).", []string{"op"}, nil)
)

// pipelineCollector reads a pipeline's counters at scrape time; its
// sources may be added after it is registered.
type pipelineCollector struct{ p *Pipeline }

func (c pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{publishesDesc, unchangedDesc, failedDesc, storeErrorsDesc, busErrorsDesc} {
		ch <- d
	}
}

func (c pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	c.p.mu.Lock()
	sources := c.p.sources
	c.p.mu.Unlock()
	for _, s := range sources {
		counter(publishesDesc, s.published.Load(), s.name)
		counter(unchangedDesc, s.unchanged.Load(), s.name)
		for i, reason := range failureNames {
			counter(failedDesc, s.failed[i].Load(), s.name, reason)
		}
	}
	for i, op := range storeOpNames {
		counter(storeErrorsDesc, c.p.counts.storeErrors[i].Load(), op)
	}
	for i, op := range busOpNames {
		counter(busErrorsDesc, c.p.counts.busErrors[i].Load(), op)
	}
}
