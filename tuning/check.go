package tuning

import (
	"errors"
	"fmt"
)

// Errors of asking for a check, a sysctl file or a unit.
var (
	// ErrConnections reports a number of connections below one (or, for
	// a unit, below zero).
	ErrConnections = errors.New("tuning: connections must be at least 1")
	// ErrProcesses reports a number of processes below one.
	ErrProcesses = errors.New("tuning: processes must be at least 1")
)

// ReservedFiles is what a process holds open besides its connections:
// listeners, the API's connections, Redis and RabbitMQ, a margin.
const ReservedFiles = 100

// Backlog is the accept and SYN backlog a connect storm needs; fewer
// connections need no more than their number.
const Backlog = 4096

// Memory per connection, measured (docs/benchmarks.md).
const (
	// ServerBytesPerConnection is edgepush's resident memory per idle
	// subscribed connection: 4,062 to 4,254 B in "Server memory per idle
	// connection", 4.0 to 4.2 KiB in the 1,000,000-connection table.
	ServerBytesPerConnection = 4300
	// KernelBytesPerConnection is the kernel's memory per connection:
	// about 10 KB per loopback connection pair at 1,000,000 connections
	// ("11.9 GB of the 24 GiB in use at the peak"). It counts both ends,
	// so it overstates a server whose clients are on other hosts.
	KernelBytesPerConnection = 10000
	// ProcessBytes is a fresh edgepush's resident memory before any
	// connection (9.2 MiB, rounded up).
	ProcessBytes = 10 << 20
)

// Status says how a setting compares with what the connections need.
type Status string

// The statuses of a Row.
const (
	StatusOK          Status = "ok"                // enough
	StatusShort       Status = "short"             // too low; Fixes raise it
	StatusUnknown     Status = "unknown"           // missing or unparsable; Error says which
	StatusCannotRaise Status = "cannot raise here" // too low, and this host cannot raise it
)

// failing reports whether a status fails a check.
func (s Status) failing() bool { return s == StatusShort || s == StatusCannotRaise }

// Row is one setting of a check.
type Row struct {
	// Setting is a sysctl ("fs.nr_open"), "RLIMIT_NOFILE soft" or
	// "RLIMIT_NOFILE hard", or "MemAvailable".
	Setting string `json:"setting"`
	Current string `json:"current"` // its value now, as the kernel shows it
	Needed  string `json:"needed"`  // what the connections need
	Status  Status `json:"status"`
	// Fixes are commands or config lines, each enough by itself; set
	// when the status is short or cannot raise here.
	Fixes []string `json:"fixes,omitempty"`
	Why   string   `json:"why"`             // what the setting limits
	Error string   `json:"error,omitempty"` // why the status is unknown
	// Clients marks a limit of load clients on this host (ports per
	// source address), not of edgepush.
	Clients bool `json:"clients,omitempty"`
}

// Report is the result of Check.
type Report struct {
	Connections int   `json:"connections"`
	Processes   int   `json:"processes"`               // the connections are spread over
	PerProcess  int   `json:"connections_per_process"` // rounded up
	OK          bool  `json:"ok"`                      // no row is short or cannot be raised
	Rows        []Row `json:"rows"`
	// ProcessesNeeded is how many processes the connections need at this
	// host's hard RLIMIT_NOFILE, when that is below what one of Processes
	// needs; 0 otherwise.
	ProcessesNeeded int      `json:"processes_needed,omitempty"`
	Notes           []string `json:"notes,omitempty"`
}

// plan is what a check asks for.
type plan struct {
	connections uint64
	processes   uint64
	perProcess  uint64 // connections of one process, rounded up
	files       uint64 // open files of one process
}

func newPlan(connections, processes int) (plan, error) {
	if connections < 1 {
		return plan{}, fmt.Errorf("%w: %d", ErrConnections, connections)
	}
	if processes < 1 {
		return plan{}, fmt.Errorf("%w: %d", ErrProcesses, processes)
	}
	p := plan{connections: uint64(connections), processes: uint64(processes)}
	p.perProcess = divideUp(p.connections, p.processes)
	p.files = p.perProcess + ReservedFiles
	return p, nil
}

// Check reads every limit on the number of connections this host can hold
// and compares it with what connections spread over processes need:
// limits per process (open files, backlogs) divide, limits of the host
// (files, memory) do not. Unreadable settings are StatusUnknown and do not
// fail the report.
func (h Host) Check(connections, processes int) (Report, error) {
	p, err := newPlan(connections, processes)
	if err != nil {
		return Report{}, err
	}
	report := Report{Connections: connections, Processes: processes, PerProcess: int(p.perProcess)}
	files, needed, notes := h.openFilesRows(p)
	report.Rows = append(report.Rows, files...)
	report.Rows = append(report.Rows, h.sysctlRows(p)...)
	buffers, bufferNotes := h.bufferRows(p)
	report.Rows = append(report.Rows, buffers...)
	report.Rows = append(report.Rows, h.conntrackRow(p), h.memoryRow(p))
	report.ProcessesNeeded = needed
	report.Notes = append(append(notes, bufferNotes...), unknownNote(report.Rows)...)
	report.OK = !anyFailing(report.Rows)
	return report, nil
}

// Failing returns the settings of the rows that fail the check.
func (r Report) Failing() []string {
	var settings []string
	for _, row := range r.Rows {
		if row.Status.failing() {
			settings = append(settings, row.Setting)
		}
	}
	return settings
}

func anyFailing(rows []Row) bool {
	for _, row := range rows {
		if row.Status.failing() {
			return true
		}
	}
	return false
}

// unknownNote says which rows could not be read, if any.
func unknownNote(rows []Row) []string {
	var names []string
	for _, row := range rows {
		if row.Status == StatusUnknown {
			names = append(names, row.Setting)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("Could not read %s (see each row's error); unknown settings do not fail the check.", joinWords(names))}
}

// sysctlRows are the kernel settings that need to be at least a number.
func (h Host) sysctlRows(p plan) []Row {
	backlog := min(p.perProcess, Backlog)
	return []Row{
		h.atLeast("fs.nr_open", p.files, "caps RLIMIT_NOFILE: no process may open more files"),
		h.atLeast("fs.file-max", p.connections+p.processes*ReservedFiles, "open files of the whole host, every process together"),
		h.atLeast("net.core.somaxconn", backlog, "caps each listener's accept backlog: a connect storm overflows a short one and clients retry a second later"),
		h.atLeast("net.ipv4.tcp_max_syn_backlog", backlog, "half-open connections a listener holds during a connect storm"),
		h.portRangeRow(p),
	}
}

// atLeast is the row of a one-number sysctl that must be at least need.
func (h Host) atLeast(name string, need uint64, why string) Row {
	row := Row{Setting: name, Needed: fmt.Sprint(need), Why: why}
	values, err := h.sysctl(name, 1)
	if err != nil {
		return row.unknown(err)
	}
	row.Current = fmt.Sprint(values[0])
	if values[0] >= need {
		row.Status = StatusOK
		return row
	}
	row.Status = StatusShort
	row.Fixes = sysctlFixes(name, fmt.Sprint(need))
	return row
}

// unknown marks the row as unreadable for err.
func (r Row) unknown(err error) Row {
	r.Status = StatusUnknown
	r.Error = err.Error()
	switch {
	case errors.Is(err, ErrMissing):
		r.Current = "missing"
	case errors.Is(err, ErrUnparsable):
		r.Current = "unparsable"
	default:
		r.Current = "unreadable"
	}
	return r
}

// Ports a load client may use as ephemeral ports: all above the
// privileged ones.
const (
	lowestPort  = 1024
	highestPort = 65535
	widestPorts = highestPort - lowestPort + 1
)

// portRangeRow: a client address has one ephemeral port per connection to
// one server address and port, so the range is the connections per
// source address. It is short when widening it would take fewer source
// addresses.
func (h Host) portRangeRow(p plan) Row {
	const name = "net.ipv4.ip_local_port_range"
	row := Row{Setting: name, Clients: true, Why: "ephemeral ports of load clients: connections one source address opens to one server address and port"}
	need := min(p.connections, widestPorts)
	row.Needed = fmt.Sprintf("%d ports", need)
	values, err := h.sysctl(name, 2)
	if err == nil && values[1] < values[0] {
		err = fmt.Errorf("%w: %s %d %d ends below its start", ErrUnparsable, name, values[0], values[1])
	}
	if err != nil {
		return row.unknown(err)
	}
	ports := values[1] - values[0] + 1
	row.Current = fmt.Sprintf("%d %d (%d ports)", values[0], values[1], ports)
	row.Needed += fmt.Sprintf(", %s", plural(divideUp(p.connections, max(ports, need)), "source address", "source addresses"))
	if ports >= need {
		row.Status = StatusOK
		return row
	}
	row.Status = StatusShort
	row.Fixes = append(sysctlFixes(name, fmt.Sprintf("%d %d", lowestPort, highestPort)), sourcesFix(divideUp(p.connections, ports)))
	return row
}

// conntrackRow: with connection tracking loaded, every connection takes an
// entry; without it there is no such limit.
func (h Host) conntrackRow(p plan) Row {
	const name = "net.netfilter.nf_conntrack_max"
	row := h.atLeast(name, p.connections, "connections the firewall's connection tracking holds; past it new connections are dropped")
	if row.Status == StatusUnknown && row.Current == "missing" {
		row.Status, row.Current, row.Error = StatusOK, "not loaded", ""
	}
	return row
}

// memoryRow compares the memory available with what the connections and
// processes take, as measured.
func (h Host) memoryRow(p plan) Row {
	const perConnection = ServerBytesPerConnection + KernelBytesPerConnection
	need := p.connections*perConnection + p.processes*ProcessBytes
	row := Row{
		Setting: "MemAvailable",
		Needed:  fmt.Sprintf("%s (%d B a connection)", formatBytes(need), perConnection),
		Why:     "memory for the connections: edgepush's and the kernel's, as measured in docs/benchmarks.md",
	}
	available, err := h.memoryAvailable()
	if err != nil {
		return row.unknown(err)
	}
	row.Current = formatBytes(available)
	if available >= need {
		row.Status = StatusOK
		return row
	}
	row.Status = StatusShort
	fits := available / perConnection
	row.Fixes = []string{fmt.Sprintf("spread the connections over more hosts or add memory: this host holds about %d", fits)}
	return row
}

// divideUp is a / b rounded up; b > 0.
func divideUp(a, b uint64) uint64 { return (a + b - 1) / b }
