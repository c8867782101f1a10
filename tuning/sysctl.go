package tuning

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
)

// The kernel's defaults (Linux 5.4 and later), and floors near them for
// the settings whose default grows with memory: a sysctl file never goes
// below them.
const (
	kernelOpenFiles   = 1 << 20           // fs.nr_open
	kernelPorts       = 60999 - 32768 + 1 // net.ipv4.ip_local_port_range 32768 60999
	kernelReceive     = 131072            // tcp_rmem's default
	kernelSend        = 16384             // tcp_wmem's default
	kernelReceiveMax  = 6291456           // tcp_rmem's max
	kernelSendMax     = 4194304           // tcp_wmem's max
	kernelConntrack   = 262144            // nf_conntrack_max on hosts of 4 GiB and more
	fileMaxFloor      = 1 << 20           // fs.file-max, about the kernel's on a 10 GiB host
	bufferMemoryFloor = 4 << 30           // tcp_mem's max, about the kernel's on a 44 GiB host
)

// Ports edgepush listens on by default (-listen, -api), kept out of a
// widened ephemeral range so that no outgoing connection takes them.
const (
	reservedPorts    = "net.ipv4.ip_local_reserved_ports"
	reservedPortList = "8080,8081"
)

// SysctlLine is one setting of a sysctl.d file.
type SysctlLine struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Why   string `json:"why"`
	// Optional lines are written with a leading "-": where the key does
	// not exist (a module not loaded) sysctl skips them without an error.
	Optional bool `json:"optional,omitempty"`
}

// SysctlConf is the sysctl.d file for a number of connections in one
// process (Path on a host).
type SysctlConf struct {
	Connections int          `json:"connections"`
	Path        string       `json:"path"`
	Lines       []SysctlLine `json:"lines"`
}

// NewSysctlConf returns the settings connections need, each rounded up
// and never below the kernel's own default: the same for every host, so
// that the file can be generated once and deployed.
func NewSysctlConf(connections int) (SysctlConf, error) {
	p, err := newPlan(connections, 1)
	if err != nil {
		return SysctlConf{}, err
	}
	lines := append(fileLines(p), backlogLines()...)
	lines = append(lines, portLines(p)...)
	lines = append(lines, bufferLines(p, uint64(os.Getpagesize()))...)
	lines = append(lines, conntrackLine(p))
	return SysctlConf{Connections: connections, Path: SysctlPath, Lines: lines}, nil
}

func fileLines(p plan) []SysctlLine {
	return []SysctlLine{
		{Name: "fs.nr_open", Value: fmt.Sprint(max(powerOfTwo(p.files), kernelOpenFiles)),
			Why: fmt.Sprintf("the most files one process may open, which caps RLIMIT_NOFILE (LimitNOFILE=): %d connections and %d files more", p.connections, ReservedFiles)},
		{Name: "fs.file-max", Value: fmt.Sprint(max(powerOfTwo(2*p.files), fileMaxFloor)),
			Why: "open files of the whole host: every connection's, and as many again for the rest of the host (a load client on the same host holds one per connection too)"},
	}
}

func backlogLines() []SysctlLine {
	return []SysctlLine{
		{Name: "net.core.somaxconn", Value: fmt.Sprint(Backlog),
			Why: "each listener's accept backlog: a connect storm (every client reconnecting after a restart) overflows a short one, and the clients that overflow retry a second later"},
		{Name: "net.ipv4.tcp_max_syn_backlog", Value: fmt.Sprint(Backlog),
			Why: "half-open connections a listener holds during a connect storm"},
	}
}

// portLines widen the ephemeral ports when the connections are more than
// the kernel's range holds from one source address.
func portLines(p plan) []SysctlLine {
	if p.connections <= kernelPorts {
		return nil
	}
	return []SysctlLine{
		{Name: "net.ipv4.ip_local_port_range", Value: fmt.Sprintf("%d %d", lowestPort, highestPort),
			Why: fmt.Sprintf("for load clients on this host: a source address opens one connection per port to one server address and port; even at %d ports, %d connections need %d source addresses (edgebench -sources)", widestPorts, p.connections, divideUp(p.connections, widestPorts))},
		{Name: reservedPorts, Value: reservedPortList,
			Why: "keeps edgepush's -listen and -api ports (the defaults; change to yours) out of the widened range, so that no outgoing connection holds them when edgepush restarts"},
	}
}

// bufferLines bring the buffers' defaults down to IdleBuffer and tcp_mem's
// max up to the connections at that, once the kernel's defaults times the
// connections exceed what tcp_mem usually allows.
func bufferLines(p plan, page uint64) []SysctlLine {
	if p.connections*(kernelReceive+kernelSend) <= bufferMemoryFloor {
		return nil
	}
	pages := divideUp(max(p.connections*2*IdleBuffer, bufferMemoryFloor), page)
	return []SysctlLine{
		{Name: tcpReceive, Value: joinUints([]uint64{IdleBuffer, IdleBuffer, kernelReceiveMax}),
			Why: fmt.Sprintf("each connection's receive buffer starts at one page, not %d bytes: at the kernel's defaults %d connections could take %s of buffers; the kernel grows a busy connection's buffer up to the max", kernelReceive, p.connections, formatBytes(p.connections*(kernelReceive+kernelSend)))},
		{Name: tcpSend, Value: joinUints([]uint64{IdleBuffer, IdleBuffer, kernelSendMax}),
			Why: fmt.Sprintf("each connection's send buffer starts at one page, not %d bytes", kernelSend)},
		{Name: tcpMemory, Value: tcpMemValue([]uint64{0, 0, 0}, pages),
			Why: fmt.Sprintf("pages of %d bytes all TCP buffers may take (low, pressure, max): the max is %d connections at two pages each, %s", page, p.connections, formatBytes(pages*page))},
	}
}

func conntrackLine(p plan) SysctlLine {
	return SysctlLine{Name: "net.netfilter.nf_conntrack_max", Value: fmt.Sprint(max(powerOfTwo(p.connections), kernelConntrack)), Optional: true,
		Why: "connections the firewall's connection tracking holds, where it is loaded: past it new connections are dropped"}
}

// powerOfTwo rounds n up to a power of two.
func powerOfTwo(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(n-1)
}

// Render writes the file: a header, then each line under a comment that
// says why.
func (c SysctlConf) Render(w io.Writer) error {
	out := bufio.NewWriter(w)
	fmt.Fprintln(out, comment(fmt.Sprintf("%s: kernel settings for %d edgepush connections on one host. "+
		"Written by `edgetune sysctl -conns %d`; `edgetune check -conns %d` compares a host with what they need. "+
		"Each value is what the connections need, rounded up, or the kernel's default if that is more; "+
		"where a host already has more than a line, drop the line. Apply with `sysctl --system`; see docs/tuning.md.",
		c.Path, c.Connections, c.Connections, c.Connections)))
	for _, line := range c.Lines {
		fmt.Fprintf(out, "\n%s\n", comment(line.Why))
		prefix := ""
		if line.Optional {
			prefix = "-"
		}
		fmt.Fprintf(out, "%s%s = %s\n", prefix, line.Name, line.Value)
	}
	return out.Flush()
}

// comment wraps text into "# " lines.
func comment(text string) string {
	return "# " + strings.ReplaceAll(wrap(text, noteWidth-2), "\n", "\n# ")
}
