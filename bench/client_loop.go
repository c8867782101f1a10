package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A connection's states.
const (
	stateConnecting  uint8 = iota // connect(2) in progress
	stateUpgrading                // request sent, waiting for 101
	stateSubscribing              // sub sent, waiting for the ack
	stateOpen                     // receiving pushes
)

// clientMask masks every frame the client sends; any key is valid.
var clientMask = [4]byte{0x12, 0x34, 0x56, 0x78}

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

// loop drives a share of the connections with one epoll instance.
type loop struct {
	client  *Client
	epfd    int
	wakefd  int // eventfd, to stop the loop
	target  unix.SockaddrInet4
	sources []netip.Addr
	request []byte // the handshake request
	planned []int  // indexes of the connections this loop opens
	next    int
	busy    int // connections between connect and ack
	conns   map[int32]*bconn
	readBuf []byte
	events  []unix.EpollEvent
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
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoEpoll, err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("%w: eventfd: %v", errNoEpoll, err)
	}
	unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)})
	l := &loop{
		client:  c,
		epfd:    epfd,
		wakefd:  wakefd,
		target:  unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()},
		sources: sources,
		request: []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", c.cfg.Path, target)),
		conns:   make(map[int32]*bconn),
		readBuf: make([]byte, 64<<10),
		events:  make([]unix.EpollEvent, 256),
		errors:  make(map[string]uint64),
	}
	return l, nil
}

func (l *loop) wake() {
	var one [8]byte
	one[7] = 1
	unix.Write(l.wakefd, one[:])
}

func (l *loop) run() {
	defer l.client.wg.Done()
	defer l.shutdown()
	share := max(l.client.cfg.Connecting/len(l.client.loops), 1)
	for !l.client.closing.Load() {
		for l.busy < share && l.next < len(l.planned) {
			l.dial(l.planned[l.next])
			l.next++
		}
		n, err := unix.EpollWait(l.epfd, l.events, 100)
		if err != nil && err != unix.EINTR {
			return
		}
		for _, ev := range l.events[:max(n, 0)] {
			if c := l.conns[ev.Fd]; c != nil {
				l.handle(c, ev.Events)
			}
		}
	}
}

func (l *loop) shutdown() {
	for _, c := range l.conns {
		unix.Close(int(c.fd))
	}
	unix.Close(l.epfd)
	unix.Close(l.wakefd)
}

// dial starts connecting connection i.
func (l *loop) dial(i int) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.fail(i, ErrConnect)
		return
	}
	src := l.sources[i%len(l.sources)]
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		unix.Close(fd)
		l.fail(i, ErrConnect)
		return
	}
	c := &bconn{fd: int32(fd), index: int32(i), started: time.Now().UnixNano()}
	if err := unix.Connect(fd, &l.target); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		l.fail(i, ErrConnect)
		return
	}
	l.conns[c.fd] = c
	l.busy++
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.fd})
}

// handle reacts to epoll events on c.
func (l *loop) handle(c *bconn, events uint32) {
	if c.state == stateConnecting {
		l.connected(c)
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
		l.read(c)
	}
}

func (l *loop) connected(c *bconn) {
	if errno, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR); err != nil || errno != 0 {
		l.drop(c, ErrConnect)
		return
	}
	if !l.write(c, l.request) {
		l.drop(c, ErrConnect)
		return
	}
	c.state = stateUpgrading
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.fd})
}

// write writes b whole or reports false: the client's writes are small and
// the socket's buffer is empty when they are made.
func (l *loop) write(c *bconn, b []byte) bool {
	n, err := unix.Write(int(c.fd), b)
	return err == nil && n == len(b)
}

func (l *loop) read(c *bconn) {
	n, err := unix.Read(int(c.fd), l.readBuf)
	if n <= 0 {
		if err == unix.EAGAIN {
			return
		}
		l.drop(c, l.closedKind(c))
		return
	}
	data := l.readBuf[:n]
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	used := l.consume(c, data)
	if l.conns[c.fd] != c {
		return // dropped while consuming
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		c.in = nil
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append([]byte(nil), rest...)
	}
}

// closedKind is the error a connection's end counts as, by its state.
func (l *loop) closedKind(c *bconn) string {
	switch c.state {
	case stateUpgrading:
		return ErrHandshake
	case stateSubscribing:
		return ErrSubscribe
	}
	return ErrClosed
}

// consume handles whole units at the start of data and returns the bytes
// used.
func (l *loop) consume(c *bconn, data []byte) int {
	used := 0
	if c.state == stateUpgrading {
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 {
			return 0
		}
		if !bytes.HasPrefix(data, []byte("HTTP/1.1 101 ")) {
			l.drop(c, ErrHandshake)
			return len(data)
		}
		used = end + 4
		c.state = stateSubscribing
		if !l.write(c, maskedFrame(0x1, l.client.subMessage(int(c.index)))) {
			l.drop(c, ErrSubscribe)
			return len(data)
		}
	}
	for used < len(data) {
		n := l.frame(c, data[used:])
		if n == 0 || l.conns[c.fd] != c {
			break
		}
		used += n
	}
	return used
}

// frame handles one server frame at the start of b and returns its size,
// or 0 if it is not complete.
func (l *loop) frame(c *bconn, b []byte) int {
	if len(b) < 2 {
		return 0
	}
	op := b[0] & 0x0f
	size, length := 2, int(b[1]&0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0
		}
		size, length = 4, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		size, length = 10, int(binary.BigEndian.Uint64(b[2:]))
	}
	// Server frames are unmasked and, from edgepush, never fragmented.
	if b[1]&0x80 != 0 || b[0]&0x80 == 0 || length > 16<<20 {
		l.drop(c, ErrProtocol)
		return len(b)
	}
	if len(b) < size+length {
		return 0
	}
	payload := b[size : size+length]
	switch op {
	case 0x1:
		l.text(c, payload)
	case 0x2:
		l.push(c, payload)
	case 0x8:
		l.drop(c, ErrClosed)
	case 0x9:
		l.write(c, maskedFrame(0xA, payload))
	}
	return size + length
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
	if c.state != stateSubscribing {
		return
	}
	if !bytes.Contains(payload, []byte(`"op":"ack"`)) {
		l.drop(c, ErrSubscribe)
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
	delete(l.conns, c.fd)
	unix.Close(int(c.fd))
}

// maskedFrame builds a final client frame with opcode op.
func maskedFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, clientMask[:]...)
	for i, x := range payload {
		b = append(b, x^clientMask[i%4])
	}
	return b
}
