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

	subscribed atomic.Int64
	received   atomic.Int64
	closing    atomic.Bool
	wg         sync.WaitGroup
}

// Snapshot is what a client has seen.
type Snapshot struct {
	Conns      int               `json:"conns"`
	Subscribed int64             `json:"subscribed"`
	Received   int64             `json:"received"`
	Errors     map[string]uint64 `json:"errors"`
	Latency    Histogram         `json:"latency"`
	Connect    Histogram         `json:"connect"` // connect to ack of the subscription
}

// Open connects cfg.Conns connections, upgrades and subscribes each, and
// returns when all are subscribed or have failed, or ctx is done.
func Open(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cfg, sources, target, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newLoop(c, target, sources)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.loops = append(c.loops, l)
	}
	for i := 0; i < cfg.Conns; i++ {
		l := c.loops[i%len(c.loops)]
		l.planned = append(l.planned, i)
	}
	for _, l := range c.loops {
		c.wg.Add(1)
		go l.run()
	}
	err = c.waitSettled(ctx)
	return c, err
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
		for k, v := range l.errors {
			s.Errors[k] += v
		}
		l.mu.Unlock()
	}
	s.Subscribed = c.subscribed.Load()
	s.Received = c.received.Load()
	return s
}

// Close closes every connection and stops the loops.
func (c *Client) Close() error {
	c.closing.Store(true)
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
