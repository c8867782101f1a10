package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"edgepush/bench"
)

// spawnFlags start one fresh server for a scenario instead of using one
// already running.
type spawnFlags struct {
	spawn bool
	bin   string
	args  string
	base  int
}

func (s *spawnFlags) register(fs *flag.FlagSet, defaultArgs string) {
	fs.BoolVar(&s.spawn, "spawn", false, "start a fresh edgepush on 127.0.0.1 for the run (then -target, -api and -server-pid are ignored) and stop it after")
	fs.StringVar(&s.bin, "server-bin", "", "edgepush binary for -spawn; default: edgepush beside edgebench, then on PATH")
	fs.StringVar(&s.args, "server-args", defaultArgs, "flags for the spawned server, space-separated")
	fs.IntVar(&s.base, "base-port", 0, "with -spawn: WebSocket port, API on base-port+1000; 0: any free ports")
}

// start spawns the server if asked, with extra flags added to -server-args.
func (s *spawnFlags) start(ctx context.Context, extra ...string) (*bench.Servers, error) {
	if !s.spawn {
		return nil, nil
	}
	servers, err := spawnServers(ctx, s.bin, 1, s.base, append(strings.Fields(s.args), extra...))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "edgebench: spawned edgepush pid %d on ws %s api %s\n", servers.Pids()[0], servers.Addrs[0].WS, servers.Addrs[0].API)
	return servers, nil
}

// resub runs a resubscribe storm: every connection goes away, pushes are
// published, and all come back at once with since.
func resub(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("resub", flag.ContinueOnError)
	describe(fs, `A resubscribe storm. -conns connections subscribe, each to one of -keys keys,
and note the position the sub's ack gives and the seq of every push. All
disconnect; -pushes values are published to every key through the HTTP API;
then all reconnect at once and subscribe with since at their position. Each
must receive exactly the pushes it missed, in order. Reports the catch-up
time (p50/p99/max from the storm's start, and until the last caught up),
errors by kind, and the server's CPU time over the storm (-server-pid, or
-spawn). Clients run in worker processes of up to 15,000 connections, each
from its own 127.0.0.x (127.0.1.x in the storm).`)
	target := fs.String("target", "127.0.0.1:8080", "WebSocket listener host:port")
	api := fs.String("api", "127.0.0.1:8081", "publish API host:port")
	conns := fs.Int("conns", 19000, "connections; spread over worker processes of up to 15,000 (see -procs), each from its own 127.0.0.x")
	keys := fs.Int("keys", 1, "keys: connection i subscribes to key i mod keys (ids 001, 002, ...)")
	pushes := fs.Int("pushes", 10, "values published to every key while the connections are away: what each must catch up on")
	warm := fs.Int("warm", 1, "values published to every key before the first connect, so that keys have a position and an epoch")
	procs := fs.Int("procs", 0, "client worker processes; 0: one per 15,000 connections")
	connecting := fs.Int("connecting", 0, "per worker, storm connections between connect(2) and the sub's ack at once; 0: all at once")
	timeout := fs.Duration("timeout", time.Minute, "for every connection to catch up; those that have not count as timeout")
	settle := fs.Duration("settle", 500*time.Millisecond, "after the last caught up, wait this long for stray pushes (duplicates)")
	valueSize := fs.Int("value-size", 40, "bytes of each published JSON value, like {\"value\":21.53,\"unit\":\"C\"}")
	serverPID := fs.Int("server-pid", 0, "pid of the server at -target, to read its CPU time from /proc; 0: not measured (known with -spawn)")
	publishers := fs.Int("publishers", 4, "HTTP connections publishing")
	depth := fs.Int("depth", 16, "publish requests in flight on each HTTP connection (pipelined); 1: one at a time")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var sp spawnFlags
	sp.register(fs, "-message-rate 100000")
	if err := parse(fs, args); err != nil {
		return err
	}
	servers, err := sp.start(ctx)
	if err != nil {
		return err
	}
	if servers != nil {
		defer servers.Stop()
		*target, *api, *serverPID = servers.Addrs[0].WS, servers.Addrs[0].API, servers.Pids()[0]
	}
	progress := bench.NewProgress(os.Stderr, bench.IsTerminal(os.Stderr), 2*time.Second)
	r, err := bench.Resub(ctx, bench.ResubConfig{
		Target: *target, API: *api, Conns: *conns, Keys: *keys, Pushes: *pushes, Warm: *warm,
		Procs: *procs, Connecting: *connecting, Timeout: *timeout, Settle: *settle, ValueSize: *valueSize,
		ServerPID: *serverPID, Publishers: *publishers, Depth: *depth,
		Worker: workerCommand(ctx), Progress: progress.Update,
	})
	progress.Stop()
	if err != nil {
		return err
	}
	if err := printResult(out, *asJSON, "resub", r); err != nil {
		return err
	}
	return nil
}

// describe gives fs a usage text: what the scenario does, then its flags.
func describe(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edgebench %s [flags]\n\n%s\n\nflags:\n", fs.Name(), text)
		fs.PrintDefaults()
	}
}

// printResult prints a scenario's result: as one JSON line with the
// scenario's name, or as its summary.
func printResult(out io.Writer, asJSON bool, name string, r fmt.Stringer) error {
	if !asJSON {
		_, err := fmt.Fprintln(out, r)
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	m["scenario"] = name
	return jsonOut(out, m)
}
