package bench

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The two nodes of a drain run, as indexes into drainClientConfig.nodes.
const (
	nodeA uint8 = iota // drained: the clients start here
	nodeB              // takes them over
)

// closeGoingAway is the close code a draining node sends (RFC 6455).
const closeGoingAway = 1001

// drainClientConfig describes the clients of one drain run.
type drainClientConfig struct {
	nodes      [2]netip.AddrPort // WebSocket listeners of node A and node B
	sources    [2][]netip.Addr   // local addresses of the connections to each node; client i uses i mod len
	conns      int               // clients, one connection each
	keys       int               // client i subscribes to KeyID(i mod keys)
	connecting int               // connections to A between connect(2) and ack at once
	loops      int               // epoll loops
	jitter     time.Duration     // after A's 1001, wait uniform [0, jitter) before dialing B
}

// drainClients are clients that each hold one WebSocket connection, first
// to node A and, once A closes it with 1001, to node B: the socket to A is
// closed before B is dialed, so the process never holds more than one
// socket per client. Epoll loops drive them, no goroutine per connection.
// The connections to A are paced (at most connecting at once); those to B
// are not: each client dials B the moment its wait is over, as a load
// balancer sends them on.
//
// The times of each client are written only by the loop that owns it and
// read by times after stop; the counters may be read at any time.
type drainClients struct {
	cfg      drainClientConfig
	base     time.Time // times are nanoseconds since base, on the monotonic clock
	closedAt []int64   // by client: when A's 1001 arrived; 0 for never
	ackedAt  []int64   // by client: when B acked the sub; 0 for never
	loops    []*drainLoop

	subscribedA atomic.Int64 // acked by A
	failedA     atomic.Int64 // never subscribed to A
	closed      atomic.Int64 // got 1001 from A
	reconnected atomic.Int64 // acked by B
	lost        atomic.Int64 // subscribed to A, then neither closed with 1001 nor acked by B
	stopping    atomic.Bool
	wg          sync.WaitGroup
}

// drainConn is one connection of a client, to A or to B.
type drainConn struct {
	fd    int32
	index int32 // the client
	node  uint8
	state uint8 // stateConnecting ... stateOpen, as in epoll.go
	in    []byte
}

// wire gives the shared code in epoll.go c's socket, state and pending
// bytes.
func (c *drainConn) wire() (int32, *uint8, *[]byte) { return c.fd, &c.state, &c.in }

// drainLoop drives a share of the clients with one epoll instance: the
// shared code in epoll.go runs it (drainLoop is its wsLoop) and hands it
// each text and close frame.
type drainLoop struct {
	poller
	clients  *drainClients
	addrs    [2]unix.SockaddrInet4
	sources  [2][]unix.SockaddrInet4 // port 0: chosen at connect(2)
	requests [2][]byte               // the handshake request to each node
	planned  []int                   // clients this loop connects to A
	next     int
	busy     int // connections to A between connect and ack
	conns    map[int32]*drainConn
	redials  redialQueue       // clients waiting out their jitter
	errors   map[string]uint64 // "a:kind" or "b:kind"; read after stop
}

// startDrainClients starts the loops, which start connecting to A at once.
func startDrainClients(cfg drainClientConfig) (*drainClients, error) {
	c := &drainClients{
		cfg: cfg, base: time.Now(),
		closedAt: make([]int64, cfg.conns), ackedAt: make([]int64, cfg.conns),
	}
	var err error
	c.loops, err = makeLoops(cfg.loops, func() (*drainLoop, error) { return newDrainLoop(c) })
	if err != nil {
		c.stop()
		return nil, err
	}
	startLoops(c.loops, cfg.conns, &c.wg)
	return c, nil
}

func newDrainLoop(c *drainClients) (*drainLoop, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := &drainLoop{
		poller: p, clients: c,
		conns:  make(map[int32]*drainConn),
		errors: make(map[string]uint64),
	}
	for node, addr := range c.cfg.nodes {
		l.addrs[node] = unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
		for _, source := range c.cfg.sources[node] {
			l.sources[node] = append(l.sources[node], unix.SockaddrInet4{Addr: source.As4()})
		}
		l.requests[node] = upgradeRequest("/ws", addr)
	}
	return l, nil
}

// now is the time since base, in nanoseconds, never 0.
func (c *drainClients) now() int64 { return max(int64(time.Since(c.base)), 1) }

// setupSettled reports whether every client is subscribed to A or failed.
func (c *drainClients) setupSettled() bool {
	return c.subscribedA.Load()+c.failedA.Load() >= int64(c.cfg.conns)
}

// drainSettled reports whether every client subscribed to A has been
// acked by B or lost.
func (c *drainClients) drainSettled() bool {
	return c.reconnected.Load()+c.lost.Load() >= c.subscribedA.Load()
}

// stop closes every connection and waits for the loops to end. It may be
// called more than once.
func (c *drainClients) stop() {
	if !c.stopping.Swap(true) {
		for _, l := range c.loops {
			l.wake()
		}
	}
	c.wg.Wait()
}

// errors merges the loops' error counts; only after stop.
func (c *drainClients) errors() map[string]uint64 {
	errs := map[string]uint64{}
	for _, l := range c.loops {
		addErrors(errs, l.errors)
	}
	return errs
}

// plan makes client i one this loop connects to A; before run only.
func (l *drainLoop) plan(i int) { l.planned = append(l.planned, i) }

// run runs the loop until stop; on the loop's goroutine.
func (l *drainLoop) run() { runEpoll(&l.poller, l) }

// The methods of wsLoop (see epoll.go).
func (l *drainLoop) stopping() bool                    { return l.clients.stopping.Load() }
func (l *drainLoop) connections() map[int32]*drainConn { return l.conns }
func (l *drainLoop) handshake(c *drainConn) []byte     { return l.requests[c.node] }
func (l *drainLoop) refusal(response []byte) string    { return handshakeKind(response) }

// subscription is the sub of client c.index: to its key, from now on.
func (l *drainLoop) subscription(c *drainConn) []byte {
	return appendSub(nil, "bench", KeyID(int(c.index)%l.clients.cfg.keys), Position{}, false)
}

// dialDue dials A for planned clients while fewer than the loop's share
// of connecting are between connect and ack, and B for the clients whose
// wait is over; epoll then waits until the next redial is due.
func (l *drainLoop) dialDue() int {
	share := max(l.clients.cfg.connecting/len(l.clients.loops), 1)
	for l.busy < share && l.next < len(l.planned) {
		l.dial(l.planned[l.next], nodeA)
		l.next++
	}
	l.redialDue()
	return l.waitMS()
}

// waitMS is how long epoll may wait: until the next redial is due, at most
// 100 ms.
func (l *drainLoop) waitMS() int {
	if len(l.redials) == 0 {
		return 100
	}
	wait := time.Duration(l.redials[0].due - l.clients.now())
	return int(min(max((wait+time.Millisecond-1)/time.Millisecond, 0), 100))
}

// redialDue dials B for every client whose wait is over.
func (l *drainLoop) redialDue() {
	now := l.clients.now()
	for len(l.redials) > 0 && l.redials[0].due <= now {
		r := heap.Pop(&l.redials).(redial)
		l.dial(int(r.index), nodeB)
	}
}

// dial starts connecting client i to node.
func (l *drainLoop) dial(i int, node uint8) {
	fd, ok := l.poller.startConnect(&l.sources[node][i%len(l.sources[node])], &l.addrs[node])
	if !ok {
		l.fail(i, node, ErrConnect)
		return
	}
	l.conns[fd] = &drainConn{fd: fd, index: int32(i), node: node}
	if node == nodeA {
		l.busy++
	}
}

// message handles a server frame other than a ping.
func (l *drainLoop) message(c *drainConn, op byte, payload []byte) {
	switch op {
	case opText:
		l.text(c, payload)
	case opClose:
		l.closeFrame(c, payload)
	}
}

// handshakeKind names a refused upgrade by its status: handshake_503 for
// the answer of a draining node.
func handshakeKind(response []byte) string {
	status, ok := bytes.CutPrefix(response, []byte("HTTP/1.1 "))
	if !ok || len(status) < 3 {
		return ErrHandshake
	}
	if _, err := strconv.Atoi(string(status[:3])); err != nil {
		return ErrHandshake
	}
	return ErrHandshake + "_" + string(status[:3])
}

// text handles a text message: only the ack of the sub counts; nothing is
// published in a drain run.
func (l *drainLoop) text(c *drainConn, payload []byte) {
	if !subAcked(l, c, payload) {
		return
	}
	c.state = stateOpen
	if c.node == nodeA {
		l.busy--
		l.clients.subscribedA.Add(1)
		return
	}
	l.clients.ackedAt[c.index] = l.clients.now()
	l.clients.reconnected.Add(1)
}

// closeFrame handles a close from the server. A 1001 from A to a
// subscribed client is the drain: the client answers it, closes the
// socket and goes to B, at once or after its jitter. Any other close is
// an error.
func (l *drainLoop) closeFrame(c *drainConn, payload []byte) {
	code := 1005 // no status
	if len(payload) >= 2 {
		code = int(binary.BigEndian.Uint16(payload))
	}
	if c.node != nodeA || c.state != stateOpen || code != closeGoingAway {
		l.drop(c, "close_"+strconv.Itoa(code))
		return
	}
	i := int(c.index)
	l.clients.closedAt[i] = l.clients.now()
	l.clients.closed.Add(1)
	writeWhole(c.fd, maskedFrame(opClose, payload[:2]))
	l.remove(c)
	if l.clients.cfg.jitter <= 0 {
		l.dial(i, nodeB)
		return
	}
	wait := rand.Int64N(int64(l.clients.cfg.jitter))
	heap.Push(&l.redials, redial{due: l.clients.closedAt[i] + wait, index: int32(i)})
}

// fail counts an error for client i, whose connection to node never got
// a socket.
func (l *drainLoop) fail(i int, node uint8, kind string) {
	l.count(node, kind)
	if node == nodeA {
		l.clients.failedA.Add(1)
		return
	}
	l.clients.lost.Add(1)
}

// drop counts kind for c, closes it, and settles its client: failed on A
// before its ack, lost after it or on B before B's ack. A connection to B
// that was acked only counts the error.
func (l *drainLoop) drop(c *drainConn, kind string) {
	if l.clients.stopping.Load() {
		l.remove(c)
		return
	}
	l.count(c.node, kind)
	switch {
	case c.node == nodeA && c.state != stateOpen:
		l.busy--
		l.clients.failedA.Add(1)
	case c.node == nodeA || c.state != stateOpen:
		l.clients.lost.Add(1)
	}
	l.remove(c)
}

// remove forgets c and closes its socket.
func (l *drainLoop) remove(c *drainConn) { forget(l.conns, c.fd) }

// count adds one error of kind on node, as "a:kind" or "b:kind".
func (l *drainLoop) count(node uint8, kind string) {
	l.errors[string(rune('a'+node))+":"+kind]++
}

// redial is a client waiting to dial B, due in nanoseconds since base.
type redial struct {
	due   int64
	index int32
}

// redialQueue is a min-heap of redials by due time (container/heap).
type redialQueue []redial

func (q redialQueue) Len() int           { return len(q) }
func (q redialQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q redialQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *redialQueue) Push(x any)        { *q = append(*q, x.(redial)) }
func (q *redialQueue) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	return r
}
