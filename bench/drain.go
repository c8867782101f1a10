package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A drain run: two fresh edgepush nodes, A and B; Conns clients connect to
// A, each subscribed to a key; A gets SIGTERM and, started with
// -drain-timeout Window, closes them with 1001 in paced batches (all at
// once for window 0); each client then closes its socket, dials B at once
// (or after a random wait in [0, Jitter)) and subscribes again, as behind a
// load balancer that has taken A out of its pool. The clients record when
// each 1001 arrived and when B acked each sub; the run reports the
// reconnect rate B saw, the latency of each move, and how A ended.

// DrainConfig describes drain runs, one per window. Bin is required.
type DrainConfig struct {
	Bin        string          // the edgepush binary
	ServerArgs []string        // more flags for both nodes
	Conns      int             // clients; default 19000
	Keys       int             // client i subscribes to KeyID(i mod Keys); default 1
	Windows    []time.Duration // A's -drain-timeout, each on fresh nodes; default 30 s
	Jitter     time.Duration   // each client waits uniform [0, Jitter) before dialing B; 0: at once
	Connecting int             // connections to A between connect(2) and ack at once; default 256
	// PerSource caps the connections from one local address to one node:
	// those to A come from 127.0.0.1, 127.0.0.2, ..., those to B from
	// 127.0.1.1, 127.0.1.2, ...; default 5000. connect(2) slows down in the
	// kernel (__inet_hash_connect) as one address's ports fill up, which
	// would make the client, not B, what limits the reconnects.
	PerSource int
	// Margin bounds a window's run beyond Window + Jitter: connecting the
	// clients, A's stop and the last reconnects; default 2 minutes.
	Margin   time.Duration
	Logs     io.Writer    // the nodes' output; default discarded
	Progress func(string) // a line now and then; may be nil
}

// DrainResult is what every window of a drain run measured.
type DrainResult struct {
	Conns    int           `json:"conns"`
	Keys     int           `json:"keys"`
	JitterMS float64       `json:"client_jitter_ms"`
	Windows  []DrainWindow `json:"windows"`
}

// DrainWindow is what one window measured. Times are from the moment the
// client process sent SIGTERM to A, on its own clock.
type DrainWindow struct {
	WindowMS    float64           `json:"window_ms"` // A's -drain-timeout
	Conns       int               `json:"conns"`
	SetupMS     float64           `json:"setup_ms"`    // to connect and subscribe every client to A
	Closed      int64             `json:"closed"`      // clients A closed with 1001
	Reconnected int64             `json:"reconnected"` // clients B upgraded and acked
	Failed      int64             `json:"failed"`      // clients on A that were not acked by B
	Errors      map[string]uint64 `json:"errors"`      // by node and kind (a:close_1006, b:handshake_503, ...); timeout: neither acked by B nor failed within the bound
	TimedOut    bool              `json:"timed_out"`   // the run's bound ended the wait

	FirstCloseMS     float64 `json:"first_close_ms"`
	LastCloseMS      float64 `json:"last_close_ms"`
	LastReconnectMS  float64 `json:"last_reconnect_ms"`
	Peak100ms        int     `json:"peak_reconnects_100ms"`         // most acks by B in any 100 ms
	PeakPerSec100ms  float64 `json:"peak_reconnects_per_sec_100ms"` // that, as a rate a second
	Peak1s           int     `json:"peak_reconnects_1s"`            // most acks by B in any 1 s
	LatencyP50MS     float64 `json:"reconnect_p50_ms"`              // 1001 received to B's ack
	LatencyP99MS     float64 `json:"reconnect_p99_ms"`
	LatencyMaxMS     float64 `json:"reconnect_max_ms"`
	ClosesPerSec     []int   `json:"closes_per_sec"`     // 1001s received in second 0, 1, ... after SIGTERM
	ReconnectsPerSec []int   `json:"reconnects_per_sec"` // acks by B in second 0, 1, ...

	AExited      bool           `json:"a_exited"`
	AExitCode    int            `json:"a_exit_code"` // -1 if it did not exit or was killed
	AExitMS      float64        `json:"a_exit_ms"`
	AConnections float64        `json:"a_connections_before"` // A's edgepush_connections before SIGTERM
	BConnections float64        `json:"b_connections"`        // B's edgepush_connections at the end
	Listen       ListenCounters `json:"listen"`               // kernel, host-wide, from SIGTERM to the end
}

// errAllSubscribed reports clients that never subscribed to A.
var errAllSubscribed = errors.New("bench: not every client subscribed to node A")

func (cfg *DrainConfig) defaults() error {
	if cfg.Bin == "" {
		return errors.New("bench: drain needs the edgepush binary")
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 19000
	}
	cfg.Keys = max(cfg.Keys, 1)
	if len(cfg.Windows) == 0 {
		cfg.Windows = []time.Duration{30 * time.Second}
	}
	if slices.ContainsFunc(cfg.Windows, func(w time.Duration) bool { return w < 0 }) {
		return fmt.Errorf("bench: drain windows %v: a window is 0 or more", cfg.Windows)
	}
	cfg.Jitter = max(cfg.Jitter, 0)
	if cfg.Connecting <= 0 {
		cfg.Connecting = 256
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 2 * time.Minute
	}
	if cfg.PerSource <= 0 {
		cfg.PerSource = 5000
	}
	if cfg.Logs == nil {
		cfg.Logs = io.Discard
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string) {}
	}
	return nil
}

// Drain runs one drain per window, each on two fresh nodes, one after the
// other. Every process it starts is stopped before it returns.
func Drain(ctx context.Context, cfg DrainConfig) (DrainResult, error) {
	if err := cfg.defaults(); err != nil {
		return DrainResult{}, err
	}
	r := DrainResult{Conns: cfg.Conns, Keys: cfg.Keys, JitterMS: ms(cfg.Jitter)}
	for _, window := range cfg.Windows {
		w, err := drainWindow(ctx, cfg, window)
		if err != nil {
			return r, fmt.Errorf("bench: drain window %v: %w", window, err)
		}
		r.Windows = append(r.Windows, w)
	}
	return r, nil
}

// drainWindow runs one drain of window on fresh nodes, bounded by
// window + Jitter + Margin.
func drainWindow(ctx context.Context, cfg DrainConfig, window time.Duration) (DrainWindow, error) {
	ctx, cancel := context.WithTimeout(ctx, window+cfg.Jitter+cfg.Margin)
	defer cancel()
	a, b, err := spawnDrainNodes(ctx, cfg, window)
	if err != nil {
		return DrainWindow{}, err
	}
	defer a.Stop()
	defer b.Stop() // after the clients are stopped: B then has none to drain
	clients, err := startDrainClients(drainClientConfig{
		nodes:   [2]netip.AddrPort{netip.MustParseAddrPort(a.Addrs[0].WS), netip.MustParseAddrPort(b.Addrs[0].WS)},
		sources: [2][]netip.Addr{drainSources(0, cfg.Conns, cfg.PerSource), drainSources(1, cfg.Conns, cfg.PerSource)},
		conns:   cfg.Conns, keys: cfg.Keys, connecting: cfg.Connecting, loops: runtime.GOMAXPROCS(0), jitter: cfg.Jitter,
	})
	if err != nil {
		return DrainWindow{}, err
	}
	defer clients.stop()
	w := DrainWindow{WindowMS: ms(window), Conns: cfg.Conns, AExitCode: -1}
	if err := setupDrain(ctx, cfg, clients, &w); err != nil {
		return w, err
	}
	if w.AConnections, err = ServerMetric(ctx, a.Addrs[0].API, "edgepush_connections"); err != nil {
		return w, err
	}
	cfg.Progress(fmt.Sprintf("window %v: %d clients on node A (it counts %v); SIGTERM", window, cfg.Conns, w.AConnections))
	listenBefore, listenErr := ReadListenCounters()
	signalled := clients.now()
	if err := a.signal(0, syscall.SIGTERM); err != nil {
		return w, fmt.Errorf("bench: SIGTERM to node A: %w", err)
	}
	waitDrain(ctx, cfg, window, a, clients, signalled, &w)
	if w.BConnections, err = ServerMetric(ctx, b.Addrs[0].API, "edgepush_connections"); err != nil {
		return w, err
	}
	if listenAfter, err := ReadListenCounters(); err == nil && listenErr == nil {
		w.Listen = listenAfter.Sub(listenBefore)
	}
	clients.stop()
	summarizeDrain(&w, clients, signalled)
	return w, nil
}

// spawnDrainNodes starts node A, which drains over window, and node B,
// which closes whatever is left at once when it is stopped.
func spawnDrainNodes(ctx context.Context, cfg DrainConfig, window time.Duration) (a, b *Servers, err error) {
	args := func(drainTimeout time.Duration) []string {
		return append(slices.Clone(cfg.ServerArgs), "-drain-timeout", drainTimeout.String())
	}
	if a, err = SpawnServers(ctx, cfg.Bin, 1, 0, args(window), cfg.Logs); err != nil {
		return nil, nil, fmt.Errorf("node A: %w", err)
	}
	if b, err = SpawnServers(ctx, cfg.Bin, 1, 0, args(0), cfg.Logs); err != nil {
		a.Stop()
		return nil, nil, fmt.Errorf("node B: %w", err)
	}
	return a, b, nil
}

// drainSources returns the local addresses 127.0.net.1, 127.0.net.2, ...
// enough for conns connections at perSource each, 254 at most.
func drainSources(net byte, conns, perSource int) []netip.Addr {
	addrs := make([]netip.Addr, min((conns+perSource-1)/perSource, 254))
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 0, net, byte(i + 1)})
	}
	return addrs
}

// setupDrain waits until every client is subscribed to A, or fails.
func setupDrain(ctx context.Context, cfg DrainConfig, clients *drainClients, w *DrainWindow) error {
	start := time.Now()
	for !clients.setupSettled() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d subscribed: %w", errAllSubscribed, clients.subscribedA.Load(), cfg.Conns, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	w.SetupMS = ms(time.Since(start))
	if failed := clients.failedA.Load(); failed > 0 {
		clients.stop()
		return fmt.Errorf("%w: %d of %d failed, errors %v", errAllSubscribed, failed, cfg.Conns, clients.errors())
	}
	cfg.Progress(fmt.Sprintf("%d clients subscribed to node A in %v", cfg.Conns, time.Since(start).Round(time.Millisecond)))
	return nil
}

// waitDrain waits, after the SIGTERM at signalled, until every client has
// been acked by B or lost and A has exited, or for window + Jitter + half
// the margin at most; it notes A's exit in w.
func waitDrain(ctx context.Context, cfg DrainConfig, window time.Duration, a *Servers, clients *drainClients, signalled int64, w *DrainWindow) {
	ctx, cancel := context.WithTimeout(ctx, window+cfg.Jitter+cfg.Margin/2)
	defer cancel()
	exited := a.exited(0)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextReport := time.Now().Add(2 * time.Second)
	for !w.AExited || !clients.drainSettled() {
		select {
		case <-exited:
			w.AExited, w.AExitCode = true, a.exitCode(0)
			w.AExitMS = ms(time.Duration(clients.now() - signalled))
			exited = nil
		case <-ctx.Done():
			w.TimedOut = true
			return
		case now := <-tick.C:
			if now.After(nextReport) {
				cfg.Progress(fmt.Sprintf("%d closed by A, %d reconnected to B, %d failed; A exited: %v",
					clients.closed.Load(), clients.reconnected.Load(), clients.lost.Load(), w.AExited))
				nextReport = now.Add(2 * time.Second)
			}
		}
	}
}

// summarizeDrain fills w from the clients' records, after they stopped.
func summarizeDrain(w *DrainWindow, clients *drainClients, signalled int64) {
	w.Errors = clients.errors()
	w.Closed, w.Reconnected = clients.closed.Load(), clients.reconnected.Load()
	w.Failed = clients.subscribedA.Load() - w.Reconnected
	if unsettled := w.Failed - clients.lost.Load(); unsettled > 0 {
		w.Errors["timeout"] += uint64(unsettled)
	}
	closes := sinceSignal(clients.closedAt, signalled)
	reconnects := sinceSignal(clients.ackedAt, signalled)
	if len(closes) > 0 {
		w.FirstCloseMS, w.LastCloseMS = ms(closes[0]), ms(closes[len(closes)-1])
	}
	if len(reconnects) > 0 {
		w.LastReconnectMS = ms(reconnects[len(reconnects)-1])
	}
	w.Peak100ms = peakCount(reconnects, 100*time.Millisecond)
	w.PeakPerSec100ms = float64(w.Peak100ms) * 10
	w.Peak1s = peakCount(reconnects, time.Second)
	latencies := moveLatencies(clients.closedAt, clients.ackedAt)
	w.LatencyP50MS = ms(quantile(latencies, 0.5))
	w.LatencyP99MS = ms(quantile(latencies, 0.99))
	w.LatencyMaxMS = ms(quantile(latencies, 1))
	w.ClosesPerSec = perSecond(closes)
	w.ReconnectsPerSec = perSecond(reconnects)
}

// sinceSignal returns the recorded times of at (0: none) as durations from
// signalled, sorted.
func sinceSignal(at []int64, signalled int64) []time.Duration {
	var ds []time.Duration
	for _, t := range at {
		if t != 0 {
			ds = append(ds, time.Duration(t-signalled))
		}
	}
	slices.Sort(ds)
	return ds
}

// moveLatencies returns, sorted, the time from each client's close to its
// ack, for the clients that have both.
func moveLatencies(closedAt, ackedAt []int64) []time.Duration {
	var ds []time.Duration
	for i, closed := range closedAt {
		if closed != 0 && ackedAt[i] != 0 {
			ds = append(ds, time.Duration(ackedAt[i]-closed))
		}
	}
	slices.Sort(ds)
	return ds
}

// peakCount returns the most of the sorted times that fall in any interval
// [t, t+width).
func peakCount(sorted []time.Duration, width time.Duration) int {
	peak, first := 0, 0
	for last, t := range sorted {
		for sorted[first] <= t-width {
			first++
		}
		peak = max(peak, last-first+1)
	}
	return peak
}

// quantile returns the q-quantile of sorted by nearest rank, 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// perSecond counts the sorted times in each whole second from 0 to the
// last one's; times before 0 count in second 0.
func perSecond(sorted []time.Duration) []int {
	if len(sorted) == 0 {
		return nil
	}
	counts := make([]int, max(int(sorted[len(sorted)-1]/time.Second), 0)+1)
	for _, t := range sorted {
		counts[max(int(t/time.Second), 0)]++
	}
	return counts
}

// String is the windows side by side, then the reconnects per second.
func (r DrainResult) String() string {
	var b strings.Builder
	keys := "one key"
	if r.Keys > 1 {
		keys = strconv.Itoa(r.Keys) + " keys"
	}
	fmt.Fprintf(&b, "drain of %d clients (on %s) from node A to node B, client jitter %v\n\n",
		r.Conns, keys, time.Duration(r.JitterMS*1e6))
	writeRows(&b, r.summaryRows())
	for _, w := range r.Windows {
		if kinds := errorKinds(w.Errors, " "); kinds != "" {
			fmt.Fprintf(&b, "errors, window %v: %s\n", windowName(w), kinds)
		}
	}
	b.WriteString("\nreconnects acked by B per second after SIGTERM (closes by A in brackets)\n")
	writeRows(&b, r.timelineRows())
	return strings.TrimRight(b.String(), "\n")
}

// summaryRows are the text summary's lines: a label, then one cell per
// window.
func (r DrainResult) summaryRows() [][]string {
	rows := [][]string{{"window (A's -drain-timeout)"}}
	add := func(label string, cell func(w DrainWindow) string) {
		row := []string{label}
		for _, w := range r.Windows {
			row = append(row, cell(w))
		}
		rows = append(rows, row)
	}
	for _, w := range r.Windows {
		rows[0] = append(rows[0], windowName(w))
	}
	add("clients connected to A in", func(w DrainWindow) string { return formatMillis(w.SetupMS) })
	add("closed by A with 1001", func(w DrainWindow) string { return strconv.FormatInt(w.Closed, 10) })
	add("reconnected to B (101 + ack)", func(w DrainWindow) string { return strconv.FormatInt(w.Reconnected, 10) })
	add("failed", func(w DrainWindow) string { return strconv.FormatInt(w.Failed, 10) })
	add("first / last close after SIGTERM", func(w DrainWindow) string {
		return formatMillis(w.FirstCloseMS) + " / " + formatMillis(w.LastCloseMS)
	})
	add("last reconnect after SIGTERM", func(w DrainWindow) string { return formatMillis(w.LastReconnectMS) })
	add("peak reconnects/s (100 ms)", func(w DrainWindow) string {
		return fmt.Sprintf("%.0f (%d)", w.PeakPerSec100ms, w.Peak100ms)
	})
	add("peak reconnects in 1 s", func(w DrainWindow) string { return strconv.Itoa(w.Peak1s) })
	add("1001 to B's ack p50 / p99 / max", func(w DrainWindow) string {
		return formatMillis(w.LatencyP50MS) + " / " + formatMillis(w.LatencyP99MS) + " / " + formatMillis(w.LatencyMaxMS)
	})
	add("A's exit code, after SIGTERM", func(w DrainWindow) string {
		if !w.AExited {
			return "did not exit"
		}
		return strconv.Itoa(w.AExitCode) + ", " + formatMillis(w.AExitMS)
	})
	add("B's connections at the end", func(w DrainWindow) string { return strconv.FormatFloat(w.BConnections, 'f', 0, 64) })
	add("listen overflows / drops", func(w DrainWindow) string {
		return fmt.Sprintf("%d / %d", w.Listen.Overflows, w.Listen.Drops)
	})
	return rows
}

// timelineRows are the timeline's lines: a second, then the reconnects
// and closes of each window in it.
func (r DrainResult) timelineRows() [][]string {
	rows := [][]string{{"second"}}
	seconds := 0
	for _, w := range r.Windows {
		rows[0] = append(rows[0], windowName(w))
		seconds = max(seconds, len(w.ReconnectsPerSec), len(w.ClosesPerSec))
	}
	for s := range seconds {
		row := []string{strconv.Itoa(s)}
		for _, w := range r.Windows {
			row = append(row, fmt.Sprintf("%d (%d)", at(w.ReconnectsPerSec, s), at(w.ClosesPerSec, s)))
		}
		rows = append(rows, row)
	}
	return rows
}

// at is counts[i], or 0 past its end.
func at(counts []int, i int) int {
	if i < len(counts) {
		return counts[i]
	}
	return 0
}

func windowName(w DrainWindow) string {
	if w.WindowMS == 0 {
		return "0 (unpaced)"
	}
	return time.Duration(w.WindowMS * 1e6).String()
}

// formatMillis formats milliseconds for the summary: ms below 10 s, s above.
func formatMillis(ms float64) string {
	if ms >= 10000 {
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}

// writeRows writes rows with the first column left-aligned and the others
// right-aligned, as writeAligned does.
func writeRows(b *strings.Builder, rows [][]string) {
	widths := columnWidths(rows)
	for _, row := range rows {
		b.WriteString(row[0] + strings.Repeat(" ", widths[0]-len([]rune(row[0]))) + "  ")
		writeAligned(b, row[1:], widths[1:])
	}
}
