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

// drain measures what a node's paced drain does to the node that takes
// its clients over.
func drain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	describe(fs, `The reconnect storm a drain sends to the other node. Spawns two fresh
edgepush nodes, A (with -drain-timeout W) and B, on free ports of 127.0.0.1;
-conns clients connect to A, each subscribed to a key; A gets SIGTERM. Each
client that gets close 1001 from A answers it, closes its socket and dials B
at once (after a random wait in [0, -client-jitter) with that flag), as a
load balancer that took A out of its pool sends it on, and subscribes again.
Reports per window: clients closed, reconnected and failed; the first and
last close after SIGTERM; the peak reconnect rate B saw (most acks in any
100 ms, as a rate a second, and in any 1 s); the latency from the 1001 to
B's ack (p50/p99/max); A's exit code and time to exit; B's connections at
the end; and the reconnects per second. -windows runs several windows, each
on fresh nodes, side by side (e.g. 0,30s: unpaced against paced). The
connections to A come from 127.0.0.1, 127.0.0.2, ..., those to B from
127.0.1.1, ..., -per-source on each: from one address connect(2) slows
down in the kernel as its ports fill, and the client would set the pace.`)
	conns := fs.Int("conns", 19000, "clients, one connection each (the process holds at most one socket per client)")
	keys := fs.Int("keys", 1, "keys: client i subscribes to key i mod keys (ids 001, 002, ...)")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "node A's -drain-timeout; 0 closes every client at once")
	windows := fs.String("windows", "", "comma-separated -drain-timeout values, one run each on fresh nodes (e.g. 0,30s); overrides -drain-timeout")
	jitter := fs.Duration("client-jitter", 0, "each client waits a uniform random time in [0, this) after the 1001 before dialing B; 0: at once (the worst case)")
	connecting := fs.Int("connecting", 256, "connections to A between connect(2) and the sub's ack at once, while setting up")
	perSource := fs.Int("per-source", 5000, "connections to a node from one local address: to A from 127.0.0.1, 127.0.0.2, ..., to B from 127.0.1.1, ...")
	margin := fs.Duration("margin", 2*time.Minute, "bound of each window's run beyond the window and the jitter")
	serverBin := fs.String("server-bin", "", "edgepush binary; default: edgepush beside edgebench, then on PATH")
	serverArgs := fs.String("server-args", "", "more flags for both nodes, space-separated")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	list := []time.Duration{*drainTimeout}
	if *windows != "" {
		var err error
		if list, err = parseDurations(*windows); err != nil {
			return fmt.Errorf("-windows: %w", err)
		}
	}
	bin, err := serverBinary(*serverBin)
	if err != nil {
		return err
	}
	r, err := bench.Drain(ctx, bench.DrainConfig{
		Bin: bin, ServerArgs: strings.Fields(*serverArgs), Conns: *conns, Keys: *keys, Windows: list,
		Jitter: *jitter, Connecting: *connecting, PerSource: *perSource, Margin: *margin, Logs: os.Stderr,
		Progress: func(line string) { fmt.Fprintln(os.Stderr, "edgebench:", line) },
	})
	if err != nil {
		return err
	}
	return printResult(out, *asJSON, "drain", r)
}

// parseDurations reads a comma-separated list of durations, each 0 or more.
func parseDurations(s string) ([]time.Duration, error) {
	var ds []time.Duration
	for _, field := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(field))
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("%v is negative", d)
		}
		ds = append(ds, d)
	}
	return ds, nil
}
