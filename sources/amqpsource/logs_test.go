package amqpsource

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLimiter: one line a second per reason, and the next line tells how
// many were suppressed.
func TestLimiter(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	l := newLimiter(slog.New(slog.NewTextHandler(&out, nil)), time.Second, func() time.Time { return now })
	for range 5 {
		l.warn("publish", "publish failed")
	}
	l.warn("connect", "not connected")
	now = now.Add(999 * time.Millisecond)
	l.warn("publish", "publish failed")
	now = now.Add(time.Millisecond)
	l.warn("publish", "publish failed")
	l.warn("publish", "publish failed")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "publish failed") || strings.Contains(lines[0], "suppressed") ||
		!strings.Contains(lines[1], "not connected") ||
		!strings.Contains(lines[2], "publish failed") || !strings.Contains(lines[2], "suppressed=5") {
		t.Fatalf("lines:\n%s", out.String())
	}
}
