package netloop_test

// Conformance cases after the categories of the Autobahn|Testsuite, run
// against the /echo endpoint with a raw client:
//
//	1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation,
//	6 UTF-8, 7 close handshake, 9 large messages, 10 auto-fragmentation.
//
// Every case states the exact result: the messages echoed, in order, and
// the code of the server's close frame; a case that expects no close ends
// with a normal closing handshake, which proves the connection survived.

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"edgepush/netloop"
)

// closeNormalOrEmpty accepts 1000 or an empty close frame: the answers to a
// client close frame without a status code (RFC 6455 5.5.1).
const closeNormalOrEmpty = -1

// closeTooBigOrProtocolError accepts 1009 or 1002: the answers to a 64-bit
// length with the most significant bit set, which is too big and also
// forbidden (RFC 6455 5.2).
const closeTooBigOrProtocolError = -2

// warmupText is echoed before the case proper when a case asks for warmup.
const warmupText = "Hello, world!"

// conformanceCase is one exchange on /echo.
type conformanceCase struct {
	name string
	// warmup is written first and its echo awaited, so that the case checks
	// a failure on a connection that has already worked, without relying on
	// the server flushing an echo while it fails the connection.
	warmup []outFrame
	// send is the frames written, in one stream of bytes.
	send []outFrame
	// chop writes that stream in writes of this many bytes (0: whole).
	chop int
	// expect is the messages and control frames the server sends, in order.
	expect []message
	// close is the code of the server's close frame after expect, followed
	// by the end of the connection; 0: no close expected, the test then
	// closes normally.
	close int
}

func TestConformance(t *testing.T) {
	server := startServer(t, netloop.Config{
		Echo:       true,
		MaxMessage: 16 << 20,
	})
	for _, tc := range conformanceCases() {
		t.Run(tc.name, func(t *testing.T) {
			runConformanceCase(t, server.addr, tc)
		})
	}
}

// runConformanceCase runs tc on a new connection to addr.
func runConformanceCase(t *testing.T, addr string, tc conformanceCase) {
	c := upgrade(t, addr, "/echo")
	if tc.warmup != nil {
		c.writeFrames(tc.warmup...)
		for _, want := range echoOf(tc.warmup) {
			c.expectMessage(want)
		}
	}
	// Write in the background: the server may echo a large message while
	// the rest is still being written, or fail the connection midway.
	written := c.sendInBackground(c.encode(tc.send...), tc.chop, 0)
	for _, want := range tc.expect {
		c.expectMessage(want)
	}
	switch tc.close {
	case 0:
		if err := <-written; err != nil {
			t.Fatalf("writing the frames: %v", err)
		}
		c.closeNormally()
	case closeNormalOrEmpty:
		c.expectClose(closeNormal, closeNoStatus)
	case closeTooBigOrProtocolError:
		c.expectClose(closeMessageTooBig, closeProtocolError)
	default:
		c.expectClose(tc.close)
	}
}

// echoOf is what /echo answers to valid frames: each message whole, a pong
// for each ping.
func echoOf(frames []outFrame) []message {
	var answers []message
	var partial message
	for _, f := range frames {
		switch f.opcode {
		case opPing:
			answers = append(answers, pongMessage(f.payload))
			continue
		case opText, opBinary:
			partial = message{opcode: f.opcode}
		}
		if f.opcode < opClose {
			partial.payload = append(partial.payload, f.payload...)
			if f.fin {
				answers = append(answers, partial)
			}
		}
	}
	return answers
}

// conformanceCases is every category in order.
func conformanceCases() []conformanceCase {
	var cases []conformanceCase
	for _, category := range [][]conformanceCase{
		framingCases(),
		pingCases(),
		reservedBitCases(),
		opcodeCases(),
		fragmentationCases(),
		utf8Cases(),
		closeCases(),
		largeMessageCases(),
		autoFragmentationCases(),
	} {
		cases = append(cases, category...)
	}
	return cases
}

// framingCases is category 1: text and binary messages of the lengths where
// the length encoding changes, written whole and in small pieces.
func framingCases() []conformanceCase {
	var cases []conformanceCase
	for _, kind := range []struct {
		number  int
		name    string
		opcode  byte
		payload func(int) []byte
	}{
		{number: 1, name: "text", opcode: opText, payload: pattern},
		{number: 2, name: "binary", opcode: opBinary, payload: noise},
	} {
		for i, size := range []struct {
			length int
			chop   int
		}{
			{length: 0},
			{length: 125},
			{length: 126},
			{length: 127},
			{length: 128},
			{length: 65535},
			{length: 65536},
			{length: 65536, chop: 997},
			{length: 125, chop: 1},
			{length: 128, chop: 1},
			{length: 65536, chop: 1},
		} {
			payload := kind.payload(size.length)
			name := fmt.Sprintf("1.%d.%d_%s_%d", kind.number, i+1, kind.name, size.length)
			if size.chop > 0 {
				name += fmt.Sprintf("_in_%d_byte_writes", size.chop)
			}
			cases = append(cases, conformanceCase{
				name:   name,
				send:   []outFrame{frame(kind.opcode, true, payload)},
				chop:   size.chop,
				expect: []message{{opcode: kind.opcode, payload: payload}},
			})
		}
	}
	return cases
}

// pingCases is category 2.
func pingCases() []conformanceCase {
	binaryPayload := []byte{0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF}
	var tenPings []outFrame
	var tenPongs []message
	for i := range 10 {
		payload := fmt.Appendf(nil, "payload-%d", i)
		tenPings = append(tenPings, ping(payload))
		tenPongs = append(tenPongs, pongMessage(payload))
	}
	return []conformanceCase{
		{
			name:   "2.1_ping_empty",
			send:   []outFrame{ping(nil)},
			expect: []message{pongMessage(nil)},
		},
		{
			name:   "2.2_ping_text_payload",
			send:   []outFrame{ping([]byte("Hello, world!"))},
			expect: []message{pongMessage([]byte("Hello, world!"))},
		},
		{
			name:   "2.3_ping_binary_payload",
			send:   []outFrame{ping(binaryPayload)},
			expect: []message{pongMessage(binaryPayload)},
		},
		{
			name:   "2.4_ping_125_bytes",
			send:   []outFrame{ping(noise(125))},
			expect: []message{pongMessage(noise(125))},
		},
		{
			name:  "2.5_ping_126_bytes",
			send:  []outFrame{ping(noise(126))},
			close: closeProtocolError,
		},
		{
			name:   "2.6_ping_125_bytes_in_1_byte_writes",
			send:   []outFrame{ping(noise(125))},
			chop:   1,
			expect: []message{pongMessage(noise(125))},
		},
		{
			name: "2.7_unsolicited_pong_empty",
			send: []outFrame{pong(nil)},
		},
		{
			name: "2.8_unsolicited_pong_with_payload",
			send: []outFrame{pong([]byte("unsolicited pong payload"))},
		},
		{
			name:   "2.9_unsolicited_pong_then_ping",
			send:   []outFrame{pong([]byte("unsolicited pong payload")), ping([]byte("ping payload"))},
			expect: []message{pongMessage([]byte("ping payload"))},
		},
		{
			name:   "2.10_ten_pings_answered_in_order",
			send:   tenPings,
			expect: tenPongs,
		},
		{
			name:   "2.11_ten_pings_in_1_byte_writes",
			send:   tenPings,
			chop:   1,
			expect: tenPongs,
		},
	}
}

// reservedBitCases is category 3: a frame with reserved bits set fails the
// connection with 1002 (RFC 6455 5.2), on a fresh connection and after a
// message has been echoed; frames after it are not processed.
func reservedBitCases() []conformanceCase {
	var cases []conformanceCase
	for rsv := byte(1); rsv <= 7; rsv++ {
		cases = append(cases,
			conformanceCase{
				name:  fmt.Sprintf("3.1.%d_text_reserved_bits_%d", rsv, rsv),
				send:  []outFrame{withReserved(text(warmupText), rsv)},
				close: closeProtocolError,
			},
			conformanceCase{
				name:   fmt.Sprintf("3.2.%d_text_reserved_bits_%d_after_echo_then_ping", rsv, rsv),
				warmup: []outFrame{text(warmupText)},
				send:   []outFrame{withReserved(text(warmupText), rsv), ping([]byte("not answered"))},
				close:  closeProtocolError,
			},
		)
	}
	return append(cases,
		conformanceCase{
			name:   "3.3_text_reserved_bits_in_1_byte_writes",
			warmup: []outFrame{text(warmupText)},
			send:   []outFrame{withReserved(text(warmupText), 4), ping([]byte("not answered"))},
			chop:   1,
			close:  closeProtocolError,
		},
		conformanceCase{
			name:  "3.4_binary_reserved_bits_5",
			send:  []outFrame{withReserved(binaryFrame(noise(16)), 5)},
			close: closeProtocolError,
		},
		conformanceCase{
			name:  "3.5_ping_reserved_bits_6",
			send:  []outFrame{withReserved(ping([]byte("ping")), 6)},
			close: closeProtocolError,
		},
		conformanceCase{
			name:  "3.6_close_reserved_bits_7",
			send:  []outFrame{withReserved(closeFrame(closeNormal, ""), 7)},
			close: closeProtocolError,
		},
		conformanceCase{
			name:  "3.7_continuation_reserved_bits_1",
			send:  []outFrame{frame(opText, false, []byte("frag")), withReserved(frame(opContinuation, true, []byte("ment")), 1)},
			close: closeProtocolError,
		},
	)
}

// opcodeCases is category 4: reserved opcodes fail the connection with 1002
// (RFC 6455 5.2).
func opcodeCases() []conformanceCase {
	var cases []conformanceCase
	for _, opcode := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		group := 1
		if opcode >= 0xB {
			group = 2
		}
		cases = append(cases,
			conformanceCase{
				name:  fmt.Sprintf("4.%d.%d_opcode_%#x_empty", group, opcode, opcode),
				send:  []outFrame{frame(opcode, true, nil)},
				close: closeProtocolError,
			},
			conformanceCase{
				name:   fmt.Sprintf("4.%d.%d_opcode_%#x_with_payload_after_echo_then_ping", group, opcode, opcode),
				warmup: []outFrame{text(warmupText)},
				send:   []outFrame{frame(opcode, true, []byte("reserved opcode payload")), ping([]byte("not answered"))},
				close:  closeProtocolError,
			},
		)
	}
	return cases
}

// fragmentationCases is category 5 (RFC 6455 5.4).
func fragmentationCases() []conformanceCase {
	var manyWithPings []outFrame
	var manyPongs []message
	var whole []byte
	for i := range 20 {
		part := fmt.Appendf(nil, "fragment%d;", i)
		whole = append(whole, part...)
		op := opContinuation
		if i == 0 {
			op = opText
		}
		manyWithPings = append(manyWithPings, frame(op, i == 19, part))
		if i < 19 {
			payload := fmt.Appendf(nil, "ping-%d", i)
			manyWithPings = append(manyWithPings, ping(payload))
			manyPongs = append(manyPongs, pongMessage(payload))
		}
	}
	manyPongs = append(manyPongs, textMessage(string(whole)))
	oneByte := "Hello, fragmented world!"
	return []conformanceCase{
		{
			name:  "5.1_ping_fragmented",
			send:  []outFrame{frame(opPing, false, []byte("fragment1")), frame(opContinuation, true, []byte("fragment2"))},
			close: closeProtocolError,
		},
		{
			name:  "5.2_pong_fragmented",
			send:  []outFrame{frame(opPong, false, []byte("fragment1")), frame(opContinuation, true, []byte("fragment2"))},
			close: closeProtocolError,
		},
		{
			name:  "5.3_close_fragmented",
			send:  []outFrame{frame(opClose, false, closePayload(closeNormal, "frag")), frame(opContinuation, true, []byte("ment"))},
			close: closeProtocolError,
		},
		{
			name:   "5.4_text_2_fragments",
			send:   splitAt(opText, []byte("fragment1fragment2"), 9),
			expect: []message{textMessage("fragment1fragment2")},
		},
		{
			name:   "5.5_text_2_fragments_in_1_byte_writes",
			send:   splitAt(opText, []byte("fragment1fragment2"), 9),
			chop:   1,
			expect: []message{textMessage("fragment1fragment2")},
		},
		{
			name:   "5.6_binary_2_fragments",
			send:   splitAt(opBinary, noise(300), 150),
			expect: []message{binaryMessage(noise(300))},
		},
		{
			name:   "5.7_text_2_fragments_ping_between",
			send:   []outFrame{frame(opText, false, []byte("fragment1")), ping([]byte("between")), frame(opContinuation, true, []byte("fragment2"))},
			expect: []message{pongMessage([]byte("between")), textMessage("fragment1fragment2")},
		},
		{
			name:   "5.8_text_2_fragments_ping_between_in_1_byte_writes",
			send:   []outFrame{frame(opText, false, []byte("fragment1")), ping([]byte("between")), frame(opContinuation, true, []byte("fragment2"))},
			chop:   1,
			expect: []message{pongMessage([]byte("between")), textMessage("fragment1fragment2")},
		},
		{
			name:   "5.9_text_2_fragments_unsolicited_pong_between",
			send:   []outFrame{frame(opText, false, []byte("fragment1")), pong([]byte("between")), frame(opContinuation, true, []byte("fragment2"))},
			expect: []message{textMessage("fragment1fragment2")},
		},
		{
			name:   "5.10_text_20_fragments_ping_between_each",
			send:   manyWithPings,
			expect: manyPongs,
		},
		{
			name:  "5.11_continuation_final_without_start",
			send:  []outFrame{frame(opContinuation, true, []byte("fragment"))},
			close: closeProtocolError,
		},
		{
			name:  "5.12_continuation_not_final_without_start",
			send:  []outFrame{frame(opContinuation, false, []byte("fragment"))},
			close: closeProtocolError,
		},
		{
			name:   "5.13_continuation_without_start_after_echo",
			warmup: []outFrame{text(warmupText)},
			send:   []outFrame{frame(opContinuation, true, []byte("fragment")), ping([]byte("not answered"))},
			close:  closeProtocolError,
		},
		{
			name:  "5.14_text_inside_fragmented_text",
			send:  []outFrame{frame(opText, false, []byte("fragment1")), frame(opContinuation, false, []byte("fragment2")), frame(opText, true, []byte("fragment3"))},
			close: closeProtocolError,
		},
		{
			name:  "5.15_binary_inside_fragmented_text",
			send:  []outFrame{frame(opText, false, []byte("fragment1")), frame(opBinary, false, []byte("fragment2")), frame(opContinuation, true, []byte("fragment3"))},
			close: closeProtocolError,
		},
		{
			name:  "5.16_text_unfragmented_inside_fragmented_binary",
			send:  []outFrame{frame(opBinary, false, noise(8)), frame(opText, true, []byte("interloper"))},
			close: closeProtocolError,
		},
		{
			name:   "5.17_continuation_after_complete_fragmented_message",
			warmup: splitAt(opText, []byte("fragment1fragment2"), 9),
			send:   []outFrame{frame(opContinuation, true, []byte("fragment3"))},
			close:  closeProtocolError,
		},
		{
			name:   "5.18_text_1_byte_fragments",
			send:   fragments(opText, []byte(oneByte), 1),
			expect: []message{textMessage(oneByte)},
		},
		{
			name:   "5.19_binary_1_byte_fragments",
			send:   fragments(opBinary, noise(64), 1),
			expect: []message{binaryMessage(noise(64))},
		},
		{
			name:   "5.20_text_empty_fragments",
			send:   []outFrame{frame(opText, false, nil), frame(opContinuation, false, nil), frame(opContinuation, true, nil)},
			expect: []message{textMessage("")},
		},
		{
			name:   "5.21_text_empty_fragments_around_data",
			send:   []outFrame{frame(opText, false, nil), frame(opContinuation, false, []byte("middle")), frame(opContinuation, true, nil)},
			expect: []message{textMessage("middle")},
		},
		{
			name:   "5.22_two_fragmented_messages_in_a_row",
			send:   append(splitAt(opText, []byte("first message"), 5), splitAt(opBinary, noise(40), 10, 20)...),
			expect: []message{textMessage("first message"), binaryMessage(noise(40))},
		},
	}
}

// validUTF8 are texts that must be echoed whole however they are cut.
var validUTF8 = []struct {
	name string
	text string
}{
	{name: "hello", text: "Hello-µ@ßöäüàá-UTF-8!!"},
	{name: "kosme", text: "κόσμε"},
	{name: "nul", text: "\x00"},
	{name: "first_2_byte_U+0080", text: "\u0080"},
	{name: "first_3_byte_U+0800", text: "\u0800"},
	{name: "first_4_byte_U+10000", text: "\U00010000"},
	{name: "last_1_byte_U+007F", text: "\u007f"},
	{name: "last_2_byte_U+07FF", text: "\u07ff"},
	{name: "last_3_byte_U+FFFF", text: "\uffff"},
	{name: "last_U+10FFFF", text: "\U0010ffff"},
	{name: "before_surrogates_U+D7FF", text: "\ud7ff"},
	{name: "after_surrogates_U+E000", text: "\ue000"},
	{name: "replacement_U+FFFD", text: "\ufffd"},
	{name: "noncharacter_U+FFFE", text: "\ufffe"},
	{name: "noncharacter_U+1FFFF", text: "\U0001ffff"},
	{name: "every_length", text: "a\u0080b\u0800c\U00010000d\U0010ffff"},
	{name: "emoji", text: "😀 grinning 😀"},
}

// invalidUTF8 are texts that are not UTF-8 (RFC 3629): each fails the
// connection with 1007 (RFC 6455 8.1).
var invalidUTF8 = []struct {
	name string
	text string
}{
	{name: "overlong_slash_2_bytes", text: "κόσμε\xc0\xafedited"},
	{name: "overlong_slash_3_bytes", text: "κόσμε\xe0\x80\xafedited"},
	{name: "overlong_slash_4_bytes", text: "κόσμε\xf0\x80\x80\xafedited"},
	{name: "overlong_slash_5_bytes", text: "κόσμε\xf8\x80\x80\x80\xafedited"},
	{name: "overlong_slash_6_bytes", text: "κόσμε\xfc\x80\x80\x80\x80\xafedited"},
	{name: "overlong_max_2_bytes", text: "\xc1\xbf"},
	{name: "overlong_max_3_bytes", text: "\xe0\x9f\xbf"},
	{name: "overlong_max_4_bytes", text: "\xf0\x8f\xbf\xbf"},
	{name: "overlong_nul", text: "a\xc0\x80b"},
	{name: "surrogate_U+D800", text: "\xed\xa0\x80"},
	{name: "surrogate_U+DB7F", text: "\xed\xad\xbf"},
	{name: "surrogate_U+DB80", text: "\xed\xae\x80"},
	{name: "surrogate_U+DBFF", text: "\xed\xaf\xbf"},
	{name: "surrogate_U+DC00", text: "\xed\xb0\x80"},
	{name: "surrogate_U+DF80", text: "\xed\xbe\x80"},
	{name: "surrogate_U+DFFF", text: "\xed\xbf\xbf"},
	{name: "surrogate_pair_U+D800_U+DC00", text: "\xed\xa0\x80\xed\xb0\x80"},
	{name: "surrogate_inside_text", text: "κόσμε\xed\xa0\x80edited"},
	{name: "above_max_U+110000", text: "κόσμε\xf4\x90\x80\x80edited"},
	{name: "above_max_U+1FFFFF", text: "\xf7\xbf\xbf\xbf"},
	{name: "byte_F5", text: "abc\xf5\x80\x80\x80"},
	{name: "byte_FE", text: "abc\xfe"},
	{name: "byte_FF", text: "abc\xffdef"},
	{name: "unexpected_continuation_80", text: "\x80"},
	{name: "unexpected_continuation_BF", text: "abc\xbfdef"},
	{name: "unexpected_continuations_after_complete", text: "κ\xb9\x80"},
	{name: "start_byte_then_space", text: "\xc2 "},
	{name: "3_byte_start_then_ascii", text: "\xe1\x80a"},
	{name: "truncated_2_of_2_at_end", text: "κόσμε\xce"},
	{name: "truncated_2_of_3_at_end", text: "abc\xe0\xa0"},
	{name: "truncated_3_of_4_at_end", text: "abc\xf0\x90\x80"},
	{name: "truncated_1_of_4_at_end", text: "\xf4"},
}

// utf8Cases is category 6: text messages are validated (RFC 6455 8.1), also
// across fragments, and fail as soon as the bytes cannot be completed into
// valid UTF-8 (fail fast), not when the message ends.
func utf8Cases() []conformanceCase {
	var cases []conformanceCase
	for i, v := range validUTF8 {
		payload := []byte(v.text)
		prefix := fmt.Sprintf("6.1.%d_valid_%s", i+1, v.name)
		cases = append(cases,
			conformanceCase{
				name:   prefix + "_whole",
				send:   []outFrame{frame(opText, true, payload)},
				expect: []message{textMessage(v.text)},
			},
			conformanceCase{
				name:   prefix + "_1_byte_fragments",
				send:   fragments(opText, payload, 1),
				expect: []message{textMessage(v.text)},
			},
		)
		for at := 1; at < len(payload); at++ {
			where := "between_code_points"
			if !utf8.RuneStart(payload[at]) {
				where = "inside_code_point"
			}
			cases = append(cases, conformanceCase{
				name:   fmt.Sprintf("%s_split_at_%d_%s", prefix, at, where),
				send:   splitAt(opText, payload, at),
				expect: []message{textMessage(v.text)},
			})
		}
	}
	for i, v := range invalidUTF8 {
		payload := []byte(v.text)
		prefix := fmt.Sprintf("6.2.%d_invalid_%s", i+1, v.name)
		cases = append(cases,
			conformanceCase{
				name:  prefix + "_whole",
				send:  []outFrame{frame(opText, true, payload)},
				close: closeInvalidPayload,
			},
			conformanceCase{
				name:  prefix + "_1_byte_fragments",
				send:  fragments(opText, payload, 1),
				close: closeInvalidPayload,
			},
			conformanceCase{
				name:  prefix + "_as_close_reason",
				send:  []outFrame{frame(opClose, true, closePayload(closeNormal, v.text))},
				close: closeInvalidPayload,
			},
		)
		end := failPoint(payload)
		if end == 0 {
			continue // only the end of the message makes it invalid
		}
		// Fail fast: the message is not finished (fin=0) and nothing more is
		// sent; the server must fail the connection on what it has.
		cases = append(cases, conformanceCase{
			name:  prefix + "_fail_fast_first_fragment",
			send:  []outFrame{frame(opText, false, payload[:end])},
			close: closeInvalidPayload,
		})
		if end > 1 {
			cases = append(cases, conformanceCase{
				name:  prefix + "_fail_fast_in_continuation",
				send:  []outFrame{frame(opText, false, payload[:end-1]), frame(opContinuation, false, payload[end-1:end])},
				close: closeInvalidPayload,
			})
		}
	}
	// Autobahn 6.4.1 and 6.4.2: the invalid part arrives in the middle
	// fragment, and the last fragment is never sent.
	return append(cases,
		conformanceCase{
			name:  "6.4.1_fail_fast_invalid_code_point_in_middle_fragment",
			send:  []outFrame{frame(opText, false, []byte("κόσμε")), frame(opContinuation, false, []byte("\xf4\x90\x80\x80"))},
			close: closeInvalidPayload,
		},
		conformanceCase{
			name:  "6.4.2_fail_fast_invalid_byte_alone_in_middle_fragment",
			send:  []outFrame{frame(opText, false, []byte("κόσμε\xf4")), frame(opContinuation, false, []byte("\x90"))},
			close: closeInvalidPayload,
		},
		conformanceCase{
			name:  "6.4.3_fail_fast_in_1_byte_writes",
			send:  []outFrame{frame(opText, false, []byte("κόσμε")), frame(opContinuation, false, []byte("\xf4\x90\x80\x80"))},
			chop:  1,
			close: closeInvalidPayload,
		},
		conformanceCase{
			name:  "6.4.4_fail_fast_inside_one_frame_in_1_byte_writes",
			send:  []outFrame{declaring(frame(opText, true, []byte("κόσμε\xf4\x90")), 100)},
			chop:  1,
			close: closeInvalidPayload,
		},
	)
}

// failPoint is the length of the shortest prefix of b that no bytes can
// complete into valid UTF-8; 0 if more bytes could still complete all of b
// (b is valid, or invalid only because it ends inside a code point).
func failPoint(b []byte) int {
	for n := 1; n <= len(b); n++ {
		if !completable(b[:n]) {
			return n
		}
	}
	return 0
}

// completable reports whether some bytes appended to b make it valid UTF-8:
// b is valid but for a last sequence that is the start of a code point.
func completable(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for k := 1; k <= 3 && k <= len(b); k++ {
		if utf8.Valid(b[:len(b)-k]) && startsCodePoint(b[len(b)-k:]) {
			return true
		}
	}
	return false
}

// startsCodePoint reports whether tail is a proper prefix of the UTF-8 form
// of some code point (RFC 3629, section 4).
func startsCodePoint(tail []byte) bool {
	length, low, high := 0, byte(0x80), byte(0xBF)
	switch lead := tail[0]; {
	case lead >= 0xC2 && lead <= 0xDF:
		length = 2
	case lead == 0xE0:
		length, low = 3, 0xA0
	case lead == 0xED:
		length, high = 3, 0x9F
	case lead >= 0xE1 && lead <= 0xEF:
		length = 3
	case lead == 0xF0:
		length, low = 4, 0x90
	case lead >= 0xF1 && lead <= 0xF3:
		length = 4
	case lead == 0xF4:
		length, high = 4, 0x8F
	default:
		return false
	}
	if len(tail) >= length {
		return false
	}
	for i, b := range tail[1:] {
		if i > 0 {
			low, high = 0x80, 0xBF
		}
		if b < low || b > high {
			return false
		}
	}
	return true
}

// closeCases is category 7: the closing handshake (RFC 6455 5.5.1, 7).
func closeCases() []conformanceCase {
	cases := []conformanceCase{
		{
			name:   "7.1.1_close_after_echo",
			send:   []outFrame{text(warmupText), closeFrame(closeNormal, "")},
			expect: []message{textMessage(warmupText)},
			close:  closeNormal,
		},
		{
			name:  "7.1.2_second_close_ignored",
			send:  []outFrame{closeFrame(closeNormal, ""), closeFrame(closeNormal, "")},
			close: closeNormal,
		},
		{
			name:  "7.1.3_ping_after_close_ignored",
			send:  []outFrame{closeFrame(closeNormal, ""), ping([]byte("not answered"))},
			close: closeNormal,
		},
		{
			name:  "7.1.4_text_after_close_ignored",
			send:  []outFrame{closeFrame(closeNormal, ""), text("not echoed")},
			close: closeNormal,
		},
		{
			name:  "7.1.5_close_inside_fragmented_message",
			send:  []outFrame{frame(opText, false, []byte("fragment1")), closeFrame(closeNormal, ""), frame(opContinuation, true, []byte("fragment2"))},
			close: closeNormal,
		},
		{
			name:  "7.1.6_garbage_after_close_ignored",
			send:  []outFrame{closeFrame(closeNormal, ""), withReserved(frame(0x3, true, noise(10)), 7)},
			close: closeNormal,
		},
		{
			name:   "7.1.7_large_text_then_close_then_ping",
			send:   []outFrame{frame(opText, true, pattern(256<<10)), closeFrame(closeNormal, ""), ping([]byte("not answered"))},
			expect: []message{textMessage(string(pattern(256 << 10)))},
			close:  closeNormal,
		},
		{
			name:  "7.3.1_close_empty_payload",
			send:  []outFrame{frame(opClose, true, nil)},
			close: closeNormalOrEmpty,
		},
		{
			name:  "7.3.2_close_1_byte_payload",
			send:  []outFrame{frame(opClose, true, []byte{0x03})},
			close: closeProtocolError,
		},
		{
			name:  "7.3.3_close_1000_no_reason",
			send:  []outFrame{closeFrame(closeNormal, "")},
			close: closeNormal,
		},
		{
			name:  "7.3.4_close_1000_with_reason",
			send:  []outFrame{closeFrame(closeNormal, "Hello World!")},
			close: closeNormal,
		},
		{
			name:  "7.3.5_close_reason_123_bytes",
			send:  []outFrame{closeFrame(closeNormal, string(pattern(123)))},
			close: closeNormal,
		},
		{
			name:  "7.3.6_close_reason_124_bytes_payload_over_125",
			send:  []outFrame{closeFrame(closeNormal, string(pattern(124)))},
			close: closeProtocolError,
		},
		{
			name:  "7.3.7_close_reason_multibyte_utf8",
			send:  []outFrame{closeFrame(closeNormal, "κόσμε 😀")},
			close: closeNormal,
		},
		{
			name:  "7.3.8_close_in_1_byte_writes",
			send:  []outFrame{closeFrame(3000, "bye")},
			chop:  1,
			close: 3000,
		},
		{
			name:  "7.5.1_close_reason_invalid_utf8",
			send:  []outFrame{frame(opClose, true, closePayload(closeNormal, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))},
			close: closeInvalidPayload,
		},
	}
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cases = append(cases, conformanceCase{
			name:  fmt.Sprintf("7.7_valid_code_%d_echoed", code),
			send:  []outFrame{closeFrame(code, "")},
			close: code,
		})
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, conformanceCase{
			name:  fmt.Sprintf("7.9_invalid_code_%d", code),
			send:  []outFrame{closeFrame(code, "")},
			close: closeProtocolError,
		})
	}
	return cases
}

// largeMessageCases is category 9.1 and 9.2: large text and binary messages
// echoed byte for byte, whole and in 64 KiB fragments.
func largeMessageCases() []conformanceCase {
	var cases []conformanceCase
	for i, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		textPayload := pattern(size)
		binaryPayload := noise(size)
		cases = append(cases,
			conformanceCase{
				name:   fmt.Sprintf("9.1.%d_text_%s", i+1, sizeName(size)),
				send:   []outFrame{frame(opText, true, textPayload)},
				expect: []message{textMessage(string(textPayload))},
			},
			conformanceCase{
				name:   fmt.Sprintf("9.2.%d_binary_%s", i+1, sizeName(size)),
				send:   []outFrame{frame(opBinary, true, binaryPayload)},
				expect: []message{binaryMessage(binaryPayload)},
			},
			conformanceCase{
				name:   fmt.Sprintf("9.3.%d_text_%s_in_64KiB_fragments", i+1, sizeName(size)),
				send:   fragments(opText, textPayload, 64<<10),
				expect: []message{textMessage(string(textPayload))},
			},
			conformanceCase{
				name:   fmt.Sprintf("9.4.%d_binary_%s_in_64KiB_fragments", i+1, sizeName(size)),
				send:   fragments(opBinary, binaryPayload, 64<<10),
				expect: []message{binaryMessage(binaryPayload)},
			},
		)
	}
	// Multi-byte text cut into fragments that split code points.
	multibyte := []byte(strings.Repeat("κόσμε😀", 1<<20/14))
	return append(cases, conformanceCase{
		name:   "9.5.1_multibyte_text_1MiB_in_fragments_splitting_code_points",
		send:   fragments(opText, multibyte, 64<<10+1),
		expect: []message{textMessage(string(multibyte))},
	})
}

// autoFragmentationCases is category 10: a message that arrives in many
// fragments is echoed whole (the server may fragment its echo; the client
// joins the fragments).
func autoFragmentationCases() []conformanceCase {
	textPayload := pattern(64 << 10)
	binaryPayload := noise(64 << 10)
	return []conformanceCase{
		{
			name:   "10.1.1_text_64KiB_in_1KiB_fragments",
			send:   fragments(opText, textPayload, 1<<10),
			expect: []message{textMessage(string(textPayload))},
		},
		{
			name:   "10.1.2_binary_64KiB_in_1KiB_fragments",
			send:   fragments(opBinary, binaryPayload, 1<<10),
			expect: []message{binaryMessage(binaryPayload)},
		},
	}
}

// sizeName writes a power-of-two size in KiB or MiB.
func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// TestConformanceUTF8Helper checks the test's own notion of where UTF-8
// becomes invalid, which the fail-fast cases rely on.
func TestConformanceUTF8Helper(t *testing.T) {
	for _, v := range validUTF8 {
		if got := failPoint([]byte(v.text)); got != 0 {
			t.Errorf("valid %s: failPoint %d, want 0", v.name, got)
		}
	}
	for _, v := range invalidUTF8 {
		b := []byte(v.text)
		if utf8.Valid(b) {
			t.Errorf("invalid %s is valid UTF-8", v.name)
		}
		end := failPoint(b)
		if end > 0 && completable(b[:end]) {
			t.Errorf("invalid %s: prefix %q said invalid yet completable", v.name, b[:end])
		}
		if end == 0 && !strings.Contains(v.name, "truncated") {
			t.Errorf("invalid %s: failPoint says only the end makes it invalid", v.name)
		}
	}
	for _, c := range []struct {
		text string
		want int
	}{
		{text: "κόσμε\xf4\x90\x80\x80edited", want: 12},
		{text: "\xe0\x80\xaf", want: 2},
		{text: "\xed\xa0\x80", want: 2},
		{text: "\xc0\xaf", want: 1},
		{text: "abc\xe0\xa0", want: 0},
		{text: "abc\xfe", want: 4},
		{text: "\xc2 ", want: 2},
	} {
		if got := failPoint([]byte(c.text)); got != c.want {
			t.Errorf("failPoint(%q) = %d, want %d", c.text, got, c.want)
		}
	}
}

// TestConformancePushEndpoint checks the framing rules that /ws shares with
// /echo, and that /ws refuses binary messages with 1003.
func TestConformancePushEndpoint(t *testing.T) {
	server := startServer(t, netloop.Config{})
	for _, tc := range []struct {
		name   string
		send   []outFrame
		expect []message
		close  int
	}{
		{
			name:  "binary_message_unsupported",
			send:  []outFrame{binaryFrame(noise(16))},
			close: closeUnsupportedData,
		},
		{
			name:   "ping_answered",
			send:   []outFrame{ping([]byte("push ping"))},
			expect: []message{pongMessage([]byte("push ping"))},
		},
		{
			name:  "unmasked_frame",
			send:  []outFrame{withoutMask(ping([]byte("push ping")))},
			close: closeProtocolError,
		},
		{
			name:  "close_echoed",
			send:  []outFrame{closeFrame(closeGoingAway, "")},
			close: closeGoingAway,
		},
		{
			name:  "invalid_utf8_text",
			send:  []outFrame{frame(opText, true, []byte("{\"x\":\"\xed\xa0\x80\"}"))},
			close: closeInvalidPayload,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := upgrade(t, server.addr, "/ws")
			c.writeFrames(tc.send...)
			for _, want := range tc.expect {
				c.expectMessage(want)
			}
			if tc.close == 0 {
				c.closeNormally()
				return
			}
			c.expectClose(tc.close)
		})
	}
}

// TestConformanceUnmasked checks that every kind of unmasked client frame
// fails the connection with 1002 (RFC 6455 5.1).
func TestConformanceUnmasked(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true})
	for _, tc := range []struct {
		name  string
		frame outFrame
	}{
		{
			name:  "text",
			frame: text(warmupText),
		},
		{
			name:  "binary",
			frame: binaryFrame(noise(20)),
		},
		{
			name:  "empty_text",
			frame: text(""),
		},
		{
			name:  "ping",
			frame: ping([]byte("unmasked")),
		},
		{
			name:  "close",
			frame: closeFrame(closeNormal, ""),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := upgrade(t, server.addr, "/echo")
			c.writeFrames(withoutMask(tc.frame))
			c.expectClose(closeProtocolError)
		})
	}
}

// TestConformanceShutdown checks that Shutdown sends 1001 to every client
// and then ends their connections and stops accepting.
func TestConformanceShutdown(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true})
	clients := []*rawClient{
		upgrade(t, server.addr, "/echo"),
		upgrade(t, server.addr, "/echo"),
		upgrade(t, server.addr, "/ws"),
	}
	// A message on each proves the connection is registered before
	// Shutdown starts.
	clients[0].writeFrames(text("one"))
	clients[0].expectMessage(textMessage("one"))
	clients[1].writeFrames(ping([]byte("two")))
	clients[1].expectMessage(pongMessage([]byte("two")))
	clients[2].writeFrames(ping([]byte("three")))
	clients[2].expectMessage(pongMessage([]byte("three")))

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		server.stop(t)
	}()
	for _, c := range clients {
		code, reason := c.readClose()
		if code != closeGoingAway {
			t.Fatalf("on Shutdown a client got %s, want 1001", codeName(code, reason))
		}
		// Answer as a client should; the server may have closed already.
		c.send(c.encode(closeFrame(closeGoingAway, "")), 0, 0)
		c.expectEOF()
	}
	<-stopped
	conn, err := net.DialTimeout("tcp", server.addr, ioTimeout)
	if err == nil {
		conn.Close()
		t.Fatalf("a new connection was accepted after Shutdown returned")
	}
}

// TestConformanceCloseThenData repeats "close, then data the server must
// ignore" (as 7.1.4, with more data) on many connections. A server that
// closes its socket while such data is still unread makes the kernel send
// RST instead of FIN (and a peer's stack may then drop the close frame);
// one try catches that only sometimes, twenty almost always.
func TestConformanceCloseThenData(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true})
	for _, tc := range []struct {
		name string
		data []outFrame
	}{
		{
			name: "1MiB_in_1KiB_frames",
			data: fragments(opBinary, noise(1<<20), 1<<10),
		},
		{
			name: "1MiB_whole",
			data: []outFrame{binaryFrame(noise(1 << 20))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for try := range 20 {
				t.Run(fmt.Sprintf("try_%d", try+1), func(t *testing.T) {
					runConformanceCase(t, server.addr, conformanceCase{
						name:  tc.name,
						send:  append([]outFrame{closeFrame(closeNormal, "")}, tc.data...),
						close: closeNormal,
					})
				})
			}
		})
	}
}
