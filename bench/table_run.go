package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// ErrTimeout counts pushes that had not arrived when a row ended;
// ErrPublish counts publishes the API refused or failed.
const (
	ErrTimeout = "timeout"
	ErrPublish = "publish"
)

// connsPerProc is how many connections one worker process takes when the
// number of processes is left to the table: under the 20,000 open files a
// process may hold here, with room to spare.
const connsPerProc = 15000

// TableConfig describes a table run. Rows and Servers are required.
type TableConfig struct {
	Rows     []int        // concurrent connections, one row each
	Servers  []ServerAddr // connections are spread over them in turn
	Procs    int          // worker processes per row; 0: one per 15,000 connections
	Pushes   int          // pushes to each server per row; default 10
	Interval time.Duration
	// Worker starts one `edgebench worker` process.
	Worker func() *exec.Cmd
	// Progress, if not nil, is told what a row is doing.
	Progress func(ProgressState)
	// Settle is how long to wait for the last pushes; default 10 s.
	Settle time.Duration
	// FloorRate, if not 0, is the machine's raw write(2) fan-out rate in
	// frames a second (see Floor); each row then carries FloorMS.
	FloorRate float64
	// Cluster says the servers are nodes of one cluster (one Redis, one
	// RabbitMQ): each round is one publish, entering the servers in turn,
	// that every connection on every node receives. Otherwise each round
	// publishes to every server, for its own connections.
	Cluster bool
}

// ProgressState is what a long run reports while it goes.
type ProgressState struct {
	Phase    string
	Open     int
	Target   int
	Received int64
	Errors   uint64
}

// RunTable measures every row in turn.
func RunTable(ctx context.Context, cfg TableConfig) (Table, error) {
	if len(cfg.Rows) == 0 || len(cfg.Servers) == 0 || cfg.Worker == nil {
		return Table{}, errors.New("bench: table needs rows, servers and a worker command")
	}
	cfg.Pushes = max(cfg.Pushes, 1)
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 10 * time.Second
	}
	var t Table
	for _, n := range cfg.Rows {
		row, err := runRow(ctx, cfg, n)
		if err != nil {
			return t, fmt.Errorf("bench: row %d: %w", n, err)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// runRow opens n connections over the worker processes, publishes, and
// collects what the workers saw.
func runRow(ctx context.Context, cfg TableConfig, n int) (Row, error) {
	procs := cfg.Procs
	if procs <= 0 {
		procs = (n + connsPerProc - 1) / connsPerProc
	}
	row := Row{Conns: n, Servers: len(cfg.Servers), Procs: procs, Cluster: cfg.Cluster, Errors: map[string]uint64{}}
	if cfg.FloorRate > 0 {
		row.FloorMS = float64(n) / cfg.FloorRate * 1000
	}
	rssBefore := serversRSS(ctx, cfg.Servers)
	start := time.Now()
	stopWatching := watchConnecting(ctx, cfg, n)
	workers, opened, err := startWorkers(ctx, cfg, n, procs)
	stopWatching()
	defer stopWorkers(workers)
	if err != nil {
		return row, err
	}
	row.ConnectRate = float64(opened.Subscribed) / time.Since(start).Seconds()
	row.RSSPerConn = (serversRSS(ctx, cfg.Servers) - rssBefore) / float64(max(opened.Subscribed, 1))
	report(cfg, ProgressState{Phase: "publishing", Open: int(opened.Subscribed), Target: n})
	publishFailures := publishRounds(ctx, cfg)
	row.Pushes = int64(n) * int64(cfg.Pushes)
	waitDelivered(ctx, cfg, workers, opened.Subscribed*int64(cfg.Pushes), n)
	total, err := collect(workers)
	if err != nil {
		return row, err
	}
	fillRow(&row, total, publishFailures)
	return row, nil
}

// watchConnecting reports, while workers connect, how many connections the
// servers hold (their edgepush_connections gauges), once a second, until
// the returned function is called.
func watchConnecting(ctx context.Context, cfg TableConfig, n int) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			open := 0
			for _, s := range cfg.Servers {
				v, _ := ServerMetric(ctx, s.API, "edgepush_connections")
				open += int(v)
			}
			report(cfg, ProgressState{Phase: "connecting", Open: open, Target: n})
			select {
			case <-done:
				return
			case <-ticker.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func report(cfg TableConfig, s ProgressState) {
	if cfg.Progress != nil {
		cfg.Progress(s)
	}
}

// fillRow turns the merged snapshot into the row's figures. The error rate
// is per expected delivery: pushes that never arrived (from failed
// connections, drops or timeouts) plus duplicates and reorderings.
func fillRow(row *Row, s Snapshot, publishFailures int) {
	row.Received = s.Received
	row.AvgMS = ms(s.Latency.Mean())
	row.P50MS = ms(s.Latency.Quantile(0.5))
	row.P99MS = ms(s.Latency.Quantile(0.99))
	row.MaxMS = ms(s.Latency.Max())
	if spent := s.Fanouts.Spent(); spent > 0 {
		row.FanoutRate = float64(s.Received) / spent.Seconds()
	}
	for k, v := range s.Errors {
		row.Errors[k] += v
	}
	if publishFailures > 0 {
		row.Errors[ErrPublish] += uint64(publishFailures)
	}
	lost := max(row.Pushes-s.Received, 0)
	if lost > 0 {
		row.Errors[ErrTimeout] += uint64(lost)
	}
	bad := s.Errors[ErrDuplicate] + s.Errors[ErrOutOfOrder]
	row.ErrorRate = 100 * float64(uint64(lost)+bad) / float64(max(row.Pushes, 1))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serversRSS sums the servers' resident memory, or returns 0 if one of
// them does not say.
func serversRSS(ctx context.Context, servers []ServerAddr) float64 {
	var sum float64
	for _, s := range servers {
		v, err := ServerMetric(ctx, s.API, "edgepush_process_resident_bytes")
		if err != nil {
			return 0
		}
		sum += v
	}
	return sum
}

// publishRounds publishes cfg.Pushes times to key "k" of every server (of
// one server in turn with Cluster) and returns how many publishes failed.
func publishRounds(ctx context.Context, cfg TableConfig) int {
	failed := 0
	publishers := make([]Publisher, len(cfg.Servers))
	for i, s := range cfg.Servers {
		publishers[i] = Publisher{API: s.API}
	}
	for round := 0; round < cfg.Pushes; round++ {
		for i := range publishers {
			if cfg.Cluster && i != round%len(publishers) {
				continue
			}
			if _, err := publishers[i].Publish(ctx, "bench", "k"); err != nil {
				failed++
			}
		}
		time.Sleep(cfg.Interval)
	}
	return failed
}

// waitDelivered polls the workers until want pushes arrived or Settle
// passes.
func waitDelivered(ctx context.Context, cfg TableConfig, workers []*workerProc, want int64, n int) {
	deadline := time.Now().Add(cfg.Settle)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var got int64
		for _, w := range workers {
			if m, err := w.request("count"); err == nil {
				got += m.Received
			}
		}
		report(cfg, ProgressState{Phase: "receiving", Open: n, Target: n, Received: got})
		if got >= want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// collect merges every worker's snapshot.
func collect(workers []*workerProc) (Snapshot, error) {
	total := Snapshot{Errors: map[string]uint64{}}
	for _, w := range workers {
		m, err := w.request("snapshot")
		if err != nil {
			return total, err
		}
		total.merge(*m.Snapshot)
	}
	return total, nil
}

// workerProc is a running worker process.
type workerProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

// startWorkers starts procs workers sharing n connections and returns once
// all have opened theirs, with their merged opening snapshot.
func startWorkers(ctx context.Context, cfg TableConfig, n, procs int) ([]*workerProc, Snapshot, error) {
	targets := make([]string, len(cfg.Servers))
	for i, s := range cfg.Servers {
		targets[i] = s.WS
	}
	var workers []*workerProc
	first := 0
	for p := 0; p < procs; p++ {
		conns := n/procs + boolInt(p < n%procs)
		w, err := startWorker(cfg.Worker(), WorkerConfig{
			Targets: targets,
			Conns:   conns,
			First:   first,
			Sources: []string{fmt.Sprintf("127.0.0.%d", p%250+1)},
			App:     "bench",
		})
		if err != nil {
			return workers, Snapshot{}, err
		}
		workers = append(workers, w)
		first += conns
	}
	return workers, awaitOpened(workers), nil
}

// awaitOpened reads every worker's "opened" line, concurrently.
func awaitOpened(workers []*workerProc) Snapshot {
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := Snapshot{Errors: map[string]uint64{}}
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m workerMessage
			if err := w.out.Decode(&m); err != nil || m.Snapshot == nil {
				return
			}
			mu.Lock()
			total.merge(*m.Snapshot)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func startWorker(cmd *exec.Cmd, cfg WorkerConfig) (*workerProc, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start worker: %w", err)
	}
	w := &workerProc{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if err := json.NewEncoder(in).Encode(cfg); err != nil {
		w.stop()
		return nil, fmt.Errorf("bench: configure worker: %w", err)
	}
	return w, nil
}

// request sends a command line and reads the answer.
func (w *workerProc) request(command string) (workerMessage, error) {
	var m workerMessage
	if _, err := io.WriteString(w.in, command+"\n"); err != nil {
		return m, fmt.Errorf("bench: worker: %w", err)
	}
	if err := w.out.Decode(&m); err != nil {
		return m, fmt.Errorf("bench: worker: %w", err)
	}
	if command == "snapshot" && m.Snapshot == nil {
		return m, errors.New("bench: worker sent no snapshot")
	}
	return m, nil
}

// stop asks the worker to close and waits for it, killing it after 30 s.
func (w *workerProc) stop() {
	io.WriteString(w.in, "close\n")
	w.in.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

func stopWorkers(workers []*workerProc) {
	for _, w := range workers {
		w.stop()
	}
}
