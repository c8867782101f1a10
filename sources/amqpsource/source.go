// Package amqpsource is a source that consumes a RabbitMQ queue other
// systems publish readings to, and publishes each reading through the
// edgepush pipeline (a sources.Publisher, *hub.Pipeline in the server).
//
//	src, err := amqpsource.New(amqpsource.Config{
//		URLs:  []string{"amqp://user:pass@rabbit-a:5672/", "amqp://user:pass@rabbit-b:5672/"},
//		Queue: "readings",
//		App:   "demo", // for messages that name only an id
//	}, pipeline, logger)
//	if err != nil { ... } // errors.Is(err, amqpsource.ErrURL), ErrConfig
//	go src.Run(ctx)       // until ctx is done
//	ready := src.Connected()
//
// # Key
//
// Each message names its key (app and id) one of two ways:
//
//   - Headers: a string header "id", and a string header "app" or, without
//     it, Config.App. The routing key is not looked at then. An "app"
//     header without an "id" header, or a header that is not a string
//     (bytes count as one), is a bad key.
//   - Otherwise the routing key, "APP.ID": the app is what comes before the
//     first '.', the id all the rest, dots included ("demo.room.1" is app
//     "demo", id "room.1"); an app therefore never has a dot (use the
//     headers for one). A routing key without a dot is the id of
//     Config.App ("001" is demo/001 when App is "demo"); an id with a dot
//     must come with its app, or in the headers. A message published to the
//     default exchange ("") has the queue's name as its routing key, which
//     names no key: such messages need the headers.
//
// The key must pass hub.Key.Validate (1 to 64 bytes of UTF-8 per part, no
// control characters).
//
// # Body
//
// The content type picks the push, as POST /v1/publish does:
//
//   - application/json: a text push of that JSON value (valid JSON in
//     UTF-8; surrounding whitespace trimmed);
//   - text/plain: a text push of the body, UTF-8, as a JSON string;
//   - application/octet-stream, or no content type: a binary push of the
//     body as it is.
//
// A charset parameter, if any, must be utf-8 (or us-ascii) for the first
// two. A content encoding other than none or "identity" (gzip, ...) is an
// unsupported content type. A body over Config.MaxBody (1 MiB) is too
// large.
//
// # Acknowledgement
//
// Deliveries are acknowledged by hand. A delivery is acked only once
// Publish returned nil: the push is in the key's history. A malformed
// message (no key, bad key, unsupported content type, invalid JSON or
// UTF-8, too large, or refused by the publisher as invalid) is rejected
// without requeue, so RabbitMQ dead-letters it when the queue has a
// dead-letter exchange, and is counted by reason in Stats; the messages
// behind it go on. A publish that fails for any other reason (the store
// or the bus is down: hub.ErrStore, hub.ErrBus; a timeout) is nacked with
// requeue, and the source pauses: it closes its channel, which hands the
// broker back every other message it held, in their places, waits
// (Config.BackoffMin doubling to BackoffMax, reset by the next publish that
// succeeds) and consumes again. The failed message comes back first
// (redelivered), and is published once the pipeline works again.
//
// Delivery is at least once: a push whose ack is lost (the connection broke
// between Publish and the ack, or the publish reached the history but its
// answer timed out) is delivered again and published again, under a new
// seq: subscribers then get the same value twice.
//
// # Order
//
// One goroutine takes deliveries and publishes them one at a time, in the
// queue's order, so every key's pushes keep the order they have in the
// queue; at most Config.Prefetch deliveries (64) are unacked at once. A
// pause keeps the order too on a classic queue, which puts requeued
// messages back in their original place. Several consumers of one queue
// (several edgepush nodes with the same source) share its messages and do
// not keep the order of a key between them: give them Config.Exclusive,
// so that one node consumes and the others wait, taking over when it goes.
//
// # Connection
//
// Run dials the URLs in turn, with a backoff of Config.BackoffMin doubling
// to BackoffMax (100 ms to 5 s), finds the queue (a passive declare: a
// missing queue is ErrNoQueue in the log and in State, and is looked for
// again at every retry; with Config.Declare it is declared, durable), sets
// the prefetch and consumes. A lost connection (a broker restart, a
// network cut) is dialled again the same way, and consuming starts over.
// What the broker had delivered and not seen acked comes again, marked
// redelivered, and is published again.
//
// # Observing
//
// Stats gives counters since New: received, redelivered, published,
// requeued, rejected by reason, reconnects. State and Connected tell
// whether the source consumes now, for readiness. Nothing is logged per
// message: warnings for the same reason (a failed dial, a failed publish,
// each rejection reason) are logged at most once a second, with the number
// of lines suppressed since the last one.
package amqpsource

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"edgepush/hub"
	"edgepush/hub/amqpbus"
	"edgepush/internal/ratelog"
	"edgepush/sources"
)

// Errors of New and of the source's state.
var (
	ErrURL        = amqpbus.ErrURL // the URLs are checked as the bus checks its own
	ErrConfig     = errors.New("amqpsource: bad config")
	ErrNoQueue    = errors.New("amqpsource: queue not found")
	ErrNotRunning = errors.New("amqpsource: not running")
	ErrLost       = errors.New("amqpsource: connection or consumer lost")
)

// Errors a message is rejected for; Stats counts each.
var (
	ErrNoKey       = errors.New("amqpsource: message names no key")
	ErrBadKey      = errors.New("amqpsource: bad key")
	ErrContentType = errors.New("amqpsource: unsupported content type")
	ErrBadJSON     = errors.New("amqpsource: body is not valid JSON in UTF-8")
	ErrBadUTF8     = errors.New("amqpsource: text body is not valid UTF-8")
	ErrTooLarge    = errors.New("amqpsource: body too large")
	ErrRefused     = errors.New("amqpsource: refused by the publisher")
)

// Defaults and bounds of Config.
const (
	DefaultPrefetch       = 64
	MaxPrefetch           = 65535 // AMQP's prefetch count is 16 bits
	DefaultMaxBody        = 1 << 20
	DefaultPublishTimeout = 10 * time.Second
	DefaultBackoffMin     = 100 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
)

// Config tunes a Source. URLs and Queue are required; each other zero
// field takes the default written beside it.
type Config struct {
	URLs      []string // amqp:// or amqps:// URLs, tried in turn
	Queue     string   // the queue to consume
	Declare   bool     // declare the queue (durable, no arguments) when it is missing; default off: it must exist
	Exclusive bool     // consume as the queue's only consumer; a second source waits until the first goes
	// Prefetch is the most deliveries unacked at once, 1 to MaxPrefetch.
	// Default 64.
	Prefetch int
	// App is the app of messages that name only an id (an "id" header
	// without "app", a routing key without a dot). Default none: such
	// messages are rejected.
	App string
	// MaxBody is the largest body taken, in bytes. Default 1 MiB.
	MaxBody int
	// PublishTimeout bounds one Publish. Default 10 s.
	PublishTimeout time.Duration
	// BackoffMin and BackoffMax bound the waits between dials, and the
	// pauses after a failed publish, which double from min to max.
	// Default 100 ms and 5 s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Logger, unless New is given one. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// check reports the first field of c, with its defaults, that is wrong.
func (c Config) check() error {
	if err := amqpbus.CheckURLs(c.URLs); err != nil {
		return err
	}
	switch {
	case c.Queue == "":
		return fmt.Errorf("%w: Queue is required", ErrConfig)
	case len(c.Queue) > 255:
		return fmt.Errorf("%w: Queue is longer than 255 bytes", ErrConfig)
	case c.Prefetch < 0 || c.Prefetch > MaxPrefetch:
		return fmt.Errorf("%w: Prefetch %d is not within 1 to %d", ErrConfig, c.Prefetch, MaxPrefetch)
	case c.MaxBody < 0:
		return fmt.Errorf("%w: MaxBody %d is negative", ErrConfig, c.MaxBody)
	case c.PublishTimeout < 0, c.BackoffMin < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("%w: BackoffMax %v is below BackoffMin %v", ErrConfig, c.BackoffMax, c.BackoffMin)
	}
	if c.App != "" {
		if err := hub.ValidatePart(c.App); err != nil {
			return fmt.Errorf("%w: App: %w", ErrConfig, err)
		}
	}
	return nil
}

// Stats are a source's counters since New.
type Stats struct {
	Received    uint64   // deliveries taken off the queue
	Redelivered uint64   // of those, the broker's redeliveries
	Published   uint64   // published and acked
	Requeued    uint64   // publishes that failed, nacked back to the queue
	Rejected    Rejected // rejected without requeue, by reason
	Reconnects  uint64   // connections that consumed, after the first
}

// Rejected counts the messages rejected without requeue, by reason.
type Rejected struct {
	NoKey       uint64 // ErrNoKey: no id header, no usable routing key
	BadKey      uint64 // ErrBadKey: a key hub.Key.Validate refuses, or a header not a string
	ContentType uint64 // ErrContentType: content type, charset or encoding not handled
	JSON        uint64 // ErrBadJSON: application/json that is not JSON in UTF-8
	UTF8        uint64 // ErrBadUTF8: text/plain that is not UTF-8
	TooLarge    uint64 // ErrTooLarge: body over MaxBody
	Refused     uint64 // ErrRefused: the publisher found the push invalid
}

// Total is the sum of the rejections.
func (r Rejected) Total() uint64 {
	return r.NoKey + r.BadKey + r.ContentType + r.JSON + r.UTF8 + r.TooLarge + r.Refused
}

// State is what a source does now.
type State struct {
	// Connected: a connection is open and the queue was found; the source
	// consumes it, or pauses after a failed publish.
	Connected bool
	// Consuming: deliveries are being taken now (not paused).
	Consuming bool
	// Err is why not: the last failed dial, missing queue (ErrNoQueue) or
	// refused consume, the failed publish behind a pause, ErrNotRunning
	// before Run and after it returned. Nil while consuming.
	Err error
}

// Source consumes one queue and publishes its messages. Its methods are
// safe for concurrent use; Run must not run twice at once.
type Source struct {
	cfg    Config
	pub    sources.Publisher
	logger *slog.Logger
	logs   *ratelog.Limiter // one warning a reason a second
	pause  time.Duration    // the next pause after a failed publish; Run's goroutine only

	received    atomic.Uint64
	redelivered atomic.Uint64
	published   atomic.Uint64
	requeued    atomic.Uint64
	connects    atomic.Uint64
	rejected    [numReasons]atomic.Uint64

	mu    sync.Mutex // guards the following fields
	state State
}

// New checks cfg and returns a source that publishes to pub; Run starts
// it. logger, if not nil, wins over cfg.Logger. A bad URL gives an error
// wrapping ErrURL, any other bad field one wrapping ErrConfig.
func New(cfg Config, pub sources.Publisher, logger *slog.Logger) (*Source, error) {
	if logger != nil {
		cfg.Logger = logger
	}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, fmt.Errorf("%w: no publisher", ErrConfig)
	}
	return &Source{cfg: cfg, pub: pub, logger: cfg.Logger, logs: ratelog.NewLimiter(time.Second, nil),
		state: State{Err: ErrNotRunning}}, nil
}

// Stats returns a snapshot of the counters.
func (s *Source) Stats() Stats {
	st := Stats{
		Received:    s.received.Load(),
		Redelivered: s.redelivered.Load(),
		Published:   s.published.Load(),
		Requeued:    s.requeued.Load(),
		Reconnects:  s.reconnects(),
	}
	r := &st.Rejected
	for i, n := range []*uint64{&r.NoKey, &r.BadKey, &r.ContentType, &r.JSON, &r.UTF8, &r.TooLarge, &r.Refused} {
		*n = s.rejected[i].Load()
	}
	return st
}

// reconnects is the connections that consumed, after the first.
func (s *Source) reconnects() uint64 { return max(s.connects.Load(), 1) - 1 }

// State returns what the source does now.
func (s *Source) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Connected reports whether the source has its queue on an open
// connection (State().Connected): its readiness.
func (s *Source) Connected() bool { return s.State().Connected }

func (s *Source) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}
