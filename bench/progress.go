package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Default intervals between two progress lines.
const (
	defaultProgressEvery      = 5 * time.Second        // into a log
	defaultInteractiveRefresh = 250 * time.Millisecond // on a terminal
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[2K"

// progressLine formats s as one short line, e.g.
// "connecting: open 750/1000 (75%), received 0, errors 0".
// ProgressState is declared in table_run.go.
func progressLine(s ProgressState) string {
	var b strings.Builder
	if s.Phase != "" {
		b.WriteString(s.Phase + ": ")
	}
	fmt.Fprintf(&b, "open %d/%d", s.Open, s.Target)
	if s.Target > 0 {
		fmt.Fprintf(&b, " (%d%%)", s.Open*100/s.Target)
	}
	fmt.Fprintf(&b, ", received %d, errors %d", s.Received, s.Errors)
	return b.String()
}

// Progress reports a run's state while it goes on: on a terminal it
// rewrites one status line in place, into a log it prints a plain line,
// either at most once per interval however often Update is called. It is
// safe for concurrent use. Write errors are ignored: progress is a
// courtesy, not a result.
type Progress struct {
	mu          sync.Mutex
	w           io.Writer
	interactive bool
	every       time.Duration
	now         func() time.Time
	last        time.Time // when the last line was written, or the start
	state       ProgressState
	updated     bool // Update has been called
	stopped     bool
}

// NewProgress returns a Progress writing to w. interactive says that w is
// a terminal (see IsTerminal). every is the least time between two lines;
// zero or less means 5 s into a log and 250 ms on a terminal. The first
// line comes after every has passed.
func NewProgress(w io.Writer, interactive bool, every time.Duration) *Progress {
	return newProgress(w, interactive, every, time.Now)
}

// newProgress is NewProgress with a clock.
func newProgress(w io.Writer, interactive bool, every time.Duration, now func() time.Time) *Progress {
	if every <= 0 {
		every = defaultProgressEvery
		if interactive {
			every = defaultInteractiveRefresh
		}
	}
	return &Progress{w: w, interactive: interactive, every: every, now: now, last: now()}
}

// Update records s and shows it if the interval since the last line has
// passed. Updates after Stop are ignored.
func (p *Progress) Update(s ProgressState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.state, p.updated = s, true
	if t := p.now(); t.Sub(p.last) >= p.every {
		p.last = t
		p.show(false)
	}
}

// Stop shows the last state once, ending the line on a terminal, and
// ignores every later Update and Stop. It shows nothing if no Update came.
func (p *Progress) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if p.updated {
		p.show(true)
	}
}

// show writes the state: in place on a terminal, ending the line when
// final; as a line of its own into a log.
func (p *Progress) show(final bool) {
	switch {
	case p.interactive && final:
		fmt.Fprintf(p.w, "%s%s\n", clearLine, progressLine(p.state))
	case p.interactive:
		fmt.Fprintf(p.w, "%s%s", clearLine, progressLine(p.state))
	default:
		fmt.Fprintf(p.w, "%s\n", progressLine(p.state))
	}
}

// IsTerminal reports whether f is a terminal. It asks without putting f
// into blocking mode, as f.Fd would.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var termErr error
	err = conn.Control(func(fd uintptr) {
		_, termErr = unix.IoctlGetTermios(int(fd), unix.TCGETS)
	})
	return err == nil && termErr == nil
}
