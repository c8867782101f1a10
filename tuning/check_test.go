package tuning

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// enough is an open-files limit that holds 1,000,000 connections.
var enough = Limit{Soft: 1048576, Hard: 1048576}

func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		tree        tree
		limit       Limit
		connections int
		processes   int
		wantOK      bool
		want        map[string]Status // rows not named must be ok
		wantFix     map[string]string // a fix of the row, exactly
		wantCurrent map[string]string
		wantNeeded  map[string]string
		wantNeed    int    // ProcessesNeeded
		wantNote    string // in some note
	}{
		{
			name: "enough", tree: tunedTree(), limit: enough, connections: 1000000, processes: 1, wantOK: true,
			wantNeeded: map[string]string{"RLIMIT_NOFILE hard": "1000100", "fs.file-max": "1000100", "net.ipv4.tcp_mem": "max 2000000 pages (7.6 GiB)"},
		},
		{
			name: "enough, soft limit raised at start", tree: tunedTree(), limit: Limit{Soft: 1024, Hard: 1048576}, connections: 1000000, processes: 1, wantOK: true,
			wantNeeded: map[string]string{"RLIMIT_NOFILE soft": "1000100 (raised at start)"},
		},
		{
			name: "enough over processes", tree: tunedTree(), limit: Limit{Soft: 20000, Hard: 20000}, connections: 100000, processes: 6, wantOK: true,
			wantNeeded: map[string]string{"RLIMIT_NOFILE hard": "16767", "fs.nr_open": "16767", "fs.file-max": "100600"},
		},
		{
			name: "short nr_open", tree: tunedTree().with("sys/fs/nr_open", "65536\n"), limit: enough, connections: 100000, processes: 1,
			want:    map[string]Status{"fs.nr_open": StatusShort},
			wantFix: map[string]string{"fs.nr_open": "sysctl -w fs.nr_open=100100"},
		},
		{
			name: "short backlogs", tree: tunedTree().with("sys/net/core/somaxconn", "128\n").with("sys/net/ipv4/tcp_max_syn_backlog", "512\n"), limit: enough, connections: 100000, processes: 1,
			want: map[string]Status{"net.core.somaxconn": StatusShort, "net.ipv4.tcp_max_syn_backlog": StatusShort},
			wantFix: map[string]string{
				"net.core.somaxconn":           "/etc/sysctl.d/60-edgepush.conf: net.core.somaxconn = 4096",
				"net.ipv4.tcp_max_syn_backlog": "sysctl -w net.ipv4.tcp_max_syn_backlog=4096",
			},
		},
		{
			name: "few connections need a short backlog", tree: tunedTree().with("sys/net/core/somaxconn", "128\n"), limit: enough, connections: 100, processes: 1, wantOK: true,
			wantNeeded: map[string]string{"net.core.somaxconn": "100"},
		},
		{
			name: "short port range", tree: defaultTree(), limit: enough, connections: 100000, processes: 1,
			want: map[string]Status{"net.ipv4.ip_local_port_range": StatusShort, "net.ipv4.tcp_rmem": StatusShort, "net.ipv4.tcp_wmem": StatusShort, "net.ipv4.tcp_max_syn_backlog": StatusShort},
			wantFix: map[string]string{
				"net.ipv4.ip_local_port_range": `sysctl -w net.ipv4.ip_local_port_range="1024 65535"`,
				"net.ipv4.tcp_rmem":            `sysctl -w net.ipv4.tcp_rmem="4096 4096 6291456"`,
				"net.ipv4.tcp_wmem":            "/etc/sysctl.d/60-edgepush.conf: net.ipv4.tcp_wmem = 4096 4096 4194304",
			},
			wantCurrent: map[string]string{"net.ipv4.ip_local_port_range": "32768 60999 (28232 ports)", "net.ipv4.tcp_mem": "287898 383867 575796 (max 2.2 GiB)"},
			wantNeeded:  map[string]string{"net.ipv4.ip_local_port_range": "64512 ports, 2 source addresses", "net.ipv4.tcp_rmem": "default <= 4096", "net.ipv4.tcp_mem": "max 200000 pages (781.2 MiB)"},
			wantNote:    "TCP buffers: at the defaults (131072 + 16384 B) the buffers of 100000 connections could take 13.7 GiB, more than tcp_mem's max of 2.2 GiB.",
		},
		{
			name: "port range fixes name the source addresses", tree: defaultTree(), limit: enough, connections: 100000, processes: 1,
			want:    map[string]Status{"net.ipv4.ip_local_port_range": StatusShort, "net.ipv4.tcp_rmem": StatusShort, "net.ipv4.tcp_wmem": StatusShort, "net.ipv4.tcp_max_syn_backlog": StatusShort},
			wantFix: map[string]string{"net.ipv4.ip_local_port_range": "or, at this range, load clients connect from 4 source addresses, 127.0.0.1 to 127.0.0.4 (edgebench -sources)"},
		},
		{
			name: "buffers fit at the kernel's defaults", tree: defaultTree().with("sys/net/ipv4/tcp_max_syn_backlog", "4096\n"), limit: enough, connections: 10000, processes: 1, wantOK: true,
			wantNeeded: map[string]string{"net.ipv4.tcp_rmem": "default <= 219462", "net.ipv4.tcp_wmem": "default <= 104774", "net.ipv4.tcp_mem": "max 360000 pages (1.4 GiB)"},
		},
		{
			name: "short tcp_mem at idle buffers", tree: tunedTree().with("sys/net/ipv4/tcp_mem", "100 200 300\n"), limit: enough, connections: 100000, processes: 1,
			want:    map[string]Status{"net.ipv4.tcp_mem": StatusShort},
			wantFix: map[string]string{"net.ipv4.tcp_mem": `sysctl -w net.ipv4.tcp_mem="100000 133333 200000"`},
		},
		{
			name: "missing setting is unknown and does not fail", tree: tunedTree().with("sys/net/core/somaxconn", ""), limit: enough, connections: 1000, processes: 1, wantOK: true,
			want:        map[string]Status{"net.core.somaxconn": StatusUnknown},
			wantCurrent: map[string]string{"net.core.somaxconn": "missing"},
			wantNote:    "Could not read net.core.somaxconn",
		},
		{
			name: "unparsable setting", tree: tunedTree().with("sys/fs/file-max", "lots\n"), limit: enough, connections: 1000, processes: 1, wantOK: true,
			want:        map[string]Status{"fs.file-max": StatusUnknown},
			wantCurrent: map[string]string{"fs.file-max": "unparsable"},
		},
		{
			name: "a short triple makes every buffer row unknown", tree: tunedTree().with("sys/net/ipv4/tcp_rmem", "4096 131072\n"), limit: enough, connections: 1000, processes: 1, wantOK: true,
			want: map[string]Status{"net.ipv4.tcp_mem": StatusUnknown, "net.ipv4.tcp_rmem": StatusUnknown, "net.ipv4.tcp_wmem": StatusUnknown},
		},
		{
			name: "backwards port range", tree: tunedTree().with("sys/net/ipv4/ip_local_port_range", "60999 32768\n"), limit: enough, connections: 1000, processes: 1, wantOK: true,
			want: map[string]Status{"net.ipv4.ip_local_port_range": StatusUnknown},
		},
		{
			name: "conntrack not loaded", tree: tunedTree().with("sys/net/netfilter/nf_conntrack_max", ""), limit: enough, connections: 1000000, processes: 1, wantOK: true,
			wantCurrent: map[string]string{"net.netfilter.nf_conntrack_max": "not loaded"},
		},
		{
			name: "short conntrack", tree: tunedTree().with("sys/net/netfilter/nf_conntrack_max", "65536\n"), limit: enough, connections: 100000, processes: 1,
			want:    map[string]Status{"net.netfilter.nf_conntrack_max": StatusShort},
			wantFix: map[string]string{"net.netfilter.nf_conntrack_max": "sysctl -w net.netfilter.nf_conntrack_max=100000"},
		},
		{
			name: "short memory", tree: tunedTree().with("meminfo", "MemAvailable:    1000000 kB\n"), limit: enough, connections: 100000, processes: 1,
			want:        map[string]Status{"MemAvailable": StatusShort},
			wantFix:     map[string]string{"MemAvailable": "spread the connections over more hosts or add memory: this host holds about 71608"},
			wantCurrent: map[string]string{"MemAvailable": "976.6 MiB"},
		},
		{
			name: "meminfo without MemAvailable", tree: tunedTree().with("meminfo", "MemTotal: 1 kB\n"), limit: enough, connections: 1000, processes: 1, wantOK: true,
			want: map[string]Status{"MemAvailable": StatusUnknown},
		},
		{
			name: "short hard limit, raisable", tree: tunedTree(), limit: Limit{Soft: 1024, Hard: 20000}, connections: 100000, processes: 1,
			want: map[string]Status{"RLIMIT_NOFILE soft": StatusShort, "RLIMIT_NOFILE hard": StatusShort},
			wantFix: map[string]string{
				"RLIMIT_NOFILE hard": "/etc/security/limits.conf: * - nofile 100100",
				"RLIMIT_NOFILE soft": "raise the hard limit (the next row); edgepush and edgebench raise the soft one to it at start",
			},
			wantNeed: 6, wantNote: "this process holds CAP_SYS_RESOURCE, so raise it",
		},
		{
			name: "not raisable", tree: tunedTree().with("self/status", "CapEff:\t"+withoutSysResource+"\n"), limit: Limit{Soft: 20000, Hard: 20000}, connections: 100000, processes: 1,
			want: map[string]Status{"RLIMIT_NOFILE soft": StatusCannotRaise, "RLIMIT_NOFILE hard": StatusCannotRaise},
			wantFix: map[string]string{
				"RLIMIT_NOFILE hard": "run 6 edgepush processes with -reuseport on one -listen port, each its own -api; check with -procs 6",
			},
			wantNeed: 6, wantNote: "RLIMIT_NOFILE cannot be raised here: the hard limit is 20000, below the 100100 files one process needs, and this process has no CAP_SYS_RESOURCE. 100000 connections need 6 processes",
		},
		{
			name: "not raisable, 1,000,000", tree: tunedTree().with("self/status", "CapEff:\t"+withoutSysResource+"\n"), limit: Limit{Soft: 20000, Hard: 20000}, connections: 1000000, processes: 1,
			want:     map[string]Status{"RLIMIT_NOFILE soft": StatusCannotRaise, "RLIMIT_NOFILE hard": StatusCannotRaise},
			wantNeed: 51, wantNote: "1000000 connections need 51 processes",
		},
		{
			name: "not raisable, no room at all", tree: tunedTree().with("self/status", "CapEff:\t0\n"), limit: Limit{Soft: 50, Hard: 50}, connections: 10, processes: 1,
			want:     map[string]Status{"RLIMIT_NOFILE soft": StatusCannotRaise, "RLIMIT_NOFILE hard": StatusCannotRaise},
			wantFix:  map[string]string{"RLIMIT_NOFILE hard": "outside this host: start it with more (docker run --ulimit nofile=110:110, or LimitNOFILE=110 in the unit that starts it)"},
			wantNote: "At 50 no process can hold a connection",
		},
		{
			name: "capabilities unreadable", tree: tunedTree().with("self/status", ""), limit: Limit{Soft: 20000, Hard: 20000}, connections: 100000, processes: 1,
			want:     map[string]Status{"RLIMIT_NOFILE soft": StatusShort, "RLIMIT_NOFILE hard": StatusShort},
			wantFix:  map[string]string{"RLIMIT_NOFILE hard": "systemd unit: LimitNOFILE=100100"},
			wantNeed: 6, wantNote: "whether it can be raised here is unknown",
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			report, err := test.tree.host(t, test.limit).Check(test.connections, test.processes)
			if err != nil {
				t.Fatal(err)
			}
			if report.OK != test.wantOK {
				t.Errorf("OK %v, want %v; failing: %v", report.OK, test.wantOK, report.Failing())
			}
			for _, row := range report.Rows {
				want, named := test.want[row.Setting]
				if !named {
					want = StatusOK
				}
				if row.Status != want {
					t.Errorf("%s: %s (current %q, needed %q, error %q), want %s", row.Setting, row.Status, row.Current, row.Needed, row.Error, want)
				}
				if row.Status.failing() && len(row.Fixes) == 0 {
					t.Errorf("%s: %s without a fix", row.Setting, row.Status)
				}
			}
			for setting, fix := range test.wantFix {
				if row := report.row(t, setting); !slices.Contains(row.Fixes, fix) {
					t.Errorf("%s: fixes %q, want %q among them", setting, row.Fixes, fix)
				}
			}
			for setting, current := range test.wantCurrent {
				if row := report.row(t, setting); row.Current != current {
					t.Errorf("%s: current %q, want %q", setting, row.Current, current)
				}
			}
			for setting, needed := range test.wantNeeded {
				if row := report.row(t, setting); row.Needed != needed {
					t.Errorf("%s: needed %q, want %q", setting, row.Needed, needed)
				}
			}
			if report.ProcessesNeeded != test.wantNeed {
				t.Errorf("processes needed %d, want %d", report.ProcessesNeeded, test.wantNeed)
			}
			if notes := strings.Join(report.Notes, "\n"); !strings.Contains(notes, test.wantNote) {
				t.Errorf("notes %q, want %q in them", notes, test.wantNote)
			}
		})
	}
}

func TestCheckRejectsBadCounts(t *testing.T) {
	tests := []struct {
		connections, processes int
		want                   error
	}{
		{0, 1, ErrConnections},
		{-5, 1, ErrConnections},
		{10, 0, ErrProcesses},
	}
	host := tunedTree().host(t, enough)
	for _, test := range tests {
		if _, err := host.Check(test.connections, test.processes); !errors.Is(err, test.want) {
			t.Errorf("Check(%d, %d): %v, want %v", test.connections, test.processes, err, test.want)
		}
	}
}

func TestCheckWithoutReaders(t *testing.T) {
	report, err := Host{Proc: t.TempDir()}.Check(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range report.Rows {
		if row.Status != StatusUnknown && row.Current != "not loaded" {
			t.Errorf("%s: %s from an empty tree", row.Setting, row.Status)
		}
	}
	if !report.OK {
		t.Errorf("unknown settings failed the check: %v", report.Failing())
	}
}

func TestCheckOpenFilesError(t *testing.T) {
	host := tunedTree().host(t, enough)
	host.OpenFiles = func() (Limit, error) { return Limit{}, errNoLimit }
	report, err := host.Check(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, setting := range []string{"RLIMIT_NOFILE soft", "RLIMIT_NOFILE hard"} {
		if row := report.row(t, setting); row.Status != StatusUnknown || !strings.Contains(row.Error, errNoLimit.Error()) {
			t.Errorf("%s: %s (%q), want unknown for %v", setting, row.Status, row.Error, errNoLimit)
		}
	}
}

// TestFixesMakeCheckPass applies every sysctl -w and LimitNOFILE fix of a
// short report to the tree and checks again: the fixes are the exact
// commands.
func TestFixesMakeCheckPass(t *testing.T) {
	start := defaultTree().with("sys/net/core/somaxconn", "128\n").with("sys/fs/nr_open", "65536\n").
		with("sys/net/ipv4/tcp_mem", "20000 26000 40000\n").with("sys/net/netfilter/nf_conntrack_max", "65536\n")
	limit := Limit{Soft: 1024, Hard: 4096}
	report, err := start.host(t, limit).Check(1000000, 1)
	if err != nil {
		t.Fatal(err)
	}
	fixed := maps.Clone(start)
	for _, row := range report.Rows {
		for _, fix := range row.Fixes {
			applyFix(t, fixed, &limit, fix)
		}
	}
	again, err := fixed.host(t, limit).Check(1000000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !again.OK {
		t.Fatalf("still short after the fixes: %v", again.Failing())
	}
}

// applyFix carries out "sysctl -w name=value" and "systemd unit:
// LimitNOFILE=n"; other fixes are alternatives.
func applyFix(t *testing.T, fixed tree, limit *Limit, fix string) {
	t.Helper()
	if setting, ok := strings.CutPrefix(fix, "sysctl -w "); ok {
		name, value, _ := strings.Cut(setting, "=")
		fixed.setSysctl(name, strings.Trim(value, `"`))
		return
	}
	if files, ok := strings.CutPrefix(fix, "systemd unit: LimitNOFILE="); ok {
		values, err := parseUints([]byte(files))
		if err != nil || len(values) != 1 {
			t.Fatalf("fix %q: %v", fix, err)
		}
		*limit = Limit{Soft: values[0], Hard: values[0]}
	}
}

func TestReportRender(t *testing.T) {
	tests := []struct {
		name  string
		tree  tree
		limit Limit
		want  []string
	}{
		{"ok", tunedTree(), enough, []string{
			"1000000 connections over 1 process, 1000000 each (1000100 open files)\n\n",
			"SETTING", "CURRENT", "NEEDED", "STATUS", "FIX",
			"\nok: this host holds 1000000 connections over 1 process\n",
		}},
		{"not raisable", tunedTree().with("self/status", "CapEff:\t"+withoutSysResource+"\n"), Limit{Soft: 20000, Hard: 20000}, []string{
			"cannot raise here  run 51 edgepush processes",
			"\n" + strings.Repeat(" ", 10), // further fixes indented under the column
			"need 51 processes",
			"\nshort: RLIMIT_NOFILE soft and RLIMIT_NOFILE hard\n",
		}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			report, err := test.tree.host(t, test.limit).Check(1000000, 1)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := report.Render(&out); err != nil {
				t.Fatal(err)
			}
			for _, want := range test.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q in\n%s", want, out.String())
				}
			}
		})
	}
}

func TestFixStrings(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"one number", sysctlFixes("fs.nr_open", "100100"), []string{
			"sysctl -w fs.nr_open=100100",
			"/etc/sysctl.d/60-edgepush.conf: fs.nr_open = 100100",
		}},
		{"several numbers are quoted", sysctlFixes("net.ipv4.tcp_mem", "1 2 3"), []string{
			`sysctl -w net.ipv4.tcp_mem="1 2 3"`,
			"/etc/sysctl.d/60-edgepush.conf: net.ipv4.tcp_mem = 1 2 3",
		}},
		{"raise", raiseFixes(100100), []string{
			"systemd unit: LimitNOFILE=100100",
			"/etc/security/limits.conf: * - nofile 100100",
			"shell, as root: ulimit -n 100100",
		}},
		{"spread", spreadFixes(100100, 6), []string{
			"run 6 edgepush processes with -reuseport on one -listen port, each its own -api; check with -procs 6",
			"outside this host: start it with more (docker run --ulimit nofile=100100:100100, or LimitNOFILE=100100 in the unit that starts it)",
		}},
		{"sources past 255", []string{sourcesFix(300)}, []string{
			"or, at this range, load clients connect from 300 source addresses, 127.0.0.1 to 127.0.1.44 (edgebench -sources)",
		}},
	}
	for _, test := range tests {
		if !slices.Equal(test.got, test.want) {
			t.Errorf("%s: %q, want %q", test.name, test.got, test.want)
		}
	}
}

func TestWrap(t *testing.T) {
	text := strings.Repeat("connections need processes ", 20)
	lines := strings.Split(wrap(text, noteWidth), "\n")
	for _, line := range lines {
		if len(line) > noteWidth || line == "" {
			t.Errorf("line of %d columns: %q", len(line), line)
		}
	}
	if got := strings.Join(lines, " "); got != strings.TrimSpace(text) {
		t.Errorf("words changed: %q", got)
	}
}

func TestProcessesAt(t *testing.T) {
	tests := []struct{ connections, hard, want uint64 }{
		{100000, 20000, 6},
		{1000000, 20000, 51},
		{19900, 20000, 1},
		{19901, 20000, 2},
		{10, 100, 0},
	}
	for _, test := range tests {
		if got := processesAt(test.connections, test.hard); got != test.want {
			t.Errorf("processesAt(%d, %d) = %d, want %d", test.connections, test.hard, got, test.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		bytes uint64
		want  string
	}{
		{512, "512 B"},
		{14300, "14.0 KiB"},
		{1 << 30, "1.0 GiB"},
		{24241545216, "22.6 GiB"},
	}
	for _, test := range tests {
		if got := formatBytes(test.bytes); got != test.want {
			t.Errorf("formatBytes(%d) = %q, want %q", test.bytes, got, test.want)
		}
	}
}
