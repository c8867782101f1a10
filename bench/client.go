// Package bench is edgepush's load generator: an event-loop WebSocket
// client that holds tens of thousands of connections in one process at a
// few hundred bytes each, a publisher that stamps each payload with its
// send time, exact mergeable histograms, and the machine's floor (raw
// write(2) fan-out with no WebSocket at all).
//
// bench is a client: it speaks the protocol on the wire and imports nothing
// of the server's, so what it measures is what a real client sees.
//
//	c, err := bench.Open(ctx, bench.ClientConfig{Target: "127.0.0.1:8080", Conns: 10000, App: "bench"})
//	pub := bench.Publisher{API: "127.0.0.1:8081"}
//	pub.Publish(ctx, "bench", "k")       // the payload carries its send time
//	c.WaitReceived(ctx, 10000)
//	s := c.Snapshot()                    // latency histogram, errors by kind
package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig describes a set of connections. Only Target is required.
type ClientConfig struct {
	Target string // host:port of the WebSocket listener, an IPv4 address
	Path   string // default "/ws"
	Conns  int    // connections to open; default 1
	App    string // default "bench"
	// ID names the key connection i subscribes to; default "k" for all.
	ID func(i int) string
	// Sources are the local addresses to connect from, round-robin;
	// default 127.0.0.1. Several 127.0.0.x addresses lift the ephemeral
	// port limit of one source.
	Sources []string
	// Connecting caps the connections in progress at once; default 256.
	Connecting int
	// Loops is the number of epoll loops; default GOMAXPROCS.
	Loops int
	// Track keeps, for each connection, the position its sub's ack gave
	// and the highest seq pushed to it; see Positions.
	Track bool
	// Resume, if not nil, makes connection i resume from a position: its
	// sub carries since, and the client checks that exactly the pushes
	// since.Seq+1 .. want arrive, each once and in order, and times each
	// connection's catch-up; see Resumed. It implies Track.
	Resume func(i int) (since Position, want uint64)
	// Start is when catch-up times are counted from; default: Start or
	// Open's call.
	Start time.Time
}

// Error kinds a client counts.
const (
	ErrConnect    = "connect"       // connect(2) failed
	ErrHandshake  = "handshake"     // no 101 Switching Protocols
	ErrSubscribe  = "subscribe"     // the sub was not acked
	ErrMissingSeq = "missing_seq"   // a gap in a key's sequence
	ErrOutOfOrder = "out_of_order"  // a sequence number went back
	ErrDuplicate  = "duplicate_seq" // a sequence number came twice
	ErrClosed     = "closed"        // the server closed or reset an open connection
	ErrProtocol   = "protocol"      // a frame the client could not make sense of
)

// Client is a set of WebSocket connections driven by epoll loops.
type Client struct {
	cfg   ClientConfig
	loops []*loop
	recs  []connRecord // by connection, with Track or Resume

	subscribed atomic.Int64
	received   atomic.Int64
	finished   atomic.Int64 // resuming connections caught up or given up
	caughtUp   atomic.Int64
	closing    atomic.Bool
	wg         sync.WaitGroup
}

// connRecord is what a tracked connection has seen, written only by the
// loop that owns the connection.
type connRecord struct {
	ack      Position // the key's position in the sub's ack
	hasAck   bool     // the ack came
	last     uint64   // highest seq pushed
	finished bool     // counted in Client.finished
	gap      bool     // the server sent a gap for the key
	track    catchUp  // with Resume
}

// Snapshot is what a client has seen.
type Snapshot struct {
	Conns      int               `json:"conns"`
	Subscribed int64             `json:"subscribed"`
	Received   int64             `json:"received"`
	Errors     map[string]uint64 `json:"errors"`
	Latency    Histogram         `json:"latency"`
	Connect    Histogram         `json:"connect"` // connect to ack of the subscription
	// With ClientConfig.Resume: connections caught up, and when, counted
	// from ClientConfig.Start and from each connection's own connect.
	CaughtUp   int64     `json:"caught_up,omitempty"`
	CatchUp    Histogram `json:"catch_up,omitzero"`
	CatchUpOwn Histogram `json:"catch_up_own,omitzero"`
	// Fanouts is, for each push (by its send time), when its last copy
	// arrived: what a fan-out's rate is read from.
	Fanouts Fanouts `json:"fanouts,omitempty"`
}

// Open connects cfg.Conns connections, upgrades and subscribes each, and
// returns when all are subscribed or have failed, or ctx is done.
func Open(ctx context.Context, cfg ClientConfig) (*Client, error) {
	c, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	err = c.waitSettled(ctx)
	return c, err
}

// Start starts connecting as Open does, and returns at once.
func Start(cfg ClientConfig) (*Client, error) {
	cfg, sources, target, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	if cfg.Track {
		c.recs = make([]connRecord, cfg.Conns)
		if cfg.Resume != nil {
			for i := range c.recs {
				since, want := cfg.Resume(i)
				c.recs[i].track = newCatchUp(since.Seq, want)
			}
		}
	}
	c.loops, err = makeLoops(cfg.Loops, func() (*loop, error) { return newLoop(c, target, sources) })
	if err != nil {
		c.Close()
		return nil, err
	}
	startLoops(c.loops, cfg.Conns, &c.wg)
	return c, nil
}

func (cfg ClientConfig) resolve() (ClientConfig, []netip.Addr, netip.AddrPort, error) {
	target, err := netip.ParseAddrPort(cfg.Target)
	if err != nil || !target.Addr().Is4() {
		return cfg, nil, target, fmt.Errorf("bench: target %q is not an IPv4 host:port", cfg.Target)
	}
	cfg.Path = cmpOr(cfg.Path, "/ws")
	cfg.App = cmpOr(cfg.App, "bench")
	cfg.Conns = max(cfg.Conns, 1)
	if cfg.Connecting <= 0 {
		cfg.Connecting = 256
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.ID == nil {
		cfg.ID = func(int) string { return "k" }
	}
	if cfg.Resume != nil {
		cfg.Track = true
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = []string{"127.0.0.1"}
	}
	var sources []netip.Addr
	for _, s := range cfg.Sources {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return cfg, nil, target, fmt.Errorf("bench: source %q is not an IPv4 address", s)
		}
		sources = append(sources, a)
	}
	return cfg, sources, target, nil
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// waitSettled waits until every connection is subscribed or failed.
func (c *Client) waitSettled(ctx context.Context) error {
	for {
		settled := 0
		for _, l := range c.loops {
			settled += int(l.settled.Load())
		}
		if settled >= c.cfg.Conns {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d connections settled: %w", settled, c.cfg.Conns, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitReceived waits until the connections have received n pushes in all
// since the last Reset, or ctx is done.
func (c *Client) WaitReceived(ctx context.Context, n int64) error {
	for c.received.Load() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: received %d of %d pushes: %w", c.received.Load(), n, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// Reset clears the latency histograms and the received count, so that the
// next measurement starts clean. Errors are kept.
func (c *Client) Reset() {
	for _, l := range c.loops {
		l.mu.Lock()
		l.latency = Histogram{}
		l.lasts = nil
		l.mu.Unlock()
	}
	c.received.Store(0)
}

// Snapshot merges what every loop has seen.
func (c *Client) Snapshot() Snapshot {
	s := Snapshot{Conns: c.cfg.Conns, Errors: map[string]uint64{}}
	for _, l := range c.loops {
		l.mu.Lock()
		s.Latency.Merge(&l.latency)
		s.Connect.Merge(&l.connect)
		s.CatchUp.Merge(&l.catchUp)
		s.CatchUpOwn.Merge(&l.catchUpOwn)
		s.Fanouts.Merge(l.lasts)
		for k, v := range l.errors {
			s.Errors[k] += v
		}
		l.mu.Unlock()
	}
	s.Subscribed = c.subscribed.Load()
	s.Received = c.received.Load()
	s.CaughtUp = c.caughtUp.Load()
	return s
}

// Finished counts the resuming connections that are caught up or have
// given up (failed to connect or subscribe, got a gap, were closed).
func (c *Client) Finished() int64 { return c.finished.Load() }

// Positions returns, after Close, the last position each tracked
// connection saw of its key: the ack's epoch and the higher of the ack's
// seq and the last seq pushed. known is false for a connection whose sub
// was never acked.
func (c *Client) Positions() (positions []Position, known []bool) {
	positions, known = make([]Position, len(c.recs)), make([]bool, len(c.recs))
	for i := range c.recs {
		r := &c.recs[i]
		positions[i] = Position{Seq: max(r.ack.Seq, r.last), Epoch: r.ack.Epoch}
		known[i] = r.hasAck
	}
	return positions, known
}

// Resumed returns, after Close, the Snapshot of a client with Resume, its
// errors completed with what each connection's replay lacked or had too
// much of, and connections neither caught up nor failed otherwise counted
// as timeouts.
func (c *Client) Resumed() (s Snapshot, expected, received uint64) {
	s = c.Snapshot()
	for i := range c.recs {
		r := &c.recs[i]
		r.track.count(s.Errors)
		expected += r.track.expected()
		received += r.track.got
		if !r.finished {
			s.Errors[ErrTimeout]++
		}
	}
	return s, expected, received
}

// Close closes every connection and stops the loops.
func (c *Client) Close() error {
	if c.closing.Swap(true) {
		c.wg.Wait()
		return nil
	}
	for _, l := range c.loops {
		l.wake()
	}
	c.wg.Wait()
	return nil
}

// errNoEpoll wraps a failure to set up a loop's epoll instance in Open.
var errNoEpoll = errors.New("bench: epoll")

// putSendTime and sendTime keep the payload layout in one place: the first
// 8 bytes of a bench payload are its send time in unix nanoseconds.
func putSendTime(b []byte, t time.Time) { binary.BigEndian.PutUint64(b, uint64(t.UnixNano())) }

func sendTime(payload []byte) (time.Time, bool) {
	if len(payload) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload))), true
}

// subMessage is the sub connection i sends once upgraded.
func (c *Client) subMessage(i int) []byte {
	var since Position
	if c.cfg.Resume != nil {
		since, _ = c.cfg.Resume(i)
	}
	return appendSub(nil, c.cfg.App, c.cfg.ID(i), since, c.cfg.Resume != nil)
}
