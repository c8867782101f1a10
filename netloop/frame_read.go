package netloop

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Errors of parseHeader.
var (
	errShortHeader = errors.New("netloop: incomplete frame header")
	errLengthMSB   = errors.New("netloop: 64-bit payload length with the most significant bit set")
)

// maxHeaderSize is the largest client frame header: 2 bytes, a 64-bit
// length and a mask key.
const maxHeaderSize = 14

// parseHeader parses the frame header at the start of b and returns it with
// its size. It returns errShortHeader if b holds only part of it.
func parseHeader(b []byte) (h ws.Header, size int, err error) {
	if len(b) < 2 {
		return h, 0, errShortHeader
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	size = 2
	switch length := b[1] & 0x7f; length {
	case 126:
		size += 2
		if len(b) < size {
			return h, 0, errShortHeader
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		size += 8
		if len(b) < size {
			return h, 0, errShortHeader
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, 0, errLengthMSB
		}
		h.Length = int64(u)
	default:
		h.Length = int64(length)
	}
	if h.Masked {
		if len(b) < size+4 {
			return h, 0, errShortHeader
		}
		copy(h.Mask[:], b[size:])
		size += 4
	}
	return h, size, nil
}

// readFrame handles the frame at the start of buf and returns its size, or
// 0 if the frame is not complete yet. Header checks run as soon as the
// header is in, so a frame that is too big or malformed fails the
// connection before its payload is buffered.
func (c *conn) readFrame(buf []byte) int {
	h, size, err := parseHeader(buf)
	switch {
	case err == errShortHeader:
		return 0
	case err != nil:
		c.fail(closeProtocol)
		return len(buf)
	}
	if code := c.checkHeader(h); code != closeNone {
		c.fail(code)
		return len(buf)
	}
	end := int64(size) + h.Length
	if int64(len(buf)) < end {
		if !c.checkPartial(h, buf[size:]) {
			return len(buf)
		}
		return 0
	}
	c.server.metrics.add(counterFramesIn, 1)
	payload := buf[size:end]
	if c.unmasked < h.Length {
		ws.Cipher(payload[c.unmasked:], h.Mask, int(c.unmasked))
	}
	c.handleFrame(h, payload)
	c.unmasked = 0
	return int(end)
}

// checkHeader checks a client frame header against RFC 6455 and the limits,
// given the message in progress, and returns the close code to fail with.
func (c *conn) checkHeader(h ws.Header) closeCode {
	cfg := &c.server.cfg
	switch {
	case h.Rsv != 0, !h.Masked, h.OpCode.IsReserved():
		return closeProtocol
	case h.OpCode.IsControl():
		if !h.Fin || h.Length > 125 {
			return closeProtocol
		}
		return closeNone
	case h.OpCode == ws.OpContinuation && c.message == nil:
		return closeProtocol
	case h.OpCode != ws.OpContinuation && c.message != nil:
		return closeProtocol
	case h.Length > int64(cfg.MaxMessage)-int64(c.message.size()):
		return closeTooBig
	case h.OpCode == ws.OpContinuation && h.Length == 0 && c.message.empty >= cfg.MaxEmptyFragments:
		return closePolicy
	}
	return closeNone
}

// message is a fragmented message being reassembled. A connection holds
// one only between the first and the last frame of such a message.
type message struct {
	op    ws.OpCode
	empty int // empty continuation frames so far
	data  []byte
}

// size returns the bytes reassembled so far; 0 for no message.
func (m *message) size() int {
	if m == nil {
		return 0
	}
	return len(m.data)
}

// textFrame reports whether a data frame with header h carries text.
func (c *conn) textFrame(h ws.Header) bool {
	return h.OpCode == ws.OpText || (h.OpCode == ws.OpContinuation && c.message != nil && c.message.op == ws.OpText)
}

// checkPartial unmasks and checks the UTF-8 of the part of a text frame's
// payload that has arrived, so invalid text fails the connection as soon as
// it arrives. It reports false if the connection failed.
func (c *conn) checkPartial(h ws.Header, arrived []byte) bool {
	if !c.textFrame(h) || int64(len(arrived)) <= c.unmasked {
		return true
	}
	if h.OpCode == ws.OpText && c.unmasked == 0 {
		c.text.reset()
	}
	fresh := arrived[c.unmasked:]
	ws.Cipher(fresh, h.Mask, int(c.unmasked))
	c.unmasked += int64(len(fresh))
	if !c.text.write(fresh) {
		c.fail(closeBadUTF8)
		return false
	}
	return true
}

// handleFrame handles a whole, unmasked frame that passed checkHeader.
func (c *conn) handleFrame(h ws.Header, payload []byte) {
	switch h.OpCode {
	case ws.OpPing:
		c.reply(c.server.frames.Message(ws.OpPong, payload))
	case ws.OpPong:
		// Any input already counts as liveness (see onRequest).
	case ws.OpClose:
		c.handleClose(payload)
	default:
		c.handleData(h, payload)
	}
}

// handleData handles a text, binary or continuation frame.
func (c *conn) handleData(h ws.Header, payload []byte) {
	text := c.textFrame(h)
	if text && !c.checkText(h, payload) {
		c.fail(closeBadUTF8)
		return
	}
	switch {
	case h.OpCode != ws.OpContinuation && h.Fin:
		c.deliver(h.OpCode, payload)
	case h.OpCode != ws.OpContinuation:
		c.message = &message{op: h.OpCode, data: append([]byte(nil), payload...)}
		c.messageSince.Store(now())
	default:
		m := c.message
		m.data = append(m.data, payload...)
		if len(payload) == 0 {
			m.empty++
		}
		if h.Fin {
			c.message = nil
			c.messageSince.Store(0)
			c.deliver(m.op, m.data)
		}
	}
}

// checkText checks the UTF-8 of a whole text frame's payload, of which the
// first c.unmasked bytes were checked as they arrived.
func (c *conn) checkText(h ws.Header, payload []byte) bool {
	if h.OpCode == ws.OpText && h.Fin && c.unmasked == 0 {
		return utf8.Valid(payload)
	}
	if h.OpCode == ws.OpText && c.unmasked == 0 {
		c.text.reset()
	}
	if !c.text.write(payload[c.unmasked:]) {
		return false
	}
	return !h.Fin || c.text.complete()
}

// deliver hands a whole message to the connection's route.
func (c *conn) deliver(op ws.OpCode, message []byte) {
	c.server.metrics.add(counterMessages, 1)
	switch {
	case c.route == routeEcho:
		c.reply(c.server.frames.Message(op, message))
	case c.session != nil:
		c.session.Message(op, message)
	}
}
