package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"edgepush/bench"
)

// cluster measures publishes through a cluster and the latency between
// its nodes.
func cluster(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	describe(fs, `Publishes through a cluster: -nodes fresh edgepush nodes on one Redis and one
RabbitMQ (started for the run unless -redis and -amqp name them).
Throughput: every node holds -subscribers connections to each of -keys keys;
the keys are split over the nodes' publish APIs and published to round after
round, over -publishers keep-alive connections per node with -depth requests
pipelined on each, for -duration; reports publishes answered 200 a second
and checks that each push reached every subscriber on every node, once and
in order. Latency: -rate publishes a second for -latency-duration through
the first node to -latency-keys keys, each watched by one connection on
every other node; reports the p50/p99/max from publish to arrival. With
-targets it runs against nodes already running instead.`)
	nodes := fs.Int("nodes", 3, "edgepush nodes")
	keys := fs.Int("keys", 300, "throughput: keys")
	subscribers := fs.Int("subscribers", 1, "throughput: connections per key on each node")
	publishers := fs.Int("publishers", 4, "throughput: HTTP connections publishing to each node")
	depth := fs.Int("depth", 32, "throughput: requests pipelined on each HTTP connection")
	duration := fs.Duration("duration", 10*time.Second, "throughput: how long to publish")
	rate := fs.Int("rate", 1000, "latency: publishes a second")
	latencyDuration := fs.Duration("latency-duration", 10*time.Second, "latency: how long to publish")
	latencyKeys := fs.Int("latency-keys", 100, "latency: keys, one connection each on every node but the first")
	serverBin := fs.String("server-bin", "", "edgepush binary; default: edgepush beside edgebench, then on PATH")
	serverArgs := fs.String("server-args", "-message-rate 100000", "more flags for the nodes, space-separated")
	targets := fs.String("targets", "", "nodes already running, comma-separated ws=api address pairs; empty: spawn -nodes")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var cf clusterFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	addrs, stop, err := clusterNodes(ctx, cf, *targets, *nodes, *serverBin, *serverArgs)
	defer stop()
	if err != nil {
		return err
	}
	r, err := bench.Cluster(ctx, bench.ClusterConfig{
		Nodes: addrs, Keys: *keys, Subscribers: *subscribers, Publishers: *publishers, Depth: *depth,
		Duration: *duration, Rate: *rate, LatencyDuration: *latencyDuration, LatencyKeys: *latencyKeys,
		Progress: func(line string) { fmt.Fprintln(os.Stderr, "edgebench:", line) },
	})
	if err != nil {
		return err
	}
	return printResult(out, *asJSON, "cluster", r)
}

// clusterNodes returns the nodes of -targets, or spawns n nodes on one
// Redis and one RabbitMQ; stop stops what it started.
func clusterNodes(ctx context.Context, cf clusterFlags, targets string, n int, bin, args string) ([]bench.ServerAddr, func(), error) {
	if targets != "" {
		addrs, err := parseTargets(targets)
		return addrs, func() {}, err
	}
	if n < 2 {
		return nil, func() {}, fmt.Errorf("-nodes %d: a cluster has two nodes or more", n)
	}
	clusterArgs, stopServices, err := cf.start()
	if err != nil {
		return nil, stopServices, err
	}
	servers, err := spawnServers(ctx, bin, n, 0, append(strings.Fields(args), clusterArgs...))
	if err != nil {
		return nil, stopServices, err
	}
	fmt.Fprintf(os.Stderr, "edgebench: %d nodes, pids %v\n", n, servers.Pids())
	return servers.Addrs, func() { servers.Stop(); stopServices() }, nil
}
