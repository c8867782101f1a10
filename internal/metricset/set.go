// Package metricset turns a layer's counters into Prometheus series on
// github.com/prometheus/client_golang, read at scrape time.
//
// The layers count with plain atomics on their hot paths (an Add costs a
// few nanoseconds and allocates nothing); a Set is the one
// prometheus.Collector a layer hands to the registry, whose series load
// those atomics when /metrics is scraped. Every series has its HELP text,
// next to the counter it reads.
//
//	var set metricset.Set
//	set.Counter("edgepush_pings_sent_total", "Keepalive pings sent.", pings.Load)
//	set.CounterBy("edgepush_closes_total", "Connections closed, by reason.", "reason", names,
//		func(i int) uint64 { return closes[i].Load() })
//	set.Add(latency) // a prometheus.Histogram, observed on the hot path
//	registry.MustRegister(set)
//
// A Set is built once, before it is registered, and not changed after.
package metricset

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Set is a group of collectors, itself a prometheus.Collector.
type Set []prometheus.Collector

var _ prometheus.Collector = Set(nil)

// Describe implements prometheus.Collector.
func (s Set) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s Set) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s {
		c.Collect(ch)
	}
}

// Add appends collectors, such as histograms, to the set.
func (s *Set) Add(cs ...prometheus.Collector) { *s = append(*s, cs...) }

// Counter adds a counter whose value load returns at scrape time.
func (s *Set) Counter(name, help string, load func() uint64) {
	s.Add(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
		func() float64 { return float64(load()) }))
}

// CounterBy adds one counter per value of label: the series with
// label=values[i] reads load(i).
func (s *Set) CounterBy(name, help, label string, values []string, load func(i int) uint64) {
	for i, v := range values {
		opts := prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: v}}
		s.Add(prometheus.NewCounterFunc(opts, func() float64 { return float64(load(i)) }))
	}
}

// Gauge adds a gauge whose value load returns at scrape time.
func (s *Set) Gauge(name, help string, load func() float64) {
	s.Add(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, load))
}

// GaugeBy adds one gauge per value of label, as CounterBy does.
func (s *Set) GaugeBy(name, help, label string, values []string, load func(i int) float64) {
	for i, v := range values {
		opts := prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: v}}
		s.Add(prometheus.NewGaugeFunc(opts, func() float64 { return load(i) }))
	}
}

// Bool is 1 for true and 0 for false, for a gauge of a state.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// LatencyBuckets returns the buckets, in seconds, of the latency
// histograms: 50 µs to 10 s, about three per decade.
func LatencyBuckets() []float64 {
	return []float64{
		0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
		0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
}
