package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"edgepush/bench"
)

// history measures the memory the server's history takes.
func history(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	describe(fs, `The memory cost of the history, against a fresh server (or -spawn one).
Publishes -per-key values of -value-size bytes to each of -keys keys, in
rounds of one value to every key, over -publishers keep-alive HTTP
connections with -depth requests pipelined on each; reads the server's RSS
and Go heap (from /metrics, after a forced GC with -pprof) before, after
some rounds (-checkpoints) and at the end. Reports bytes per key, per held
value, the first value's cost and each further value's (the slope), then
replays -verify keys over WebSocket to check that the server holds what the
arithmetic assumes. The server's -history-ttl must outlast the publishing
(-spawn passes -history-ttl 1h); publishing stops at -max-duration.`)
	target := fs.String("target", "127.0.0.1:8080", "WebSocket listener host:port, for the replay check; empty: no check")
	api := fs.String("api", "127.0.0.1:8081", "publish API host:port of a fresh server")
	keys := fs.Int("keys", 100000, "keys published to (app history, ids 001, 002, ...)")
	perKey := fs.Int("per-key", 64, "values published to each key, one round of all keys at a time")
	valueSize := fs.Int("value-size", 40, "bytes of each JSON value, like {\"value\":21.53,\"unit\":\"C\"}")
	historySize := fs.Int("history-size", 64, "values the server holds per key (its -history-size; passed to it with -spawn)")
	publishers := fs.Int("publishers", 8, "HTTP connections publishing")
	depth := fs.Int("depth", 64, "publish requests in flight on each HTTP connection (pipelined); 1: one at a time, as net/http's client does")
	maxDuration := fs.Duration("max-duration", 10*time.Minute, "start no round of publishes after this; a run cut short says so")
	checkpoints := fs.String("checkpoints", "", "comma-separated rounds after which to read the server's memory too; default 1,4,16,...")
	settle := fs.Duration("settle", time.Second, "wait before each memory reading")
	pprofAddr := fs.String("pprof", "", "the server's -pprof address: force a GC (heap?gc=1) before each reading; with -spawn one is chosen")
	verify := fs.Int("verify", 20, "keys replayed over WebSocket at the end to check that the history holds what was published")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var sp spawnFlags
	sp.register(fs, "-history-ttl 1h -message-rate 100000")
	if err := parse(fs, args); err != nil {
		return err
	}
	var marks []int
	if *checkpoints != "" {
		var err error
		if marks, err = parseCounts(*checkpoints); err != nil {
			return fmt.Errorf("-checkpoints: %w", err)
		}
	}
	var extra []string
	if sp.spawn {
		if !strings.Contains(sp.args, "-history-size") {
			extra = append(extra, "-history-size", fmt.Sprint(*historySize))
		}
		if !strings.Contains(sp.args, "-pprof") {
			addr, err := bench.FreeAddr()
			if err != nil {
				return err
			}
			*pprofAddr = addr
			extra = append(extra, "-pprof", addr)
		}
	}
	servers, err := sp.start(ctx, extra...)
	if err != nil {
		return err
	}
	if servers != nil {
		defer servers.Stop()
		*target, *api = servers.Addrs[0].WS, servers.Addrs[0].API
	}
	cfg := bench.HistoryConfig{
		API: *api, Target: *target, Keys: *keys, PerKey: *perKey, ValueSize: *valueSize, HistorySize: *historySize,
		Publishers: *publishers, Depth: *depth, MaxDuration: *maxDuration, Checkpoints: marks, Settle: *settle, Verify: *verify,
		Progress: func(line string) { fmt.Fprintln(os.Stderr, "edgebench:", line) },
	}
	if *pprofAddr != "" {
		cfg.GC = func(ctx context.Context) error { return forceGC(ctx, *pprofAddr) }
	}
	r, err := bench.History(ctx, cfg)
	if err != nil {
		return err
	}
	return printResult(out, *asJSON, "history", r)
}

// forceGC asks a server's pprof handler for a heap profile after a
// collection, which is how a GC is forced from outside.
func forceGC(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	return nil
}
