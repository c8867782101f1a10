package bench

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// bconn is one client connection: a few dozen bytes while idle.
type bconn struct {
	fd      int32
	state   uint8
	index   int32
	started int64  // unix ns of connect
	lastSeq uint64 // 0 until the first push
	current uint64 // the seq of the current value the server sends after the ack, not yet seen; 0 for none
	in      []byte // a partial frame, owned
}

// wire gives the shared code in epoll.go c's socket, state and pending
// bytes.
func (c *bconn) wire() (int32, *uint8, *[]byte) { return c.fd, &c.state, &c.in }

// loop drives a share of the connections with one epoll instance: the
// shared code in epoll.go runs it (loop is its wsLoop) and hands it each
// text, binary and close frame.
type loop struct {
	poller
	client  *Client
	target  unix.SockaddrInet4
	sources []unix.SockaddrInet4 // port 0: chosen at connect(2)
	request []byte               // the handshake request
	planned []int                // indexes of the connections this loop opens
	next    int
	busy    int // connections between connect and ack
	conns   map[int32]*bconn
	settled atomic.Int64

	mu         sync.Mutex // guards the following
	latency    Histogram
	connect    Histogram
	catchUp    Histogram // with Resume: ClientConfig.Start to caught up
	catchUpOwn Histogram // with Resume: connect to caught up
	errors     map[string]uint64
	lasts      Fanouts // each push's last arrival here
}

func newLoop(c *Client, target netip.AddrPort, sources []netip.Addr) (*loop, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := &loop{
		poller:  p,
		client:  c,
		target:  unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()},
		request: upgradeRequest(c.cfg.Path, target),
		conns:   make(map[int32]*bconn),
		errors:  make(map[string]uint64),
	}
	for _, source := range sources {
		l.sources = append(l.sources, unix.SockaddrInet4{Addr: source.As4()})
	}
	return l, nil
}

// plan makes connection i one this loop opens; before run only.
func (l *loop) plan(i int) { l.planned = append(l.planned, i) }

// run runs the loop until the client closes; on the loop's goroutine.
func (l *loop) run() { runEpoll(&l.poller, l) }

// The methods of wsLoop (see epoll.go), and consume for the tests.
func (l *loop) stopping() bool                    { return l.client.closing.Load() }
func (l *loop) connections() map[int32]*bconn     { return l.conns }
func (l *loop) handshake(*bconn) []byte           { return l.request }
func (l *loop) subscription(c *bconn) []byte      { return l.client.subMessage(int(c.index)) }
func (l *loop) refusal([]byte) string             { return ErrHandshake }
func (l *loop) consume(c *bconn, data []byte) int { return consumeUnits(l, c, data) }

// dialDue dials planned connections while fewer than the loop's share of
// ClientConfig.Connecting are between connect and ack; epoll then waits
// at most 100 ms.
func (l *loop) dialDue() int {
	share := max(l.client.cfg.Connecting/len(l.client.loops), 1)
	for l.busy < share && l.next < len(l.planned) {
		l.dial(l.planned[l.next])
		l.next++
	}
	return 100
}

// dial starts connecting connection i.
func (l *loop) dial(i int) {
	started := time.Now().UnixNano()
	fd, ok := l.poller.startConnect(&l.sources[i%len(l.sources)], &l.target)
	if !ok {
		l.fail(i, ErrConnect)
		return
	}
	l.conns[fd] = &bconn{fd: fd, index: int32(i), started: started}
	l.busy++
}

// message handles a server frame other than a ping.
func (l *loop) message(c *bconn, op byte, payload []byte) {
	switch op {
	case opText:
		l.text(c, payload)
	case opBinary:
		l.push(c, payload)
	case opClose:
		l.drop(c, ErrClosed)
	}
}

// text handles a text message: the answer to the subscription, and with
// Track text pushes and gaps.
func (l *loop) text(c *bconn, payload []byte) {
	if l.client.recs == nil {
		l.plainText(c, payload)
		return
	}
	m, ok := parseServerText(payload)
	switch {
	case !ok && c.state == stateSubscribing:
		l.drop(c, ErrSubscribe)
	case !ok:
		l.count(ErrProtocol)
	case m.Op == "data":
		if c.state == stateSubscribing {
			l.count(ErrProtocol) // a push before the ack of the first sub
		}
		l.seq(c, m.Seq)
		l.client.received.Add(1)
	case m.Op == "gap":
		l.count(ErrGap)
		l.client.recs[c.index].gap = true
		l.finish(int(c.index))
	case c.state != stateSubscribing:
		if m.Op == "error" {
			l.count(ErrServer)
		}
	case m.Op == "ack":
		l.acked(c, m)
	case m.Op == "error" && m.Code != "":
		l.drop(c, ErrSubscribe+":"+m.Code)
	default:
		l.drop(c, ErrSubscribe)
	}
}

// plainText handles a text message of a client without Track: only the
// ack of its sub counts.
func (l *loop) plainText(c *bconn, payload []byte) {
	if !subAcked(l, c, payload) {
		return
	}
	// A key already published is followed by its current value, with the
	// seq the ack gives: that is no push of this run.
	if m, ok := parseServerText(payload); ok {
		for _, pos := range m.Keys {
			c.current = max(c.current, pos.Seq)
		}
		c.lastSeq = c.current
	}
	l.opened(c)
}

// opened moves c past its sub's ack.
func (l *loop) opened(c *bconn) {
	c.state = stateOpen
	l.busy--
	l.settled.Add(1)
	l.client.subscribed.Add(1)
	l.mu.Lock()
	l.connect.Record(time.Duration(time.Now().UnixNano() - c.started))
	l.mu.Unlock()
}

// acked records the position the ack of a tracked connection's sub gave
// and, when resuming, checks it against the position to catch up to.
func (l *loop) acked(c *bconn, m serverText) {
	r := &l.client.recs[c.index]
	pos, ok := m.Keys[l.client.cfg.ID(int(c.index))]
	r.ack, r.hasAck = pos, true
	l.opened(c)
	if l.client.cfg.Resume == nil {
		return
	}
	since, want := l.client.cfg.Resume(int(c.index))
	if !ok || pos.Seq != want {
		l.count(ErrAckSeq)
	}
	if ok && since.Epoch != "" && pos.Epoch != since.Epoch {
		l.count(ErrEpoch)
	}
	if r.track.complete() && !r.gap {
		l.caughtUp(c)
	}
}

// seq takes the seq of a push to c, binary or text.
func (l *loop) seq(c *bconn, seq uint64) {
	if l.client.recs == nil {
		l.checkSeq(c, seq)
		return
	}
	r := &l.client.recs[c.index]
	r.last = max(r.last, seq)
	if l.client.cfg.Resume == nil {
		l.checkSeq(c, seq)
		return
	}
	if r.track.add(seq) && c.state == stateOpen && !r.gap {
		l.caughtUp(c)
	}
}

// caughtUp records that c has received every push it was to catch up on.
func (l *loop) caughtUp(c *bconn) {
	now := time.Now()
	l.mu.Lock()
	l.catchUp.Record(now.Sub(l.client.cfg.Start))
	l.catchUpOwn.Record(time.Duration(now.UnixNano() - c.started))
	l.mu.Unlock()
	l.client.caughtUp.Add(1)
	l.finish(int(c.index))
}

// finish counts connection i as done, once: caught up or given up.
func (l *loop) finish(i int) {
	if l.client.recs == nil || l.client.recs[i].finished {
		return
	}
	l.client.recs[i].finished = true
	l.client.finished.Add(1)
}

// push handles a binary push: u8 version, u8 len(app), app, u8 len(id),
// id, u64 seq, i64 ts, payload whose first 8 bytes are the send time.
func (l *loop) push(c *bconn, p []byte) {
	if len(p) < 2 || p[0] != 1 {
		l.count(ErrProtocol)
		return
	}
	at := 2 + int(p[1])
	if len(p) < at+1 {
		l.count(ErrProtocol)
		return
	}
	at += 1 + int(p[at])
	if len(p) < at+16 {
		l.count(ErrProtocol)
		return
	}
	seq := binary.BigEndian.Uint64(p[at:])
	if c.current != 0 && seq == c.current {
		c.current = 0 // the current value after the ack (see plainText)
		return
	}
	l.seq(c, seq)
	sent, ok := sendTime(p[at+16:])
	now := time.Now()
	l.mu.Lock()
	if ok {
		l.latency.Record(now.Sub(sent))
		l.lasts.record(sent, now)
	}
	l.mu.Unlock()
	l.client.received.Add(1)
}

func (l *loop) checkSeq(c *bconn, seq uint64) {
	switch {
	case c.lastSeq == 0 || seq == c.lastSeq+1:
	case seq == c.lastSeq:
		l.count(ErrDuplicate)
	case seq < c.lastSeq:
		l.count(ErrOutOfOrder)
	default:
		l.countN(ErrMissingSeq, seq-c.lastSeq-1)
	}
	c.lastSeq = max(c.lastSeq, seq)
}

func (l *loop) count(kind string) { l.countN(kind, 1) }

func (l *loop) countN(kind string, n uint64) {
	l.mu.Lock()
	l.errors[kind] += n
	l.mu.Unlock()
}

// fail counts an error for connection i, which never got a socket.
func (l *loop) fail(i int, kind string) {
	l.count(kind)
	l.settled.Add(1)
	l.finish(i)
}

// drop counts kind, closes c and settles it if it was not yet subscribed.
func (l *loop) drop(c *bconn, kind string) {
	if l.client.closing.Load() {
		kind = ""
	}
	if kind != "" {
		l.count(kind)
	}
	if c.state != stateOpen {
		l.busy--
		l.settled.Add(1)
	}
	if kind != "" {
		l.finish(int(c.index))
	}
	forget(l.conns, c.fd)
}
