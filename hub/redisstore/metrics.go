package redisstore

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// Metrics returns the store's series for a prometheus.Registry:
// go-redis's connection pool and the store's pipelines of scripts.
func (s *Store) Metrics() prometheus.Collector {
	var set metricset.Set
	set.Gauge("edgepush_redis_pool_connections", "Connections in go-redis's pool, idle or in use.",
		func() float64 { return float64(s.client.PoolStats().TotalConns) })
	set.Gauge("edgepush_redis_pool_idle_connections", "Idle connections in go-redis's pool.",
		func() float64 { return float64(s.client.PoolStats().IdleConns) })
	set.Counter("edgepush_redis_pool_timeouts_total", "Waits for a connection of go-redis's pool that timed out.",
		func() uint64 { return uint64(s.client.PoolStats().Timeouts) })
	set.Counter("edgepush_redis_pool_waits_total", "Commands that waited for a connection of go-redis's pool.",
		func() uint64 { return uint64(s.client.PoolStats().WaitCount) })
	set.Counter("edgepush_redis_batches_total", "Pipelines of scripts sent to Redis (appends and reads batched, see batch.go).", s.batch.sent.Load)
	set.Counter("edgepush_redis_batched_scripts_total", "Scripts sent in those pipelines.", s.batch.scripts.Load)
	return set
}
