// Command edgebench measures an edgepush server from another process, the
// way its clients see it.
//
//	edgebench fanout -conns 19000 -pushes 20        # one push to every connection, repeatedly
//	edgebench fanout -conns 10000 -rate 100         # continuous publishing to one key (also: throughput)
//	edgebench idle -conns 10000                     # server memory per idle connection
//	edgebench floor -conns 19000 -writers 2         # raw write(2) fan-out, no WebSocket
//	edgebench table -spawn 4 -rows 500,1500,50000   # the paper's Table 2 and onwards
//	edgebench churn -conns 5000 -rounds 5           # connect storms; the server must return to baseline
//	edgebench resub -conns 19000 -pushes 10 -spawn  # resubscribe storm: all reconnect with since, must catch up exactly
//	edgebench history -keys 100000 -per-key 64 -spawn  # memory per key and per held value of the history
//	edgebench drain -conns 19000 -windows 0,30s     # a node drains its clients to another: the reconnect rate there
//
// Every scenario targets a server already running (-target and -api) on
// 127.0.0.0/8, or with -spawn (table, resub, history) fresh servers it
// starts there (drain always starts its own two), is bounded in
// connections and time, and stops by itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgepush/bench"
	"edgepush/tuning"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// scenarios maps a subcommand to its function.
var scenarios = map[string]func(ctx context.Context, args []string, out io.Writer) error{
	"fanout":       fanout,
	"throughput":   throughput,
	"idle":         idle,
	"floor":        floor,
	"floor-reader": floorReader,
	"table":        table,
	"worker":       worker,
	"churn":        churn,
	"resub":        resub,
	"history":      history,
	"cluster":      cluster,
	"drain":        drain,
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || scenarios[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: edgebench table|fanout|throughput|idle|churn|resub|history|drain|floor [flags]; edgebench SCENARIO -h for its flags")
		return 2
	}
	if _, err := tuning.RaiseOpenFiles(); err != nil {
		fmt.Fprintln(stderr, "edgebench:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	err := scenarios[args[0]](ctx, args[1:], stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "edgebench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// common are the flags every server scenario takes.
type common struct {
	target  string
	api     string
	conns   int
	sources string
	json    bool
}

func (c *common) register(fs *flag.FlagSet, conns int) {
	fs.StringVar(&c.target, "target", "127.0.0.1:8080", "WebSocket listener host:port")
	fs.StringVar(&c.api, "api", "127.0.0.1:8081", "publish API host:port")
	fs.IntVar(&c.conns, "conns", conns, "connections")
	fs.StringVar(&c.sources, "sources", "127.0.0.1", "comma-separated local addresses to connect from")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
}

func (c *common) open(ctx context.Context) (*bench.Client, error) {
	openCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	client, err := bench.Open(openCtx, bench.ClientConfig{
		Target:  c.target,
		Conns:   c.conns,
		Sources: strings.Split(c.sources, ","),
	})
	if err != nil {
		if client != nil {
			client.Close()
		}
		return nil, err
	}
	s := client.Snapshot()
	if s.Subscribed != int64(c.conns) {
		client.Close()
		return nil, fmt.Errorf("%d of %d connections subscribed; errors %v", s.Subscribed, c.conns, s.Errors)
	}
	fmt.Fprintf(os.Stderr, "edgebench: %d connections subscribed in %v\n", c.conns, time.Since(start).Round(time.Millisecond))
	return client, nil
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	return fs.Parse(args)
}

// fanout and throughput share one scenario: one key held by every
// connection. With -rate 0 it publishes one push at a time and times each
// push's delivery to all; with -rate R it publishes R a second for
// -duration. throughput is fanout with -rate 100 by default.
func fanout(ctx context.Context, args []string, out io.Writer) error {
	return fanoutScenario(ctx, "fanout", 0, args, out)
}

func throughput(ctx context.Context, args []string, out io.Writer) error {
	return fanoutScenario(ctx, "throughput", 100, args, out)
}

func fanoutScenario(ctx context.Context, name string, defaultRate int, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.register(fs, 1000)
	pushes := fs.Int("pushes", 10, "with -rate 0: pushes, one after the other")
	pause := fs.Duration("pause", 500*time.Millisecond, "with -rate 0: pause between pushes")
	rate := fs.Int("rate", defaultRate, "publishes per second for -duration; 0: one push at a time")
	duration := fs.Duration("duration", 10*time.Second, "with -rate: how long to publish")
	if err := parse(fs, args); err != nil {
		return err
	}
	client, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	pub := &bench.Publisher{API: c.api}
	var result map[string]any
	if *rate > 0 {
		result, err = continuous(ctx, client, pub, c.conns, *rate, *duration)
	} else {
		result, err = oneAtATime(ctx, client, pub, c.conns, *pushes, *pause)
	}
	if err != nil {
		return err
	}
	result["scenario"], result["conns"] = name, c.conns
	return report(out, c.json, result)
}

// oneAtATime publishes pushes one after the other, each once the last has
// reached every connection, and reports latency over all of them, the
// median of each push's last arrival, and the delivery rate while pushes
// were in flight.
func oneAtATime(ctx context.Context, client *bench.Client, pub *bench.Publisher, conns, pushes int, pause time.Duration) (map[string]any, error) {
	var all, lasts bench.Histogram
	errs := map[string]uint64{}
	for i := 0; i < pushes; i++ {
		client.Reset()
		if _, err := pub.Publish(ctx, "bench", "k"); err != nil {
			return nil, err
		}
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := client.WaitReceived(waitCtx, int64(conns))
		cancel()
		if err != nil {
			return nil, err
		}
		s := client.Snapshot()
		all.Merge(&s.Latency)
		lasts.Record(s.Latency.Max())
		errs = s.Errors
		time.Sleep(pause)
	}
	inFlight := time.Duration(lasts.Sum)
	return map[string]any{
		"pushes": pushes, "errors": errs,
		"frames_per_sec": float64(conns*pushes) / inFlight.Seconds(),
		"p50_ms":         ms(all.Quantile(0.5)), "p99_ms": ms(all.Quantile(0.99)),
		"max_ms": ms(all.Max()), "last_median_ms": ms(lasts.Quantile(0.5)),
	}, nil
}

// continuous publishes at a fixed rate for a while and reports the frames
// delivered per second and their latency.
func continuous(ctx context.Context, client *bench.Client, pub *bench.Publisher, conns, rate int, duration time.Duration) (map[string]any, error) {
	client.Reset()
	start := time.Now()
	ticker := time.NewTicker(time.Second / time.Duration(rate))
	defer ticker.Stop()
	published := 0
	for time.Since(start) < duration {
		<-ticker.C
		if _, err := pub.Publish(ctx, "bench", "k"); err != nil {
			return nil, err
		}
		published++
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := client.WaitReceived(waitCtx, int64(published*conns))
	cancel()
	elapsed := time.Since(start)
	s := client.Snapshot()
	result := map[string]any{
		"publishes": published, "publishes_per_sec": float64(published) / duration.Seconds(),
		"frames_per_sec": float64(s.Received) / elapsed.Seconds(),
		"p50_ms":         ms(s.Latency.Quantile(0.5)), "p99_ms": ms(s.Latency.Quantile(0.99)),
		"max_ms": ms(s.Latency.Max()), "errors": s.Errors,
	}
	if err != nil {
		result["incomplete"] = err.Error()
	}
	return result, nil
}

// idle opens connections, each subscribed to one key, and reports how much
// the server's resident memory grew per connection.
func idle(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	c.register(fs, 10000)
	settle := fs.Duration("settle", 3*time.Second, "wait before reading the server's memory")
	if err := parse(fs, args); err != nil {
		return err
	}
	const rss = "edgepush_process_resident_bytes"
	before, err := bench.ServerMetric(ctx, c.api, rss)
	if err != nil {
		return err
	}
	client, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	time.Sleep(*settle)
	after, err := bench.ServerMetric(ctx, c.api, rss)
	if err != nil {
		return err
	}
	conns, err := bench.ServerMetric(ctx, c.api, "edgepush_connections")
	if err != nil {
		return err
	}
	if int(conns) != c.conns {
		return fmt.Errorf("the server counts %v connections, not %d: is it fresh and only ours?", conns, c.conns)
	}
	return report(out, c.json, map[string]any{
		"scenario": "idle", "conns": c.conns, "server_connections": conns,
		"rss_before_mib": before / (1 << 20), "rss_after_mib": after / (1 << 20),
		"bytes_per_conn": (after - before) / float64(c.conns),
	})
}

// floor measures raw write(2) fan-out on this machine.
func floor(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	conns := fs.Int("conns", 1000, "connections")
	writers := fs.Int("writers", 1, "writing goroutines")
	rounds := fs.Int("rounds", 5, "fan-outs")
	size := fs.Int("size", 64, "bytes per write")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := runFloor(ctx, bench.FloorConfig{Conns: *conns, Writers: *writers, Size: *size, Rounds: *rounds})
	if err != nil {
		return err
	}
	return report(out, *asJSON, map[string]any{
		"scenario": "floor", "conns": r.Conns, "writers": r.Writers, "frames_per_sec": r.FramesPerSec,
		"p50_ms": ms(r.Latency.Quantile(0.5)), "p99_ms": ms(r.Latency.Quantile(0.99)), "max_ms": ms(r.Latency.Max()),
	})
}

// runFloor runs bench.Floor with this binary's floor-reader as the reader
// process.
func runFloor(ctx context.Context, cfg bench.FloorConfig) (bench.FloorResult, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.FloorResult{}, err
	}
	cfg.Reader = func(addr string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, self, "floor-reader", "-addr", addr, "-conns", strconv.Itoa(cfg.Conns),
			"-size", strconv.Itoa(max(cfg.Size, 64)), "-rounds", strconv.Itoa(max(cfg.Rounds, 1)))
		cmd.Stderr = os.Stderr
		return cmd
	}
	return bench.Floor(ctx, cfg)
}

func floorReader(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("floor-reader", flag.ContinueOnError)
	addr := fs.String("addr", "", "the floor writer's address")
	conns := fs.Int("conns", 1000, "connections")
	size := fs.Int("size", 64, "bytes per write")
	rounds := fs.Int("rounds", 5, "fan-outs")
	if err := parse(fs, args); err != nil {
		return err
	}
	return bench.FloorReader(ctx, *addr, *conns, *size, *rounds, out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func jsonOut(out io.Writer, v any) error { return json.NewEncoder(out).Encode(v) }

// report prints result as JSON or as sorted key: value lines.
func report(out io.Writer, asJSON bool, result map[string]any) error {
	if asJSON {
		return json.NewEncoder(out).Encode(result)
	}
	keys := make([]string, 0, len(result))
	for k := range result {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "%-18s %v\n", k+":", result[k])
	}
	return nil
}
