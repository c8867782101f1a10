package netloop

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/frame"
	"edgepush/internal/metricset"
)

// The latency histograms.
//
// A push frame carries two stamps (frame.Frame.Stamp): when the pipeline
// took the publish, and when the fan-out that queued it began. When a
// writer has written a frame to a socket it observes, per frame and
// connection, the time since each: publish-to-written and queue wait.
// A frame that went to netpoll's buffer because the socket was full is
// observed when the flush ends, with the oldest stamps of its batch.
//
// They are observed for every frame written, a million and more a second,
// so each writer has histograms of its own, which only its goroutine
// moves: an observation is a plain atomic load and store of two counters,
// no read-modify-write and no cache line shared with the other writer
// (client_golang's Histogram.Observe takes three atomic read-modify-writes
// on counters every writer shares, about 55 ns a call here:
// BenchmarkObserveLatency has both). The flush goroutines, which are few,
// share one more part with atomic adds. A scrape reads the parts
// atomically and hands their sum to client_golang as one histogram.

// seconds converts a span in nanoseconds to seconds.
func seconds(ns int64) float64 { return float64(ns) / 1e9 }

// latency is the server's pair of histograms, in parts.
type latency struct {
	published merged
	fanned    merged
}

func newLatency(writers int) *latency {
	return &latency{
		published: newMerged("edgepush_publish_to_write_seconds",
			"From the pipeline taking a publish to its frame written to a subscriber's socket, per frame and subscriber. Across nodes it includes the bus, and the offset of the hosts' clocks.", writers),
		fanned: newMerged("edgepush_queue_wait_seconds",
			"From the start of the fan-out that queued a push's frame to the frame written to the subscriber's socket, per frame and subscriber.", writers),
	}
}

// collectors returns the histograms as collectors for a registry.
func (l *latency) collectors() []prometheus.Collector {
	return []prometheus.Collector{&l.published, &l.fanned}
}

// writerLatency is what one writer observes into; zero: off.
type writerLatency struct {
	published, fanned             *histogram // the writer's own parts
	sharedPublished, sharedFanned *histogram // the flush goroutines' part
}

// part returns writer i's parts; l may be nil (histograms off).
func (l *latency) part(i int) writerLatency {
	if l == nil {
		return writerLatency{}
	}
	return writerLatency{
		published: &l.published.parts[i], fanned: &l.fanned.parts[i],
		sharedPublished: l.published.shared(), sharedFanned: l.fanned.shared(),
	}
}

// observe records the latencies of frames the writer wrote just now. Only
// the writer's goroutine may call it.
func (w writerLatency) observe(frames []*frame.Frame) {
	if w.published == nil {
		return
	}
	var now int64
	for _, f := range frames {
		published, fanned := f.Stamps()
		if published == 0 && fanned == 0 {
			continue
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		if published > 0 {
			w.published.observe(now - published)
		}
		if fanned > 0 {
			w.fanned.observe(now - fanned)
		}
	}
}

// observeShared records n frames with the given stamps (0: none) written
// at now, from any goroutine.
func (w writerLatency) observeShared(now, published, fanned int64, n int) {
	if w.published == nil || n == 0 {
		return
	}
	if published > 0 {
		w.sharedPublished.add(now-published, uint64(n))
	}
	if fanned > 0 {
		w.sharedFanned.add(now-fanned, uint64(n))
	}
}

// bounds are the upper bounds of the buckets in nanoseconds, from
// metricset.LatencyBuckets; counts has one more, for +Inf.
type bounds []int64

func newBounds() bounds {
	var b bounds
	for _, s := range metricset.LatencyBuckets() {
		b = append(b, int64(s*1e9))
	}
	return b
}

// histogram is one part: the count of each bucket, not cumulative, and
// the sum in nanoseconds.
type histogram struct {
	bounds bounds
	counts []atomic.Uint64
	sum    atomic.Int64
}

func newHistogram(b bounds) histogram {
	return histogram{bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
}

// bucket returns the index of the bucket of ns; a negative span (the
// clocks of two hosts) falls in the first.
func (h *histogram) bucket(ns int64) int {
	for i, bound := range h.bounds {
		if ns <= bound {
			return i
		}
	}
	return len(h.bounds)
}

// observe records one span. Only the part's owner may call it: the load
// and the store are two steps.
func (h *histogram) observe(ns int64) {
	ns = max(ns, 0)
	c := &h.counts[h.bucket(ns)]
	c.Store(c.Load() + 1)
	h.sum.Store(h.sum.Load() + ns)
}

// add records n spans of ns, from any goroutine.
func (h *histogram) add(ns int64, n uint64) {
	ns = max(ns, 0)
	h.counts[h.bucket(ns)].Add(n)
	h.sum.Add(ns * int64(n))
}

// merged is one histogram kept in parts: one per writer, and a last one
// shared by the flush goroutines.
type merged struct {
	desc    *prometheus.Desc
	buckets []float64 // the upper bounds in seconds, for the export
	parts   []histogram
}

func newMerged(name, help string, writers int) merged {
	b := newBounds()
	m := merged{desc: prometheus.NewDesc(name, help, nil, nil), buckets: metricset.LatencyBuckets()}
	for range writers + 1 {
		m.parts = append(m.parts, newHistogram(b))
	}
	return m
}

func (m *merged) shared() *histogram { return &m.parts[len(m.parts)-1] }

// Describe implements prometheus.Collector.
func (m *merged) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector: the sum of the parts, with the
// count the sum of the buckets.
func (m *merged) Collect(ch chan<- prometheus.Metric) {
	counts := make([]uint64, len(m.buckets)+1)
	var sum int64
	for i := range m.parts {
		p := &m.parts[i]
		for j := range p.counts {
			counts[j] += p.counts[j].Load()
		}
		sum += p.sum.Load()
	}
	cumulative := make(map[float64]uint64, len(m.buckets))
	var total uint64
	for i, bound := range m.buckets {
		total += counts[i]
		cumulative[bound] = total
	}
	total += counts[len(m.buckets)]
	ch <- prometheus.MustNewConstHistogram(m.desc, total, seconds(sum), cumulative)
}
