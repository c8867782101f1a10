package main

import (
	"bytes"
	"encoding/json"
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
// succeeds, for both scenarios.
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
