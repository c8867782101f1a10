package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"edgepush/bench"
)

func TestPrintResult(t *testing.T) {
	r := bench.ResubResult{Conns: 3, CaughtUp: 3, AllCaughtUpMS: 12.5, Errors: map[string]uint64{bench.ErrDuplicate: 2}}
	cases := []struct {
		name   string
		asJSON bool
		check  func(t *testing.T, out string)
	}{
		{name: "JSON: one line, with the scenario's name", asJSON: true, check: func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || strings.Count(out, "\n") != 1 {
				t.Fatalf("not one JSON line: %q (%v)", out, err)
			}
			if m["scenario"] != "resub" || m["all_caught_up_ms"] != 12.5 || m["errors"].(map[string]any)["duplicate_seq"] != 2.0 {
				t.Fatalf("fields: %v", m)
			}
		}},
		{name: "text: the summary", check: func(t *testing.T, out string) {
			if !strings.Contains(out, "all caught up: 12.5 ms") || !strings.Contains(out, "duplicate_seq=2") {
				t.Fatalf("summary:\n%s", out)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printResult(&out, tc.asJSON, "resub", r); err != nil {
				t.Fatal(err)
			}
			tc.check(t, out.String())
		})
	}
}

// TestScenarioFlags: bad flags fail before anything is started, and -h
// succeeds, for each scenario.
func TestScenarioFlags(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{args: []string{"resub", "-h"}, code: 0},
		{args: []string{"history", "-h"}, code: 0},
		{args: []string{"resub", "-conns", "many"}, code: 1},
		{args: []string{"history", "-checkpoints", "1,x"}, code: 1},
		{args: []string{"history", "-nope"}, code: 1},
		{args: []string{"drain", "-h"}, code: 0},
		{args: []string{"drain", "-windows", "0,x"}, code: 1},
		{args: []string{"drain", "-windows", "30s,-1s"}, code: 1},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(tc.args, &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, errOut.String())
			}
			if out.Len() != 0 {
				t.Fatalf("printed a result: %q", out.String())
			}
		})
	}
}

// TestDrain runs `edgebench drain` small, unpaced and over 2 s, against
// edgepush built for the test. Only what a noisy machine cannot change is
// checked: the counts are exact, and the paced closes reach past 1.5 s
// after SIGTERM and spread over at least 1 s (a late server only spreads
// them more), while the unpaced ones come within 1 s of each other.
func TestDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts edgepush")
	}
	const clients = 200
	var out, errOut bytes.Buffer
	args := []string{"drain", "-server-bin", buildEdgepush(t), "-conns", "200", "-windows", "0,2s", "-margin", "40s", "-json"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("edgebench %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	var r bench.DrainResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || len(r.Windows) != 2 {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	for _, w := range r.Windows {
		if w.Closed != clients || w.Reconnected != clients || w.Failed != 0 || len(w.Errors) != 0 || w.TimedOut {
			t.Errorf("window %v ms: closed %d, reconnected %d, failed %d, errors %v, timed out %v; want %d, %d, 0, none",
				w.WindowMS, w.Closed, w.Reconnected, w.Failed, w.Errors, w.TimedOut, clients, clients)
		}
		if !w.AExited || w.AExitCode != 0 || w.AConnections != clients || w.BConnections != clients {
			t.Errorf("window %v ms: A exited %v with %d, A held %v, B holds %v; want exit 0 and %d on each",
				w.WindowMS, w.AExited, w.AExitCode, w.AConnections, w.BConnections, clients)
		}
		if sum(w.ReconnectsPerSec) != clients || sum(w.ClosesPerSec) != clients || w.Peak1s < w.Peak100ms || w.Peak100ms < 1 {
			t.Errorf("window %v ms: timeline %v (closes %v), peaks %d in 100 ms and %d in 1 s",
				w.WindowMS, w.ReconnectsPerSec, w.ClosesPerSec, w.Peak100ms, w.Peak1s)
		}
	}
	unpaced, paced := r.Windows[0], r.Windows[1]
	if spread := unpaced.LastCloseMS - unpaced.FirstCloseMS; spread >= 1000 {
		t.Errorf("unpaced: closes over %.1f ms, want all within 1 s", spread)
	}
	if spread := paced.LastCloseMS - paced.FirstCloseMS; paced.LastCloseMS < 1500 || spread < 1000 {
		t.Errorf("paced over 2 s: last close %.1f ms after SIGTERM, spread %.1f ms; want at least 1,500 and 1,000", paced.LastCloseMS, spread)
	}
}

// buildEdgepush builds cmd/edgepush into the test's temp dir.
func buildEdgepush(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgepush")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/edgepush")
	cmd.Dir = "../.." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edgepush: %v\n%s", err, out)
	}
	return bin
}

func sum(counts []int) int {
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}
