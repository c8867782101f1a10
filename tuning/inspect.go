package tuning

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Finding is a host setting below what a number of connections needs.
type Finding struct {
	Setting string // a sysctl path under /proc/sys, or "RLIMIT_NOFILE"
	Value   string // what it is now
	Want    string // at least this
	Why     string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s is %s, want %s: %s", f.Setting, f.Value, f.Want, f.Why)
}

// Inspect reads the host's limits and returns those too low for a process
// holding conns connections (see docs/tuning.md for how to raise them).
// Settings it cannot read are skipped.
func Inspect(conns int) []Finding {
	var findings []Finding
	want := uint64(conns) + 1000 // listeners, logs, the API, a margin
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Max < want {
		findings = append(findings, Finding{
			Setting: "RLIMIT_NOFILE",
			Value:   strconv.FormatUint(lim.Max, 10),
			Want:    strconv.FormatUint(want, 10),
			Why:     "every connection is an open file; raise the hard limit (systemd LimitNOFILE=, ulimit -Hn) or run several processes",
		})
	}
	checks := []struct {
		path string
		want uint64
		why  string
	}{
		{"net/core/somaxconn", 4096, "the accept backlog; connection storms overflow a short one and clients retry after a second"},
		{"net/ipv4/tcp_max_syn_backlog", 4096, "half-open connections during storms"},
		{"fs/nr_open", want, "caps RLIMIT_NOFILE"},
		{"fs/file-max", want, "open files on the whole host"},
	}
	for _, c := range checks {
		if v, ok := readUint("/proc/sys/" + c.path); ok && v < c.want {
			findings = append(findings, Finding{
				Setting: c.path, Value: strconv.FormatUint(v, 10), Want: strconv.FormatUint(c.want, 10), Why: c.why,
			})
		}
	}
	return findings
}

// readUint reads the first number in a /proc file.
func readUint(path string) (uint64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(fields[0], 10, 64)
	return v, err == nil
}
