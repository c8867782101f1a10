package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the drain waits: After
// advances it by d and fires at once.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.t = c.t.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

// fakeTarget counts open connections and records each batch with the
// fake clock's time.
type fakeTarget struct {
	clock   *fakeClock
	start   time.Time
	open    int
	short   int         // the next CloseSome closes this many fewer than asked
	leaveAt map[int]int // once this many batches are done, this many leave by themselves
	batches []int
	at      []time.Duration
}

func (f *fakeTarget) OpenConns() int {
	if left := f.leaveAt[len(f.batches)]; left > 0 {
		f.open -= min(left, f.open)
		delete(f.leaveAt, len(f.batches))
	}
	return f.open
}

func (f *fakeTarget) CloseSome(n int) int {
	n = min(n, f.open)
	if f.short > 0 {
		n -= min(f.short, n)
		f.short = 0
	}
	f.open -= n
	f.batches = append(f.batches, n)
	f.at = append(f.at, f.clock.Now().Sub(f.start))
	return n
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func repeat(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestDrainPacing(t *testing.T) {
	tests := []struct {
		name        string
		open        int
		window      time.Duration
		short       int
		leaveAt     map[int]int     // after this many batches, so many leave by themselves
		wantBatches []int           // nil: check only the properties below
		wantAt      []time.Duration // nil: not checked
		wantClosed  int
		wantElapsed time.Duration
	}{
		{name: "none open", open: 0, window: 3 * time.Second, wantBatches: []int{}, wantElapsed: 0},
		{name: "window 0: all at once", open: 2000, window: 0,
			wantBatches: []int{2000}, wantAt: ms(0), wantClosed: 2000, wantElapsed: 0},
		{name: "25 over 1 s: ceil(remaining/ticks left), 3s then 2s", open: 25, window: time.Second,
			wantBatches: []int{3, 3, 3, 3, 3, 2, 2, 2, 2, 2},
			wantAt:      ms(100, 200, 300, 400, 500, 600, 700, 800, 900, 1000),
			wantClosed:  25, wantElapsed: time.Second},
		{name: "fewer than ticks: one a tick, ends early", open: 4, window: 30 * time.Second,
			wantBatches: []int{1, 1, 1, 1}, wantAt: ms(100, 200, 300, 400), wantClosed: 4, wantElapsed: 400 * time.Millisecond},
		{name: "2000 over 3 s: 30 even batches to the end", open: 2000, window: 3 * time.Second,
			wantClosed: 2000, wantElapsed: 3 * time.Second},
		{name: "window shorter than a tick: one batch at its end", open: 10, window: 50 * time.Millisecond,
			wantBatches: []int{10}, wantAt: ms(50), wantClosed: 10, wantElapsed: 50 * time.Millisecond},
		{name: "window not a multiple of the tick", open: 6, window: 250 * time.Millisecond,
			wantBatches: []int{2, 2, 2}, wantAt: ms(100, 200, 250), wantClosed: 6, wantElapsed: 250 * time.Millisecond},
		{name: "a short batch is made up later", open: 10, window: 500 * time.Millisecond, short: 2,
			wantBatches: []int{0, 3, 3, 2, 2}, wantAt: ms(100, 200, 300, 400, 500), wantClosed: 10, wantElapsed: 500 * time.Millisecond},
		{name: "clients that leave by themselves are not closed", open: 10, window: 500 * time.Millisecond, leaveAt: map[int]int{1: 6},
			wantBatches: []int{2, 1, 1}, wantAt: ms(100, 200, 300), wantClosed: 4, wantElapsed: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1700000000, 0)}
			target := &fakeTarget{clock: clk, start: clk.t, open: tt.open, short: tt.short, leaveAt: tt.leaveAt, batches: []int{}}
			res := drain(context.Background(), target, tt.window, 100*time.Millisecond, clk)
			if tt.wantBatches != nil && !reflect.DeepEqual(target.batches, tt.wantBatches) {
				t.Errorf("batches %v, want %v", target.batches, tt.wantBatches)
			}
			if tt.wantAt != nil && !reflect.DeepEqual(target.at, tt.wantAt[:min(len(tt.wantAt), len(target.at))]) {
				t.Errorf("batch times %v, want %v", target.at, tt.wantAt)
			}
			if res.Closed != tt.wantClosed || res.Left != 0 || res.Aborted || res.Open != tt.open {
				t.Errorf("result %+v, want open %d, closed %d, none left, not aborted", res, tt.open, tt.wantClosed)
			}
			if res.Elapsed != tt.wantElapsed {
				t.Errorf("elapsed %v, want %v", res.Elapsed, tt.wantElapsed)
			}
		})
	}
}

// TestDrainPacingEven: 2,000 over 3 s in 100 ms ticks are 30 batches of 66
// or 67, the last at the end of the window, none in the first tick.
func TestDrainPacingEven(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	target := &fakeTarget{clock: clk, start: clk.t, open: 2000}
	drain(context.Background(), target, 3*time.Second, 100*time.Millisecond, clk)
	if len(target.batches) != 30 {
		t.Fatalf("%d batches, want 30: %v", len(target.batches), target.batches)
	}
	inFirst20 := 0
	for i, n := range target.batches {
		if n != 66 && n != 67 {
			t.Errorf("batch %d closes %d, want 66 or 67: %v", i, n, target.batches)
		}
		if want := time.Duration(i+1) * 100 * time.Millisecond; target.at[i] != want {
			t.Errorf("batch %d at %v, want %v", i, target.at[i], want)
		}
		if target.at[i] <= 600*time.Millisecond {
			inFirst20 += n
		}
	}
	if inFirst20 > 2000/4 {
		t.Errorf("%d closed in the first 20%% of the window, want about a fifth", inFirst20)
	}
	if !reflect.DeepEqual(target.batches[:3], repeat(3, 67)) {
		t.Errorf("first batches %v, want 67 each (ceil(2000/30))", target.batches[:3])
	}
}

// TestDrainAborted: a done context ends the drain at once, with the count
// of what is left.
func TestDrainAborted(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1700000000, 0)}
	target := &fakeTarget{clock: clk, start: clk.t, open: 100}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A fired After and a done ctx: select may take either, so run until
	// the abort is seen; each round closes at most a batch.
	res := drain(ctx, target, 3*time.Second, 100*time.Millisecond, clk)
	if !res.Aborted || res.Left != 100-res.Closed || res.Left == 0 {
		t.Fatalf("result %+v, want aborted with some left", res)
	}
}

func TestBatchSize(t *testing.T) {
	tick := 100 * time.Millisecond
	for _, tt := range []struct {
		open int
		left time.Duration
		want int
	}{
		{2000, 2900 * time.Millisecond, 67},
		{2000, 0, 2000},
		{2000, -time.Second, 2000},
		{2000, 50 * time.Millisecond, 1000}, // this tick and the end of the window
		{2000, 100 * time.Millisecond, 1000},
		{2000, 101 * time.Millisecond, 667},
		{1, 30 * time.Second, 1},
		{0, time.Second, 0},
		{300, 29900 * time.Millisecond, 1},
		{301, 29900 * time.Millisecond, 2},
	} {
		if got := batchSize(tt.open, tt.left, tick); got != tt.want {
			t.Errorf("batchSize(%d, %v) = %d, want %d", tt.open, tt.left, got, tt.want)
		}
	}
}

// TestSecondSignalExits1: the first SIGTERM starts the drain, the second
// exits 1 at once.
func TestSecondSignalExits1(t *testing.T) {
	codes := make(chan int, 1)
	exit = func(code int) { codes <- code }
	t.Cleanup(func() { exit = os.Exit })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	stop := onSignals(cancel, slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil)))
	defer stop()

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first SIGTERM did not start the drain")
	}
	select {
	case code := <-codes:
		t.Fatalf("exit(%d) after the first signal", code)
	case <-time.After(50 * time.Millisecond):
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-codes:
		if code != 1 {
			t.Fatalf("second signal: exit(%d), want exit(1)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second SIGTERM did not exit")
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
