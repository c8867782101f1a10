package netloop_test

// A raw TCP WebSocket client for the conformance tests: it writes requests
// and frames byte by byte as the test builds them (any header, any bits, any
// declared length, any chunking) and checks what the server sends back
// against RFC 6455. Every read and write has a deadline, so no test hangs.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"edgepush/hub"
	"edgepush/netloop"
	"edgepush/netloop/session"
)

// Opcodes (RFC 6455, section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xA
)

// Close codes the tests expect (RFC 6455, section 7.4.1).
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeUnsupportedData = 1003
	closeNoStatus        = 1005 // what readClose reports for an empty close payload
	closeInvalidPayload  = 1007
	closePolicyViolation = 1008
	closeMessageTooBig   = 1009
)

// ioTimeout bounds every single read and write: a test that waits longer for
// one step fails instead of hanging. It is generous on purpose (the machine
// is shared); no test asserts that anything happens fast.
const ioTimeout = 10 * time.Second

// websocketGUID is the constant of RFC 6455, section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxServerFrame caps what the client accepts as one server frame, so a
// broken length field cannot make the test allocate gigabytes.
const maxServerFrame = 64 << 20

// testServer is a netloop server on a loopback port.
type testServer struct {
	addr     string
	server   *netloop.Server
	served   chan struct{}
	serveErr error // what Serve returned, valid once served is closed
	shutdown sync.Once
}

// startServer runs a server with cfg on 127.0.0.1 and shuts it down when the
// test ends. Its log is discarded unless EDGEPUSH_TEST_LOG is set.
func startServer(t *testing.T, cfg netloop.Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if os.Getenv("EDGEPUSH_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	if cfg.Handler == nil {
		cfg.Handler = pushHandler(t)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	s := &testServer{
		addr:   listener.Addr().String(),
		server: netloop.New(cfg),
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		s.serveErr = s.server.Serve(listener)
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// pushHandler is the real push protocol over an in-memory hub, for the
// tests of /ws.
func pushHandler(t *testing.T) netloop.Handler {
	h := hub.New(hub.Config{})
	store := hub.NewMemoryStore(hub.MemoryStoreConfig{Watched: h.Watched})
	t.Cleanup(func() { store.Close() })
	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
	return session.New(session.Config{Logger: slog.New(slog.DiscardHandler)}, h, p)
}

// stop shuts the server down (once) and waits for Serve to return.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.shutdown.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := s.server.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case <-s.served:
			if !errors.Is(s.serveErr, netloop.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", s.serveErr)
			}
		case <-time.After(ioTimeout):
			t.Errorf("Serve did not return within %v after Shutdown", ioTimeout)
		}
	})
}

// outFrame is a frame as the client writes it, with every field under the
// test's control.
type outFrame struct {
	fin      bool
	rsv      byte // the three reserved bits as a number 0..7: 4 = RSV1, 2 = RSV2, 1 = RSV3
	opcode   byte // any 4-bit value, reserved ones included
	payload  []byte
	unmasked bool    // send without a mask (clients must mask: section 5.1)
	length   *uint64 // the declared payload length; nil: len(payload)
}

// frame is a masked frame with the given opcode, fin bit and payload.
func frame(opcode byte, fin bool, payload []byte) outFrame {
	return outFrame{fin: fin, opcode: opcode, payload: payload}
}

func text(s string) outFrame        { return frame(opText, true, []byte(s)) }
func binaryFrame(b []byte) outFrame { return frame(opBinary, true, b) }
func ping(b []byte) outFrame        { return frame(opPing, true, b) }
func pong(b []byte) outFrame        { return frame(opPong, true, b) }

// closeFrame is a close frame with a status code and reason.
func closeFrame(code int, reason string) outFrame {
	return frame(opClose, true, closePayload(code, reason))
}

// closePayload is a close frame body: the code in network order, then reason.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// withReserved returns f with its reserved bits set to rsv.
func withReserved(f outFrame, rsv byte) outFrame {
	f.rsv = rsv
	return f
}

// withoutMask returns f to be written unmasked.
func withoutMask(f outFrame) outFrame {
	f.unmasked = true
	return f
}

// declaring returns f with a declared payload length of n, whatever the
// payload it carries.
func declaring(f outFrame, n uint64) outFrame {
	f.length = &n
	return f
}

// fragments splits payload into a message of frames of at most size bytes:
// the first has opcode, the rest are continuations, the last has fin set.
// An empty payload is one frame.
func fragments(opcode byte, payload []byte, size int) []outFrame {
	var frames []outFrame
	for first := true; first || len(payload) > 0; first = false {
		n := min(size, len(payload))
		op := opContinuation
		if first {
			op = opcode
		}
		frames = append(frames, frame(op, n == len(payload), payload[:n]))
		payload = payload[n:]
	}
	return frames
}

// splitAt splits payload into a fragmented message at the given offsets.
func splitAt(opcode byte, payload []byte, offsets ...int) []outFrame {
	var frames []outFrame
	start := 0
	for _, end := range append(offsets, len(payload)) {
		op := opContinuation
		if start == 0 && len(frames) == 0 {
			op = opcode
		}
		frames = append(frames, frame(op, end == len(payload), payload[start:end]))
		start = end
	}
	return frames
}

// encodeFrame returns the wire bytes of f masked with key (unless f says
// unmasked).
func encodeFrame(f outFrame, key [4]byte) []byte {
	length := uint64(len(f.payload))
	if f.length != nil {
		length = *f.length
	}
	b := make([]byte, 0, 14+len(f.payload))
	first := f.rsv&7<<4 | f.opcode&0xF
	if f.fin {
		first |= 0x80
	}
	maskBit := byte(0x80)
	if f.unmasked {
		maskBit = 0
	}
	b = append(b, first)
	switch {
	case length < 126:
		b = append(b, maskBit|byte(length))
	case length <= 0xFFFF:
		b = append(b, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, length)
	}
	if f.unmasked {
		return append(b, f.payload...)
	}
	b = append(b, key[:]...)
	for i, p := range f.payload {
		b = append(b, p^key[i&3])
	}
	return b
}

// inFrame is a frame as the server sent it.
type inFrame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// message is a complete message (fragments joined) or a control frame.
type message struct {
	opcode  byte
	payload []byte
}

func textMessage(s string) message   { return message{opcode: opText, payload: []byte(s)} }
func binaryMessage(b []byte) message { return message{opcode: opBinary, payload: b} }
func pongMessage(b []byte) message   { return message{opcode: opPong, payload: b} }

func (m message) String() string {
	names := map[byte]string{opText: "text", opBinary: "binary", opClose: "close", opPing: "ping", opPong: "pong"}
	name, ok := names[m.opcode]
	if !ok {
		name = fmt.Sprintf("opcode %#x", m.opcode)
	}
	if m.opcode == opClose && len(m.payload) >= 2 {
		return fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(m.payload), m.payload[2:])
	}
	return fmt.Sprintf("%s of %d bytes %s", name, len(m.payload), preview(m.payload))
}

// preview shows at most the first 32 bytes of b.
func preview(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q...", b[:32])
	}
	return fmt.Sprintf("%q", b)
}

// rawClient is one TCP connection to the server.
type rawClient struct {
	t      *testing.T
	conn   net.Conn
	reader *bufio.Reader
	masks  *mathrand.Rand
	// answerPings makes readMessage answer server pings with pongs and skip
	// them, for tests where keepalive pings may come at any moment.
	answerPings bool
	// The server message being reassembled from fragments.
	partial       []byte
	partialOpcode byte
	inMessage     bool
}

// dial connects to addr; the connection is closed when the test ends.
func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{
		t:      t,
		conn:   conn,
		reader: bufio.NewReaderSize(conn, 64<<10),
		masks:  mathrand.New(mathrand.NewPCG(1, 2)),
	}
}

// upgrade dials addr and completes a WebSocket handshake on path, checking
// the 101 response.
func upgrade(t *testing.T, addr, path string) *rawClient {
	t.Helper()
	c := dial(t, addr)
	req := upgradeRequest(path)
	c.write(req.bytes())
	c.expectUpgraded(req)
	return c
}

// send writes b in writes of chunk bytes (0: in 64 KiB writes), sleeping
// pause between them. It does not call t.Fatalf, so it may run in its own
// goroutine.
func (c *rawClient) send(b []byte, chunk int, pause time.Duration) error {
	if chunk <= 0 {
		chunk = 64 << 10
	}
	for len(b) > 0 {
		n := min(chunk, len(b))
		c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := c.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if pause > 0 && len(b) > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// sendInBackground writes b as send does, in another goroutine, so that the
// test can read while a large write is in flight; the channel gets the
// write's error.
func (c *rawClient) sendInBackground(b []byte, chunk int, pause time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.send(b, chunk, pause) }()
	return done
}

// write writes b and fails the test on error.
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if err := c.send(b, 0, 0); err != nil {
		c.t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// encode returns the wire bytes of frames, each with a fresh mask key.
func (c *rawClient) encode(frames ...outFrame) []byte {
	var b []byte
	for _, f := range frames {
		var key [4]byte
		binary.BigEndian.PutUint32(key[:], c.masks.Uint32())
		b = append(b, encodeFrame(f, key)...)
	}
	return b
}

// writeFrames writes frames in one write.
func (c *rawClient) writeFrames(frames ...outFrame) {
	c.t.Helper()
	c.write(c.encode(frames...))
}

// readFull fills buf, arming a fresh read deadline for every 64 KiB.
func (c *rawClient) readFull(buf []byte) error {
	for off := 0; off < len(buf); {
		end := min(off+64<<10, len(buf))
		c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := io.ReadFull(c.reader, buf[off:end])
		off += n
		if err != nil {
			return err
		}
	}
	return nil
}

// describe turns a read error into words.
func describe(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection (EOF)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("nothing arrived within %v (timeout)", ioTimeout)
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset (RST)"
	}
	return err.Error()
}

// nextFrame reads one server frame. A frame that breaks RFC 6455 fails the
// test; an I/O error (EOF, reset, timeout) is returned.
func (c *rawClient) nextFrame() (inFrame, error) {
	c.t.Helper()
	var head [2]byte
	if err := c.readFull(head[:]); err != nil {
		return inFrame{}, err
	}
	f := inFrame{fin: head[0]&0x80 != 0, opcode: head[0] & 0xF}
	if rsv := head[0] >> 4 & 7; rsv != 0 {
		c.t.Fatalf("server frame has reserved bits %03b set, and no extension was negotiated (RFC 6455 5.2)", rsv)
	}
	if head[1]&0x80 != 0 {
		c.t.Fatalf("server frame is masked; a server MUST NOT mask its frames (RFC 6455 5.1)")
	}
	length := uint64(head[1] & 0x7F)
	switch length {
	case 126:
		var ext [2]byte
		if err := c.readFull(ext[:]); err != nil {
			return inFrame{}, err
		}
		length = uint64(binary.BigEndian.Uint16(ext[:]))
		if length < 126 {
			c.t.Fatalf("server frame length %d in the 16-bit form; the minimal form MUST be used (RFC 6455 5.2)", length)
		}
	case 127:
		var ext [8]byte
		if err := c.readFull(ext[:]); err != nil {
			return inFrame{}, err
		}
		length = binary.BigEndian.Uint64(ext[:])
		if length <= 0xFFFF || length>>63 != 0 {
			c.t.Fatalf("server frame length %d in the 64-bit form: not minimal or MSB set (RFC 6455 5.2)", length)
		}
	}
	switch f.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || length > 125 {
			c.t.Fatalf("server control frame %#x with fin=%v and length %d (RFC 6455 5.5: fin set, at most 125)", f.opcode, f.fin, length)
		}
	default:
		c.t.Fatalf("server frame has reserved opcode %#x", f.opcode)
	}
	if length > maxServerFrame {
		c.t.Fatalf("server frame declares %d bytes, more than this test ever expects", length)
	}
	f.payload = make([]byte, length)
	if err := c.readFull(f.payload); err != nil {
		return inFrame{}, err
	}
	return f, nil
}

// tryReadMessage reads the next complete message or control frame. Server
// pings are answered and skipped when answerPings is set.
func (c *rawClient) tryReadMessage() (message, error) {
	c.t.Helper()
	for {
		f, err := c.nextFrame()
		if err != nil {
			return message{}, err
		}
		if f.opcode >= opClose {
			if f.opcode == opPing && c.answerPings {
				if err := c.send(c.encode(pong(f.payload)), 0, 0); err != nil {
					return message{}, err
				}
				continue
			}
			return message{opcode: f.opcode, payload: f.payload}, nil
		}
		switch {
		case f.opcode == opContinuation && !c.inMessage:
			c.t.Fatalf("server sent a continuation frame with no message in progress (RFC 6455 5.4)")
		case f.opcode != opContinuation && c.inMessage:
			c.t.Fatalf("server started a new data frame (opcode %#x) inside a fragmented message (RFC 6455 5.4)", f.opcode)
		case f.opcode != opContinuation:
			c.partialOpcode = f.opcode
			c.partial = nil
		}
		c.partial = append(c.partial, f.payload...)
		c.inMessage = !f.fin
		if f.fin {
			m := message{opcode: c.partialOpcode, payload: c.partial}
			c.partial = nil
			if m.opcode == opText && !utf8.Valid(m.payload) {
				c.t.Fatalf("server sent a text message that is not valid UTF-8: %s", preview(m.payload))
			}
			return m, nil
		}
	}
}

// readMessage reads the next message or control frame, failing the test on
// EOF, reset or timeout.
func (c *rawClient) readMessage(want string) message {
	c.t.Helper()
	m, err := c.tryReadMessage()
	if err != nil {
		c.t.Fatalf("waiting for %s: %s", want, describe(err))
	}
	return m
}

// expectMessage reads the next message and compares it with want.
func (c *rawClient) expectMessage(want message) {
	c.t.Helper()
	got := c.readMessage(want.String())
	if got.opcode != want.opcode {
		c.t.Fatalf("got %v, want %v", got, want)
	}
	if i := firstDifference(got.payload, want.payload); i >= 0 {
		c.t.Fatalf("got %v, want %v: payloads differ at byte %d", got, want, i)
	}
}

// firstDifference is the first offset where a and b differ, or -1.
func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// readClose reads the next frame, which must be a close frame, and returns
// its code (closeNoStatus for an empty payload) and reason.
func (c *rawClient) readClose() (int, string) {
	c.t.Helper()
	m := c.readMessage("a close frame")
	if m.opcode != opClose {
		c.t.Fatalf("got %v, want a close frame", m)
	}
	return parseClose(c.t, m.payload)
}

// parseClose checks a server close payload (RFC 6455 5.5.1, 7.4).
func parseClose(t *testing.T, payload []byte) (int, string) {
	t.Helper()
	switch len(payload) {
	case 0:
		return closeNoStatus, ""
	case 1:
		t.Fatalf("server close frame has a 1-byte payload %#x (RFC 6455 5.5.1: a body starts with a 2-byte code)", payload)
	}
	code := int(binary.BigEndian.Uint16(payload))
	reason := payload[2:]
	if !utf8.Valid(reason) {
		t.Fatalf("server close reason is not UTF-8: %s", preview(reason))
	}
	if code == closeNoStatus || code == 1006 || code == 1015 || code < 1000 {
		t.Fatalf("server sent close code %d, which MUST NOT be sent in a close frame (RFC 6455 7.4.1)", code)
	}
	return code, string(reason)
}

// expectClose reads the server's close frame and checks that its code is
// one of codes, then that the server ends the TCP connection.
func (c *rawClient) expectClose(codes ...int) {
	c.t.Helper()
	code, reason := c.readClose()
	if !slices.Contains(codes, code) {
		c.t.Fatalf("server closed with %s, want %s", codeName(code, reason), codeList(codes))
	}
	c.expectEOF()
}

// codeName shows a close code with its reason.
func codeName(code int, reason string) string {
	if code == closeNoStatus {
		return "an empty close frame"
	}
	return fmt.Sprintf("%d %q", code, reason)
}

// codeList shows the acceptable codes.
func codeList(codes []int) string {
	var words []string
	for _, code := range codes {
		if code == closeNoStatus {
			words = append(words, "an empty close frame")
			continue
		}
		words = append(words, strconv.Itoa(code))
	}
	return strings.Join(words, " or ")
}

// expectEOF checks that the server ends the TCP connection after its close
// frame: the next read returns EOF with no further bytes.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	var buf [512]byte
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := c.reader.Read(buf[:])
	switch {
	case n > 0:
		c.t.Fatalf("%d bytes arrived after the server's close frame: %s", n, preview(buf[:n]))
	case errors.Is(err, io.EOF):
		// Close our side as a client does on EOF, so that the server need
		// not wait for CloseTimeout.
		c.conn.Close()
	default:
		c.t.Fatalf("after its close frame the server must end the TCP connection (orderly FIN): %s", describe(err))
	}
}

// closeNormally runs the closing handshake from the client side: close 1000,
// the server echoes 1000, then the server ends the connection.
func (c *rawClient) closeNormally() {
	c.t.Helper()
	c.writeFrames(closeFrame(closeNormal, ""))
	c.expectClose(closeNormal)
}

// waitClosed reads until the server ends the connection, for tests where the
// server closes for its own reasons (timeouts). It returns every message
// that came first; a close frame, if any, must be the last and be followed
// by EOF. Reading stops with a failure after limit.
func (c *rawClient) waitClosed(limit time.Duration) []message {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	var got []message
	for time.Now().Before(deadline) {
		m, err := c.tryReadMessage()
		var netErr net.Error
		switch {
		case err == nil:
			got = append(got, m)
			if m.opcode == opClose {
				parseClose(c.t, m.payload)
				c.expectEOF()
				return got
			}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
			return got
		case errors.As(err, &netErr) && netErr.Timeout():
		default:
			c.t.Fatalf("reading until the server closes: %v", err)
		}
	}
	c.t.Fatalf("the server did not close the connection within %v; it sent %v", limit, got)
	return nil
}

// waitHTTPClosed reads until the server ends the connection before or
// instead of a handshake, and returns what it sent (an error response, or
// nothing). Reading stops with a failure after limit.
func (c *rawClient) waitHTTPClosed(limit time.Duration) []byte {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	var got []byte
	var buf [4096]byte
	for time.Now().Before(deadline) {
		c.conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.reader.Read(buf[:])
		got = append(got, buf[:n]...)
		var netErr net.Error
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			return got
		case errors.As(err, &netErr) && netErr.Timeout():
		default:
			c.t.Fatalf("reading until the server closes: %v", err)
		}
	}
	c.t.Fatalf("the server did not close the connection within %v; it sent %s", limit, preview(got))
	return nil
}

// header is one request header line.
type header struct {
	name  string
	value string
}

// request is an HTTP request head built by a test; any part may be wrong on
// purpose.
type request struct {
	method  string
	target  string
	proto   string
	headers []header
	raw     []byte // if set, written as is instead of the fields above
}

// upgradeRequest is a valid WebSocket opening handshake for target with a
// fresh random key.
func upgradeRequest(target string) request {
	var nonce [16]byte
	rand.Read(nonce[:])
	return request{
		method: "GET",
		target: target,
		proto:  "HTTP/1.1",
		headers: []header{
			{name: "Host", value: "127.0.0.1"},
			{name: "Upgrade", value: "websocket"},
			{name: "Connection", value: "Upgrade"},
			{name: "Sec-WebSocket-Key", value: base64.StdEncoding.EncodeToString(nonce[:])},
			{name: "Sec-WebSocket-Version", value: "13"},
		},
	}
}

// pageRequest is a plain GET of target.
func pageRequest(target string) request {
	return request{
		method: "GET",
		target: target,
		proto:  "HTTP/1.1",
		headers: []header{
			{name: "Host", value: "127.0.0.1"},
		},
	}
}

// rawRequest writes b as the whole request.
func rawRequest(b []byte) request {
	return request{raw: b}
}

// with returns r with header name set to value (replacing any header of that
// name, or else appended).
func (r request) with(name, value string) request {
	r.headers = slices.Clone(r.headers)
	for i, h := range r.headers {
		if strings.EqualFold(h.name, name) {
			r.headers[i].value = value
			return r
		}
	}
	r.headers = append(r.headers, header{name: name, value: value})
	return r
}

// adding returns r with more header lines appended.
func (r request) adding(headers ...header) request {
	r.headers = append(slices.Clone(r.headers), headers...)
	return r
}

// without returns r without header name.
func (r request) without(name string) request {
	r.headers = slices.DeleteFunc(slices.Clone(r.headers), func(h header) bool {
		return strings.EqualFold(h.name, name)
	})
	return r
}

// withMethod returns r with another method.
func (r request) withMethod(method string) request {
	r.method = method
	return r
}

// withProto returns r with another protocol version.
func (r request) withProto(proto string) request {
	r.proto = proto
	return r
}

// renamed returns r with header names rewritten by rename.
func (r request) renamed(rename func(string) string) request {
	r.headers = slices.Clone(r.headers)
	for i := range r.headers {
		r.headers[i].name = rename(r.headers[i].name)
	}
	return r
}

// key is the request's Sec-WebSocket-Key ("" if none).
func (r request) key() string {
	for _, h := range r.headers {
		if strings.EqualFold(h.name, "Sec-WebSocket-Key") {
			return h.value
		}
	}
	return ""
}

// bytes is the request head on the wire.
func (r request) bytes() []byte {
	if r.raw != nil {
		return r.raw
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", r.method, r.target, r.proto)
	for _, h := range r.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// manyHeaders is n header lines X-Filler-i: i.
func manyHeaders(n int) []header {
	headers := make([]header, n)
	for i := range headers {
		headers[i] = header{name: "X-Filler-" + strconv.Itoa(i), value: strconv.Itoa(i)}
	}
	return headers
}

// acceptKey is the Sec-WebSocket-Accept value for key (RFC 6455 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// response is the server's HTTP response head and body.
type response struct {
	status int
	line   string
	header textproto.MIMEHeader
	body   []byte
}

// tryReadResponse reads an HTTP response head and, for a status other than
// 101, the body given by Content-Length.
func (c *rawClient) tryReadResponse() (response, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	reader := textproto.NewReader(c.reader)
	line, err := reader.ReadLine()
	if err != nil {
		return response{}, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || len(code) != 3 {
		return response{}, fmt.Errorf("malformed status line %q", line)
	}
	head, err := reader.ReadMIMEHeader()
	if err != nil {
		return response{}, fmt.Errorf("reading response headers after %q: %w", line, err)
	}
	r := response{status: status, line: line, header: head}
	if status == 101 {
		return r, nil
	}
	if value := head.Get("Content-Length"); value != "" {
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 1<<20 {
			return response{}, fmt.Errorf("bad Content-Length %q", value)
		}
		r.body = make([]byte, n)
		if err := c.readFull(r.body); err != nil {
			return response{}, fmt.Errorf("reading %d bytes of body: %w", n, err)
		}
	}
	return r, nil
}

// readResponse reads an HTTP response, failing the test on error.
func (c *rawClient) readResponse() response {
	c.t.Helper()
	r, err := c.tryReadResponse()
	if err != nil {
		c.t.Fatalf("reading the HTTP response: %s", describe(err))
	}
	return r
}

// expectUpgraded reads the response to req and checks the 101 handshake of
// RFC 6455 4.2.2, and returns the response.
func (c *rawClient) expectUpgraded(req request) response {
	c.t.Helper()
	r := c.readResponse()
	if r.status != 101 {
		c.t.Fatalf("handshake answered %q (body %s), want 101", r.line, preview(r.body))
	}
	if got := r.header.Get("Upgrade"); !strings.EqualFold(got, "websocket") {
		c.t.Fatalf("101 response has Upgrade %q, want websocket", got)
	}
	if got := r.header.Get("Connection"); !hasToken(got, "upgrade") {
		c.t.Fatalf("101 response has Connection %q, want a list with Upgrade", got)
	}
	if got, want := r.header.Get("Sec-WebSocket-Accept"), acceptKey(req.key()); got != want {
		c.t.Fatalf("101 response has Sec-WebSocket-Accept %q, want %q for key %q", got, want, req.key())
	}
	return r
}

// hasToken reports whether the comma-separated list has token (any case).
func hasToken(list, token string) bool {
	for part := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// expectHTTPClosed checks that the server ends the connection after an HTTP
// error response. The request may have left bytes the server never read, so
// a reset counts as closed as well as EOF.
func (c *rawClient) expectHTTPClosed() {
	c.t.Helper()
	var buf [512]byte
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := c.reader.Read(buf[:])
	switch {
	case n > 0:
		c.t.Fatalf("%d more bytes after the error response: %s", n, preview(buf[:n]))
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		c.t.Fatalf("the server must close the connection after rejecting the handshake: %s", describe(err))
	}
}

// pattern is n bytes of printable ASCII in a cycle that shows misordering.
func pattern(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

// noise is n deterministic pseudo-random bytes.
func noise(n int) []byte {
	b := make([]byte, n)
	source := mathrand.NewChaCha8([32]byte{'e', 'd', 'g', 'e'})
	source.Read(b)
	return b
}
