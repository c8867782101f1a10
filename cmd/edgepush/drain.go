package main

import (
	"context"
	"log/slog"
	"time"
)

// drainTick is how often a drain closes a batch of clients.
const drainTick = 100 * time.Millisecond

// drainTarget is what a drain closes: a *netloop.Server.
type drainTarget interface {
	OpenConns() int      // open connections not yet closing
	CloseSome(n int) int // sends 1001 to up to n of them; returns how many
}

// clock is the pacer's time; a fake one in tests.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// drainResult is what a drain did.
type drainResult struct {
	Open    int           // open connections when it started
	Closed  int           // sent 1001 by the drain
	Left    int           // still open when it ended (0 unless aborted)
	Batches int           // batches that closed at least one
	Elapsed time.Duration // from its start to its end
	Aborted bool          // ctx ended it before the window did
}

// drain closes t's open connections with 1001 in batches spread evenly over
// window, on the caller's goroutine. A batch is closed every tick, the first
// one tick after the start, the last at the end of the window; each closes
//
//	ceil(open / batches left, this one included)
//
// where open is counted anew each tick (clients that leave by themselves are
// not closed twice, and a batch that fell short is made up later), and
// batches left = ceil((end of window - now) / tick) + 1: this one, one a
// tick after it, and one at the end of the window. Time is read anew each
// tick too, so a late tick closes more, and one at or past the end closes
// all that remain. 2,000
// clients over 3 s at 100 ms are 30 batches of 66 or 67; 10 clients over 30 s
// are one a tick, done in 1 s: the drain ends as soon as none is left. With
// window 0 every client is closed at once. It returns early, Aborted, when
// ctx is done.
func drain(ctx context.Context, t drainTarget, window, tick time.Duration, clk clock) drainResult {
	start := clk.Now()
	end := start.Add(window)
	res := drainResult{Open: t.OpenConns()}
	closeSome := func(n int) {
		if closed := t.CloseSome(n); closed > 0 {
			res.Closed += closed
			res.Batches++
		}
	}
	for open := res.Open; open > 0; open = t.OpenConns() {
		now := clk.Now()
		if !now.Before(end) { // the window is over: the rest at once
			closeSome(open)
			break
		}
		select {
		case <-ctx.Done():
			res.Aborted = true
			res.Left, res.Elapsed = t.OpenConns(), clk.Now().Sub(start)
			return res
		case now = <-clk.After(min(tick, end.Sub(now))):
		}
		if open = t.OpenConns(); open > 0 {
			closeSome(batchSize(open, end.Sub(now), tick))
		}
	}
	res.Left, res.Elapsed = t.OpenConns(), clk.Now().Sub(start)
	return res
}

// batchSize is how many of open to close now, with left of the window to
// go: ceil(open / (ceil(left / tick) + 1)), all of them once left <= 0.
func batchSize(open int, left, tick time.Duration) int {
	if left <= 0 || tick <= 0 {
		return open
	}
	batches := int((left+tick-1)/tick) + 1
	return (open + batches - 1) / batches
}

// runDrain logs a drain's start at info, runs it and logs its end with
// the counts.
func runDrain(ctx context.Context, t drainTarget, window time.Duration, logger *slog.Logger) drainResult {
	logger.Info("drain started: /readyz is 503, upgrades are refused, clients are closed with 1001",
		"open", t.OpenConns(), "window", window, "tick", drainTick)
	res := drain(ctx, t, window, drainTick, realClock{})
	logger.Info("drain finished", "open_at_start", res.Open, "closed", res.Closed, "left", res.Left,
		"batches", res.Batches, "elapsed", res.Elapsed.Round(time.Millisecond), "aborted", res.Aborted)
	return res
}
