package frame

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// BinaryVersion is the first byte of every binary push.
const BinaryVersion = 1

// Push is one published value for one key, as the client sees it.
type Push struct {
	App  string
	ID   string
	Seq  uint64
	TS   int64  // unix milliseconds
	Data []byte // a JSON value for Text, any bytes for Binary
}

// Text encodes p as a text frame:
//
//	{"op":"data","app":"demo","id":"001","seq":42,"ts":1700000000000,"data":<Data>}
//
// Data must already be a valid JSON value; Text does not check it.
func (p *Pool) Text(push Push) *Frame {
	f := p.get()
	b := f.buf.B
	b = append(b, `{"op":"data","app":`...)
	b = AppendJSONString(b, push.App)
	b = append(b, `,"id":`...)
	b = AppendJSONString(b, push.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, push.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, push.TS, 10)
	b = append(b, `,"data":`...)
	b = append(b, push.Data...)
	b = append(b, '}')
	f.buf.B = b
	f.seal(ws.OpText)
	return f
}

// Binary encodes p as a binary frame: u8 version (1), u8 len(app), app,
// u8 len(id), id, u64 seq, i64 ts (both big-endian), then Data.
// App and ID must be at most 255 bytes each.
func (p *Pool) Binary(push Push) *Frame {
	f := p.get()
	b := f.buf.B
	b = append(b, BinaryVersion, byte(len(push.App)))
	b = append(b, push.App...)
	b = append(b, byte(len(push.ID)))
	b = append(b, push.ID...)
	b = binary.BigEndian.AppendUint64(b, push.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(push.TS))
	b = append(b, push.Data...)
	f.buf.B = b
	f.seal(ws.OpBinary)
	return f
}

// Message returns a final frame of opcode op carrying a copy of payload.
func (p *Pool) Message(op ws.OpCode, payload []byte) *Frame {
	f := p.get()
	f.buf.B = append(f.buf.B, payload...)
	f.seal(op)
	return f
}

// Build returns a final frame of opcode op whose payload is what appendTo
// appends to the empty slice it is given.
func (p *Pool) Build(op ws.OpCode, appendTo func(dst []byte) []byte) *Frame {
	f := p.get()
	f.buf.B = appendTo(f.buf.B)
	f.seal(op)
	return f
}

// Raw returns a frame holding exactly the bytes appendTo appends, with no
// WebSocket header: for the HTTP response that precedes the first frame.
func (p *Pool) Raw(appendTo func(dst []byte) []byte) *Frame {
	f := p.get()
	f.buf.B = appendTo(f.buf.B)
	f.offset = maxHeaderSize
	return f
}

// seal writes the header for the payload at buf.B[maxHeaderSize:] into the
// bytes just before it.
func (f *Frame) seal(op ws.OpCode) {
	n := len(f.buf.B) - maxHeaderSize
	f.offset = maxHeaderSize - HeaderSize(n)
	PutHeader(f.buf.B[f.offset:maxHeaderSize], op, n)
}

// HeaderSize returns the size of an unmasked header for a payload of n bytes.
func HeaderSize(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// PutHeader writes the unmasked header of a final frame with opcode op and
// payload length n into dst, which must be HeaderSize(n) bytes long.
func PutHeader(dst []byte, op ws.OpCode, n int) {
	dst[0] = 0x80 | byte(op)
	switch {
	case n <= 125:
		dst[1] = byte(n)
	case n <= 0xffff:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
	}
}

// AppendJSONString appends s to dst as a JSON string. Quotes, backslashes and
// control characters are escaped; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
