package tuning

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// noteWidth is where the notes under a report's table wrap.
const noteWidth = 78

// Render writes the report as a table (setting, current, needed, status,
// fix; a row's further fixes on lines of their own), the notes, and a
// last line that starts with "ok" or "short".
func (r Report) Render(w io.Writer) error {
	out := bufio.NewWriter(w)
	fmt.Fprintf(out, "%d connections over %s, %d each (%d open files)\n\n",
		r.Connections, plural(uint64(r.Processes), "process", "processes"), r.PerProcess, r.PerProcess+ReservedFiles)
	if err := renderRows(out, r.Rows); err != nil {
		return err
	}
	for _, note := range r.Notes {
		fmt.Fprintf(out, "\n%s\n", wrap(note, noteWidth))
	}
	fmt.Fprintf(out, "\n%s\n", r.verdict())
	return out.Flush()
}

// renderRows writes the table.
func renderRows(w io.Writer, rows []Row) error {
	table := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "SETTING\tCURRENT\tNEEDED\tSTATUS\tFIX")
	for _, row := range rows {
		fixes := row.Fixes
		if len(fixes) == 0 || row.Status == StatusOK {
			fixes = []string{"-"}
		}
		fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\n", row.Setting, row.Current, row.Needed, row.Status, fixes[0])
		for _, fix := range fixes[1:] {
			fmt.Fprintf(table, "\t\t\t\t%s\n", fix)
		}
	}
	return table.Flush()
}

// verdict is the report's last line.
func (r Report) verdict() string {
	failing := r.Failing()
	if len(failing) == 0 {
		return fmt.Sprintf("ok: this host holds %d connections over %s", r.Connections, plural(uint64(r.Processes), "process", "processes"))
	}
	return "short: " + joinWords(failing)
}

// wrap breaks text into lines of at most width columns, at spaces.
func wrap(text string, width int) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
