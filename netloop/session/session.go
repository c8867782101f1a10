// Package session is the push protocol, between the WebSocket transport
// (package netloop) and the hub: it reads sub and unsub messages, keeps a
// connection's subscriptions, answers with acks and errors, limits what one
// connection may do, and on a sub sends the last value of each key or
// replays from the history what the client missed (docs/protocol.md).
//
//	h := hub.New(hub.Config{Wake: srv.Wake})
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
//	handler := session.New(session.Config{}, h, p)
//	srv := netloop.New(netloop.Config{Handler: handler})
//
// A connection's subscription to a key is a Subscription object of its own,
// the hub.Subscriber the hub delivers to; it knows the last seq it sent, so
// a replay and the live pushes that race it never send a seq twice.
//
// Recovery, for each key of a sub: the subscription is added to the hub
// first, holding the live pushes that arrive; then the history is read
// (under the pipeline's key lock, so no push of the key is between its
// append and its delivery); then the ack, the replay or gap, and the held
// pushes newer than what was replayed; then live pushes go straight to the
// connection.
//
// Lock order: a subscription's recovery mu is taken under a hub shard's
// read lock (from Send) and alone (from the session); it is held only to
// hold or release frames.
package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/hub"
	"edgepush/netloop"
)

// Config tunes a Handler. The zero value works: each zero field takes the
// default written beside it.
type Config struct {
	// MaxIDs is the most ids one sub or unsub message may carry. Default 256.
	MaxIDs int
	// MaxSubscriptions is the most keys one connection may subscribe to.
	// Default 4096.
	MaxSubscriptions int
	// MessageRate is how many messages a second a connection may send, on
	// average; MessageBurst how many at once. Defaults 100 and 200.
	MessageRate  float64
	MessageBurst int
	// MaxStrikes is how many messages in a row may be refused for the rate
	// before the connection is closed with 1008. Default 10.
	MaxStrikes int
	// MaxHeld is the most live pushes of one key held while its history is
	// read; past it the connection is closed with 1013 and the client
	// recovers on its next connection. Default 4096.
	MaxHeld int
	// HistoryTimeout bounds each history read. Default 5 s.
	HistoryTimeout time.Duration
	// Logger receives errors of the history, rate-limited. Default
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.MaxIDs, 256)
	setInt(&c.MaxSubscriptions, 4096)
	setInt(&c.MessageBurst, 200)
	setInt(&c.MaxStrikes, 10)
	setInt(&c.MaxHeld, 4096)
	if c.MessageRate <= 0 {
		c.MessageRate = 100
	}
	if c.HistoryTimeout <= 0 {
		c.HistoryTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// History is what a session reads of a key's stream: *hub.Pipeline.
type History interface {
	Last(ctx context.Context, k hub.Key) (hub.Stream, error)
	Since(ctx context.Context, k hub.Key, seq uint64) (hub.Stream, error)
}

// Handler is the push protocol's netloop.Handler. It is safe for
// concurrent use.
type Handler struct {
	cfg     Config
	hub     *hub.Hub
	history History
	metrics metrics
	errors  limitedLog
}

var _ netloop.Handler = (*Handler)(nil)

// New returns a handler that subscribes in h and reads history from
// history.
func New(cfg Config, h *hub.Hub, history History) *Handler {
	cfg = cfg.withDefaults()
	return &Handler{cfg: cfg, hub: h, history: history, errors: limitedLog{logger: cfg.Logger, every: 10 * time.Second}}
}

// Open implements netloop.Handler.
func (h *Handler) Open(c netloop.Conn) netloop.Session {
	h.metrics.add(counterSessions, 1)
	s := &session{handler: h, conn: c}
	s.bucket.init(h.cfg.MessageBurst)
	return s
}

// Metrics returns the protocol's series for a prometheus.Registry:
// sessions, subscribes, replays, error replies by code and gaps by reason.
func (h *Handler) Metrics() prometheus.Collector { return h.metrics.collector() }
