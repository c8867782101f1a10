package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// A table run spreads its connections over worker processes, each under
// its own open-files limit, which the parent drives over stdin and stdout
// with one JSON object a line:
//
//	parent: WorkerConfig                 worker: {"type":"opened",...}
//	parent: "count"                      worker: {"type":"count","received":N}
//	parent: "snapshot"                   worker: {"type":"snapshot","snapshot":{...}}
//	parent: "close"                      worker: closes its connections and exits
//
// Snapshots carry whole histograms, so the parent's percentiles are exact.

// WorkerConfig is the first line a worker reads.
type WorkerConfig struct {
	Targets []string `json:"targets"` // WebSocket host:port of each server
	Conns   int      `json:"conns"`   // connections this worker opens
	First   int      `json:"first"`   // global index of its first connection: connection i goes to target i mod len(Targets)
	Sources []string `json:"sources"` // local addresses to connect from
	App     string   `json:"app"`
	// Resub, if set, makes the worker take part in a resubscribe storm
	// (see Resub) instead of a table run; it then takes one target.
	Resub *ResubWorker `json:"resub,omitempty"`
}

// workerMessage is a line a worker writes.
type workerMessage struct {
	Type      string    `json:"type"`
	Received  int64     `json:"received,omitempty"`
	Snapshot  *Snapshot `json:"snapshot,omitempty"`
	ElapsedMS float64   `json:"elapsed_ms,omitempty"`
	Error     string    `json:"error,omitempty"`
	Expected  uint64    `json:"expected,omitempty"` // resub: missed pushes
	Replayed  uint64    `json:"replayed,omitempty"` // resub: of those, received
}

// RunWorker is the worker process's main loop.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 64<<20) // a resub order lists every key
	enc := json.NewEncoder(out)
	if !lines.Scan() {
		return fmt.Errorf("bench: worker: no configuration: %v", lines.Err())
	}
	var cfg WorkerConfig
	if err := json.Unmarshal(lines.Bytes(), &cfg); err != nil {
		return fmt.Errorf("bench: worker: configuration: %w", err)
	}
	if cfg.Resub != nil {
		return runResubWorker(ctx, cfg, lines, enc)
	}
	start := time.Now()
	clients, openErr := openShares(ctx, cfg)
	defer closeClients(clients)
	msg := workerMessage{Type: "opened", Snapshot: merged(clients), ElapsedMS: msSince(start)}
	if openErr != nil {
		msg.Error = openErr.Error()
	}
	if err := enc.Encode(msg); err != nil {
		return err
	}
	for lines.Scan() {
		switch strings.TrimSpace(lines.Text()) {
		case "count":
			var n int64
			for _, c := range clients {
				n += c.received.Load()
			}
			enc.Encode(workerMessage{Type: "count", Received: n})
		case "snapshot":
			enc.Encode(workerMessage{Type: "snapshot", Snapshot: merged(clients)})
		case "close":
			return nil
		}
	}
	return lines.Err()
}

// openShares opens one Client per target with that target's share of the
// worker's connections.
func openShares(ctx context.Context, cfg WorkerConfig) ([]*Client, error) {
	var clients []*Client
	loops := max(1, runtime.GOMAXPROCS(0)/max(len(cfg.Targets), 1))
	for t, target := range cfg.Targets {
		n := share(cfg.First, cfg.Conns, t, len(cfg.Targets))
		if n == 0 {
			continue
		}
		c, err := Open(ctx, ClientConfig{Target: target, Conns: n, App: cfg.App, Sources: cfg.Sources, Loops: loops})
		if c != nil {
			clients = append(clients, c)
		}
		if err != nil {
			return clients, err
		}
	}
	return clients, nil
}

// share counts the connections first..first+n-1 that go to target t of k.
func share(first, n, t, k int) int {
	count := 0
	for i := first; i < first+n; i++ {
		if i%k == t {
			count++
		}
	}
	return count
}

func closeClients(clients []*Client) {
	for _, c := range clients {
		c.Close()
	}
}

func merged(clients []*Client) *Snapshot {
	s := &Snapshot{Errors: map[string]uint64{}}
	for _, c := range clients {
		s.merge(c.Snapshot())
	}
	return s
}

// merge adds o to s.
func (s *Snapshot) merge(o Snapshot) {
	s.Conns += o.Conns
	s.Subscribed += o.Subscribed
	s.Received += o.Received
	s.CaughtUp += o.CaughtUp
	s.Latency.Merge(&o.Latency)
	s.Connect.Merge(&o.Connect)
	s.CatchUp.Merge(&o.CatchUp)
	s.CatchUpOwn.Merge(&o.CatchUpOwn)
	s.Fanouts.Merge(o.Fanouts)
	if s.Errors == nil {
		s.Errors = map[string]uint64{}
	}
	for k, v := range o.Errors {
		s.Errors[k] += v
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
