// Package hubtest holds what the tests of the packages around the hub
// share: a subscriber that records the frames it is sent, and the decoding
// of one server frame.
//
//	rec := &hubtest.Recorder{}
//	h.Subscribe(rec, hub.Key{App: "demo", ID: "001"})
//	... publish ...
//	first, payload := hubtest.DecodeFrame(t, rec.Taken()[0])
package hubtest

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"edgepush/frame"
)

// Recorder is a hub.Subscriber that keeps a copy of every frame queued to
// it. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex // guards frames
	frames [][]byte
}

// Send implements hub.Subscriber.
func (r *Recorder) Send(_ uint64, _ string, f *frame.Frame) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, bytes.Clone(f.Bytes()))
	return true
}

// Taken returns the frames sent so far, in order.
func (r *Recorder) Taken() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

// DecodeFrame splits one unmasked, final server frame into its first byte
// and its payload, and fails t unless the header's length is the rest.
func DecodeFrame(t testing.TB, b []byte) (byte, []byte) {
	t.Helper()
	if len(b) < 2 || b[1]&0x80 != 0 {
		t.Fatalf("not an unmasked server frame: % x", b)
	}
	n, rest := uint64(b[1]&0x7f), b[2:]
	switch n {
	case 126:
		n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		n, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	if uint64(len(rest)) != n {
		t.Fatalf("frame header says %d payload bytes, frame has %d", n, len(rest))
	}
	return b[0], rest
}
