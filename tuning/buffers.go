package tuning

import (
	"fmt"
	"strings"
)

// IdleBuffer is the default receive and send buffer (the middle value of
// tcp_rmem and tcp_wmem) for hosts where the kernel's defaults times the
// connections do not fit tcp_mem: one page. The kernel still grows a busy
// connection's buffers up to the maximum.
const IdleBuffer = 4096

// The sysctls of TCP buffer memory.
const (
	tcpMemory  = "net.ipv4.tcp_mem"
	tcpReceive = "net.ipv4.tcp_rmem"
	tcpSend    = "net.ipv4.tcp_wmem"
)

// buffers are the readings of the three buffer sysctls.
type buffers struct {
	receive, send, memory []uint64 // tcp_rmem and tcp_wmem in bytes, tcp_mem in pages
}

// bufferRows compare the buffers of the connections at the defaults with
// tcp_mem's max. When they do not fit, the defaults are to come down to
// IdleBuffer and tcp_mem's max up to what the connections take at those;
// a note then says so.
func (h Host) bufferRows(p plan) ([]Row, []string) {
	memory := Row{Setting: tcpMemory, Why: "pages all TCP buffers of the host may take (low, pressure, max); past max the kernel refuses buffer memory"}
	receive := Row{Setting: tcpReceive, Why: "bytes of a connection's receive buffer (min, default, max): each starts at the default"}
	send := Row{Setting: tcpSend, Why: "bytes of a connection's send buffer (min, default, max): each starts at the default"}
	readings, err := h.readBuffers()
	if err != nil {
		return []Row{memory.unknown(err), receive.unknown(err), send.unknown(err)}, nil
	}
	page := h.pageSize()
	maxBytes := readings.memory[2] * page
	fits := p.connections*(readings.receive[1]+readings.send[1]) <= maxBytes
	room := func(other uint64) uint64 { // what the default may be, the other one as it is
		if !fits {
			return 0
		}
		return maxBytes/p.connections - other
	}
	receive = defaultRow(receive, readings.receive, fits, room(readings.send[1]))
	send = defaultRow(send, readings.send, fits, room(readings.receive[1]))
	memory = memoryPagesRow(memory, readings, fits, p.connections, page)
	rows := []Row{memory, receive, send}
	if fits || !anyFailing(rows) {
		return rows, nil
	}
	return rows, []string{bufferNote(readings, p.connections, maxBytes)}
}

// bufferNote explains why the buffers' defaults are to come down.
func bufferNote(readings buffers, connections, maxBytes uint64) string {
	receive, send := readings.receive[1], readings.send[1]
	return fmt.Sprintf("TCP buffers: at the defaults (%d + %d B) the buffers of %d connections could take %s, more than tcp_mem's max of %s. "+
		"Lower both defaults to %d B (the kernel still grows a busy connection's buffers up to the max) and keep tcp_mem's max at what that needs.",
		receive, send, connections, formatBytes(connections*(receive+send)), formatBytes(maxBytes), IdleBuffer)
}

// readBuffers reads all three; any failing makes the comparison unknown.
func (h Host) readBuffers() (buffers, error) {
	var b buffers
	var err error
	if b.memory, err = h.sysctl(tcpMemory, 3); err != nil {
		return buffers{}, err
	}
	if b.receive, err = h.sysctl(tcpReceive, 3); err != nil {
		return buffers{}, err
	}
	if b.send, err = h.sysctl(tcpSend, 3); err != nil {
		return buffers{}, err
	}
	return b, nil
}

// defaultRow judges the default of tcp_rmem or tcp_wmem: anything up to
// room when the buffers fit, IdleBuffer when they do not.
func defaultRow(row Row, values []uint64, fits bool, room uint64) Row {
	row.Current = joinUints(values)
	if fits {
		row.Needed, row.Status = fmt.Sprintf("default <= %d", room), StatusOK
		return row
	}
	row.Needed = fmt.Sprintf("default <= %d", IdleBuffer)
	if values[1] <= IdleBuffer {
		row.Status = StatusOK
		return row
	}
	row.Status = StatusShort
	row.Fixes = sysctlFixes(row.Setting, joinUints([]uint64{min(values[0], IdleBuffer), IdleBuffer, values[2]}))
	return row
}

// memoryPagesRow judges tcp_mem's max against the connections' buffers at
// the defaults they are to have.
func memoryPagesRow(row Row, readings buffers, fits bool, connections, page uint64) Row {
	perConnection := readings.receive[1] + readings.send[1]
	if !fits {
		perConnection = min(readings.receive[1], IdleBuffer) + min(readings.send[1], IdleBuffer)
	}
	need := divideUp(connections*perConnection, page)
	current := readings.memory
	row.Current = fmt.Sprintf("%s (max %s)", joinUints(current), formatBytes(current[2]*page))
	row.Needed = fmt.Sprintf("max %d pages (%s)", need, formatBytes(need*page))
	if current[2] >= need {
		row.Status = StatusOK
		return row
	}
	row.Status = StatusShort
	row.Fixes = sysctlFixes(row.Setting, tcpMemValue(current, need))
	return row
}

// tcpMemValue raises tcp_mem's max to pages, and low and pressure in the
// kernel's own proportion to it (1/2 and 2/3), never lowering them.
func tcpMemValue(current []uint64, pages uint64) string {
	return joinUints([]uint64{max(current[0], pages/2), max(current[1], pages*2/3), pages})
}

// joinUints writes numbers the way a sysctl shows them, space-separated.
func joinUints(values []uint64) string {
	words := make([]string, len(values))
	for i, value := range values {
		words[i] = fmt.Sprint(value)
	}
	return strings.Join(words, " ")
}
