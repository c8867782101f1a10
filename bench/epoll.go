package bench

import (
	"bytes"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// A connection's states.
const (
	stateConnecting  uint8 = iota // connect(2) in progress
	stateUpgrading                // request sent, waiting for 101
	stateSubscribing              // sub sent, waiting for the ack
	stateOpen                     // receiving pushes
)

// readable is the events on which a connection past connect(2) is read.
const readable = unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLHUP | unix.EPOLLRDHUP

// poller is the epoll instance of one loop of WebSocket clients, the
// eventfd that wakes it, and the buffers the loop reads into. Only the
// loop's goroutine uses it, but for wake.
type poller struct {
	epfd    int
	wakefd  int
	readBuf []byte // one read's bytes, valid until the loop's next read
	events  []unix.EpollEvent
}

// newPoller creates a poller; the error wraps errNoEpoll.
func newPoller() (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return poller{}, fmt.Errorf("%w: %w", errNoEpoll, err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return poller{}, fmt.Errorf("%w: eventfd: %w", errNoEpoll, err)
	}
	unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)})
	return poller{epfd: epfd, wakefd: wakefd, readBuf: make([]byte, 64<<10), events: make([]unix.EpollEvent, 256)}, nil
}

// wake makes the loop's epoll_wait return, so that it sees it is to stop.
// Any goroutine may call it.
func (p *poller) wake() {
	var one [8]byte
	one[7] = 1
	unix.Write(p.wakefd, one[:])
}

// close closes the epoll instance and the eventfd.
func (p *poller) close() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

// startConnect opens a non-blocking socket from source (port 0: chosen at
// connect(2)), starts connecting it to target and watches it for the end
// of connect(2). It reports false, holding no socket, if a step fails.
func (p *poller) startConnect(source, target *unix.SockaddrInet4) (int32, bool) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if err := unix.Bind(fd, source); err != nil {
		unix.Close(fd)
		return 0, false
	}
	if err := unix.Connect(fd, target); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return 0, false
	}
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)})
	return int32(fd), true
}

// wsConn is a connection of a loop, a pointer. wire returns its socket
// and pointers to its state (stateConnecting ... stateOpen) and to the
// bytes of a partial unit kept from its last read, which the loop owns.
type wsConn interface {
	comparable
	wire() (fd int32, state *uint8, pending *[]byte)
}

// wsLoop is what differs between the epoll loops of WebSocket clients,
// Client's loop and the drain run's drainLoop, for the code they share
// here. C is the loop's connection type. Every method is called on the
// loop's goroutine, from runEpoll or from the loop's own methods.
type wsLoop[C wsConn] interface {
	// stopping reports whether the loop is to end.
	stopping() bool
	// dialDue dials what is due and returns how long epoll may wait, in
	// milliseconds.
	dialDue() int
	// connections are the loop's open connections by socket.
	connections() map[int32]C
	// handshake is the upgrade request c sends once connected.
	handshake(c C) []byte
	// subscription is the sub c sends, unmasked, once upgraded.
	subscription(c C) []byte
	// refusal is the error kind of an upgrade answered with response,
	// which is no 101.
	refusal(response []byte) string
	// message handles a frame to c other than a ping; payload is valid
	// only during the call.
	message(c C, op byte, payload []byte)
	// drop counts kind for c, closes it and forgets it.
	drop(c C, kind string)
}

// runEpoll runs l's connections on p until l is stopping or epoll_wait
// fails, then closes every connection l holds, and p. It is the body of
// the loop's goroutine.
func runEpoll[C wsConn](p *poller, l wsLoop[C]) {
	defer func() {
		for fd := range l.connections() {
			unix.Close(int(fd))
		}
		p.close()
	}()
	for !l.stopping() {
		n, err := unix.EpollWait(p.epfd, p.events, l.dialDue())
		if err != nil && err != unix.EINTR {
			return
		}
		for _, ev := range p.events[:max(n, 0)] {
			if c, ok := l.connections()[ev.Fd]; ok {
				handleEvents(p, l, c, ev.Events)
			}
		}
	}
}

// handleEvents reacts to epoll events on c.
func handleEvents[C wsConn](p *poller, l wsLoop[C], c C, events uint32) {
	_, state, _ := c.wire()
	if *state == stateConnecting {
		finishConnect(p, l, c)
		return
	}
	if events&readable != 0 {
		receive(p.readBuf, l, c)
	}
}

// finishConnect sends the upgrade request once connect(2) has succeeded.
func finishConnect[C wsConn](p *poller, l wsLoop[C], c C) {
	fd, state, _ := c.wire()
	errno, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || errno != 0 || !writeWhole(fd, l.handshake(c)) {
		l.drop(c, ErrConnect)
		return
	}
	*state = stateUpgrading
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: fd})
}

// writeWhole writes b whole or reports false: the client's writes are
// small and the socket's buffer is empty when they are made.
func writeWhole(fd int32, b []byte) bool {
	n, err := unix.Write(int(fd), b)
	return err == nil && n == len(b)
}

// receive reads what c's socket holds into buf, behind the bytes c kept
// from its last read, consumes the whole units and keeps the rest. An end
// of the connection drops it with closedKind.
func receive[C wsConn](buf []byte, l wsLoop[C], c C) {
	fd, state, pending := c.wire()
	n, err := unix.Read(int(fd), buf)
	if n <= 0 {
		if err == unix.EAGAIN {
			return
		}
		l.drop(c, closedKind(*state))
		return
	}
	data := buf[:n]
	if len(*pending) > 0 {
		*pending = append(*pending, data...)
		data = *pending
	}
	used := consumeUnits(l, c, data)
	if holds(l, c) {
		*pending = keepRest(*pending, data[used:])
	}
}

// keepRest is what a connection keeps of a read whose unused end is rest:
// nothing, or rest moved to the front of pending when rest lies in it, or
// else a copy of rest, which lies in the read buffer the next read
// overwrites.
func keepRest(pending, rest []byte) []byte {
	switch {
	case len(rest) == 0:
		return nil
	case len(pending) > 0:
		return pending[:copy(pending, rest)]
	default:
		return append([]byte(nil), rest...)
	}
}

// holds reports whether c is still open in l: not dropped.
func holds[C wsConn](l wsLoop[C], c C) bool {
	fd, _, _ := c.wire()
	return l.connections()[fd] == c
}

// closedKind is the error a connection's end counts as, by its state.
func closedKind(state uint8) string {
	switch state {
	case stateUpgrading:
		return ErrHandshake
	case stateSubscribing:
		return ErrSubscribe
	}
	return ErrClosed
}

// consumeUnits handles the whole units at the start of data, the answer
// to the upgrade and then frames, and returns the bytes used. It stops
// early if c is dropped.
func consumeUnits[C wsConn](l wsLoop[C], c C, data []byte) int {
	used, ok := upgraded(l, c, data)
	for ok && used < len(data) {
		n := handleFrame(l, c, data[used:])
		if n == 0 || !holds(l, c) {
			break
		}
		used += n
	}
	return used
}

// upgraded handles the answer to c's upgrade at the start of data, if c is
// waiting for it, and sends the sub. It returns the bytes used and whether
// frames may follow.
func upgraded[C wsConn](l wsLoop[C], c C, data []byte) (int, bool) {
	fd, state, _ := c.wire()
	if *state != stateUpgrading {
		return 0, true
	}
	size, switched := upgradeResponse(data)
	switch {
	case size == 0:
		return 0, false
	case !switched:
		l.drop(c, l.refusal(data))
		return len(data), false
	}
	*state = stateSubscribing
	if !writeWhole(fd, maskedFrame(opText, l.subscription(c))) {
		l.drop(c, ErrSubscribe)
		return len(data), false
	}
	return size, true
}

// handleFrame handles one server frame at the start of b and returns its
// size, or 0 if it is not complete. It answers a ping itself; a bad frame
// drops c with ErrProtocol.
func handleFrame[C wsConn](l wsLoop[C], c C, b []byte) int {
	op, payload, size, err := parseFrame(b)
	switch {
	case err != nil:
		l.drop(c, ErrProtocol)
		return len(b)
	case size == 0:
		return 0
	case op == opPing:
		fd, _, _ := c.wire()
		writeWhole(fd, maskedFrame(opPong, payload))
	default:
		l.message(c, op, payload)
	}
	return size
}

// subAcked reports whether payload, a text message to c, is the ack its
// sub waits for. Once c is open no text is; c waiting for the ack and
// getting anything else is dropped with ErrSubscribe.
func subAcked[C wsConn](l wsLoop[C], c C, payload []byte) bool {
	_, state, _ := c.wire()
	if *state != stateSubscribing {
		return false
	}
	if !bytes.Contains(payload, []byte(`"op":"ack"`)) {
		l.drop(c, ErrSubscribe)
		return false
	}
	return true
}

// forget removes the connection on fd from conns and closes its socket.
func forget[C any](conns map[int32]C, fd int32) {
	delete(conns, fd)
	unix.Close(int(fd))
}

// epollLoop is a loop as startLoops starts it.
type epollLoop interface {
	plan(i int) // the loop is to open connection i
	run()       // runs the loop until it stops; on the loop's goroutine
}

// makeLoops makes n loops with newLoop, stopping at the first error: the
// loops made until then are returned with it, for the caller to close.
func makeLoops[L any](n int, newLoop func() (L, error)) ([]L, error) {
	var loops []L
	for range n {
		l, err := newLoop()
		if err != nil {
			return loops, err
		}
		loops = append(loops, l)
	}
	return loops, nil
}

// startLoops gives connection i of conns to loops[i mod len(loops)] and
// runs each loop on a goroutine of its own, counted in wg.
func startLoops[L epollLoop](loops []L, conns int, wg *sync.WaitGroup) {
	for i := range conns {
		loops[i%len(loops)].plan(i)
	}
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
}
