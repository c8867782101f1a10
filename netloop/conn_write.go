package netloop

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"edgepush/frame"
)

// The write path.
//
// A connection's queue holds shared frames (package frame) and the number of
// bytes they and anything handed to netpoll's output buffer add up to. A
// frame that would take that past MaxPending, unless the queue is empty,
// marks the connection a slow consumer: the frame is dropped, counted, and
// the connection is cut off. (An empty queue takes any frame, so a frame
// larger than MaxPending still reaches a client that keeps up.)
//
// Whoever sets scheduled owns the drain until it clears it: a writer
// goroutine, or the goroutine waiting on a full socket. So one connection is
// written by one goroutine at a time, and frames leave in queue order.
//
// A writer takes a connection's whole queue and writes it with one
// writev(2) straight to the socket, which netpoll keeps non-blocking. If the
// socket takes only part, the rest is copied into netpoll's output buffer
// and a goroutine waits in Flush until netpoll's poller has written it (or
// WriteTimeout passes): a goroutine exists only while a socket is full.
//
// The file descriptor is used only under wmu, and the close callback sets
// fdClosed under wmu before netpoll closes the descriptor, so a write never
// reaches a descriptor that has been closed and perhaps reused.

// errConnClosed reports a write to a connection netpoll has closed.
var errConnClosed = errors.New("netloop: connection closed")

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux).
const maxIovecs = 1024

// Send implements Conn.
func (c *conn) Send(f *frame.Frame) bool {
	return c.enqueue(f, afterNothing, true)
}

// Queue implements Conn.
func (c *conn) Queue(f *frame.Frame) bool {
	return c.enqueue(f, afterNothing, false)
}

// Close implements Conn.
func (c *conn) Close(code ws.StatusCode) { c.fail(code) }

// Frames implements Conn.
func (c *conn) Frames() *frame.Pool { return c.server.frames }

// enqueue adds f to the queue and then, if after is not afterNothing,
// refuses further frames and records what to do once f is written. A final
// frame (after != afterNothing) is not subject to MaxPending. With wake the
// writer is woken; without, it is left for the next wake.
func (c *conn) enqueue(f *frame.Frame, after afterWrite, wake bool) bool {
	c.mu.Lock()
	if c.refusing {
		c.mu.Unlock()
		c.server.metrics.drop(c.dropReason(), 1, f.Len())
		return false
	}
	if after == afterNothing && c.queued > 0 && c.queued+f.Len() > c.server.cfg.MaxPending {
		c.refusing = true
		c.mu.Unlock()
		c.recordReason(reasonSlowConsumer)
		c.server.metrics.drop(c.dropReason(), 1, f.Len())
		// Not inline: Send runs under a hub shard lock, and closing
		// ends the session, which calls back into the hub.
		go c.cutOff()
		return false
	}
	f.Retain()
	c.queue = append(c.queue, f)
	c.queued += f.Len()
	if after != afterNothing {
		c.refusing = true
		c.after = after
	}
	start := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if start {
		c.writer.schedule(c)
	}
	if wake {
		c.writer.wake()
	}
	return true
}

// dropReason is what a frame dropped now is counted as: a connection cut
// off as a slow consumer, or whose socket failed, drops its whole backlog
// for that reason.
func (c *conn) dropReason() dropReason {
	switch closeReason(c.reason.Load()) {
	case reasonSlowConsumer:
		return dropSlowConsumer
	case reasonWriteError:
		return dropWriteError
	}
	return dropClosed
}

// dropAll counts frames as dropped.
func (c *conn) dropAll(frames []*frame.Frame) {
	r := c.dropReason()
	for _, f := range frames {
		c.server.metrics.drop(r, 1, f.Len())
	}
}

// cutOff closes a slow consumer. Its socket is full, so no close frame
// could reach it; it sees the connection end.
func (c *conn) cutOff() {
	c.server.cfg.Logger.Debug("slow consumer cut off", "remote", c.nc.RemoteAddr(), "queued", c.server.cfg.MaxPending)
	c.nc.Close()
}

// writer drains the queues of the connections scheduled on it.
type writer struct {
	metrics *metrics
	latency writerLatency
	signal  chan struct{} // one token: there may be work
	pending atomic.Bool   // connections were scheduled since the last wake
	iovecs  []syscall.Iovec
	batch   []*conn

	mu    sync.Mutex // guards ready
	ready []*conn
}

func newWriter(m *metrics, l writerLatency) *writer {
	return &writer{
		metrics: m,
		latency: l,
		signal:  make(chan struct{}, 1),
		iovecs:  make([]syscall.Iovec, 0, maxIovecs),
	}
}

// schedule puts c on the writer's list; c must not be on it already. The
// writer runs on the next wake.
func (w *writer) schedule(c *conn) {
	w.mu.Lock()
	w.ready = append(w.ready, c)
	w.mu.Unlock()
	w.pending.Store(true)
}

// wake makes the writer drain its list.
func (w *writer) wake() {
	w.pending.Store(false)
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// wakeIfPending wakes the writer if connections were scheduled without a
// wake since the last one.
func (w *writer) wakeIfPending() {
	if w.pending.Load() {
		w.wake()
	}
}

func (w *writer) run(stop <-chan struct{}) {
	for {
		select {
		case <-w.signal:
		case <-stop:
			return
		}
		for w.drainOnce() {
		}
	}
}

// drainOnce writes the queues of every connection on the list and reports
// whether there were any.
func (w *writer) drainOnce() bool {
	w.mu.Lock()
	w.batch, w.ready = w.ready, w.batch[:0]
	w.mu.Unlock()
	for i, c := range w.batch {
		c.drain(w)
		w.batch[i] = nil
	}
	return len(w.batch) > 0
}

// drain writes what c has queued with one writev(2). If more has been
// queued meanwhile, c goes to the back of the writer's list, so that a busy
// connection does not hold the writer from the others. The caller owns
// the drain (scheduled is set).
func (c *conn) drain(w *writer) {
	frames, after := c.take()
	if frames == nil {
		return
	}
	written, handed, err := c.write(w, frames)
	c.recycle(frames)
	c.settle(written)
	switch {
	case err != nil:
		c.abandon(err)
	case handed > 0:
		go c.waitFlush(handed, after)
	case after != afterNothing:
		c.finish()
	case c.more():
		w.schedule(c) // the writer is running: no wake needed
	}
}

// more reports whether frames are queued, and gives up the drain if not.
func (c *conn) more() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.scheduled = false
		return false
	}
	return true
}

// take returns the queue, or nil after clearing scheduled if it is empty.
func (c *conn) take() ([]*frame.Frame, afterWrite) {
	c.mu.Lock()
	defer c.mu.Unlock()
	frames := c.queue
	if len(frames) == 0 {
		c.scheduled = false
		return nil, afterNothing
	}
	c.queue = c.spare[:0]
	c.spare = nil
	return frames, c.after
}

// recycle releases the frames and keeps the slice for the next take.
func (c *conn) recycle(frames []*frame.Frame) {
	for i, f := range frames {
		f.Release()
		frames[i] = nil
	}
	c.spare = frames[:0]
}

// settle takes n written bytes off the queued count.
func (c *conn) settle(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.queued -= n
	c.mu.Unlock()
}

// write sends frames with writev(2). It returns the bytes the socket took
// and, if it took less than all, the bytes handed to netpoll's output
// buffer for waitFlush to finish. Frames it could not write it counts as
// dropped.
func (c *conn) write(w *writer, frames []*frame.Frame) (written, handed int, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.fdClosed {
		c.dropAll(frames)
		return 0, 0, errConnClosed
	}
	for len(frames) > 0 {
		iovecs, size, count := w.gather(frames)
		n, err := writev(c.fd, iovecs)
		w.metrics.add(counterWrites, 1)
		if err != nil && err != syscall.EAGAIN {
			c.recordReason(reasonWriteError)
			c.dropAll(frames)
			return written, 0, err
		}
		written += n
		w.metrics.add(counterBytesOut, n)
		if n < size {
			w.metrics.add(counterBlocked, 1)
			whole := wholeFrames(frames[:count], n)
			w.wrote(frames[:whole])
			handed, err = c.handOff(frames, n)
			if err != nil {
				c.recordReason(reasonWriteError)
				c.dropAll(frames[whole:])
			}
			return written, handed, err
		}
		w.wrote(frames[:count])
		frames = frames[count:]
	}
	return written, 0, nil
}

// wrote counts frames written whole to a socket, and their latencies.
func (w *writer) wrote(frames []*frame.Frame) {
	w.metrics.add(counterFramesOut, len(frames))
	w.latency.observe(frames)
}

// wholeFrames returns how many of frames the first n bytes cover whole.
func wholeFrames(frames []*frame.Frame, n int) int {
	for i, f := range frames {
		if n < f.Len() {
			return i
		}
		n -= f.Len()
	}
	return len(frames)
}

// gather points the writer's iovecs at up to maxIovecs frames and returns
// them, their total size and how many frames they cover.
func (w *writer) gather(frames []*frame.Frame) ([]syscall.Iovec, int, int) {
	iovecs := w.iovecs[:0]
	size := 0
	for _, f := range frames {
		if len(iovecs) == maxIovecs {
			break
		}
		b := f.Bytes()
		iovecs = append(iovecs, syscall.Iovec{Base: unsafe.SliceData(b), Len: uint64(len(b))})
		size += len(b)
	}
	return iovecs, size, len(iovecs)
}

// writev writes iovecs to fd once. It retries EINTR and reports EAGAIN as an
// error with n = 0.
func writev(fd int, iovecs []syscall.Iovec) (int, error) {
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(iovecs))), uintptr(len(iovecs)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// handOff copies the bytes of frames after the first skip into netpoll's
// output buffer, and keeps how many frames it took and their oldest stamps
// for waitFlush to count. The caller holds wmu.
func (c *conn) handOff(frames []*frame.Frame, skip int) (int, error) {
	size := -skip
	for _, f := range frames {
		size += f.Len()
	}
	buf, err := c.nc.Writer().Malloc(size)
	if err != nil {
		return 0, err
	}
	c.handed = handedFrames{}
	at := 0
	for _, f := range frames {
		b := f.Bytes()
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		at += copy(buf[at:], b[skip:])
		skip = 0
		c.handed.add(f)
	}
	return size, nil
}

// handedFrames are the frames of a hand-off to netpoll's buffer, counted
// once its flush ends.
type handedFrames struct {
	frames    int
	bytes     int
	published int64 // the oldest of their stamps (0: none)
	fanned    int64
}

func (h *handedFrames) add(f *frame.Frame) {
	published, fanned := f.Stamps()
	h.frames++
	h.bytes += f.Len()
	h.published = oldest(h.published, published)
	h.fanned = oldest(h.fanned, fanned)
}

// oldest returns the earlier of two stamps, 0 being none.
func oldest(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// waitFlush waits until netpoll has written the handed bytes, then returns
// the drain to the writer. It runs on its own goroutine, which exists only
// while the socket is full.
func (c *conn) waitFlush(handed int, after afterWrite) {
	c.wmu.Lock()
	err := errConnClosed
	if !c.fdClosed {
		// Holding wmu here is safe: netpoll wakes Flush with an error
		// before it runs the close callback that takes wmu.
		err = c.nc.Writer().Flush()
	}
	h := c.handed
	c.wmu.Unlock()
	if err != nil {
		if err != errConnClosed {
			c.recordReason(reasonWriteError)
		}
		c.server.metrics.drop(c.dropReason(), h.frames, h.bytes)
		c.abandon(err)
		return
	}
	c.server.metrics.add(counterFramesOut, h.frames)
	c.writer.latency.observeShared(time.Now().UnixNano(), h.published, h.fanned, h.frames)
	c.settle(handed)
	switch {
	case after != afterNothing:
		c.finish()
	case c.more():
		c.writer.schedule(c)
		c.writer.wake()
	}
}

// finish shuts the write side after the last frame. The drain stays owned
// (scheduled stays set): nothing is accepted after a final frame.
func (c *conn) finish() {
	c.wmu.Lock()
	if !c.fdClosed {
		syscall.Shutdown(c.fd, syscall.SHUT_WR)
	}
	c.wmu.Unlock()
}

// abandon gives up on a connection whose socket failed: what is queued is
// dropped and counted, and the connection is closed. The drain stays owned.
func (c *conn) abandon(err error) {
	c.mu.Lock()
	c.refusing = true
	frames := c.queue
	c.queue = nil
	c.mu.Unlock()
	if err != errConnClosed {
		c.recordReason(reasonWriteError)
	}
	c.dropAll(frames)
	for _, f := range frames {
		f.Release()
	}
	c.nc.Close()
}
