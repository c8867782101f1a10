package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	// Fields 3..: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	tail := " S 1 2 3 4 5 6 7 8 9 10 250 130 1 1 20 0 8 0 100 200 300"
	cases := []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{name: "plain", line: "4242 (edgepush)" + tail, want: 3800 * time.Millisecond, ok: true},
		{name: "a name with spaces and parentheses", line: "4242 (edge (push) x)" + tail, want: 3800 * time.Millisecond, ok: true},
		{name: "no name", line: "4242 edgepush S 1", ok: false},
		{name: "too short", line: "4242 (edgepush) S 1 2 3", ok: false},
		{name: "not a number", line: "4242 (edgepush) S 1 2 3 4 5 6 7 8 9 10 x 130 1", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatCPU([]byte(tc.line))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("got %v, %v; want %v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestProcessCPUOfItself: the test process has used some CPU, and no more
// than it has lived.
func TestProcessCPUOfItself(t *testing.T) {
	start := time.Now()
	for time.Since(start) < 30*time.Millisecond {
	}
	d, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if d <= 0 || d > time.Hour {
		t.Fatalf("cpu %v", d)
	}
}

func TestParseNetstat(t *testing.T) {
	good := "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeouts\nTcpExt: 1 17 19 4\nIpExt: InNoRoutes\nIpExt: 0\n"
	cases := []struct {
		name string
		data string
		want ListenCounters
		ok   bool
	}{
		{name: "both counters", data: good, want: ListenCounters{Overflows: 17, Drops: 19}, ok: true},
		{name: "no TcpExt", data: "IpExt: InNoRoutes\nIpExt: 0\n", ok: false},
		{name: "values missing", data: "TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n", ok: false},
		{name: "one counter missing", data: "TcpExt: ListenOverflows\nTcpExt: 1\n", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetstat([]byte(tc.data))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
	if d := (ListenCounters{20, 30}).Sub(ListenCounters{17, 19}); d != (ListenCounters{3, 11}) {
		t.Fatalf("Sub: %+v", d)
	}
}
