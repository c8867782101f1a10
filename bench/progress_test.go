package bench

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	t time.Time
}

func (c *fakeClock) now() time.Time { return c.t }

// progressStep moves the clock by advance, then calls Update with state,
// or Stop when stop is set.
type progressStep struct {
	advance time.Duration
	state   ProgressState
	stop    bool
}

// connecting returns the state of the connect phase with open connections.
func connecting(open int) ProgressState {
	return ProgressState{Phase: "connecting", Open: open, Target: 1000}
}

func TestProgressLines(t *testing.T) {
	cases := []struct {
		name        string
		interactive bool
		every       time.Duration
		steps       []progressStep
		want        string
	}{
		{
			name:  "log: one line per interval, then the final state",
			every: 5 * time.Second,
			steps: []progressStep{
				{advance: 0, state: connecting(10)},
				{advance: time.Second, state: connecting(100)},
				{advance: 3900 * time.Millisecond, state: connecting(400)},
				{advance: 100 * time.Millisecond, state: connecting(500)},
				{advance: time.Second, state: connecting(600)},
				{advance: 4 * time.Second, state: connecting(990)},
				{advance: 0, state: ProgressState{Phase: "push", Open: 1000, Target: 1000, Received: 1200, Errors: 3}},
				{advance: time.Second, stop: true},
			},
			want: "connecting: open 500/1000 (50%), received 0, errors 0\n" +
				"connecting: open 990/1000 (99%), received 0, errors 0\n" +
				"push: open 1000/1000 (100%), received 1200, errors 3\n",
		},
		{
			name:        "terminal: rewrites the line in place, ends it on stop",
			interactive: true,
			every:       100 * time.Millisecond,
			steps: []progressStep{
				{advance: 100 * time.Millisecond, state: connecting(1)},
				{advance: 50 * time.Millisecond, state: connecting(2)},
				{advance: 50 * time.Millisecond, state: connecting(3)},
				{advance: 10 * time.Millisecond, state: connecting(4)},
				{advance: 0, stop: true},
			},
			want: "\r\x1b[2Kconnecting: open 1/1000 (0%), received 0, errors 0" +
				"\r\x1b[2Kconnecting: open 3/1000 (0%), received 0, errors 0" +
				"\r\x1b[2Kconnecting: open 4/1000 (0%), received 0, errors 0\n",
		},
		{
			name: "log: every defaults to 5 s",
			steps: []progressStep{
				{advance: 4999 * time.Millisecond, state: connecting(1)},
				{advance: time.Millisecond, state: connecting(2)},
			},
			want: "connecting: open 2/1000 (0%), received 0, errors 0\n",
		},
		{
			name:        "terminal: every defaults to 250 ms",
			interactive: true,
			steps: []progressStep{
				{advance: 249 * time.Millisecond, state: connecting(1)},
				{advance: time.Millisecond, state: connecting(2)},
			},
			want: "\r\x1b[2Kconnecting: open 2/1000 (0%), received 0, errors 0",
		},
		{
			name:  "a burst of updates gives one line",
			every: time.Second,
			steps: []progressStep{
				{advance: time.Second, state: connecting(1)},
				{advance: 0, state: connecting(2)},
				{advance: 0, state: connecting(3)},
				{advance: 999 * time.Millisecond, state: connecting(4)},
			},
			want: "connecting: open 1/1000 (0%), received 0, errors 0\n",
		},
		{
			name:  "stop without updates shows nothing",
			every: time.Second,
			steps: []progressStep{
				{advance: time.Hour, stop: true},
			},
			want: "",
		},
		{
			name:  "stop shows the final state once and ends updates",
			every: time.Second,
			steps: []progressStep{
				{advance: 0, state: ProgressState{Received: 7}},
				{advance: 0, stop: true},
				{advance: time.Hour, state: connecting(5)},
				{advance: 0, stop: true},
			},
			want: "open 0/0, received 7, errors 0\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			clock := &fakeClock{t: time.Unix(1700000000, 0)}
			p := newProgress(&b, tc.interactive, tc.every, clock.now)
			for _, s := range tc.steps {
				clock.t = clock.t.Add(s.advance)
				if s.stop {
					p.Stop()
				} else {
					p.Update(s.state)
				}
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestProgressConcurrentUpdates(t *testing.T) {
	const (
		writers = 8
		updates = 1000
	)
	var ticks atomic.Int64 // each reading of the clock moves it by 1 ms
	now := func() time.Time { return time.UnixMilli(ticks.Add(1) - 1) }
	var b bytes.Buffer
	p := newProgress(&b, false, time.Second, now)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range updates {
				p.Update(ProgressState{Phase: "push", Open: w, Target: writers, Received: int64(i)})
			}
		})
	}
	wg.Wait()
	p.Stop()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	// 8000 updates 1 ms apart: a line every 1000, then the final one.
	if len(lines) != writers*updates/1000+1 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), writers*updates/1000+1, b.String())
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "push: open ") || !strings.HasSuffix(line, ", errors 0") {
			t.Errorf("garbled line %q", line)
		}
	}
}

func TestProgressLine(t *testing.T) {
	cases := []struct {
		state ProgressState
		want  string
	}{
		{
			state: ProgressState{Phase: "connecting", Open: 750, Target: 1000, Received: 0, Errors: 2},
			want:  "connecting: open 750/1000 (75%), received 0, errors 2",
		},
		{
			state: ProgressState{Open: 3, Target: 0, Received: 12, Errors: 0},
			want:  "open 3/0, received 12, errors 0",
		},
	}
	for _, tc := range cases {
		if got := progressLine(tc.state); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.state, got, tc.want)
		}
	}
}

func TestProgressIsTerminal(t *testing.T) {
	file, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	reader, writer, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	defer writer.Close()
	cases := []struct {
		name string
		file *os.File
		want bool
	}{
		{
			name: "regular file",
			file: file,
			want: false,
		},
		{
			name: "pipe",
			file: writer,
			want: false,
		},
		{
			name: "nil",
			file: nil,
			want: false,
		},
	}
	if pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		defer pty.Close()
		cases = append(cases, struct {
			name string
			file *os.File
			want bool
		}{
			name: "pseudo-terminal",
			file: pty,
			want: true,
		})
	}
	for _, tc := range cases {
		if got := IsTerminal(tc.file); got != tc.want {
			t.Errorf("%s: IsTerminal = %v, want %v", tc.name, got, tc.want)
		}
	}
}
