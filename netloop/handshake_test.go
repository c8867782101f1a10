package netloop_test

// The opening handshake (RFC 6455, section 4.2) and the plain HTTP routes.

import (
	"bytes"
	"strings"
	"testing"

	"edgepush/netloop"
)

// allowedOrigin is the one origin on the allowlist of the handshake server.
const allowedOrigin = "https://app.example.com"

// handshakeCase is one request and the response it must get.
type handshakeCase struct {
	name    string
	request request
	// chop writes the request in writes of this many bytes (0: whole).
	chop int
	// status lists the acceptable status codes; 101 also checks the whole
	// upgrade and a closing handshake on the new connection.
	status []int
	// header is a response header that must be present, with a value that
	// contains the given text (any case); empty name: none.
	header header
}

func TestConformanceHandshake(t *testing.T) {
	server := startServer(t, netloop.Config{
		Echo:    true,
		Origins: []string{allowedOrigin},
	})
	for _, tc := range []handshakeCase{
		{
			name:    "valid_ws",
			request: upgradeRequest("/ws"),
			status:  []int{101},
		},
		{
			name:    "valid_echo",
			request: upgradeRequest("/echo"),
			status:  []int{101},
		},
		{
			name:    "rfc_sample_key",
			request: upgradeRequest("/echo").with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
			status:  []int{101},
			header:  header{name: "Sec-WebSocket-Accept", value: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
		},
		{
			name:    "request_in_1_byte_writes",
			request: upgradeRequest("/echo"),
			chop:    1,
			status:  []int{101},
		},
		{
			name:    "header_names_lower_case",
			request: upgradeRequest("/echo").renamed(strings.ToLower),
			status:  []int{101},
		},
		{
			name:    "header_names_upper_case",
			request: upgradeRequest("/echo").renamed(strings.ToUpper),
			status:  []int{101},
		},
		{
			name:    "upgrade_value_mixed_case",
			request: upgradeRequest("/echo").with("Upgrade", "WebSocket"),
			status:  []int{101},
		},
		{
			name:    "connection_token_list",
			request: upgradeRequest("/echo").with("Connection", "keep-alive, Upgrade"),
			status:  []int{101},
		},
		{
			name:    "connection_lower_case",
			request: upgradeRequest("/echo").with("Connection", "upgrade"),
			status:  []int{101},
		},
		{
			name:    "extra_headers_ignored",
			request: upgradeRequest("/echo").adding(header{name: "User-Agent", value: "conformance"}, header{name: "Sec-WebSocket-Extensions", value: "permessage-deflate"}),
			status:  []int{101},
		},
		{
			name:    "method_post",
			request: upgradeRequest("/ws").withMethod("POST"),
			status:  []int{405, 400},
		},
		{
			name:    "method_put",
			request: upgradeRequest("/ws").withMethod("PUT"),
			status:  []int{405, 400},
		},
		{
			name:    "method_lower_case_get",
			request: upgradeRequest("/ws").withMethod("get"),
			status:  []int{405, 400, 501},
		},
		{
			name:    "http_1_0",
			request: upgradeRequest("/ws").withProto("HTTP/1.0"),
			status:  []int{400, 505},
		},
		{
			name:    "missing_host",
			request: upgradeRequest("/ws").without("Host"),
			status:  []int{400},
		},
		{
			name:    "missing_upgrade",
			request: upgradeRequest("/ws").without("Upgrade"),
			status:  []int{400},
		},
		{
			name:    "upgrade_not_websocket",
			request: upgradeRequest("/ws").with("Upgrade", "h2c"),
			status:  []int{400},
		},
		{
			name:    "missing_connection",
			request: upgradeRequest("/ws").without("Connection"),
			status:  []int{400},
		},
		{
			name:    "connection_without_upgrade",
			request: upgradeRequest("/ws").with("Connection", "keep-alive"),
			status:  []int{400},
		},
		{
			name:    "missing_key",
			request: upgradeRequest("/ws").without("Sec-WebSocket-Key"),
			status:  []int{400},
		},
		{
			name:    "key_empty",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", ""),
			status:  []int{400},
		},
		{
			name:    "key_too_short",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", "abc"),
			status:  []int{400},
		},
		{
			name:    "key_24_chars_decoding_to_18_bytes",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA"),
			status:  []int{400},
		},
		{
			name:    "key_24_chars_not_base64",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!=="),
			status:  []int{400},
		},
		{
			name:    "key_20_bytes",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
			status:  []int{400},
		},
		{
			name:    "key_15_bytes",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"),
			status:  []int{400},
		},
		{
			name:    "version_8",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Version", "8"),
			status:  []int{426},
			header:  header{name: "Sec-WebSocket-Version", value: "13"},
		},
		{
			name:    "version_12",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Version", "12"),
			status:  []int{426},
			header:  header{name: "Sec-WebSocket-Version", value: "13"},
		},
		{
			name:    "version_14",
			request: upgradeRequest("/ws").with("Sec-WebSocket-Version", "14"),
			status:  []int{426},
			header:  header{name: "Sec-WebSocket-Version", value: "13"},
		},
		{
			name:    "version_missing",
			request: upgradeRequest("/ws").without("Sec-WebSocket-Version"),
			status:  []int{400, 426},
		},
		{
			name:    "origin_allowed",
			request: upgradeRequest("/ws").with("Origin", allowedOrigin),
			status:  []int{101},
		},
		{
			name:    "origin_allowed_other_case",
			request: upgradeRequest("/ws").with("Origin", strings.ToUpper(allowedOrigin)),
			status:  []int{101},
		},
		{
			name:    "origin_missing",
			request: upgradeRequest("/ws"),
			status:  []int{101},
		},
		{
			name:    "origin_other",
			request: upgradeRequest("/ws").with("Origin", "https://evil.example.com"),
			status:  []int{403},
		},
		{
			name:    "origin_allowed_as_prefix",
			request: upgradeRequest("/ws").with("Origin", allowedOrigin+".evil.example"),
			status:  []int{403},
		},
		{
			name:    "origin_null",
			request: upgradeRequest("/ws").with("Origin", "null"),
			status:  []int{403},
		},
		{
			name:    "origin_other_on_echo",
			request: upgradeRequest("/echo").with("Origin", "https://evil.example.com"),
			status:  []int{403},
		},
		{
			name:    "unknown_path_upgrade",
			request: upgradeRequest("/nowhere"),
			status:  []int{404},
		},
		{
			name:    "unknown_path_plain_get",
			request: pageRequest("/nowhere"),
			status:  []int{404},
		},
		{
			name:    "page_not_configured",
			request: pageRequest("/"),
			status:  []int{404},
		},
		{
			name:    "garbage_request_line",
			request: rawRequest([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")),
			status:  []int{400},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runHandshakeCase(t, server.addr, tc)
		})
	}
}

// runHandshakeCase writes tc's request and checks the response.
func runHandshakeCase(t *testing.T, addr string, tc handshakeCase) {
	c := dial(t, addr)
	if err := c.send(tc.request.bytes(), tc.chop, 0); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	if len(tc.status) == 1 && tc.status[0] == 101 {
		r := c.expectUpgraded(tc.request)
		checkHeader(t, r, tc.header)
		c.closeNormally()
		return
	}
	r := c.readResponse()
	if !containsStatus(tc.status, r.status) {
		t.Fatalf("got %q (body %s), want status %v", r.line, preview(r.body), tc.status)
	}
	checkHeader(t, r, tc.header)
	// A refused handshake leaves nothing to do on the connection.
	c.expectHTTPClosed()
}

// containsStatus reports whether status is in list.
func containsStatus(list []int, status int) bool {
	for _, s := range list {
		if s == status {
			return true
		}
	}
	return false
}

// checkHeader checks that r has want (if want names a header).
func checkHeader(t *testing.T, r response, want header) {
	t.Helper()
	if want.name == "" {
		return
	}
	got := r.header.Values(want.name)
	for _, value := range got {
		if strings.Contains(strings.ToLower(value), strings.ToLower(want.value)) {
			return
		}
	}
	t.Fatalf("response %q has %s %q, want one with %q", r.line, want.name, got, want.value)
}

// TestConformanceHandshakeAccept checks the Sec-WebSocket-Accept computation
// of the test itself against the example of RFC 6455, section 1.3.
func TestConformanceHandshakeAccept(t *testing.T) {
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey of the RFC sample = %q, want %q", got, want)
	}
}

// TestConformanceHandshakeAnyOrigin checks that an empty allowlist lets
// every origin in.
func TestConformanceHandshakeAnyOrigin(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true})
	for _, origin := range []string{"https://anything.example", "null", "http://localhost:8080"} {
		t.Run(origin, func(t *testing.T) {
			runHandshakeCase(t, server.addr, handshakeCase{
				name:    origin,
				request: upgradeRequest("/echo").with("Origin", origin),
				status:  []int{101},
			})
		})
	}
}

// TestConformanceHandshakeRoutes checks the page, the 404s, and that /echo
// exists only when Echo is set.
func TestConformanceHandshakeRoutes(t *testing.T) {
	page := []byte("<!doctype html><title>edgepush</title><p>conformance page</p>\n")
	file := netloop.File{ContentType: "text/html; charset=utf-8", Body: page}
	server := startServer(t, netloop.Config{Files: map[string]netloop.File{"/": file, "/index.html": file}})
	for _, tc := range []struct {
		name    string
		request request
		status  int
		body    []byte
	}{
		{
			name:    "page_at_root",
			request: pageRequest("/"),
			status:  200,
			body:    page,
		},
		{
			name:    "page_at_index_html",
			request: pageRequest("/index.html"),
			status:  200,
			body:    page,
		},
		{
			name:    "unknown_path",
			request: pageRequest("/missing"),
			status:  404,
		},
		{
			name:    "echo_not_enabled",
			request: upgradeRequest("/echo"),
			status:  404,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, server.addr)
			c.write(tc.request.bytes())
			r := c.readResponse()
			if r.status != tc.status {
				t.Fatalf("got %q (body %s), want %d", r.line, preview(r.body), tc.status)
			}
			if tc.body == nil {
				return
			}
			if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
				t.Fatalf("page has Content-Type %q, want text/html", got)
			}
			if !bytes.Equal(r.body, tc.body) {
				t.Fatalf("page body %s, want %s", preview(r.body), preview(tc.body))
			}
		})
	}
}

// TestConformanceHandshakeFrameAfterRequest checks that a frame written in
// the same packet as the request is not lost: the server must keep the bytes
// after the request head.
func TestConformanceHandshakeFrameAfterRequest(t *testing.T) {
	server := startServer(t, netloop.Config{Echo: true})
	c := dial(t, server.addr)
	req := upgradeRequest("/echo")
	c.write(append(req.bytes(), c.encode(text("right behind the request"), ping([]byte("and a ping")))...))
	c.expectUpgraded(req)
	c.expectMessage(textMessage("right behind the request"))
	c.expectMessage(pongMessage([]byte("and a ping")))
	c.closeNormally()
}
