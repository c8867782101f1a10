package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"edgepush/hub"
)

// countingPublisher records every publish and checks that it is a text
// push of a reading.
type countingPublisher struct {
	t   *testing.T
	err error // returned by every publish

	mu     sync.Mutex
	counts map[hub.Key]int
	values map[hub.Key][]float64
}

func newCountingPublisher(t *testing.T) *countingPublisher {
	return &countingPublisher{t: t, counts: map[hub.Key]int{}, values: map[hub.Key][]float64{}}
}

// reading is the JSON value the demo publishes.
type reading struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
}

func (p *countingPublisher) Publish(_ context.Context, k hub.Key, kind hub.Kind, data []byte) (hub.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[k]++
	if kind != hub.Text {
		p.t.Errorf("%v: kind %d, want text", k, kind)
	}
	var r reading
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Value == nil || r.Unit != "°C" {
		p.t.Errorf("%v: reading %s is not {\"value\":<number>,\"unit\":\"°C\"} (%v)", k, data, err)
		return hub.Result{}, p.err
	}
	p.values[k] = append(p.values[k], *r.Value)
	return hub.Result{Seq: uint64(p.counts[k])}, p.err
}

func (p *countingPublisher) snapshot() map[hub.Key]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[hub.Key]int, len(p.counts))
	for k, n := range p.counts {
		out[k] = n
	}
	return out
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func defaultIDs() []string {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("%03d", i+1)
	}
	return ids
}

func TestDemoZeroConfig(t *testing.T) {
	d := NewDemo(DemoConfig{}, newCountingPublisher(t), nil)
	if d.cfg.App != "demo" || d.cfg.Interval != time.Second || !slices.Equal(d.cfg.IDs, defaultIDs()) {
		t.Errorf("defaults = app %q ids %v interval %v", d.cfg.App, d.cfg.IDs, d.cfg.Interval)
	}
	if d.cfg.Rand == nil || d.cfg.Now == nil || d.logger == nil {
		t.Errorf("defaults leave Rand, Now or the logger nil")
	}
}

func TestDemoRunPublishesEverySensor(t *testing.T) {
	tests := []struct {
		name string
		cfg  DemoConfig
		want []hub.Key
	}{
		{"defaults", DemoConfig{Interval: 5 * time.Millisecond}, keys("demo", defaultIDs()...)},
		{"own sensors", DemoConfig{App: "plant", IDs: []string{"t1", "t2"}, Interval: 5 * time.Millisecond}, keys("plant", "t1", "t2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := newCountingPublisher(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				NewDemo(tt.cfg, pub, slog.New(slog.DiscardHandler)).Run(ctx)
				close(done)
			}()
			waitFor(t, func() bool { return everyKeyAtLeast(pub.snapshot(), tt.want, 3) })
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
			counts := pub.snapshot()
			if len(counts) != len(tt.want) {
				t.Errorf("published to %d keys, want %d: %v", len(counts), len(tt.want), counts)
			}
			checkSpread(t, counts)
		})
	}
}

// checkSpread checks that the sensors were published in turns: no sensor
// more than one reading ahead of another.
func checkSpread(t *testing.T, counts map[hub.Key]int) {
	t.Helper()
	lo, hi := math.MaxInt, 0
	for _, n := range counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		t.Errorf("uneven readings per sensor: %v", counts)
	}
}

func TestDemoRunStopsAtOnceWhenDone(t *testing.T) {
	pub := newCountingPublisher(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	NewDemo(DemoConfig{}, pub, slog.New(slog.DiscardHandler)).Run(ctx)
	if n := len(pub.snapshot()); n != 0 {
		t.Errorf("published to %d keys after its context was done", n)
	}
}

func TestDemoReadingsAreSeededRandomWalks(t *testing.T) {
	walk := func(seed uint64) map[hub.Key][]float64 {
		pub := newCountingPublisher(t)
		d := NewDemo(DemoConfig{Rand: seeded(seed)}, pub, slog.New(slog.DiscardHandler))
		for range 500 {
			d.publishAll(context.Background())
		}
		return pub.values
	}
	first, again, other := walk(1), walk(1), walk(2)
	for k, values := range first {
		if !slices.Equal(values, again[k]) {
			t.Errorf("%v: same seed, different readings", k)
		}
		if slices.Equal(values, other[k]) {
			t.Errorf("%v: different seeds, same readings", k)
		}
		checkWalk(t, k, values)
	}
}

// checkWalk checks that values are rounded to hundredths, move in small
// steps, stay in a plausible range and do not stand still.
func checkWalk(t *testing.T, k hub.Key, values []float64) {
	t.Helper()
	moves := 0
	for i, v := range values {
		if math.Round(v*100)/100 != v {
			t.Fatalf("%v: reading %v has more than two decimals", k, v)
		}
		if v < demoLowest-5 || v > demoLowest+demoSpread+5 {
			t.Fatalf("%v: reading %v out of range", k, v)
		}
		if i == 0 {
			continue
		}
		if d := math.Abs(v - values[i-1]); d > 1 {
			t.Fatalf("%v: step of %v from %v to %v", k, d, values[i-1], v)
		} else if d > 0 {
			moves++
		}
	}
	if moves < len(values)/2 {
		t.Errorf("%v: only %d of %d readings moved", k, moves, len(values))
	}
}

func TestDemoLogsFailuresOnce(t *testing.T) {
	var log bytes.Buffer
	pub := newCountingPublisher(t)
	pub.err = errors.New("store down")
	d := NewDemo(DemoConfig{IDs: []string{"a", "b"}}, pub, slog.New(slog.NewTextHandler(&log, nil)))
	for range 3 {
		d.publishAll(context.Background())
	}
	if got := bytes.Count(log.Bytes(), []byte("demo publish failed")); got != 1 {
		t.Errorf("failure logged %d times, want once; log:\n%s", got, log.String())
	}
	pub.err = nil
	d.publishAll(context.Background())
	if got := bytes.Count(log.Bytes(), []byte("demo publish recovered")); got != 1 {
		t.Errorf("recovery logged %d times, want once; log:\n%s", got, log.String())
	}
	if n := pub.snapshot()[hub.Key{App: "demo", ID: "b"}]; n != 4 {
		t.Errorf("sensor b published %d times, want 4 (failures do not stop the source)", n)
	}
}

func keys(app string, ids ...string) []hub.Key {
	out := make([]hub.Key, len(ids))
	for i, id := range ids {
		out[i] = hub.Key{App: app, ID: id}
	}
	return out
}

func everyKeyAtLeast(counts map[hub.Key]int, want []hub.Key, n int) bool {
	for _, k := range want {
		if counts[k] < n {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}
