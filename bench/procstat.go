package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's own tick.
const userHZ = 100

// ProcessCPU returns the CPU time process pid has used, user and system
// together, from /proc/PID/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: cpu time: %w", err)
	}
	return parseProcStatCPU(data)
}

// parseProcStatCPU reads utime and stime, fields 14 and 15 of a
// /proc/PID/stat line. The second field, the command name in parentheses,
// may itself hold spaces and parentheses, so fields are counted after the
// last ')'.
func parseProcStatCPU(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("bench: /proc stat %q: no command name", truncate(data))
	}
	fields := strings.Fields(string(data[end+1:]))
	// fields[0] is field 3 (state): utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("bench: /proc stat %q: too few fields", truncate(data))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: %q is not a tick count", f)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// ListenCounters are the kernel's counts of connections a listener could
// not take in time (TcpExt in /proc/net/netstat): a storm larger than the
// accept backlog shows here, and its clients wait for SYN retransmits.
type ListenCounters struct {
	Overflows uint64 `json:"listen_overflows"` // the accept queue was full
	Drops     uint64 `json:"listen_drops"`     // SYNs or ACKs dropped on a listener, overflows included
}

// Sub returns the counts from o to c.
func (c ListenCounters) Sub(o ListenCounters) ListenCounters {
	return ListenCounters{Overflows: c.Overflows - o.Overflows, Drops: c.Drops - o.Drops}
}

// ReadListenCounters reads the host's (the network namespace's) counters.
func ReadListenCounters() (ListenCounters, error) {
	data, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return ListenCounters{}, err
	}
	return parseNetstat(data)
}

// parseNetstat reads ListenOverflows and ListenDrops from the TcpExt lines
// of /proc/net/netstat: a line of names, then a line of values.
func parseNetstat(data []byte) (ListenCounters, error) {
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, ok := strings.CutPrefix(lines[i], "TcpExt:")
		values, ok2 := strings.CutPrefix(lines[i+1], "TcpExt:")
		if !ok || !ok2 {
			continue
		}
		n, v := strings.Fields(names), strings.Fields(values)
		if len(n) != len(v) {
			return ListenCounters{}, fmt.Errorf("bench: netstat: %d names, %d values", len(n), len(v))
		}
		var c ListenCounters
		found := 0
		for j, name := range n {
			var dst *uint64
			switch name {
			case "ListenOverflows":
				dst = &c.Overflows
			case "ListenDrops":
				dst = &c.Drops
			default:
				continue
			}
			x, err := strconv.ParseUint(v[j], 10, 64)
			if err != nil {
				return ListenCounters{}, fmt.Errorf("bench: netstat: %s: %w", name, err)
			}
			*dst = x
			found++
		}
		if found != 2 {
			return ListenCounters{}, fmt.Errorf("bench: netstat: no ListenOverflows and ListenDrops")
		}
		return c, nil
	}
	return ListenCounters{}, fmt.Errorf("bench: netstat: no TcpExt lines")
}
