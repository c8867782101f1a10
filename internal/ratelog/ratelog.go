// Package ratelog keeps a failure that repeats from flooding the log: a
// warning or an error of one kind is written at most once per period, and
// the next one written tells how many were held back meanwhile
// ("suppressed"=N).
//
// A Limiter is the counting part, for a call site that logs by itself. A
// Handler does it for every record at level Warn or above that passes
// through a slog.Logger, keyed by the record's level and message, so that
// a component that logs the same failure on every retry (the Redis index,
// the AMQP bus, the API) is bounded without changing it:
//
//	logger := slog.New(ratelog.NewHandler(base, ratelog.Options{}))
//
// Records below Warn pass untouched: the servers log nothing per message,
// and info lines are one-offs (start, drain, stop). A record that already
// carries a "suppressed" attribute was limited where it was logged
// (netloop/session does so), or that Limiter.Warn let through, passes
// too.
//
// The count of a burst is written with the next line of its kind: when the
// failure stops, its last count is never written. Keys are bounded
// (MaxKeys); past that, new kinds share one budget.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the period of a Limiter or Handler made with none.
const DefaultEvery = 10 * time.Second

// MaxKeys bounds the kinds a Limiter tracks at once.
const MaxKeys = 1024

// SuppressedKey is the attribute that carries the count of held-back lines.
const SuppressedKey = "suppressed"

// Limiter allows one line per key per period and counts the others. It is
// safe for concurrent use; the zero value is not usable: see NewLimiter.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex // guards seen
	seen map[string]*entry
}

// entry is one key's last line and the lines held back since.
type entry struct {
	at         time.Time
	suppressed int
}

// NewLimiter returns a limiter with the given period (DefaultEvery if not
// positive), reading time from now (time.Now if nil).
func NewLimiter(every time.Duration, now func() time.Time) *Limiter {
	if every <= 0 {
		every = DefaultEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, now: now, seen: map[string]*entry{}}
}

// Allow reports whether a line of key may be written now and, if so, how
// many lines of key it held back since the last one it allowed.
func (l *Limiter) Allow(key string) (suppressed int, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.seen[key]
	if e == nil {
		if len(l.seen) >= MaxKeys {
			l.forget(now)
		}
		if len(l.seen) >= MaxKeys {
			key = "" // the shared budget of the overflow
			e = l.seen[key]
		}
	}
	if e == nil {
		l.seen[key] = &entry{at: now}
		return 0, true
	}
	if now.Sub(e.at) < l.every {
		e.suppressed++
		return 0, false
	}
	n := e.suppressed
	e.at, e.suppressed = now, 0
	return n, true
}

// forget drops the keys that would be allowed again and hold no count.
func (l *Limiter) forget(now time.Time) {
	for k, e := range l.seen {
		if e.suppressed == 0 && now.Sub(e.at) >= l.every {
			delete(l.seen, k)
		}
	}
}

// Warn writes msg at level Warn through logger unless a line of key was
// written less than a period ago; the line it writes carries the count of
// those it held back (SuppressedKey, when there were any). A Handler
// further down lets it through untouched: it was limited here already.
func (l *Limiter) Warn(logger *slog.Logger, key, msg string, args ...any) {
	n, ok := l.Allow(key)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, SuppressedKey, n)
	}
	logger.Log(context.WithValue(context.Background(), limitedKey{}, true), slog.LevelWarn, msg, args...)
}

// limitedKey marks, in a record's context, a line a Limiter let through.
type limitedKey struct{}

// Options tune a Handler. The zero value works.
type Options struct {
	// Every is the period: one record of a key per Every. Default
	// DefaultEvery.
	Every time.Duration
	// Key names a record's kind; default its level and message. A logger
	// whose messages vary (the net/http server's error log, whose lines
	// carry addresses) gives one key for all.
	Key func(slog.Record) string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Handler is a slog.Handler that limits the records at level Warn and
// above and passes them to the next handler. Handlers made from it by
// WithAttrs and WithGroup share its budget.
type Handler struct {
	next    slog.Handler
	limiter *Limiter
	key     func(slog.Record) string
}

// NewHandler returns a handler that limits what it passes to next.
func NewHandler(next slog.Handler, opts Options) *Handler {
	key := opts.Key
	if key == nil {
		key = func(r slog.Record) string { return r.Level.String() + " " + r.Message }
	}
	return &Handler{next: next, limiter: NewLimiter(opts.Every, opts.Now), key: key}
}

// Logger returns a logger whose warnings and errors go through a Handler
// with opts over l's handler.
func Logger(l *slog.Logger, opts Options) *slog.Logger {
	return slog.New(NewHandler(l.Handler(), opts))
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler: it drops a record held back, and adds
// the count of those held back to the next one it passes.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || ctx.Value(limitedKey{}) != nil || limitedAlready(r) {
		return h.next.Handle(ctx, r)
	}
	n, ok := h.limiter.Allow(h.key(r))
	if !ok {
		return nil
	}
	if n > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(SuppressedKey, n))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), limiter: h.limiter, key: h.key}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), limiter: h.limiter, key: h.key}
}

// limitedAlready reports whether r carries a count of suppressed lines (a
// call site that limits its lines by itself and counts them so).
func limitedAlready(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == SuppressedKey
		return !found
	})
	return found
}
