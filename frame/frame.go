// Package frame builds server-to-client WebSocket frames once and shares the
// bytes among every connection they are queued to.
//
// A Frame holds complete frame bytes (header and payload) in a buffer taken
// from a Pool. It is reference counted: the encoder holds one reference, each
// queue that takes the frame adds one with Retain, and whoever is done with it
// calls Release. The buffer returns to the pool after the last Release, so the
// bytes of a push are written once and read by every subscriber.
//
//	pool := frame.NewPool()
//	f := pool.Text(frame.Push{App: "demo", ID: "001", Seq: 42, TS: ms, Data: []byte(`21.5`)})
//	for _, q := range subscribers {
//		f.Retain()
//		q.Send(f) // the queue calls f.Release after writing f.Bytes()
//	}
//	f.Release()
//
// Server frames are never masked (RFC 6455, section 5.1), so one frame's
// bytes serve every subscriber as they are.
package frame

import (
	"sync"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// maxHeaderSize is the largest server frame header: two bytes and a 64-bit
// extended payload length; server frames carry no mask.
const maxHeaderSize = 10

// Frame is a reference-counted, complete WebSocket frame.
//
// Bytes stays valid until the caller's reference is released. A Frame must
// not be modified once it has been shared.
type Frame struct {
	buf    *bytebufferpool.ByteBuffer
	offset int // the frame starts at buf.B[offset:]
	refs   atomic.Int32
	pool   *Pool
	static bool // prebuilt: never pooled, references not counted

	// Stamps, in unix nanoseconds (0: none), for the latency histograms
	// of the transport. Set before the frame is shared, read after.
	published int64 // when the publish was accepted
	fanned    int64 // when the fan-out that queued it began
}

// Stamp records when the push in f was published and when its fan-out
// began, in unix nanoseconds (0 for unknown). It must be called before f
// is shared: the writers read the stamps without a lock.
func (f *Frame) Stamp(published, fanned int64) {
	if !f.static {
		f.published, f.fanned = published, fanned
	}
}

// Stamps returns what Stamp recorded: zeros for a frame never stamped.
func (f *Frame) Stamps() (published, fanned int64) { return f.published, f.fanned }

// Bytes returns the whole frame: header and payload.
func (f *Frame) Bytes() []byte { return f.buf.B[f.offset:] }

// Len returns the frame's size in bytes.
func (f *Frame) Len() int { return len(f.buf.B) - f.offset }

// Retain adds one reference. Call it before handing the frame to another
// owner, such as a connection's write queue.
func (f *Frame) Retain() {
	if !f.static {
		f.refs.Add(1)
	}
}

// Release drops one reference; the last one returns the buffer to its pool.
// Using the frame after releasing one's reference is a bug.
func (f *Frame) Release() {
	if f.static {
		return
	}
	n := f.refs.Add(-1)
	switch {
	case n > 0:
		return
	case n < 0:
		panic("frame: Release of a released frame")
	}
	f.pool.put(f)
}

// Pool hands out frames whose buffers are recycled. The zero value is not
// usable: call NewPool.
type Pool struct {
	buffers bytebufferpool.Pool
	frames  sync.Pool
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	p := &Pool{}
	p.frames.New = func() any { return &Frame{pool: p} }
	return p
}

// get returns a frame with one reference and an empty buffer whose first
// maxHeaderSize bytes are reserved for the header.
func (p *Pool) get() *Frame {
	f := p.frames.Get().(*Frame)
	f.buf = p.buffers.Get()
	f.buf.B = append(f.buf.B[:0], make([]byte, maxHeaderSize)...)
	f.offset = 0
	f.published, f.fanned = 0, 0
	f.refs.Store(1)
	return f
}

func (p *Pool) put(f *Frame) {
	p.buffers.Put(f.buf)
	f.buf = nil
	p.frames.Put(f)
}
