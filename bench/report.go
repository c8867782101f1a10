package bench

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// paperRow is one line of the paper's Table 2.
type paperRow struct {
	Conns     int     // concurrent connections
	AvgMS     float64 // average response time, ms
	ErrorRate float64 // error rate, %
}

// paperTable2 is Table 2 "System performance testing" of Cao, Tan, Liu and
// Liu, "Design and Implementation of a High Performance Event-Driven
// WebSocket Server", section 5.2, as transcribed in
// ../shared/reference/paper.md.
var paperTable2 = []paperRow{
	{Conns: 500, AvgMS: 1047, ErrorRate: 0},
	{Conns: 750, AvgMS: 1852, ErrorRate: 0},
	{Conns: 900, AvgMS: 2173, ErrorRate: 0.25},
	{Conns: 1200, AvgMS: 2763, ErrorRate: 0.41},
	{Conns: 1500, AvgMS: 3242, ErrorRate: 1.83},
}

// noValue stands in a cell that has no value.
const noValue = "—"

// textHeader names the columns of WriteText.
var textHeader = []string{
	"conns", "avg ms", "p50 ms", "p99 ms", "max ms", "errors %",
	"connect/s", "RSS/conn (KiB)", "fan-out frames/s", "servers", "procs",
}

// WriteText writes t as an aligned table for the terminal: a header line
// with the machine and the command, then one line per row, each followed
// by the kinds of error it counted, if any.
func WriteText(w io.Writer, t Table) error {
	floor := hasFloor(t)
	cells := [][]string{textHeader}
	if floor {
		cells[0] = append(slices.Clone(textHeader), "p99/floor")
	}
	for _, r := range t.Rows {
		line := textCells(r)
		if floor {
			line = append(line, floorRatio(r))
		}
		cells = append(cells, line)
	}
	widths := columnWidths(cells)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "machine: %s\ncommand: %s\n\n", t.Machine, t.Command)
	writeAligned(b, cells[0], widths)
	for i, r := range t.Rows {
		writeAligned(b, cells[i+1], widths)
		if kinds := errorKinds(r.Errors, " "); kinds != "" {
			fmt.Fprintf(b, "  errors: %s\n", kinds)
		}
	}
	return b.Flush()
}

// textCells formats r for WriteText.
func textCells(r Row) []string {
	return []string{
		strconv.Itoa(r.Conns),
		formatMS(r.AvgMS),
		formatMS(r.P50MS),
		formatMS(r.P99MS),
		formatMS(r.MaxMS),
		formatPercent(r.ErrorRate),
		strconv.FormatFloat(r.ConnectRate, 'f', 0, 64),
		strconv.FormatFloat(r.RSSPerConn/1024, 'f', 1, 64),
		strconv.FormatFloat(r.FanoutRate, 'f', 0, 64),
		strconv.Itoa(r.Servers),
		strconv.Itoa(r.Procs),
	}
}

// hasFloor reports whether any row was measured against the floor; only
// then does WriteText show the p99/floor column.
func hasFloor(t Table) bool {
	return slices.ContainsFunc(t.Rows, func(r Row) bool { return r.FloorMS > 0 })
}

// floorRatio formats how many times the floor's time the row's p99 took.
func floorRatio(r Row) string {
	if r.FloorMS <= 0 {
		return "-"
	}
	return strconv.FormatFloat(r.P99MS/r.FloorMS, 'f', 2, 64) + "x"
}

// formatMS formats a latency in milliseconds.
func formatMS(ms float64) string {
	return strconv.FormatFloat(ms, 'f', 2, 64)
}

// formatPercent formats an error rate so that a nonzero one never reads
// as zero.
func formatPercent(pct float64) string {
	if pct > 0 && pct < 0.005 {
		return "<0.01"
	}
	return strconv.FormatFloat(pct, 'f', 2, 64)
}

// columnWidths returns the width of the widest cell of each column.
func columnWidths(cells [][]string) []int {
	widths := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, cell := range line {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	return widths
}

// writeAligned writes one line of cells, right-aligned to widths and
// separated by two spaces.
func writeAligned(w io.Writer, cells []string, widths []int) {
	padded := make([]string, len(cells))
	for i, cell := range cells {
		padded[i] = strings.Repeat(" ", widths[i]-len([]rune(cell))) + cell
	}
	fmt.Fprintln(w, strings.Join(padded, "  "))
}

// errorKinds lists the nonzero counts of errors as kind=n, sorted by kind
// and joined by sep; it is empty when there are none.
func errorKinds(counts map[string]uint64, sep string) string {
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[kind]; n > 0 {
			parts = append(parts, kind+"="+strconv.FormatUint(n, 10))
		}
	}
	return strings.Join(parts, sep)
}

// csvHeader names the columns of WriteCSV, after the JSON names of Row.
var csvHeader = []string{
	"conns", "pushes", "received", "avg_ms", "p50_ms", "p99_ms", "max_ms",
	"error_rate_pct", "errors", "connect_per_sec", "rss_per_conn_bytes",
	"servers", "procs",
}

// WriteCSV writes t as CSV: a header row, then one line per row. The
// errors column holds the nonzero counts as "kind=n;kind=n", sorted by
// kind. Numbers are written in full precision.
func WriteCSV(w io.Writer, t Table) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range t.Rows {
		if err := cw.Write(csvRecord(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRecord formats r for WriteCSV.
func csvRecord(r Row) []string {
	return []string{
		strconv.Itoa(r.Conns),
		strconv.FormatInt(r.Pushes, 10),
		strconv.FormatInt(r.Received, 10),
		formatFloat(r.AvgMS),
		formatFloat(r.P50MS),
		formatFloat(r.P99MS),
		formatFloat(r.MaxMS),
		formatFloat(r.ErrorRate),
		errorKinds(r.Errors, ";"),
		formatFloat(r.ConnectRate),
		formatFloat(r.RSSPerConn),
		strconv.Itoa(r.Servers),
		strconv.Itoa(r.Procs),
	}
}

// formatFloat formats f in the fewest digits that read back exactly.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// WriteJSON writes t as indented JSON.
func WriteJSON(w io.Writer, t Table) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}

// WritePaperComparison writes a Markdown table that puts each row of t
// next to the line of the paper's Table 2 with the same number of
// connections; rows the paper has no line for show "—".
func WritePaperComparison(w io.Writer, t Table) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "edgebench on %s next to Table 2 of the paper (Cao et al., Node.js server).\n\n", t.Machine)
	fmt.Fprintln(b, "| conns | paper avg ms | our avg ms | our p99 ms | paper errors % | our errors % |")
	fmt.Fprintln(b, "|------:|-------------:|-----------:|-----------:|---------------:|-------------:|")
	for _, r := range t.Rows {
		paperAvg, paperErrors := noValue, noValue
		if p, ok := paperLine(r.Conns); ok {
			paperAvg = strconv.FormatFloat(p.AvgMS, 'f', -1, 64)
			paperErrors = strconv.FormatFloat(p.ErrorRate, 'f', -1, 64)
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n",
			r.Conns, paperAvg, formatMS(r.AvgMS), formatMS(r.P99MS),
			paperErrors, formatPercent(r.ErrorRate))
	}
	return b.Flush()
}

// paperLine returns the line of the paper's Table 2 for conns connections.
func paperLine(conns int) (paperRow, bool) {
	i := slices.IndexFunc(paperTable2, func(p paperRow) bool { return p.Conns == conns })
	if i < 0 {
		return paperRow{}, false
	}
	return paperTable2[i], true
}
