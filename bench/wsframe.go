package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
)

// WebSocket opcodes (RFC 6455) the loops send or handle.
const (
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// maxFramePayload is the longest server frame payload a client accepts.
const maxFramePayload = 16 << 20

// errBadFrame is a server frame a client cannot make sense of: masked,
// not final or longer than maxFramePayload. Server frames are unmasked
// and, from edgepush, never fragmented.
var errBadFrame = errors.New("bench: bad server frame")

// clientMask masks every frame the client sends; any key is valid.
var clientMask = [4]byte{0x12, 0x34, 0x56, 0x78}

// parseFrame parses the server frame at the start of b. It returns the
// frame's opcode, its payload and its size, header included; size is 0
// while b holds only part of the frame. The payload is a slice of b, valid
// as long as b is. A bad frame is errBadFrame, found as soon as its
// header is whole.
func parseFrame(b []byte) (op byte, payload []byte, size int, err error) {
	if len(b) < 2 {
		return 0, nil, 0, nil
	}
	header, length := 2, int(b[1]&0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, nil
		}
		header, length = 4, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, nil
		}
		long := binary.BigEndian.Uint64(b[2:])
		if long > maxFramePayload { // also 2^63 and more, negative as an int
			return 0, nil, 0, errBadFrame
		}
		header, length = 10, int(long)
	}
	if b[1]&0x80 != 0 || b[0]&0x80 == 0 || length > maxFramePayload {
		return 0, nil, 0, errBadFrame
	}
	if len(b) < header+length {
		return 0, nil, 0, nil
	}
	return b[0] & 0x0f, b[header : header+length], header + length, nil
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

// upgradeRequest is the request that upgrades a connection to host to a
// WebSocket on path.
func upgradeRequest(path string, host netip.AddrPort) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host.String() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

// upgradeResponse reads the answer to the upgrade request at the start of
// b: its size once its headers are whole (0 before), and whether it is
// 101 Switching Protocols.
func upgradeResponse(b []byte) (size int, switched bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, false
	}
	return end + 4, bytes.HasPrefix(b, []byte("HTTP/1.1 101 "))
}
