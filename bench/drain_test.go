package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func millis(n ...int) []time.Duration {
	ds := make([]time.Duration, len(n))
	for i, v := range n {
		ds[i] = time.Duration(v) * time.Millisecond
	}
	return ds
}

func TestPeakCount(t *testing.T) {
	cases := []struct {
		name  string
		times []time.Duration
		width time.Duration
		want  int
	}{
		{name: "none", width: time.Second, want: 0},
		{name: "one", times: millis(5), width: 100 * time.Millisecond, want: 1},
		{name: "all in one window", times: millis(0, 10, 20, 99), width: 100 * time.Millisecond, want: 4},
		{name: "the window is half open", times: millis(0, 100, 200), width: 100 * time.Millisecond, want: 1},
		{name: "a window not on a bucket boundary", times: millis(0, 150, 160, 240, 400), width: 100 * time.Millisecond, want: 3},
		{name: "equal times", times: millis(7, 7, 7, 500), width: time.Millisecond, want: 3},
		{name: "one a second", times: millis(0, 1000, 2000, 3000), width: time.Second, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := peakCount(tc.times, tc.width); got != tc.want {
				t.Fatalf("peakCount(%v, %v) = %d, want %d", tc.times, tc.width, got, tc.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "none", q: 0.5, want: 0},
		{name: "one", sorted: millis(3), q: 0.99, want: 3 * time.Millisecond},
		{name: "p50 of 100", sorted: hundred, q: 0.5, want: 50 * time.Millisecond},
		{name: "p99 of 100", sorted: hundred, q: 0.99, want: 99 * time.Millisecond},
		{name: "max", sorted: hundred, q: 1, want: 100 * time.Millisecond},
		{name: "p0 is the smallest", sorted: hundred, q: 0, want: time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.sorted, tc.q); got != tc.want {
				t.Fatalf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestPerSecond(t *testing.T) {
	cases := []struct {
		name  string
		times []time.Duration
		want  []int
	}{
		{name: "none"},
		{name: "all in the first second", times: millis(0, 10, 999), want: []int{3}},
		{name: "empty seconds between", times: millis(-5, 100, 2500, 2999, 3000), want: []int{2, 0, 2, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := perSecond(tc.times); !slices.Equal(got, tc.want) {
				t.Fatalf("perSecond(%v) = %v, want %v", tc.times, got, tc.want)
			}
		})
	}
}

// TestRecordsSinceSignal: unrecorded clients (0) are left out, the rest
// are counted from the signal and sorted; a latency needs both times.
func TestRecordsSinceSignal(t *testing.T) {
	unit := int64(time.Millisecond)
	closedAt := []int64{30 * unit, 0, 10 * unit, 20 * unit}
	ackedAt := []int64{35 * unit, 0, 0, 27 * unit}
	if got, want := sinceSignal(closedAt, 5*unit), []time.Duration{5 * time.Millisecond, 15 * time.Millisecond, 25 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("sinceSignal = %v, want %v", got, want)
	}
	if got, want := moveLatencies(closedAt, ackedAt), []time.Duration{5 * time.Millisecond, 7 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("moveLatencies = %v, want %v", got, want)
	}
}

func TestHandshakeKind(t *testing.T) {
	cases := []struct {
		name     string
		response string
		want     string
	}{
		{name: "draining", response: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", want: "handshake_503"},
		{name: "bad request", response: "HTTP/1.1 400 Bad Request\r\n\r\n", want: "handshake_400"},
		{name: "another version", response: "HTTP/1.0 200 OK\r\n\r\n", want: "handshake"},
		{name: "no status", response: "HTTP/1.1 xyz\r\n\r\n", want: "handshake"},
		{name: "not HTTP", response: "garbage\r\n\r\n", want: "handshake"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := handshakeKind([]byte(tc.response)); got != tc.want {
				t.Fatalf("handshakeKind(%q) = %q, want %q", tc.response, got, tc.want)
			}
		})
	}
}

// TestDrainResultString: the windows side by side, their errors, and the
// timeline as long as the longest window's.
func TestDrainResultString(t *testing.T) {
	r := DrainResult{Conns: 3, Keys: 1, Windows: []DrainWindow{
		{WindowMS: 0, Closed: 3, Reconnected: 3, AExited: true, ReconnectsPerSec: []int{3}, ClosesPerSec: []int{3}},
		{WindowMS: 2000, Closed: 3, Reconnected: 2, Failed: 1, AExited: true, AExitCode: 0, AExitMS: 2010,
			Errors: map[string]uint64{"b:handshake_503": 1}, ReconnectsPerSec: []int{1, 0, 1}, ClosesPerSec: []int{1, 1, 1}},
	}}
	out := r.String()
	for _, want := range []string{
		"drain of 3 clients (on one key)",
		"0 (unpaced)",
		"2s",
		"errors, window 2s: b:handshake_503=1",
		"0, 2010.0 ms",
		"1 (1)",
		"0 (1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	_, timeline, _ := strings.Cut(out, "\nsecond ")
	if lines := strings.Split(timeline, "\n"); len(lines) != 4 {
		t.Errorf("timeline of %d lines with its header, want 4 (seconds 0 to 2):\n%s", len(lines), out)
	}
}

func TestDrainSources(t *testing.T) {
	cases := []struct {
		name             string
		net              byte
		conns, perSource int
		want             []string
	}{
		{name: "one address", net: 0, conns: 200, perSource: 5000, want: []string{"127.0.0.1"}},
		{name: "just full", net: 1, conns: 10000, perSource: 5000, want: []string{"127.0.1.1", "127.0.1.2"}},
		{name: "19,000", net: 0, conns: 19000, perSource: 5000, want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range drainSources(tc.net, tc.conns, tc.perSource) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("drainSources(%d, %d, %d) = %v, want %v", tc.net, tc.conns, tc.perSource, got, tc.want)
			}
		})
	}
	if n := len(drainSources(0, 10_000_000, 1)); n != 254 {
		t.Errorf("%d addresses for 10,000,000 at one each, want at most 254", n)
	}
}
