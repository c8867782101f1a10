package ratelog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	l := NewLimiter(10*time.Second, clock.now)
	type step struct {
		after      time.Duration // clock advance before the call
		key        string
		ok         bool
		suppressed int
	}
	steps := []step{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0}, // another key has its own budget
		{time.Second, "a", false, 0},
		{7 * time.Second, "a", true, 3}, // 10 s after the first: the count of the three held back
		{9 * time.Second, "a", false, 0},
		{time.Second, "a", true, 1},
		{time.Minute, "a", true, 0},
	}
	for i, s := range steps {
		clock.advance(s.after)
		n, ok := l.Allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("step %d (%s): Allow = %d, %v; want %d, %v", i, s.key, n, ok, s.suppressed, s.ok)
		}
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	l := NewLimiter(time.Second, clock.now)
	for i := range MaxKeys {
		if _, ok := l.Allow(strconv.Itoa(i)); !ok {
			t.Fatalf("key %d refused on first use", i)
		}
	}
	// Full: a new key shares the overflow's budget.
	if _, ok := l.Allow("new-1"); !ok {
		t.Fatal("first overflow key refused")
	}
	if _, ok := l.Allow("new-2"); ok {
		t.Fatal("second overflow key allowed within the period: the overflow has one budget")
	}
	if len(l.seen) > MaxKeys+1 {
		t.Fatalf("%d keys tracked, want at most %d", len(l.seen), MaxKeys+1)
	}
	// A period later the idle keys are forgotten to make room.
	clock.advance(2 * time.Second)
	if _, ok := l.Allow("new-3"); !ok {
		t.Fatal("new key refused after the idle ones expired")
	}
	if len(l.seen) > MaxKeys {
		t.Fatalf("%d keys tracked after forgetting, want at most %d", len(l.seen), MaxKeys)
	}
}

// TestHandler: repeated warnings are held back with their count; info lines
// and lines limited at their call site pass.
func TestHandler(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	base := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	logger := slog.New(NewHandler(base, Options{Every: 10 * time.Second, Now: clock.now})).With("component", "x")

	for range 5 {
		logger.Warn("redis write failed", "err", "refused")
		logger.Info("per call, not limited")
		clock.advance(time.Second)
	}
	logger.Error("another failure")
	logger.Warn("limited at the call site", SuppressedKey, 7)
	logger.Warn("limited at the call site", SuppressedKey, 0)
	clock.advance(10 * time.Second)
	logger.Warn("redis write failed", "err", "refused")

	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	count := func(msg string) int {
		n := 0
		for _, l := range lines {
			if l["msg"] == msg {
				n++
			}
		}
		return n
	}
	if n := count("redis write failed"); n != 2 {
		t.Errorf("%d lines of the repeated warning, want 2 (first, then one a period later)", n)
	}
	if n := count("per call, not limited"); n != 5 {
		t.Errorf("%d info lines, want all 5", n)
	}
	if n := count("another failure"); n != 1 {
		t.Errorf("%d lines of another message, want 1", n)
	}
	if n := count("limited at the call site"); n != 2 {
		t.Errorf("%d lines limited at their call site, want both 2 to pass", n)
	}
	last := lines[len(lines)-1]
	if last["msg"] != "redis write failed" || last[SuppressedKey] != float64(4) || last["component"] != "x" {
		t.Errorf("last line %v, want the repeated warning with suppressed 4 and its component", last)
	}
	if _, ok := lines[0][SuppressedKey]; ok {
		t.Errorf("first line %v carries a count; none was held back", lines[0])
	}
}

func TestHandlerKey(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	h := NewHandler(slog.NewTextHandler(&buf, nil), Options{Now: clock.now, Key: func(slog.Record) string { return "http" }})
	errLog := slog.NewLogLogger(h, slog.LevelWarn)
	errLog.Printf("http: TLS handshake error from 10.0.0.1:5000: EOF")
	errLog.Printf("http: TLS handshake error from 10.0.0.2:5001: EOF")
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d lines, want 1 (one key for every line of the error log):\n%s", n, buf.String())
	}
}

// TestLimiterWarn: one line a period per key, the next line tells how many
// were held back, and a Handler further down lets the lines through even
// when their messages are the same (they were limited at their call site).
func TestLimiterWarn(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(time.Second, func() time.Time { return now })
	logger := slog.New(NewHandler(slog.NewTextHandler(&out, nil), Options{Every: time.Hour}))
	for range 5 {
		l.Warn(logger, "publish", "publish failed")
	}
	l.Warn(logger, "connect", "not connected")
	l.Warn(logger, "other publish", "publish failed") // another key, the same message
	now = now.Add(999 * time.Millisecond)
	l.Warn(logger, "publish", "publish failed")
	now = now.Add(time.Millisecond)
	l.Warn(logger, "publish", "publish failed")
	l.Warn(logger, "publish", "publish failed")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "publish failed") || strings.Contains(lines[0], "suppressed") ||
		!strings.Contains(lines[1], "not connected") || !strings.Contains(lines[2], "publish failed") ||
		!strings.Contains(lines[3], "publish failed") || !strings.Contains(lines[3], "suppressed=5") {
		t.Fatalf("lines:\n%s", out.String())
	}
}
