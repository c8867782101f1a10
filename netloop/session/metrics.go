package session

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
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

var counterSeries = [counterCount]struct{ name, help string }{
	counterSessions:      {"edgepush_sessions_total", "Push-protocol sessions opened (WebSocket connections on /ws)."},
	counterMessages:      {"edgepush_session_messages_total", "Client messages the protocol handled."},
	counterSubscribes:    {"edgepush_subscribes_total", "Keys subscribed by sub messages (each key of a sub counts)."},
	counterLastValues:    {"edgepush_last_values_sent_total", "Last values sent after a sub without since."},
	counterReplayed:      {"edgepush_pushes_replayed_total", "Pushes replayed from the history after a sub with since."},
	counterRateCloses:    {"edgepush_rate_limit_closes_total", "Connections closed for sending messages over the rate limit."},
	counterHeldOverflows: {"edgepush_recovery_overflows_total", "Recoveries that held more live pushes than they may, and told gap instead."},
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

func (m *metrics) collector() prometheus.Collector {
	var set metricset.Set
	for i, c := range counterSeries {
		set.Counter(c.name, c.help, m.counters[i].Load)
	}
	set.CounterBy("edgepush_protocol_errors_total", "Error replies sent to clients, by code.",
		"code", errorCodes[:], func(i int) uint64 { return m.errors[i].Load() })
	set.CounterBy("edgepush_gaps_total", "Gaps told to clients (pushes they cannot recover), by reason.",
		"reason", gapReasons[:], func(i int) uint64 { return m.gaps[i].Load() })
	return set
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
