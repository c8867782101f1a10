package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// A resubscribe storm: Conns connections subscribe (each to one of Keys
// keys) and note the position the ack gives and every seq pushed; all go
// away; Pushes values are published to every key; then all come back at
// once, each with its sub's since at the position it had. Each connection
// must then receive exactly the pushes it missed, in order, and the run
// times how long that takes, counts what went wrong, and reads the
// server's CPU time over the storm. The connections live in worker
// processes (edgebench worker), each under its own open-files limit and
// from its own source addresses: 127.0.0.P before the storm, 127.0.1.P in
// it, so that the first connections' TIME_WAIT does not hold the ports the
// storm needs.

// ErrBehind counts connections whose position before the storm was older
// than their key's: the ack or the pushes did not tell them the key's seq.
const ErrBehind = "position_behind"

// ResubConfig describes a resubscribe storm against one server. Target,
// API and Worker are required.
type ResubConfig struct {
	Target string // WebSocket host:port
	API    string // publish API host:port
	App    string // default "bench"
	Conns  int    // default 19000
	Keys   int    // connection i subscribes to key i mod Keys; default 1
	Pushes int    // published to every key while the connections are away; default 10 (0 is allowed: nothing to catch up)
	// Warm values are published to every key before the first connect, so
	// that each key has a position and an epoch; default 1 (0 is allowed).
	Warm  int
	Procs int // worker processes; 0: one per 15,000 connections
	// Connecting caps, per worker, the storm's connections between
	// connect(2) and the sub's ack; 0: all at once.
	Connecting int
	Timeout    time.Duration // for every connection to catch up; default 60 s
	Settle     time.Duration // after the last caught up, for stray pushes; default 500 ms
	ValueSize  int           // bytes of each published JSON value; default 40
	ServerPID  int           // the server's process, for its CPU time; 0: not measured
	Publishers int           // HTTP connections publishing (Load.Conns); default 4
	Depth      int           // requests in flight on each (Load.Depth); default 16
	// Worker starts one `edgebench worker` process.
	Worker   func() *exec.Cmd
	Progress func(ProgressState)
}

// ResubResult is what a storm measured. Times are from the start of the
// storm (the reconnect order) unless said otherwise.
type ResubResult struct {
	Conns      int `json:"conns"`
	Keys       int `json:"keys"`
	Pushes     int `json:"pushes"`
	Procs      int `json:"procs"`
	Connecting int `json:"connecting"` // per worker; 0: all at once

	Reconnected    int64             `json:"reconnected"`     // subs acked in the storm
	CaughtUp       int64             `json:"caught_up"`       // connections that got exactly what they missed
	Expected       uint64            `json:"expected_pushes"` // missed pushes, over all connections
	Replayed       uint64            `json:"replayed_pushes"` // of those, received (each counted once)
	CatchUpP50MS   float64           `json:"catch_up_p50_ms"`
	CatchUpP99MS   float64           `json:"catch_up_p99_ms"`
	CatchUpMaxMS   float64           `json:"catch_up_max_ms"`
	AllCaughtUpMS  float64           `json:"all_caught_up_ms"`    // the last connection's catch-up; 0 unless every one caught up
	OwnP50MS       float64           `json:"own_catch_up_p50_ms"` // from each connection's own connect(2)
	OwnP99MS       float64           `json:"own_catch_up_p99_ms"`
	AckP50MS       float64           `json:"ack_p50_ms"` // connect(2) to the sub's ack
	AckP99MS       float64           `json:"ack_p99_ms"`
	StormMS        float64           `json:"storm_ms"` // until every connection had caught up or given up, as the parent polled it (every 10 ms)
	ServerCPUMS    float64           `json:"server_cpu_ms,omitempty"`
	ServerCPUShare float64           `json:"server_cpu_cores,omitempty"` // server CPU time over StormMS: cores kept busy
	ClientCPUMS    float64           `json:"client_cpu_ms"`              // the workers'
	Listen         ListenCounters    `json:"listen"`                     // kernel: the storm overflowing the accept backlog
	Errors         map[string]uint64 `json:"errors"`                     // in the storm, by kind
	BeforeErrors   map[string]uint64 `json:"before_errors"`              // before it: the first subscribe and the pushes then
	BeforePushes   int64             `json:"before_pushes"`              // pushes before it: with Warm, each connection\'s current value after its sub
	PublishPerSec  float64           `json:"publish_per_sec"`
	DisconnectMS   float64           `json:"disconnect_ms"` // for the server's connection and subscription gauges to come back down
}

func (cfg *ResubConfig) defaults() error {
	if cfg.Target == "" || cfg.API == "" || cfg.Worker == nil {
		return errors.New("bench: resub needs a target, an API and a worker command")
	}
	cfg.App = cmpOr(cfg.App, "bench")
	if cfg.Conns <= 0 {
		cfg.Conns = 19000
	}
	cfg.Keys = max(cfg.Keys, 1)
	cfg.Pushes, cfg.Warm = max(cfg.Pushes, 0), max(cfg.Warm, 0)
	if cfg.Procs <= 0 {
		cfg.Procs = (cfg.Conns + connsPerProc - 1) / connsPerProc
	}
	cfg.Procs = min(cfg.Procs, cfg.Conns, 250)
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 500 * time.Millisecond
	}
	return nil
}

// Resub runs one storm.
func Resub(ctx context.Context, cfg ResubConfig) (ResubResult, error) {
	if err := cfg.defaults(); err != nil {
		return ResubResult{}, err
	}
	r := ResubResult{Conns: cfg.Conns, Keys: cfg.Keys, Pushes: cfg.Pushes, Procs: cfg.Procs, Connecting: cfg.Connecting, Errors: map[string]uint64{}}
	progress := func(phase string, open int, received int64) {
		if cfg.Progress != nil {
			cfg.Progress(ProgressState{Phase: phase, Open: open, Target: cfg.Conns, Received: received})
		}
	}
	load := &Load{API: cfg.API, App: cfg.App, Keys: cfg.Keys, Conns: cfg.Publishers, Depth: cfg.Depth}
	if cfg.ValueSize > 0 {
		load.Value = func(k, round int) []byte { return JSONValue(cfg.ValueSize, k+round) }
	}
	defer load.Close()
	baseConns, baseSubs, _, err := gauges(ctx, cfg.API)
	if err != nil {
		return r, err
	}

	progress("warming", 0, 0)
	warm, err := load.Rounds(ctx, cfg.Warm, nil)
	if err != nil {
		return r, err
	}
	before := warm.Seqs
	if before == nil {
		before = make([]uint64, cfg.Keys)
	}
	before = slices.Clone(before)

	progress("connecting", 0, 0)
	workers, err := startResubWorkers(cfg)
	defer stopWorkers(workers)
	if err != nil {
		return r, err
	}
	opened := awaitOpened(workers)
	if opened.Subscribed != int64(cfg.Conns) {
		return r, fmt.Errorf("bench: resub: %d of %d connections subscribed; errors %v", opened.Subscribed, cfg.Conns, opened.Errors)
	}
	if cfg.Warm > 0 { // every connection gets its key's current value
		if err := pollWorkers(ctx, workers, int64(cfg.Conns), 10*time.Second, func(n int64) { progress("current values", cfg.Conns, n) }); err != nil {
			return r, err
		}
	}

	progress("disconnecting", cfg.Conns, 0)
	r.BeforeErrors = map[string]uint64{}
	for _, w := range workers {
		m, err := w.request("disconnect")
		if err != nil {
			return r, err
		}
		if m.Snapshot != nil {
			addErrors(r.BeforeErrors, m.Snapshot.Errors)
			r.BeforePushes += m.Snapshot.Received
		}
	}
	start := time.Now()
	if err := waitGauges(ctx, cfg.API, baseConns, baseSubs, 30*time.Second); err != nil {
		return r, err
	}
	r.DisconnectMS = msSince(start)

	progress("publishing", 0, 0)
	published, err := load.Rounds(ctx, cfg.Pushes, nil)
	if err != nil {
		return r, err
	}
	r.PublishPerSec = published.PerSecond()
	want := before
	if cfg.Pushes > 0 {
		want = slices.Clone(published.Seqs)
	}

	cpu := startCPU(cfg.ServerPID, workers)
	listen, listenErr := ReadListenCounters()
	t0 := time.Now()
	order, err := json.Marshal(resubOrder{StartNS: t0.UnixNano(), Before: before, Want: want})
	if err != nil {
		return r, err
	}
	for _, w := range workers {
		m, err := w.request("reconnect " + string(order))
		if err != nil {
			return r, err
		}
		if m.Error != "" {
			return r, fmt.Errorf("bench: resub worker: %s", m.Error)
		}
	}
	if err := pollWorkers(ctx, workers, int64(cfg.Conns), cfg.Timeout, func(n int64) { progress("storm: caught up or given up", int(n), 0) }); err != nil {
		return r, err
	}
	r.StormMS = msSince(t0)
	serverCPU, clientCPU := cpu.since()
	if cfg.ServerPID > 0 {
		r.ServerCPUMS = ms(serverCPU)
		r.ServerCPUShare = serverCPU.Seconds() / (r.StormMS / 1000)
	}
	r.ClientCPUMS = ms(clientCPU)
	if now, err := ReadListenCounters(); err == nil && listenErr == nil {
		r.Listen = now.Sub(listen)
	}

	time.Sleep(cfg.Settle)
	total := Snapshot{Errors: map[string]uint64{}}
	for _, w := range workers {
		m, err := w.request("result")
		if err != nil {
			return r, err
		}
		if m.Snapshot == nil {
			return r, errors.New("bench: resub worker sent no result")
		}
		total.merge(*m.Snapshot)
		r.Expected += m.Expected
		r.Replayed += m.Replayed
	}
	fillResub(&r, total)
	return r, nil
}

// fillResub turns the workers' merged results into r's figures.
func fillResub(r *ResubResult, s Snapshot) {
	r.Reconnected, r.CaughtUp = s.Subscribed, s.CaughtUp
	r.CatchUpP50MS = ms(s.CatchUp.Quantile(0.5))
	r.CatchUpP99MS = ms(s.CatchUp.Quantile(0.99))
	r.CatchUpMaxMS = ms(s.CatchUp.Max())
	if s.CaughtUp == int64(r.Conns) {
		r.AllCaughtUpMS = r.CatchUpMaxMS
	}
	r.OwnP50MS = ms(s.CatchUpOwn.Quantile(0.5))
	r.OwnP99MS = ms(s.CatchUpOwn.Quantile(0.99))
	r.AckP50MS = ms(s.Connect.Quantile(0.5))
	r.AckP99MS = ms(s.Connect.Quantile(0.99))
	if r.Errors == nil {
		r.Errors = map[string]uint64{}
	}
	addErrors(r.Errors, s.Errors)
}

func addErrors(dst, src map[string]uint64) {
	for k, v := range src {
		if v > 0 {
			dst[k] += v
		}
	}
}

// String is a short summary for the terminal.
func (r ResubResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d connections on %d keys, %d missed pushes each, %d workers: %d reconnected, %d caught up\n",
		r.Conns, r.Keys, r.Pushes, r.Procs, r.Reconnected, r.CaughtUp)
	fmt.Fprintf(&b, "catch-up from the storm's start: p50 %.1f ms, p99 %.1f ms, max %.1f ms; all caught up: %s\n",
		r.CatchUpP50MS, r.CatchUpP99MS, r.CatchUpMaxMS, allCaughtUp(r))
	fmt.Fprintf(&b, "from each connection's connect: p50 %.1f ms, p99 %.1f ms; connect to ack p50 %.1f ms, p99 %.1f ms\n",
		r.OwnP50MS, r.OwnP99MS, r.AckP50MS, r.AckP99MS)
	fmt.Fprintf(&b, "replayed %d of %d missed pushes; errors: %s\n", r.Replayed, r.Expected, orNone(errorKinds(r.Errors, " ")))
	if r.ServerCPUMS > 0 {
		fmt.Fprintf(&b, "server CPU over the storm (%.0f ms): %.0f ms (%.2f cores); ", r.StormMS, r.ServerCPUMS, r.ServerCPUShare)
	} else {
		fmt.Fprintf(&b, "storm %.0f ms, server CPU not measured (no -server-pid); ", r.StormMS)
	}
	fmt.Fprintf(&b, "client workers %.0f ms\n", r.ClientCPUMS)
	fmt.Fprintf(&b, "kernel: listen overflows %d, drops %d; publish %.0f/s; before the storm: %d pushes, errors: %s",
		r.Listen.Overflows, r.Listen.Drops, r.PublishPerSec, r.BeforePushes, orNone(errorKinds(r.BeforeErrors, " ")))
	return b.String()
}

func allCaughtUp(r ResubResult) string {
	if r.AllCaughtUpMS > 0 || (r.CaughtUp == int64(r.Conns) && r.Conns > 0) {
		return fmt.Sprintf("%.1f ms", r.AllCaughtUpMS)
	}
	return fmt.Sprintf("no (%d of %d)", r.CaughtUp, r.Conns)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// waitGauges waits until the server's connection and subscription gauges
// are back at (or below) conns and subs.
func waitGauges(ctx context.Context, api string, conns, subs float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, s, _, err := gauges(ctx, api)
		if err != nil {
			return err
		}
		if c <= conns && s <= subs {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the server still counts %v connections and %v subscriptions %v after the clients left (before: %v and %v)",
				c, s, timeout, conns, subs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pollWorkers asks the workers for their counts until they add up to want
// or timeout passes.
func pollWorkers(ctx context.Context, workers []*workerProc, want int64, timeout time.Duration, seen func(int64)) error {
	deadline := time.Now().Add(timeout)
	for {
		var n int64
		for _, w := range workers {
			m, err := w.request("count")
			if err != nil {
				return err
			}
			n += m.Received
		}
		seen(n)
		if n >= want || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cpuClock reads the CPU time of the server and of the workers.
type cpuClock struct {
	server  int
	workers []int
	start   time.Duration // server
	wstart  time.Duration // workers
}

func startCPU(server int, workers []*workerProc) *cpuClock {
	c := &cpuClock{server: server}
	for _, w := range workers {
		c.workers = append(c.workers, w.cmd.Process.Pid)
	}
	c.start, c.wstart = c.read()
	return c
}

func (c *cpuClock) read() (server, workers time.Duration) {
	if c.server > 0 {
		server, _ = ProcessCPU(c.server)
	}
	for _, pid := range c.workers {
		d, _ := ProcessCPU(pid)
		workers += d
	}
	return server, workers
}

// since returns the CPU time used since startCPU.
func (c *cpuClock) since() (server, workers time.Duration) {
	s, w := c.read()
	return s - c.start, w - c.wstart
}

// startResubWorkers starts the workers, each with its share of the
// connections and its source addresses.
func startResubWorkers(cfg ResubConfig) ([]*workerProc, error) {
	var workers []*workerProc
	first := 0
	for p := 0; p < cfg.Procs; p++ {
		conns := cfg.Conns/cfg.Procs + boolInt(p < cfg.Conns%cfg.Procs)
		w, err := startWorker(cfg.Worker(), WorkerConfig{
			Targets: []string{cfg.Target},
			Conns:   conns,
			First:   first,
			Sources: []string{fmt.Sprintf("127.0.0.%d", p+1)},
			App:     cfg.App,
			Resub: &ResubWorker{
				Keys:         cfg.Keys,
				Connecting:   cfg.Connecting,
				StormSources: []string{fmt.Sprintf("127.0.1.%d", p+1)},
			},
		})
		if err != nil {
			return workers, err
		}
		workers = append(workers, w)
		first += conns
	}
	return workers, nil
}

// ResubWorker is the part of a WorkerConfig that makes the worker take
// part in a resubscribe storm. Its connection j (global index First+j)
// subscribes to key KeyID((First+j) mod Keys).
type ResubWorker struct {
	Keys         int      `json:"keys"`
	Connecting   int      `json:"connecting"`    // in the storm; 0: all at once
	StormSources []string `json:"storm_sources"` // local addresses in the storm
}

// resubOrder is the argument of a worker's "reconnect".
type resubOrder struct {
	StartNS int64    `json:"start_ns"` // the storm's start, unix ns
	Before  []uint64 `json:"before"`   // by key: its seq while the clients were away, before the pushes
	Want    []uint64 `json:"want"`     // by key: its seq after them
}

// runResubWorker is a worker's side of a storm. After the configuration:
//
//	worker: {"type":"opened",...}         the first connections subscribed
//	parent: "count"                       worker: pushes received (then: connections finished in the storm)
//	parent: "disconnect"                  worker: closes them, {"type":"disconnected","snapshot":{...}}
//	parent: "reconnect {resubOrder}"      worker: starts the storm, {"type":"reconnecting"}
//	parent: "result"                      worker: closes the storm's connections, {"type":"result",...}
//	parent: "close"                       worker: exits
func runResubWorker(ctx context.Context, cfg WorkerConfig, lines *bufio.Scanner, enc *json.Encoder) error {
	rc := *cfg.Resub
	rc.Keys = max(rc.Keys, 1)
	if len(cfg.Targets) != 1 {
		return fmt.Errorf("bench: resub worker: %d targets, want 1", len(cfg.Targets))
	}
	key := func(j int) int { return (cfg.First + j) % rc.Keys }
	base := ClientConfig{
		Target: cfg.Targets[0], Conns: cfg.Conns, App: cfg.App, Sources: cfg.Sources, Track: true,
		ID: func(j int) string { return KeyID(key(j)) },
	}
	start := time.Now()
	openCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	first, err := Open(openCtx, base)
	cancel()
	opened := workerMessage{Type: "opened", ElapsedMS: msSince(start)}
	if first != nil {
		s := first.Snapshot()
		opened.Snapshot = &s
	}
	if err != nil {
		opened.Error = err.Error()
	}
	if err := enc.Encode(opened); err != nil {
		return err
	}
	var (
		positions []Position
		known     []bool
		storm     *Client
		behind    uint64
		once      sync.Once
	)
	closeAll := func() {
		once.Do(func() {
			if first != nil {
				first.Close()
			}
			if storm != nil {
				storm.Close()
			}
		})
	}
	defer closeAll()
	for lines.Scan() {
		command, arg, _ := strings.Cut(strings.TrimSpace(lines.Text()), " ")
		var m workerMessage
		switch command {
		case "count":
			m.Type = "count"
			switch {
			case storm != nil:
				m.Received = storm.Finished()
			case first != nil:
				m.Received = first.received.Load()
			}
		case "disconnect":
			m.Type = "disconnected"
			if first == nil {
				m.Error = "not connected"
				break
			}
			first.Close()
			positions, known = first.Positions()
			s := first.Snapshot()
			m.Snapshot = &s
		case "reconnect":
			m.Type = "reconnecting"
			var o resubOrder
			switch {
			case positions == nil:
				m.Error = "reconnect before disconnect"
			case storm != nil:
				m.Error = "reconnected already"
			case json.Unmarshal([]byte(arg), &o) != nil || len(o.Want) != rc.Keys || len(o.Before) != rc.Keys:
				m.Error = "reconnect: bad order"
			}
			if m.Error != "" {
				break
			}
			for j := range positions {
				if !known[j] || positions[j].Seq < o.Before[key(j)] {
					behind++
				}
			}
			stormCfg := base
			stormCfg.Sources = rc.StormSources
			stormCfg.Connecting = rc.Connecting
			if stormCfg.Connecting <= 0 {
				stormCfg.Connecting = cfg.Conns
			}
			stormCfg.Start = time.Unix(0, o.StartNS)
			stormCfg.Resume = func(j int) (Position, uint64) { return positions[j], o.Want[key(j)] }
			if storm, err = Start(stormCfg); err != nil {
				m.Error = err.Error()
			}
		case "result":
			m.Type = "result"
			if storm == nil {
				m.Error = "no storm"
				break
			}
			storm.Close()
			s, expected, replayed := storm.Resumed()
			if behind > 0 {
				s.Errors[ErrBehind] += behind
			}
			m.Snapshot, m.Expected, m.Replayed = &s, expected, replayed
		case "close":
			return nil
		default:
			m = workerMessage{Type: "error", Error: fmt.Sprintf("unknown command %q", command)}
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return lines.Err()
}
