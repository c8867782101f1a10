package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"edgepush/hub/redisstore"
	"edgepush/internal/metricset"
	"edgepush/tuning"
)

// pingTimeout bounds the Redis ping of a scrape.
const pingTimeout = time.Second

// newRegistry returns the registry /metrics serves, with the series of
// every layer of n; the poller and the AMQP source add theirs when they
// start (register).
func (n *node) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		n.server.Metrics(), n.sessions.Metrics(), n.hub.Metrics(), n.pipeline.Metrics(),
		n.stateMetrics(), processMetrics(),
		// The Go runtime through runtime/metrics: no stop-the-world
		// ReadMemStats at a scrape.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if rs, ok := n.store.(*redisstore.Store); ok {
		reg.MustRegister(rs.Metrics())
	}
	if n.amqp != nil {
		reg.MustRegister(n.amqp.Metrics())
	}
	return reg
}

// stateMetrics are whether the store and the bus are reachable now, as
// /readyz judges them.
func (n *node) stateMetrics() prometheus.Collector {
	var set metricset.Set
	store, bus := "memory", "local"
	if _, ok := n.store.(*redisstore.Store); ok {
		store = "redis"
	}
	if n.amqp != nil {
		bus = "rabbitmq"
	}
	set.GaugeBy("edgepush_store_up", "1 if the store answers (in memory: always; Redis: a ping within a second at this scrape), else 0.",
		"store", []string{store}, func(int) float64 {
			ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			defer cancel()
			return metricset.Bool(n.storeUp(ctx))
		})
	set.GaugeBy("edgepush_bus_up", "1 if the bus is connected (in process: always; RabbitMQ: a connection open now), else 0.",
		"bus", []string{bus}, func(int) float64 { return metricset.Bool(n.busUp()) })
	if n.memory != nil {
		set.Gauge("edgepush_store_keys", "Keys the in-memory store holds a stream for.", func() float64 { return float64(n.memory.Keys()) })
	}
	return set
}

// storeUp reports whether the store answers now: always in memory, a
// ping within ctx for Redis. /readyz and edgepush_store_up ask it.
func (n *node) storeUp(ctx context.Context) bool {
	rs, ok := n.store.(*redisstore.Store)
	return !ok || rs.Ping(ctx) == nil
}

// busUp reports whether the bus is connected: always in process, a
// connection open now for RabbitMQ.
func (n *node) busUp() bool { return n.amqp == nil || n.amqp.Connected() }

// processMetrics is the process's resident memory under the name edgebench
// and its peers read (the same as process_resident_memory_bytes).
func processMetrics() prometheus.Collector {
	var set metricset.Set
	set.Gauge("edgepush_process_resident_bytes", "Resident memory of the process, from /proc/self/statm (as process_resident_memory_bytes; edgebench reads this one).", func() float64 {
		rss, err := tuning.ResidentBytes()
		if err != nil {
			return 0
		}
		return float64(rss)
	})
	return set
}
