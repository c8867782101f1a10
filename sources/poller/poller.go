// Package poller is the data service layer's poller: every interval it
// asks a data center for the current values of the ids someone subscribes
// to, and publishes those that changed.
//
//	p, err := poller.New(poller.Config{URL: "http://dc:8090", Apps: []string{"demo"}},
//		pipeline, watched, members)
//	go p.Run(ctx)
//
// The data center answers GET {URL}/realtime?app=A&ids=001,002,... with
// {"app":"A","items":[{"id":"001","ts":<unix ms>,"value":<any JSON>}]}
// (docs/sources.md). Each id is query-escaped on its own, so a ',' inside
// an id is %2C and the ids split on the literal commas.
//
// Staleness: a key polled here without a value for StaleAfter (its
// requests fail, or the answers leave it out) gets a stale notice, and a
// fresh notice before its next value (hub.Pipeline.Notify: on every node,
// and kept in the store for clients that subscribe meanwhile).
//
// Which ids: those of Watched (this node's hub, or the cluster's index in
// Redis), each polled by exactly one node: the owner, by rendezvous hashing
// of (app, id) over the live Members. A node that dies stops beating and
// its ids move to the others at their next interval after its heartbeat
// is older than Config.Alive. While two nodes disagree on who is live, both
// may poll an id for a moment; the store's conditional append (the value
// changed, and its ts is not older) lets only one of them publish it.
//
// Each app polls on a goroutine of its own, with a request timeout, so a
// slow or failing data center delays neither pushes nor the other apps. A
// failed request is counted by reason, logged at most once per reason per
// LogEvery, and tried again the next interval, after a backoff that grows
// with consecutive failures up to MaxBackoff.
package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"edgepush/hub"
	"edgepush/internal/ratelog"
)

// Errors of the poller.
var (
	ErrConfig = errors.New("poller: bad configuration")
)

// Config tunes a Poller. URL and Apps are required; each other zero field
// takes the default written beside it.
type Config struct {
	URL        string        // the data center: GET URL/realtime?...
	Apps       []string      // the apps polled
	Interval   time.Duration // between two polls of an app; default 1 s
	Timeout    time.Duration // of one request; default the interval
	MaxURL     int           // bytes of one request's URL at most: more ids take more requests; default 4096
	MaxIDs     int           // ids in one request at most; default 1000
	MaxBody    int64         // bytes of one answer at most; default 8 MiB
	EveryPoll  bool          // publish every value polled, not only changes
	BinaryApps []string      // apps whose values go as binary pushes (sources/value); the others as text
	StaleAfter time.Duration // a key without a value this long is stale; default 10 intervals
	Alive      time.Duration // a node whose heartbeat is older is not a member; default 6 s
	MaxBackoff time.Duration // the longest pause after failures; default 30 s
	LogEvery   time.Duration // at most one log line per reason this often; default 10 s
	Client     *http.Client  // default one with no timeout of its own (Timeout applies)
	Logger     *slog.Logger  // default slog.Default()
	Now        func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Interval
	}
	if c.MaxURL <= 0 {
		c.MaxURL = 4096
	}
	if c.MaxIDs <= 0 {
		c.MaxIDs = 1000
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 8 << 20
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 10 * c.Interval
	}
	if c.Alive <= 0 {
		c.Alive = 6 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Publisher publishes a polled value: hub.Pipeline.PublishIf.
type Publisher interface {
	PublishIf(ctx context.Context, k hub.Key, cond hub.Condition, kind hub.Kind, ts int64, data []byte) (hub.Result, bool, error)
}

// Notifier tells a key's subscribers that its source fails or answers
// again: hub.Pipeline.Notify. A Publisher that is one is used for it.
type Notifier interface {
	Notify(ctx context.Context, k hub.Key, kind hub.Kind, since int64) error
}

// Watched tells which ids of an app have subscribers (sources.Subscriptions).
type Watched interface {
	App(ctx context.Context, app string) ([]hub.KeyCount, error)
}

// Members are the nodes that share the polling.
type Members interface {
	// Node is this node's id.
	Node() string
	// Live returns the nodes whose heartbeat is at most within old, this
	// one among them.
	Live(ctx context.Context, within time.Duration) ([]string, error)
}

// Alone is the membership of a node on its own: it owns every id.
type Alone string

// Node implements Members.
func (a Alone) Node() string { return string(a) }

// Live implements Members.
func (a Alone) Live(context.Context, time.Duration) ([]string, error) {
	return []string{string(a)}, nil
}

// Poller polls the data center for every app of its Config.
type Poller struct {
	cfg     Config
	pub     Publisher
	watched Watched
	members Members
	stats   stats
	logs    *ratelog.Limiter // one warning a reason a LogEvery
	stale   staleness
	mu      sync.Mutex     // guards the following fields
	polled  map[string]int // app -> ids this node polled at its last interval
}

// New returns a poller; it polls once Run is called.
func New(cfg Config, pub Publisher, watched Watched, members Members) (*Poller, error) {
	cfg = cfg.withDefaults()
	if err := check(cfg); err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, pub: pub, watched: watched, members: members, polled: map[string]int{}}
	p.logs = ratelog.NewLimiter(cfg.LogEvery, nil)
	p.stale.init()
	return p, nil
}

func check(cfg Config) error {
	if _, err := realtimeURL(cfg.URL); err != nil {
		return err
	}
	if len(cfg.Apps) == 0 {
		return fmt.Errorf("%w: no app to poll", ErrConfig)
	}
	for i, app := range cfg.Apps {
		if err := hub.ValidatePart(app); err != nil {
			return fmt.Errorf("%w: app %q: %w", ErrConfig, app, err)
		}
		if slices.Contains(cfg.Apps[:i], app) {
			return fmt.Errorf("%w: app %q named twice", ErrConfig, app)
		}
	}
	return nil
}

// notify sends a stale or fresh notice of k, if the publisher can.
func (p *Poller) notify(ctx context.Context, k hub.Key, kind hub.Kind, since int64) {
	n, ok := p.pub.(Notifier)
	if !ok {
		return
	}
	if err := n.Notify(ctx, k, kind, since); err != nil {
		p.stats.add(reasonPublishFailed, 1)
		p.logs.Warn(p.cfg.Logger, reasonPublishFailed, "poller: notice failed", "reason", reasonPublishFailed, "app", k.App, "id", k.ID, "err", err)
	}
}

// Run polls every app until ctx is done.
func (p *Poller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, app := range p.cfg.Apps {
		wg.Go(func() { p.runApp(ctx, app) })
	}
	wg.Wait()
}

// runApp polls app every interval, pausing longer after failures; the
// staleness of its keys is checked every interval even then.
func (p *Poller) runApp(ctx context.Context, app string) {
	failures := 0
	var retry time.Time // no poll before it, after failures
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		if now := time.Now(); !now.Before(retry) {
			if p.pollApp(ctx, app) {
				failures = 0
			} else {
				failures++
			}
			retry = now.Add(p.backoff(failures))
		}
		p.checkStale(ctx, app)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// backoff is the wait from one poll to the next: the interval, or after
// failures one doubling per failure up to MaxBackoff.
func (p *Poller) backoff(failures int) time.Duration {
	wait := p.cfg.Interval
	for i := 1; i < failures && wait < p.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, max(p.cfg.MaxBackoff, p.cfg.Interval)) - p.cfg.Interval/2 // a tick early is on time
}

// checkStale sends the stale notice of app's keys without a value for
// StaleAfter.
func (p *Poller) checkStale(ctx context.Context, app string) {
	for _, w := range p.stale.check(app, p.cfg.Now(), p.cfg.StaleAfter) {
		p.stats.add(reasonStale, 1)
		p.notify(ctx, w.key, hub.Stale, w.since.UnixMilli())
	}
}

// pollApp polls app's ids this node owns once, and reports whether every
// request succeeded.
func (p *Poller) pollApp(ctx context.Context, app string) bool {
	ids, err := p.owned(ctx, app)
	if err != nil {
		p.fail(app, reasonIndex, err)
		return false
	}
	p.mu.Lock()
	p.polled[app] = len(ids)
	p.mu.Unlock()
	p.stale.keep(app, ids, p.cfg.Now())
	ok := true
	for _, batch := range batches(p.cfg.URL, app, ids, p.cfg.MaxURL, p.cfg.MaxIDs) {
		if !p.fetchAndPublish(ctx, app, batch) {
			ok = false
		}
	}
	return ok
}
