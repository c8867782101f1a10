package main

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Config tunes a Peer. The zero value takes edgepush's defaults.
type Config struct {
	MaxMessage   int           // largest client message in bytes; default 64 KiB
	MaxIDs       int           // most ids in one sub or unsub; default 256
	Queue        int           // frames queued to one connection before it is cut off; default 256
	PingInterval time.Duration // ping period; default 30 s
}

func (c Config) withDefaults() Config {
	if c.MaxMessage <= 0 {
		c.MaxMessage = 64 << 10
	}
	if c.MaxIDs <= 0 {
		c.MaxIDs = 256
	}
	if c.Queue <= 0 {
		c.Queue = 256
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	return c
}

const (
	maxSubscriptions = 4096             // keys one connection may hold, as in edgepush
	pongWait         = 15 * time.Second // how long a ping may go unanswered
	writeWait        = 10 * time.Second // bound on one write, so a stuck socket frees its goroutine
)

// key is one stream of values: (app, id).
type key struct{ app, id string }

// Peer is the baseline server: one reader and one writer goroutine per
// connection, the way Go WebSocket servers are usually written with
// gorilla/websocket, speaking edgepush's client protocol.
type Peer struct {
	cfg      Config
	upgrader websocket.Upgrader

	mu       sync.Mutex // guards the fields below
	topics   map[key]map[*conn]struct{}
	seqs     map[key]uint64
	live     map[*conn]struct{}
	draining bool

	wg             sync.WaitGroup // one count per connection, released when both goroutines are gone
	connections    atomic.Int64
	upgrades       atomic.Uint64
	publishes      atomic.Uint64
	delivered      atomic.Uint64
	slowConsumers  atomic.Uint64
	framesWritten  atomic.Uint64
	writeFailures  atomic.Uint64
	protocolCloses atomic.Uint64
}

// NewPeer returns a peer with no connections.
func NewPeer(cfg Config) *Peer {
	return &Peer{
		cfg: cfg.withDefaults(),
		// edgepush allows every origin unless told otherwise; gorilla's
		// default would refuse browsers from other hosts.
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		topics:   make(map[key]map[*conn]struct{}),
		seqs:     make(map[key]uint64),
		live:     make(map[*conn]struct{}),
	}
}

// outgoing is one message for a connection's writer: a push shared by all
// subscribers, or an answer meant for this connection only. Queues hold
// pointers, 8 bytes a slot, so that an idle connection's queue is small.
type outgoing struct {
	push   *websocket.PreparedMessage
	answer []byte
}

// conn is one client. Only its reader touches keys; only its writer writes
// data frames (gorilla allows one concurrent writer).
type conn struct {
	ws       *websocket.Conn
	send     chan *outgoing
	done     chan struct{} // closed by kill
	killOnce sync.Once
	keys     map[key]struct{}
}

// ServeHTTP upgrades /ws requests and runs the connection's goroutines.
func (p *Peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	if p.isDraining() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := p.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &conn{ws: ws, send: make(chan *outgoing, p.cfg.Queue), done: make(chan struct{}), keys: map[key]struct{}{}}
	if !p.register(c) {
		ws.Close()
		return
	}
	go p.writeLoop(c)
	go p.readLoop(c)
}

func (p *Peer) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining
}

// register adds c to the live set unless shutdown has begun, so that
// Shutdown never misses a connection.
func (p *Peer) register(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining {
		return false
	}
	p.live[c] = struct{}{}
	p.wg.Add(2)
	p.connections.Add(1)
	p.upgrades.Add(1)
	return true
}

// kill stops c at once: its writer returns and its reader's next read fails.
func (c *conn) kill() {
	c.killOnce.Do(func() {
		close(c.done)
		c.ws.NetConn().Close()
	})
}

// enqueue queues m without blocking. A full queue means the client does not
// read fast enough; it is cut off so it cannot hold back the others.
func (p *Peer) enqueue(c *conn, m *outgoing) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- m:
		return true
	default:
		p.slowConsumers.Add(1)
		c.kill()
		return false
	}
}

// writeLoop is c's only data writer: queued messages and periodic pings.
func (p *Peer) writeLoop(c *conn) {
	defer p.wg.Done()
	defer c.kill()
	ping := time.NewTicker(p.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-c.send:
			if err := p.write(c, m); err != nil {
				p.writeFailures.Add(1)
				return
			}
		case <-ping.C:
			if c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

func (p *Peer) write(c *conn, m *outgoing) error {
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	var err error
	if m.push != nil {
		err = c.ws.WritePreparedMessage(m.push)
	} else {
		err = c.ws.WriteMessage(websocket.TextMessage, m.answer)
	}
	if err == nil {
		p.framesWritten.Add(1)
	}
	return err
}

// readLoop reads c's requests and answers each through the writer, so that
// answers and pushes keep their order on the wire.
func (p *Peer) readLoop(c *conn) {
	defer p.wg.Done()
	defer p.drop(c)
	c.ws.SetReadLimit(int64(p.cfg.MaxMessage)) // gorilla closes with 1009 past it
	extend := func() { c.ws.SetReadDeadline(time.Now().Add(p.cfg.PingInterval + pongWait)) }
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		extend()
		if code := closeCode(typ, data); code != 0 {
			p.protocolCloses.Add(1)
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(writeWait))
			return
		}
		if !p.enqueue(c, &outgoing{answer: p.handle(c, data)}) {
			return
		}
	}
}

// closeCode is the close code a client message earns, or 0 if it is a
// request to answer.
func closeCode(typ int, data []byte) int {
	switch {
	case typ == websocket.BinaryMessage:
		return websocket.CloseUnsupportedData
	case !utf8.Valid(data):
		return websocket.CloseInvalidFramePayloadData
	}
	return 0
}

// drop forgets c: its subscriptions, its place in the live set.
func (p *Peer) drop(c *conn) {
	c.kill()
	p.mu.Lock()
	for k := range c.keys {
		p.unsubscribeLocked(c, k)
	}
	delete(p.live, c)
	p.mu.Unlock()
	p.connections.Add(-1)
}

// subscribe adds all of keys to c, or none if c would pass the limit.
func (p *Peer) subscribe(c *conn, keys []key) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	added := 0
	for _, k := range keys {
		if _, ok := c.keys[k]; !ok {
			added++
		}
	}
	if len(c.keys)+added > maxSubscriptions {
		return false
	}
	for _, k := range keys {
		subs := p.topics[k]
		if subs == nil {
			subs = make(map[*conn]struct{})
			p.topics[k] = subs
		}
		subs[c] = struct{}{}
		c.keys[k] = struct{}{}
	}
	return true
}

// unsubscribe removes keys from c. It holds the lock that Publish holds, so
// no push queued after it returns is for those keys.
func (p *Peer) unsubscribe(c *conn, keys []key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		p.unsubscribeLocked(c, k)
	}
}

func (p *Peer) unsubscribeLocked(c *conn, k key) {
	delete(c.keys, k)
	if subs := p.topics[k]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(p.topics, k)
		}
	}
}

// Publish gives k its next sequence number, encodes the push once as a
// prepared message and queues it to every subscriber. The lock is held
// throughout so that concurrent publishes to a key reach every client in
// sequence order.
func (p *Peer) Publish(k key, binaryPush bool, data []byte) (seq uint64, delivered int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seqs[k]++
	seq = p.seqs[k]
	ts := time.Now().UnixMilli()
	var pm *websocket.PreparedMessage
	if binaryPush {
		pm, err = websocket.NewPreparedMessage(websocket.BinaryMessage, appendBinaryPush(nil, k, seq, ts, data))
	} else {
		pm, err = websocket.NewPreparedMessage(websocket.TextMessage, appendTextPush(nil, k, seq, ts, data))
	}
	if err != nil {
		return 0, 0, err
	}
	m := &outgoing{push: pm} // shared and never changed
	for c := range p.topics[k] {
		if p.enqueue(c, m) {
			delivered++
		}
	}
	p.publishes.Add(1)
	p.delivered.Add(uint64(delivered))
	return seq, delivered, nil
}

// appendBinaryPush appends the binary push layout of docs/protocol.md:
// u8 version 1, u8 len(app), app, u8 len(id), id, u64 seq, i64 ts, data.
func appendBinaryPush(b []byte, k key, seq uint64, ts int64, data []byte) []byte {
	b = append(b, 1, byte(len(k.app)))
	b = append(b, k.app...)
	b = append(b, byte(len(k.id)))
	b = append(b, k.id...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return append(b, data...)
}

// appendTextPush appends {"op":"data",...,"data":<data>}; data is already a
// JSON value and goes in unchanged.
func appendTextPush(b []byte, k key, seq uint64, ts int64, data []byte) []byte {
	b = append(b, `{"op":"data","app":`...)
	b = appendJSONString(b, k.app)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, k.id)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// Shutdown refuses new connections, sends every client close 1001 and waits
// until they are gone or the deadline passes; then it cuts the rest.
func (p *Peer) Shutdown(deadline time.Time) {
	p.mu.Lock()
	p.draining = true
	conns := make([]*conn, 0, len(p.live))
	for c := range p.live {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	goingAway := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
	for _, c := range conns {
		c.ws.WriteControl(websocket.CloseMessage, goingAway, deadline)
	}
	gone := make(chan struct{})
	go func() { p.wg.Wait(); close(gone) }()
	select {
	case <-gone:
	case <-time.After(time.Until(deadline)):
		for _, c := range conns {
			c.kill()
		}
		<-gone
	}
}
