package tuning

import (
	"fmt"
	"strings"
)

// Finding is a host setting below what a number of connections needs.
type Finding struct {
	Setting string // a sysctl name ("fs.nr_open"), "RLIMIT_NOFILE" or "MemAvailable"
	Value   string // what it is now
	Want    string // at least this
	Why     string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s is %s, want %s: %s", f.Setting, f.Value, f.Want, f.Why)
}

// Inspect reads this host's limits and returns those too low for one
// process holding conns connections: the rows of LocalHost().Check that
// fail, but for the soft open-files limit (the caller raises it to the
// hard one) and the limits of load clients. Settings it cannot read are
// skipped; see docs/tuning.md for how to raise the others.
func Inspect(conns int) []Finding {
	report, err := LocalHost().Check(max(conns, 1), 1)
	if err != nil {
		return nil
	}
	var findings []Finding
	for _, row := range report.Rows {
		if !row.Status.failing() || row.Clients || row.Setting == "RLIMIT_NOFILE soft" {
			continue
		}
		findings = append(findings, Finding{
			Setting: strings.TrimSuffix(row.Setting, " hard"),
			Value:   row.Current,
			Want:    row.Needed,
			Why:     inspectWhy(row),
		})
	}
	return findings
}

// inspectWhy is a row's reason and its first fix.
func inspectWhy(row Row) string {
	if len(row.Fixes) == 0 {
		return row.Why
	}
	return row.Why + "; fix: " + row.Fixes[0]
}
