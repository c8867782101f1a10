package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ClusterConfig describes a cluster run against nodes of one cluster
// (every node on one Redis and one RabbitMQ). Nodes is required, two or
// more; each other zero field takes the default written beside it.
type ClusterConfig struct {
	Nodes []ServerAddr
	App   string // default "cluster-" and the start time, so that every key is new

	// The throughput phase: every node holds Subscribers connections to
	// each of Keys keys; each key is published to through one node's API
	// (the keys are split over the nodes), round after round, over
	// Publishers keep-alive connections per node with Depth requests
	// pipelined on each, for Duration.
	Keys        int           // default 300
	Subscribers int           // default 1
	Publishers  int           // default 4
	Depth       int           // default 32
	Duration    time.Duration // default 10 s

	// The latency phase: Rate publishes a second, for LatencyDuration, to
	// LatencyKeys keys through the first node's API, each stamped with its
	// send time, received by one connection per key on every other node.
	Rate            int           // default 1000
	LatencyDuration time.Duration // default 10 s
	LatencyKeys     int           // default 100

	// Progress, if not nil, is told what the run is doing.
	Progress func(string)
}

func (c *ClusterConfig) defaults() {
	c.App = cmpOr(c.App, "cluster-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	c.Keys = orDefault(c.Keys, 300)
	c.Subscribers = orDefault(c.Subscribers, 1)
	c.Publishers = orDefault(c.Publishers, 4)
	c.Depth = orDefault(c.Depth, 32)
	c.Duration = orDefault(c.Duration, 10*time.Second)
	c.Rate = orDefault(c.Rate, 1000)
	c.LatencyDuration = orDefault(c.LatencyDuration, 10*time.Second)
	c.LatencyKeys = orDefault(c.LatencyKeys, 100)
}

// orDefault returns v, or fallback when v is not positive.
func orDefault[T int | time.Duration](v, fallback T) T {
	if v <= 0 {
		return fallback
	}
	return v
}

// ClusterResult is what Cluster measured.
type ClusterResult struct {
	Nodes int `json:"nodes"`

	// The throughput phase.
	Keys            int               `json:"keys"`
	Published       int64             `json:"published"` // publishes answered 200
	PublishesPerSec float64           `json:"publishes_per_sec"`
	Expected        int64             `json:"expected"`  // pushes the subscribers were to receive
	Delivered       int64             `json:"delivered"` // pushes they received
	Errors          map[string]uint64 `json:"errors"`    // the subscribers' errors by kind, and publish failures

	// The latency phase: from a publish entering the first node to its
	// arrival at a client of another node.
	LatencyPublished int               `json:"latency_published"`
	LatencyRate      float64           `json:"latency_publishes_per_sec"` // the rate achieved
	LatencyReceived  int64             `json:"latency_received"`
	P50MS            float64           `json:"p50_ms"`
	P99MS            float64           `json:"p99_ms"`
	MaxMS            float64           `json:"max_ms"`
	LatencyErrors    map[string]uint64 `json:"latency_errors"`
}

// Cluster runs the throughput phase, then the latency phase.
func Cluster(ctx context.Context, cfg ClusterConfig) (ClusterResult, error) {
	cfg.defaults()
	if len(cfg.Nodes) < 2 {
		return ClusterResult{}, errors.New("bench: a cluster run needs two nodes or more")
	}
	r := ClusterResult{Nodes: len(cfg.Nodes), Keys: cfg.Keys}
	if err := clusterThroughput(ctx, cfg, &r); err != nil {
		return r, err
	}
	return r, clusterLatency(ctx, cfg, &r)
}

// openOnEvery opens, on every node but the skipped one (-1: none), conns
// tracked connections, connection i subscribed to key i mod keys of prefix.
func openOnEvery(ctx context.Context, cfg ClusterConfig, skip, conns, keys int, prefix string) ([]*Client, error) {
	var clients []*Client
	for i, n := range cfg.Nodes {
		if i == skip {
			continue
		}
		c, err := Open(ctx, ClientConfig{Target: n.WS, Conns: conns, App: cfg.App, Track: true,
			ID: func(i int) string { return prefix + KeyID(i%keys) }})
		if c != nil {
			clients = append(clients, c)
		}
		if err == nil && c.Snapshot().Subscribed != int64(conns) {
			err = fmt.Errorf("bench: %d of %d connections to %s subscribed; errors %v", c.Snapshot().Subscribed, conns, n.WS, c.Snapshot().Errors)
		}
		if err != nil {
			closeClients(clients)
			return nil, err
		}
	}
	return clients, nil
}

// clusterThroughput publishes as fast as the cluster answers for
// cfg.Duration and checks that every push reached every subscriber.
func clusterThroughput(ctx context.Context, cfg ClusterConfig, r *ClusterResult) error {
	progress(cfg.Progress, "throughput: %d connections on each of %d nodes", cfg.Keys*cfg.Subscribers, len(cfg.Nodes))
	clients, err := openOnEvery(ctx, cfg, -1, cfg.Keys*cfg.Subscribers, cfg.Keys, "t")
	if err != nil {
		return err
	}
	defer closeClients(clients)
	loads := make([]*Load, len(cfg.Nodes))
	first := 0
	for i, n := range cfg.Nodes {
		share := cfg.Keys/len(cfg.Nodes) + boolInt(i < cfg.Keys%len(cfg.Nodes))
		offset := first
		loads[i] = &Load{API: n.API, App: cfg.App, Keys: share, Conns: cfg.Publishers, Depth: cfg.Depth,
			ID: func(k int) string { return "t" + KeyID(offset+k) }}
		first += share
	}
	progress(cfg.Progress, "throughput: publishing for %v", cfg.Duration)
	start := time.Now()
	results := make([]LoadResult, len(loads))
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Go(func() {
			defer l.Close()
			results[i], errs[i] = l.Rounds(ctx, 1<<30, func(int) bool { return time.Since(start) < cfg.Duration })
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, lr := range results {
		r.Published += lr.Published
	}
	r.PublishesPerSec = float64(r.Published) / elapsed.Seconds()
	r.Expected = r.Published * int64(cfg.Subscribers) * int64(len(cfg.Nodes))
	perClient := r.Published * int64(cfg.Subscribers)
	waitAll(ctx, clients, perClient, 60*time.Second)
	r.Delivered, r.Errors = collectClients(clients)
	if err := errors.Join(errs...); err != nil {
		r.Errors[ErrPublish]++
		return fmt.Errorf("bench: cluster throughput: %w", err)
	}
	return nil
}

// clusterLatency publishes at cfg.Rate through the first node to clients
// of the others, and times each push's arrival.
func clusterLatency(ctx context.Context, cfg ClusterConfig, r *ClusterResult) error {
	progress(cfg.Progress, "latency: %d connections on each of %d other nodes", cfg.LatencyKeys, len(cfg.Nodes)-1)
	clients, err := openOnEvery(ctx, cfg, 0, cfg.LatencyKeys, cfg.LatencyKeys, "l")
	if err != nil {
		return err
	}
	defer closeClients(clients)
	progress(cfg.Progress, "latency: %d publishes a second for %v", cfg.Rate, cfg.LatencyDuration)
	published, failed, elapsed := paced(ctx, cfg.Nodes[0].API, cfg.App, cfg.LatencyKeys, cfg.Rate, cfg.LatencyDuration)
	r.LatencyPublished = int(published)
	r.LatencyRate = float64(published) / elapsed.Seconds()
	waitAll(ctx, clients, published, 30*time.Second)
	var s Snapshot
	for _, c := range clients {
		s.merge(c.Snapshot())
	}
	r.LatencyReceived = s.Received
	r.P50MS, r.P99MS, r.MaxMS = ms(s.Latency.Quantile(0.5)), ms(s.Latency.Quantile(0.99)), ms(s.Latency.Max())
	r.LatencyErrors = s.Errors
	if lost := published*int64(len(clients)) - s.Received; lost > 0 {
		r.LatencyErrors[ErrTimeout] += uint64(lost)
	}
	if failed > 0 {
		r.LatencyErrors[ErrPublish] += uint64(failed)
	}
	return nil
}

// pacedWorkers is how many publishes a paced run has in flight at most.
const pacedWorkers = 16

// paced publishes to keys l001, l002, ... in turn at rate a second for
// duration: publish i starts at i/rate after the start, or as soon as a
// worker is free if the API is behind. It returns the publishes answered
// 200, those that failed, and the time taken.
func paced(ctx context.Context, api, app string, keys, rate int, duration time.Duration) (published, failed int64, elapsed time.Duration) {
	var ok, bad atomic.Int64
	jobs := make(chan int, pacedWorkers)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: pacedWorkers}}
	for range pacedWorkers {
		wg.Go(func() {
			p := Publisher{API: api, Client: client}
			for i := range jobs {
				if _, err := p.Publish(ctx, app, "l"+KeyID(i%keys)); err != nil {
					bad.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	start := time.Now()
	total := int(duration.Seconds() * float64(rate))
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return ok.Load(), bad.Load(), time.Since(start)
}

// waitAll waits until every client received want pushes, or limit passed.
func waitAll(ctx context.Context, clients []*Client, want int64, limit time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, c := range clients {
		c.WaitReceived(ctx, want)
	}
}

// collectClients sums what the clients received and their errors.
func collectClients(clients []*Client) (int64, map[string]uint64) {
	s := Snapshot{Errors: map[string]uint64{}}
	for _, c := range clients {
		s.merge(c.Snapshot())
	}
	return s.Received, s.Errors
}

func progress(f func(string), format string, args ...any) {
	if f != nil {
		f(fmt.Sprintf(format, args...))
	}
}

// String summarizes r for the terminal.
func (r ClusterResult) String() string {
	return fmt.Sprintf("%d nodes, %d keys: %d publishes answered 200, %.0f/s; %d of %d pushes delivered; errors %v\n"+
		"latency at %.0f publishes/s (%d): %d received, p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %v",
		r.Nodes, r.Keys, r.Published, r.PublishesPerSec, r.Delivered, r.Expected, r.Errors,
		r.LatencyRate, r.LatencyPublished, r.LatencyReceived, r.P50MS, r.P99MS, r.MaxMS, r.LatencyErrors)
}
