package session

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

type counter int

const (
	counterSessions      counter = iota // sessions opened
	counterMessages                     // client messages handled
	counterSubscribes                   // keys subscribed
	counterLastValues                   // last values sent after a sub
	counterReplayed                     // pushes replayed from the history
	counterRateCloses                   // connections closed for their message rate
	counterHeldOverflows                // recoveries that held too many live pushes
	counterCount
)

var counterNames = [counterCount]string{
	counterSessions:      "edgepush_sessions_total",
	counterMessages:      "edgepush_session_messages_total",
	counterSubscribes:    "edgepush_subscribes_total",
	counterLastValues:    "edgepush_last_values_sent_total",
	counterReplayed:      "edgepush_pushes_replayed_total",
	counterRateCloses:    "edgepush_rate_limit_closes_total",
	counterHeldOverflows: "edgepush_recovery_overflows_total",
}

var errorCodes = [...]string{codeBadJSON, codeBadRequest, codeUnknownOp, codeBadKey, codeBadSince,
	codeTooManyIDs, codeTooManySubscriptions, codeRateLimited, codeUnavailable}

var gapReasons = [...]string{gapEpoch, gapEvicted, gapAhead}

// metrics are the protocol's counters; every field is updated atomically.
type metrics struct {
	counters [counterCount]atomic.Uint64
	errors   [len(errorCodes)]atomic.Uint64
	gaps     [len(gapReasons)]atomic.Uint64
}

func (m *metrics) add(c counter, n int) { m.counters[c].Add(uint64(n)) }

func (m *metrics) protocolError(code string) {
	for i, c := range errorCodes {
		if c == code {
			m.errors[i].Add(1)
		}
	}
}

func (m *metrics) gap(reason string) {
	for i, r := range gapReasons {
		if r == reason {
			m.gaps[i].Add(1)
		}
	}
}

func (m *metrics) write(w io.Writer) {
	for i, name := range counterNames {
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, m.counters[i].Load())
	}
	fmt.Fprintf(w, "# TYPE edgepush_protocol_errors_total counter\n")
	for i, code := range errorCodes {
		fmt.Fprintf(w, "edgepush_protocol_errors_total{code=%q} %d\n", code, m.errors[i].Load())
	}
	fmt.Fprintf(w, "# TYPE edgepush_gaps_total counter\n")
	for i, reason := range gapReasons {
		fmt.Fprintf(w, "edgepush_gaps_total{reason=%q} %d\n", reason, m.gaps[i].Load())
	}
}

// limitedLog logs an error at most once every so often, with the count of
// those it kept quiet.
type limitedLog struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex // guards the following fields
	last       time.Time
	suppressed int
}

func (l *limitedLog) log(msg string, err error) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.logger.Error(msg, "err", err, "suppressed", suppressed)
}
