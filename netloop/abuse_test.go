package netloop_test

// Clients that try to hold the server's resources: slow or huge handshakes,
// frames that declare absurd lengths or never finish, endless fragments,
// and clients that stop answering. Timeouts are configured small; the
// deadlines the tests wait for them are large, so a slow machine only makes
// a test slower, never wrong.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"edgepush/netloop"
)

// closedWithin is how long a test waits for the server to close a
// connection it should close because of a timeout of about a second.
const closedWithin = 20 * time.Second

func TestConformanceAbuseSlowHandshake(t *testing.T) {
	server := startServer(t, netloop.Config{
		Echo:             true,
		HandshakeTimeout: time.Second,
	})
	t.Run("byte_a_second", func(t *testing.T) {
		c := dial(t, server.addr)
		c.sendInBackground(upgradeRequest("/echo").bytes(), 1, time.Second)
		got := c.waitHTTPClosed(closedWithin)
		if strings.HasPrefix(string(got), "HTTP/1.1 101") {
			t.Fatalf("a handshake trickled at a byte a second was upgraded: %s", preview(got))
		}
	})
	t.Run("silent_after_connect", func(t *testing.T) {
		c := dial(t, server.addr)
		got := c.waitHTTPClosed(closedWithin)
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4") {
			t.Fatalf("a silent connection got %s", preview(got))
		}
	})
	t.Run("partial_request_then_silence", func(t *testing.T) {
		c := dial(t, server.addr)
		c.write([]byte("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
		c.waitHTTPClosed(closedWithin)
	})
	t.Run("request_in_two_writes_within_timeout", func(t *testing.T) {
		c := dial(t, server.addr)
		req := upgradeRequest("/echo")
		b := req.bytes()
		if err := c.send(b, len(b)/2+1, 50*time.Millisecond); err != nil {
			t.Fatalf("writing the request: %v", err)
		}
		c.expectUpgraded(req)
		c.closeNormally()
	})
}

// largeHandshakeCase is a request head over one of the limits.
type largeHandshakeCase struct {
	name string
	// roomy runs the case on the server whose MaxHandshake is 1 MiB, so
	// that only MaxHeaders can refuse the request.
	roomy   bool
	request request
	// upgraded: the request is within the limits and must get 101;
	// otherwise it must get 431 or 400 and then the connection must end.
	upgraded bool
}

func TestConformanceAbuseLargeHandshake(t *testing.T) {
	standard := startServer(t, netloop.Config{Echo: true})
	roomy := startServer(t, netloop.Config{
		Echo:         true,
		MaxHandshake: 1 << 20,
	})
	for _, tc := range []largeHandshakeCase{
		{
			name:    "header_64KiB",
			request: upgradeRequest("/echo").adding(header{name: "X-Big", value: strings.Repeat("a", 64<<10)}),
		},
		{
			name:    "header_64KiB_roomy_server_still_under_limit",
			roomy:   true,
			request: upgradeRequest("/echo").adding(header{name: "X-Big", value: strings.Repeat("a", 64<<10)}),
			// 64 KiB is under 1 MiB: accepted.
			upgraded: true,
		},
		{
			name:    "head_9000_bytes",
			request: headOfSize(9000),
		},
		{
			name:     "head_8000_bytes",
			request:  headOfSize(8000),
			upgraded: true,
		},
		{
			name:    "headers_2000",
			request: upgradeRequest("/echo").adding(manyHeaders(2000)...),
		},
		{
			name:    "headers_2000_within_size_limit",
			roomy:   true,
			request: upgradeRequest("/echo").adding(manyHeaders(2000)...),
		},
		{
			name:     "headers_64_lines",
			request:  upgradeRequest("/echo").adding(manyHeaders(64 - 5)...),
			upgraded: true,
		},
		{
			name:    "headers_65_lines",
			request: upgradeRequest("/echo").adding(manyHeaders(65 - 5)...),
		},
		{
			name:    "endless_request_line",
			request: rawRequest([]byte("GET /" + strings.Repeat("a", 64<<10))),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := standard.addr
			if tc.roomy {
				addr = roomy.addr
			}
			c := dial(t, addr)
			// The server may stop reading once a limit is passed.
			written := c.sendInBackground(tc.request.bytes(), 0, 0)
			if tc.upgraded {
				if err := <-written; err != nil {
					t.Fatalf("writing the request: %v", err)
				}
				c.expectUpgraded(tc.request)
				c.closeNormally()
				return
			}
			r := c.readResponse()
			if r.status != 431 && r.status != 400 {
				t.Fatalf("a request of %d bytes got %q, want 431 or 400", len(tc.request.bytes()), r.line)
			}
			c.expectHTTPClosed()
		})
	}
}

// headOfSize is a valid upgrade request for /echo of exactly size bytes,
// padded with one header.
func headOfSize(size int) request {
	base := upgradeRequest("/echo")
	padding := size - len(base.bytes()) - len("X-Padding: \r\n")
	return base.adding(header{name: "X-Padding", value: strings.Repeat("p", padding)})
}

func TestConformanceAbuseFrames(t *testing.T) {
	// Default limits: MaxMessage 64 KiB, MaxEmptyFragments 1024.
	server := startServer(t, netloop.Config{Echo: true})
	emptyFragments := func(n int) []outFrame {
		frames := []outFrame{frame(opText, false, nil)}
		for i := 1; i < n; i++ {
			frames = append(frames, frame(opContinuation, i == n-1, nil))
		}
		return frames
	}
	for _, tc := range []conformanceCase{
		{
			name:  "ping_126_bytes",
			send:  []outFrame{ping(noise(126))},
			close: closeProtocolError,
		},
		{
			name:  "ping_declaring_2^63_bytes",
			send:  []outFrame{declaring(ping(nil), 1<<63)},
			close: closeProtocolError,
		},
		{
			name:  "close_126_bytes",
			send:  []outFrame{closeFrame(closeNormal, string(pattern(124)))},
			close: closeProtocolError,
		},
		{
			name:  "empty_fragments_10000",
			send:  emptyFragments(10000),
			close: closePolicyViolation,
		},
		{
			// A first frame and 1,025 empty continuations.
			name:  "empty_fragments_1026",
			send:  emptyFragments(1026),
			close: closePolicyViolation,
		},
		{
			name:   "empty_fragments_1025",
			send:   emptyFragments(1025),
			expect: []message{textMessage("")},
		},
		{
			// Fragments that carry data are bounded by MaxMessage, not counted.
			name:   "one_byte_fragments_20000",
			send:   fragments(opBinary, noise(20000), 1),
			expect: []message{binaryMessage(noise(20000))},
		},
		{
			name:  "declared_length_2^63_header_only",
			send:  []outFrame{declaring(frame(opBinary, true, nil), 1<<63)},
			close: closeTooBigOrProtocolError,
		},
		{
			name:  "declared_length_2^64-1_header_only",
			send:  []outFrame{declaring(frame(opBinary, true, nil), 1<<64-1)},
			close: closeTooBigOrProtocolError,
		},
		{
			name:  "declared_length_2^63-1_header_only",
			send:  []outFrame{declaring(frame(opText, true, nil), 1<<63-1)},
			close: closeMessageTooBig,
		},
		{
			name:  "declared_length_2^32_header_only",
			send:  []outFrame{declaring(frame(opBinary, false, nil), 1<<32)},
			close: closeMessageTooBig,
		},
		{
			name:  "declared_max_message_plus_1_header_only",
			send:  []outFrame{declaring(frame(opText, true, nil), 64<<10+1)},
			close: closeMessageTooBig,
		},
		{
			name:  "declared_max_message_plus_1_with_payload_streaming",
			send:  []outFrame{frame(opBinary, true, noise(64<<10+1))},
			close: closeMessageTooBig,
		},
		{
			name:  "declared_1MiB_with_payload_streaming",
			send:  []outFrame{frame(opText, true, pattern(1<<20))},
			close: closeMessageTooBig,
		},
		{
			name:  "fragments_over_max_message_second_header_only",
			send:  []outFrame{frame(opText, false, pattern(60<<10)), declaring(frame(opContinuation, true, nil), 8<<10)},
			close: closeMessageTooBig,
		},
		{
			name:  "fragments_over_max_message_in_small_pieces",
			send:  fragments(opBinary, noise(64<<10+1), 1<<10),
			close: closeMessageTooBig,
		},
		{
			name:   "message_of_exactly_max_message",
			send:   []outFrame{frame(opBinary, true, noise(64<<10))},
			expect: []message{binaryMessage(noise(64 << 10))},
		},
		{
			name:   "fragments_adding_up_to_exactly_max_message",
			send:   fragments(opText, pattern(64<<10), 10000),
			expect: []message{textMessage(string(pattern(64 << 10)))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runConformanceCase(t, server.addr, tc)
		})
	}
}

func TestConformanceAbuseFrameTimeout(t *testing.T) {
	server := startServer(t, netloop.Config{
		Echo:         true,
		FrameTimeout: 500 * time.Millisecond,
	})
	t.Run("frame_trickled_a_byte_per_100ms", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		// 106 bytes at 100 ms each: over 10 s, twenty times FrameTimeout.
		c.sendInBackground(c.encode(text(string(pattern(100)))), 1, 100*time.Millisecond)
		got := c.waitClosed(closedWithin)
		for _, m := range got {
			if m.opcode != opClose {
				t.Fatalf("the server answered %v to a frame that took longer than FrameTimeout", m)
			}
		}
		t.Logf("closed with %v", got)
	})
	t.Run("first_byte_of_frame_then_silence", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		c.write(c.encode(text("never finished"))[:1])
		got := c.waitClosed(closedWithin)
		for _, m := range got {
			if m.opcode != opClose {
				t.Fatalf("the server sent %v", m)
			}
		}
	})
	t.Run("header_complete_payload_missing", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		c.write(c.encode(declaring(text("short"), 100)))
		got := c.waitClosed(closedWithin)
		for _, m := range got {
			if m.opcode != opClose {
				t.Fatalf("the server sent %v", m)
			}
		}
	})
	t.Run("idle_between_frames_is_allowed", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		c.writeFrames(text("before the pause"))
		c.expectMessage(textMessage("before the pause"))
		time.Sleep(3 * 500 * time.Millisecond)
		c.writeFrames(text("after the pause"))
		c.expectMessage(textMessage("after the pause"))
		c.closeNormally()
	})
	t.Run("idle_between_fragments_within_timeout", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		// FrameTimeout is per frame: a fragmented message may take longer
		// than one FrameTimeout as a whole.
		frames := fragments(opText, []byte("slow but steady"), 3)
		for _, f := range frames {
			c.writeFrames(f)
			time.Sleep(200 * time.Millisecond)
		}
		c.expectMessage(textMessage("slow but steady"))
		c.closeNormally()
	})
}

// TestConformanceAbuseLargeFragmented is Autobahn's 9.3.x and 9.4.x: a
// 4 MiB message in 64-byte to 4 KiB fragments, with MaxMessage 16 MiB.
func TestConformanceAbuseLargeFragmented(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true, MaxMessage: 16 << 20})
	for _, size := range []int{64, 4 << 10} {
		t.Run(fmt.Sprintf("4MiB_in_%d_byte_fragments", size), func(t *testing.T) {
			payload := noise(4 << 20)
			runConformanceCase(t, server.addr, conformanceCase{
				send:   fragments(opBinary, payload, size),
				expect: []message{binaryMessage(payload)},
			})
		})
	}
}

// TestConformanceAbuseMessageTimeout: a fragmented message must complete
// within MessageTimeout, so a trickle of empty fragments ends.
func TestConformanceAbuseMessageTimeout(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true, MessageTimeout: 500 * time.Millisecond})
	c := upgrade(t, server.addr, "/echo")
	c.writeFrames(frame(opText, false, nil))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // an empty continuation every 50 ms, for at most 10 s
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := c.send(c.encode(frame(opContinuation, false, nil)), 0, 0); err != nil {
				return
			}
		}
	}()
	got := c.waitClosed(closedWithin)
	if len(got) != 1 || got[0].opcode != opClose || len(got[0].payload) < 2 || int(got[0].payload[0])<<8|int(got[0].payload[1]) != closePolicyViolation {
		t.Fatalf("a message trickled past MessageTimeout got %v, want close 1008", got)
	}
}

func TestConformanceAbuseKeepalive(t *testing.T) {
	server := startServer(t, netloop.Config{
		Echo:         true,
		PingInterval: 200 * time.Millisecond,
		PongTimeout:  300 * time.Millisecond,
	})
	// The answering client gets a PongTimeout of a second, so that a test
	// goroutine that the busy machine delays for a few hundred milliseconds
	// still answers in time; ten pings take longer than the timeout, so a
	// connection kept open only by luck would still be caught.
	patient := startServer(t, netloop.Config{
		Echo:         true,
		PingInterval: 200 * time.Millisecond,
		PongTimeout:  time.Second,
	})
	t.Run("answering_client_stays_open", func(t *testing.T) {
		c := upgrade(t, patient.addr, "/echo")
		for pings := 0; pings < 10; {
			m := c.readMessage("a server ping")
			if m.opcode != opPing {
				t.Fatalf("got %v, want a server ping", m)
			}
			c.writeFrames(pong(m.payload))
			pings++
		}
		// Ten intervals later the connection still works.
		c.answerPings = true
		c.writeFrames(text("still here"))
		c.expectMessage(textMessage("still here"))
		c.closeNormally()
	})
	t.Run("silent_client_closed", func(t *testing.T) {
		c := upgrade(t, server.addr, "/echo")
		got := c.waitClosed(closedWithin)
		pings := 0
		for _, m := range got {
			switch m.opcode {
			case opPing:
				pings++
			case opClose:
			default:
				t.Fatalf("a silent client got %v", m)
			}
		}
		if pings == 0 {
			t.Fatalf("the server closed a silent client without pinging it first (got %v)", got)
		}
	})
}
