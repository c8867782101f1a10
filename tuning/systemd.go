package tuning

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// Stopping edgepush: at SIGTERM it closes its clients with 1001 spread
// over DrainTimeout (-drain-timeout), then shuts down within another 10 s
// (cmd/edgepush's shutdownTimeout); systemd waits StopTimeout, a little
// more than both, before it kills.
const (
	DrainTimeout = 30 * time.Second
	StopTimeout  = DrainTimeout + 15*time.Second
)

// UnitPath is where the unit of edgetune systemd goes on a host.
const UnitPath = "/etc/systemd/system/edgepush.service"

// UnitLine is one setting of a systemd unit.
type UnitLine struct {
	Section string `json:"section"` // "Unit", "Service" or "Install"
	Key     string `json:"key"`
	Value   string `json:"value"`
	Why     string `json:"why,omitempty"`
}

// Unit is the systemd unit that runs one edgepush (Path on a host).
type Unit struct {
	Connections int        `json:"connections,omitempty"` // 0: not given
	OpenFiles   uint64     `json:"open_files"`            // LimitNOFILE
	Path        string     `json:"path"`
	Lines       []UnitLine `json:"lines"`
}

// NewUnit returns the unit for one edgepush holding connections; with 0,
// for as many as the kernel's default fs.nr_open lets one process open.
func NewUnit(connections int) (Unit, error) {
	if connections < 0 {
		return Unit{}, fmt.Errorf("%w: %d", ErrConnections, connections)
	}
	files := uint64(kernelOpenFiles)
	if connections > 0 {
		files = uint64(connections) + ReservedFiles
	}
	lines := append(unitSection(), serviceSection(files)...)
	lines = append(lines, UnitLine{Section: "Install", Key: "WantedBy", Value: "multi-user.target", Why: "started at boot once enabled (systemctl enable edgepush)"})
	return Unit{Connections: connections, OpenFiles: files, Path: UnitPath, Lines: lines}, nil
}

func unitSection() []UnitLine {
	const why = "edgepush binds its ports and may dial Redis, RabbitMQ and a data center as it starts"
	return []UnitLine{
		{Section: "Unit", Key: "Description", Value: "edgepush WebSocket push server"},
		{Section: "Unit", Key: "Wants", Value: "network-online.target", Why: why},
		{Section: "Unit", Key: "After", Value: "network-online.target"},
	}
}

func serviceSection(files uint64) []UnitLine {
	service := func(key, value, why string) UnitLine {
		return UnitLine{Section: "Service", Key: key, Value: value, Why: why}
	}
	nrOpen := ""
	if files > kernelOpenFiles {
		nrOpen = fmt.Sprintf("; above %d it needs fs.nr_open raised first (edgetune sysctl)", kernelOpenFiles)
	}
	return []UnitLine{
		service("Type", "exec", "started once the binary runs; edgepush does not notify systemd"),
		service("ExecStart", "/usr/local/bin/edgepush", "configured by the EDGEPUSH_* variables below and in the environment file (README.md's flags); a flag here would win over them"),
		service("Environment", "EDGEPUSH_LISTEN=:8080", "the WebSocket port"),
		service("Environment", "EDGEPUSH_API=127.0.0.1:8081", "the internal API: publish, health, metrics; keep it off the public interface"),
		service("Environment", "EDGEPUSH_DRAIN_TIMEOUT="+DrainTimeout.String(), "on SIGTERM the clients' closes are spread over this; raise TimeoutStopSec below with it"),
		service("EnvironmentFile", "-/etc/default/edgepush", "this host's EDGEPUSH_* settings, if the file exists; they override the ones above"),
		service("LimitNOFILE", fmt.Sprint(files), fmt.Sprintf("open files, soft and hard: one per connection and %d more%s", ReservedFiles, nrOpen)),
		service("Restart", "on-failure", "restart after a crash or a failed serve (exit 1), not after a clean stop (exit 0 on SIGTERM)"),
		service("RestartSec", "1s", ""),
		service("RestartPreventExitStatus", "2", "exit 2 is a bad configuration: restarting will not fix it"),
		service("KillSignal", "SIGTERM", "starts the drain: /readyz turns 503, upgrades are refused, and the clients get close 1001 spread over the drain timeout; exit 0 after"),
		service("TimeoutStopSec", fmt.Sprintf("%.0fs", StopTimeout.Seconds()), fmt.Sprintf("a little over the drain (%s) and the shutdown after it (10s): SIGKILL only for a stop that hangs", DrainTimeout)),
		service("DynamicUser", "yes", "runs as a user of its own, made for it; edgepush writes no files"),
		service("NoNewPrivileges", "yes", ""),
	}
}

// Render writes the unit file: a header, then each section with its
// lines, each under a comment that says why.
func (u Unit) Render(w io.Writer) error {
	out := bufio.NewWriter(w)
	command := "edgetune systemd"
	if u.Connections > 0 {
		command = fmt.Sprintf("edgetune systemd -conns %d", u.Connections)
	}
	fmt.Fprintln(out, comment(fmt.Sprintf("%s: runs one edgepush with %d open files. Written by `%s`; see docs/tuning.md.", u.Path, u.OpenFiles, command)))
	section := ""
	for _, line := range u.Lines {
		if line.Section != section {
			section = line.Section
			fmt.Fprintf(out, "\n[%s]\n", section)
		}
		if line.Why != "" {
			fmt.Fprintln(out, comment(line.Why))
		}
		fmt.Fprintf(out, "%s=%s\n", line.Key, line.Value)
	}
	return out.Flush()
}
