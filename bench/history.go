package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The memory cost of the history: values are published to Keys fresh keys
// in rounds, one value to every key a round, until each key holds PerKey
// (or, past the server's -history-size, its whole history); the server's
// resident memory and Go heap are read before the first round and after
// some of them. From these: bytes per key, per held value, the cost of a
// key with its first value and of each further held value (the slope).
// Then a few keys are replayed over WebSocket, since the seq the history
// should start after, to check that the server holds what the arithmetic
// assumes.

// HistoryConfig describes a history run against a fresh server. API is
// required.
type HistoryConfig struct {
	API         string // publish API host:port
	Target      string // WebSocket host:port, for the replay check; "" skips it
	App         string // default "history"
	Keys        int    // default 100000
	PerKey      int    // values published to each key; default 64
	ValueSize   int    // bytes of each JSON value; default 40
	HistorySize int    // values the server holds per key (its -history-size); default 64
	Publishers  int    // HTTP connections publishing; default 4 (Load's)
	Depth       int    // requests in flight on each; default 16 (Load's)
	// MaxDuration bounds the publishing: no round starts after it; default
	// 10 minutes. A run cut short says so and reports what it reached.
	MaxDuration time.Duration
	// Checkpoints are the rounds after which memory is read, besides
	// before the first and after the last; default 1, 4, 16, 64, ...
	Checkpoints []int
	Settle      time.Duration // before each reading; default 1 s
	// GC, if not nil, makes the server collect its garbage before each
	// reading (through its pprof handler), so that heap figures hold live
	// memory only.
	GC       func(ctx context.Context) error
	Verify   int // keys replayed over WebSocket at the end; default 20, 0 with no Target
	Progress func(line string)
}

// HistoryPoint is the server's memory after Rounds values to every key.
type HistoryPoint struct {
	Rounds int     `json:"rounds"`
	Held   int     `json:"held"` // values the history holds per key: min(Rounds, HistorySize)
	RSS    float64 `json:"rss_bytes"`
	Heap   float64 `json:"heap_inuse_bytes"` // 0 if the server does not say
}

// MemoryCost is what the history costs, by one measure (RSS or heap).
type MemoryCost struct {
	Before       float64 `json:"before_bytes"`
	After        float64 `json:"after_bytes"`
	PerKey       float64 `json:"per_key_bytes"`         // (after - before) / keys
	PerHeldValue float64 `json:"per_held_value_bytes"`  // PerKey / values held per key
	FirstPerKey  float64 `json:"first_value_per_key"`   // a key with its first value, from the first round
	PerExtra     float64 `json:"per_extra_value_bytes"` // each further value held, the slope from the first round to the last
}

// HistoryVerify is the replay check.
type HistoryVerify struct {
	Keys     int               `json:"keys"`
	CaughtUp int64             `json:"replayed_whole"` // keys whose whole expected history came back, in order
	Errors   map[string]uint64 `json:"errors"`
}

// HistoryResult is what a history run measured.
type HistoryResult struct {
	Keys          int            `json:"keys"`
	PerKeyAsked   int            `json:"per_key_asked"`
	PerKey        int            `json:"per_key"` // values published to every key
	HistorySize   int            `json:"history_size"`
	Held          int            `json:"held_per_key"`
	ValueSize     int            `json:"value_bytes"`
	Published     int64          `json:"published"`
	PublishPerSec float64        `json:"publish_per_sec"`
	PublishS      float64        `json:"publish_s"`            // publishing alone, without the memory readings between rounds
	Incomplete    string         `json:"incomplete,omitempty"` // why PerKey < PerKeyAsked
	GC            bool           `json:"gc_before_readings"`
	RSS           MemoryCost     `json:"rss"`
	Heap          MemoryCost     `json:"heap"`
	ModelPerKey   float64        `json:"model_per_key_bytes"` // docs/protocol.md: held × (value + 48 B)
	Points        []HistoryPoint `json:"points"`
	Verify        HistoryVerify  `json:"verify"`
}

func (cfg *HistoryConfig) defaults() error {
	if cfg.API == "" {
		return errors.New("bench: history needs the API address")
	}
	cfg.App = cmpOr(cfg.App, "history")
	if cfg.Keys <= 0 {
		cfg.Keys = 100000
	}
	if cfg.PerKey <= 0 {
		cfg.PerKey = 64
	}
	if cfg.ValueSize <= 0 {
		cfg.ValueSize = 40
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 64
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = 10 * time.Minute
	}
	if cfg.Checkpoints == nil {
		for r := 1; r < cfg.PerKey; r *= 4 {
			cfg.Checkpoints = append(cfg.Checkpoints, r)
		}
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.Target == "" {
		cfg.Verify = 0
	}
	cfg.Verify = min(max(cfg.Verify, 0), cfg.Keys)
	return nil
}

// History runs the measurement.
func History(ctx context.Context, cfg HistoryConfig) (HistoryResult, error) {
	if err := cfg.defaults(); err != nil {
		return HistoryResult{}, err
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			cfg.Progress(fmt.Sprintf(format, args...))
		}
	}
	r := HistoryResult{Keys: cfg.Keys, PerKeyAsked: cfg.PerKey, HistorySize: cfg.HistorySize, ValueSize: len(JSONValue(cfg.ValueSize, 0)), GC: cfg.GC != nil}
	read := func(rounds int) error {
		p, err := readMemory(ctx, cfg, rounds)
		if err != nil {
			return err
		}
		r.Points = append(r.Points, p)
		say("after %d values to each of %d keys: RSS %.1f MiB, heap %.1f MiB", rounds, cfg.Keys, p.RSS/(1<<20), p.Heap/(1<<20))
		return nil
	}
	if err := read(0); err != nil {
		return r, err
	}
	load := &Load{API: cfg.API, App: cfg.App, Keys: cfg.Keys, Conns: cfg.Publishers, Depth: cfg.Depth,
		Value: func(k, round int) []byte { return JSONValue(cfg.ValueSize, k+round) }}
	defer load.Close()
	start := time.Now()
	var readErr error
	pub, err := load.Rounds(ctx, cfg.PerKey, func(done int) bool {
		if done == 1 {
			rate := float64(cfg.Keys) / time.Since(start).Seconds()
			say("first round: %.0f publishes/s; all %d rounds would take about %v",
				rate, cfg.PerKey, (time.Duration(float64(cfg.Keys*cfg.PerKey)/rate) * time.Second).Round(time.Second))
		}
		last := done == cfg.PerKey || time.Since(start) > cfg.MaxDuration
		if slices.Contains(cfg.Checkpoints, done) || last {
			if readErr = read(done); readErr != nil {
				return false
			}
		}
		return !last
	})
	r.PerKey, r.Published = pub.Rounds, pub.Published
	r.PublishS, r.PublishPerSec = pub.Busy.Seconds(), pub.PerSecond()
	if err != nil {
		return r, err
	}
	if readErr != nil {
		return r, readErr
	}
	if r.PerKey < cfg.PerKey {
		r.Incomplete = fmt.Sprintf("stopped after %d of %d rounds: publishing passed -max-duration %v", r.PerKey, cfg.PerKey, cfg.MaxDuration)
	}
	r.Held = min(r.PerKey, cfg.HistorySize)
	r.ModelPerKey = float64(r.Held) * float64(r.ValueSize+48)
	r.RSS = memoryCost(r.Points, cfg.Keys, func(p HistoryPoint) float64 { return p.RSS })
	r.Heap = memoryCost(r.Points, cfg.Keys, func(p HistoryPoint) float64 { return p.Heap })
	if cfg.Verify > 0 {
		r.Verify = verifyHistory(ctx, cfg, pub.Seqs, r.Held)
	}
	return r, nil
}

// readMemory reads the server's memory after rounds rounds.
func readMemory(ctx context.Context, cfg HistoryConfig, rounds int) (HistoryPoint, error) {
	if cfg.GC != nil {
		if err := cfg.GC(ctx); err != nil {
			return HistoryPoint{}, fmt.Errorf("bench: history: gc: %w", err)
		}
	}
	time.Sleep(cfg.Settle)
	p := HistoryPoint{Rounds: rounds, Held: min(rounds, cfg.HistorySize)}
	var err error
	if p.RSS, err = ServerMetric(ctx, cfg.API, "edgepush_process_resident_bytes"); err != nil {
		return p, err
	}
	p.Heap, _ = ServerMetric(ctx, cfg.API, "go_memstats_heap_inuse_bytes") // 0 if not there
	return p, nil
}

// memoryCost derives the costs from points, the first of which is before
// any publish, by the measure of.
func memoryCost(points []HistoryPoint, keys int, of func(HistoryPoint) float64) MemoryCost {
	if len(points) < 2 || keys <= 0 {
		return MemoryCost{}
	}
	before, last := points[0], points[len(points)-1]
	c := MemoryCost{Before: of(before), After: of(last)}
	if of(before) == 0 && of(last) == 0 {
		return c // not measured
	}
	k := float64(keys)
	c.PerKey = (of(last) - of(before)) / k
	if last.Held > 0 {
		c.PerHeldValue = c.PerKey / float64(last.Held)
	}
	first := points[1]
	if first.Held > 0 {
		c.FirstPerKey = (of(first) - of(before)) / k
	}
	if last.Held > first.Held && first.Held > 0 {
		c.PerExtra = (of(last) - of(first)) / (k * float64(last.Held-first.Held))
	}
	return c
}

// verifyHistory subscribes to sample keys with since at the seq their held
// history should start after, and checks that exactly the held values come
// back, in order.
func verifyHistory(ctx context.Context, cfg HistoryConfig, seqs []uint64, held int) HistoryVerify {
	v := HistoryVerify{Keys: cfg.Verify, Errors: map[string]uint64{}}
	sample := func(j int) int { return j * cfg.Keys / cfg.Verify }
	c, err := Start(ClientConfig{
		Target: cfg.Target, Conns: cfg.Verify, App: cfg.App,
		ID: func(j int) string { return KeyID(sample(j)) },
		Resume: func(j int) (Position, uint64) {
			want := seqs[sample(j)]
			return Position{Seq: want - min(want, uint64(held))}, want
		},
	})
	if err != nil {
		v.Errors[ErrConnect] = uint64(cfg.Verify)
		return v
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Finished() < int64(cfg.Verify) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // for strays
	c.Close()
	s, _, _ := c.Resumed()
	v.CaughtUp = s.CaughtUp
	addErrors(v.Errors, s.Errors)
	return v
}

// String is a short summary for the terminal.
func (r HistoryResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys, %d values of %d B published to each (%d asked), %d held per key (history size %d)\n",
		r.Keys, r.PerKey, r.ValueSize, r.PerKeyAsked, r.Held, r.HistorySize)
	if r.Incomplete != "" {
		fmt.Fprintf(&b, "INCOMPLETE: %s\n", r.Incomplete)
	}
	fmt.Fprintf(&b, "published %d in %.1f s: %.0f/s\n", r.Published, r.PublishS, r.PublishPerSec)
	for _, m := range []struct {
		name string
		c    MemoryCost
	}{{"RSS ", r.RSS}, {"heap", r.Heap}} {
		fmt.Fprintf(&b, "%s %.1f -> %.1f MiB: %.0f B per key, %.1f B per held value; first value %.0f B per key, each further held value %.1f B\n",
			m.name, m.c.Before/(1<<20), m.c.After/(1<<20), m.c.PerKey, m.c.PerHeldValue, m.c.FirstPerKey, m.c.PerExtra)
	}
	fmt.Fprintf(&b, "model (docs/protocol.md, held x (value + 48 B)): %.0f B per key; readings after a forced GC: %v\n", r.ModelPerKey, r.GC)
	for _, p := range r.Points {
		fmt.Fprintf(&b, "  after %3d rounds (%3d held): RSS %8.1f MiB  heap %8.1f MiB\n", p.Rounds, p.Held, p.RSS/(1<<20), p.Heap/(1<<20))
	}
	if r.Verify.Keys > 0 {
		fmt.Fprintf(&b, "replay check: %d of %d keys gave back their %d held values exactly; errors: %s",
			r.Verify.CaughtUp, r.Verify.Keys, r.Held, orNone(errorKinds(r.Verify.Errors, " ")))
	} else {
		b.WriteString("replay check: not run (no -target)")
	}
	return b.String()
}
