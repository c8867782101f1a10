package netloop

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// clientFrame builds a masked client frame.
func clientFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	var buf bytes.Buffer
	ws.WriteHeader(&buf, h)
	masked := append([]byte(nil), payload...)
	ws.Cipher(masked, h.Mask, 0)
	buf.Write(masked)
	return buf.Bytes()
}

// feed gives data to c in pieces of the given sizes (cycled), the way
// netpoll would hand over reads.
func feed(c *conn, data []byte, sizes []byte) {
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(sizes) > 0 {
			n = min(int(sizes[i%len(sizes)])+1, len(data))
		}
		chunk := append([]byte(nil), data[:n]...) // netpoll's buffer: ours to unmask, gone after
		c.consume(chunk, 1)
		data = data[n:]
	}
}

// FuzzFrameReader feeds arbitrary bytes to an echo connection twice, whole
// and in arbitrary pieces, and checks that both give the same output (so
// reassembly does not depend on how reads are split) and that buffers stay
// within the limits.
func FuzzFrameReader(f *testing.F) {
	f.Add(clientFrame(true, ws.OpText, []byte("hello")), []byte{0})
	f.Add(append(clientFrame(false, ws.OpText, []byte("he")), clientFrame(true, ws.OpContinuation, []byte("llo"))...), []byte{2, 5})
	f.Add(append(clientFrame(false, ws.OpText, []byte{0xce}), clientFrame(true, ws.OpContinuation, []byte{0xba})...), []byte{1})
	f.Add(append(clientFrame(false, ws.OpBinary, []byte{1}), clientFrame(true, ws.OpPing, []byte("p"))...), []byte{3})
	f.Add(clientFrame(true, ws.OpClose, []byte{3, 0xe8, 'o', 'k'}), []byte{0})
	f.Add(clientFrame(true, ws.OpText, []byte{0xed, 0xa0, 0x80}), []byte{7})
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, []byte{0})
	f.Fuzz(func(t *testing.T, data []byte, sizes []byte) {
		cfg := Config{MaxMessage: 256, MaxEmptyFragments: 8}
		whole := newDetachedConn(t, cfg, routeEcho)
		feed(whole, data, nil)
		pieces := newDetachedConn(t, cfg, routeEcho)
		feed(pieces, data, sizes)
		if a, b := whole.output(), pieces.output(); !bytes.Equal(a, b) {
			t.Fatalf("output differs with the input split by %v:\nwhole  %x\npieces %x", sizes, a, b)
		}
		for _, c := range []*conn{whole, pieces} {
			if len(c.pending) > cfg.MaxMessage+maxHeaderSize {
				t.Fatalf("pending holds %d bytes, over the limit", len(c.pending))
			}
			if c.message.size() > cfg.MaxMessage {
				t.Fatalf("message holds %d bytes, over the limit", c.message.size())
			}
		}
	})
}

func TestParseHeaderLengths(t *testing.T) {
	cases := []struct {
		name   string
		header []byte
		length int64
		err    error
	}{
		{name: "7-bit", header: []byte{0x81, 0x85, 1, 2, 3, 4}, length: 5},
		{name: "16-bit", header: []byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4}, length: 256},
		{name: "64-bit", header: binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<20), length: 1 << 20, err: errShortHeader},
		{name: "64-bit with mask", header: append(binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<20), 1, 2, 3, 4), length: 1 << 20},
		{name: "2^63", header: append(binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<63), 1, 2, 3, 4), err: errLengthMSB},
		{name: "one byte", header: []byte{0x81}, err: errShortHeader},
		{name: "16-bit cut", header: []byte{0x81, 0xfe, 0x01}, err: errShortHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, size, err := parseHeader(tc.header)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (h.Length != tc.length || size != len(tc.header)) {
				t.Fatalf("length %d size %d, want %d %d", h.Length, size, tc.length, len(tc.header))
			}
		})
	}
}

// TestUTF8StreamAgreesWithValid splits texts at every pair of points and
// checks the stream validator agrees with utf8.Valid on the whole, and
// fails no later than the piece holding the first invalid byte.
func TestUTF8StreamAgreesWithValid(t *testing.T) {
	texts := [][]byte{
		[]byte("κόσμε"),
		[]byte("Hello-µ@ßöäüàá-UTF-8!!"),
		{0xf0, 0x90, 0x80, 0x80},
		{0xf4, 0x8f, 0xbf, 0xbf},
		{0xf4, 0x90, 0x80, 0x80},           // past U+10FFFF
		{0xed, 0xa0, 0x80},                 // a surrogate
		{0xc0, 0xaf},                       // overlong
		{0xe0, 0x80, 0xaf},                 // overlong
		{0xce, 0xba, 0xe1, 0xbd},           // cut short
		{0x80, 'a'},                        // stray continuation
		{'a', 0xf8, 0x88, 0x80, 0x80},      // 5-byte form
		[]byte("ab\xef\xbf\xbdcd\xe2\x82"), // U+FFFD, then cut
	}
	for _, text := range texts {
		for i := 0; i <= len(text); i++ {
			for j := i; j <= len(text); j++ {
				var v utf8Stream
				ok := v.write(text[:i]) && v.write(text[i:j]) && v.write(text[j:]) && v.complete()
				if ok != utf8.Valid(text) {
					t.Fatalf("%x split at %d,%d: stream says %v, utf8.Valid %v", text, i, j, ok, !ok)
				}
			}
		}
		for i := 1; i <= len(text); i++ { // a prefix the stream accepts must extend to valid text
			var v utf8Stream
			if v.write(text[:i]) && !utf8.Valid(text[:i]) && v.complete() {
				t.Fatalf("%x: accepted invalid prefix %x as complete", text, text[:i])
			}
		}
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
