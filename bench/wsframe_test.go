package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestConsumeAllocatesNothing: a binary push read whole costs the load
// generator's loop no allocation.
func TestConsumeAllocatesNothing(t *testing.T) {
	payload := make([]byte, 16)
	putSendTime(payload, time.Now())
	push := []byte{1, 5, 'b', 'e', 'n', 'c', 'h', 1, 'k', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	frame := ws.MustCompileFrame(ws.NewBinaryFrame(append(push, payload...)))
	l, c := newTestLoop(), &bconn{state: stateOpen, fd: 1 << 24}
	l.conns[c.fd] = c
	l.consume(c, frame) // the first push sets up the loop's maps
	seq := uint64(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		frame[len(frame)-len(payload)-9] = byte(seq) // the seq's low byte
		if used := l.consume(c, frame); used != len(frame) {
			t.Fatalf("consumed %d of %d bytes", used, len(frame))
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations a push, want 0", allocs)
	}
}

// TestFrameLimits: what consume makes of server frames that are partial,
// masked, fragmented or too long.
func TestFrameLimits(t *testing.T) {
	long := ws.MustCompileFrame(ws.NewBinaryFrame(make([]byte, 70000)))
	masked := ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte("x"))))
	fragment := ws.MustCompileFrame(ws.NewFrame(ws.OpText, false, []byte("x")))
	huge := []byte{0x82, 127, 0, 0, 0, 0, 1, 0, 0, 1}
	cases := []struct {
		name   string
		b      []byte
		used   int // 0 too for a frame that drops the connection
		errors uint64
	}{
		{name: "one byte", b: []byte{0x82}, used: 0},
		{name: "a 16-bit length cut", b: []byte{0x82, 126, 1}, used: 0},
		{name: "a 64-bit length cut", b: long[:2], used: 0},
		{name: "a payload cut", b: long[:len(long)-1], used: 0},
		{name: "masked", b: masked, used: 0, errors: 1},
		{name: "not final", b: fragment, used: 0, errors: 1},
		{name: "over 16 MiB", b: huge, used: 0, errors: 1},
		{name: "a length of 2^63", b: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, used: 0, errors: 1},
		{name: "a pong is passed over", b: ws.MustCompileFrame(ws.NewPongFrame(nil)), used: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c := newTestLoop(), &bconn{state: stateOpen, fd: 1 << 24}
			l.conns[c.fd] = c
			l.busy = 1
			if used := l.consume(c, tc.b); used != tc.used {
				t.Fatalf("consumed %d bytes, want %d", used, tc.used)
			}
			if l.errors[ErrProtocol] != tc.errors {
				t.Fatalf("errors %v, want %d protocol", l.errors, tc.errors)
			}
			if dropped := l.conns[c.fd] != c; dropped != (tc.errors > 0) {
				t.Fatalf("dropped %v", dropped)
			}
		})
	}
}

// TestUpgradeResponse: the loop waits for the whole response, counts a
// refusal and otherwise subscribes.
func TestUpgradeResponse(t *testing.T) {
	ok := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	for _, tc := range []struct {
		name  string
		b     []byte
		used  int
		state uint8
		kind  string
	}{
		{name: "headers cut", b: ok[:len(ok)-1], used: 0, state: stateUpgrading},
		{name: "refused", b: []byte("HTTP/1.1 503 Service Unavailable\r\n\r\n"), used: 36, state: stateUpgrading, kind: ErrHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, c := newTestLoop(), &bconn{state: stateUpgrading, fd: 1 << 24}
			l.conns[c.fd] = c
			l.busy = 1
			if used := l.consume(c, tc.b); used != tc.used || c.state != tc.state {
				t.Fatalf("consumed %d state %d, want %d and %d", used, c.state, tc.used, tc.state)
			}
			if tc.kind != "" && l.errors[tc.kind] != 1 {
				t.Fatalf("errors %v, want one %s", l.errors, tc.kind)
			}
		})
	}
	if !bytes.HasPrefix(ok, []byte("HTTP/1.1 101 ")) {
		t.Fatal("the test's response is no 101")
	}
}
