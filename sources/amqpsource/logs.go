package amqpsource

import (
	"log/slog"
	"sync"
	"time"
)

// limiter logs a warning of a given reason at most once every period,
// and tells in the next line it logs how many it suppressed meanwhile.
type limiter struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu   sync.Mutex // guards the following fields
	seen map[string]*logged
}

// logged is one reason's last line and the lines suppressed since.
type logged struct {
	at         time.Time
	suppressed int
}

func newLimiter(logger *slog.Logger, every time.Duration, now func() time.Time) *limiter {
	return &limiter{logger: logger, every: every, now: now, seen: map[string]*logged{}}
}

// warn logs msg with args at level Warn unless a line of reason was logged
// less than a period ago; then it only counts it.
func (l *limiter) warn(reason, msg string, args ...any) {
	suppressed, ok := l.allow(reason)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.logger.Warn(msg, args...)
}

// allow reports whether a line of reason may be logged now, and how many
// were suppressed since the last one.
func (l *limiter) allow(reason string) (int, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[reason]
	if s == nil {
		l.seen[reason] = &logged{at: now}
		return 0, true
	}
	if now.Sub(s.at) < l.every {
		s.suppressed++
		return 0, false
	}
	n := s.suppressed
	s.at, s.suppressed = now, 0
	return n, true
}
