package netloop

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"edgepush/frame"
)

// request is what the server needs of an HTTP request head before it
// decides how to answer it.
type request struct {
	method  []byte
	path    []byte // without the query
	origin  []byte
	key     []byte
	hasKey  bool
	headers int
}

var crlf = []byte("\r\n")

// handshake handles a request head at the start of buf and returns its
// size, or 0 if the head is not complete yet.
func (c *conn) handshake(buf []byte) int {
	cfg := &c.server.cfg
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > cfg.MaxHandshake || bytes.Count(buf, crlf) > cfg.MaxHeaders+1 {
			c.server.metrics.failUpgrade(failTooLarge)
			c.rejectHTTP(http.StatusRequestHeaderFieldsTooLarge, "")
			return len(buf)
		}
		return 0
	}
	head := buf[:end+4]
	if len(head) > cfg.MaxHandshake {
		c.server.metrics.failUpgrade(failTooLarge)
		c.rejectHTTP(http.StatusRequestHeaderFieldsTooLarge, "")
		return len(buf)
	}
	c.serveHead(head)
	return len(head)
}

// serveHead answers one complete request head.
func (c *conn) serveHead(head []byte) {
	req, ok := parseRequest(head)
	switch {
	case !ok:
		c.server.metrics.failUpgrade(failBadRequest)
		c.rejectHTTP(http.StatusBadRequest, "")
	case req.headers > c.server.cfg.MaxHeaders:
		c.server.metrics.failUpgrade(failTooLarge)
		c.rejectHTTP(http.StatusRequestHeaderFieldsTooLarge, "")
	case string(req.path) == "/ws" && c.server.cfg.Handler != nil:
		c.upgrade(head, req, routePush)
	case string(req.path) == "/echo" && c.server.cfg.Echo:
		c.upgrade(head, req, routeEcho)
	case c.server.files[string(req.path)].get != nil:
		c.serveFile(req, c.server.files[string(req.path)])
	default:
		c.rejectHTTP(http.StatusNotFound, "")
	}
}

// parseRequest reads the request line and the headers the server looks at.
// It reports false for a head that is not HTTP/1.x.
func parseRequest(head []byte) (request, bool) {
	var req request
	line, rest, _ := bytes.Cut(head, crlf)
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	uri, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(uri) == 0 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return req, false
	}
	req.method = method
	req.path, _, _ = bytes.Cut(uri, []byte("?"))
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			return req, false // no colon, or obsolete line folding
		}
		req.headers++
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Origin")):
			req.origin = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			req.key, req.hasKey = value, true
		}
	}
	return req, true
}

// upgrade completes the WebSocket handshake through gobwas's Upgrader, which
// checks the method, the Upgrade, Connection and version headers and writes
// the response (101, or the error with the right status and headers).
func (c *conn) upgrade(head []byte, req request, rt route) {
	s := c.server
	switch {
	case s.Draining():
		s.metrics.reject(rejectDraining)
		c.recordReason(reasonHandshakeBad)
		c.respond(unavailableResponse)
		return
	case len(req.origin) > 0 && !s.originAllowed(req.origin):
		s.metrics.failUpgrade(failOrigin)
		c.rejectHTTP(http.StatusForbidden, "origin not allowed")
		return
	case req.hasKey && !validKey(req.key):
		s.metrics.failUpgrade(failBadKey)
		c.rejectHTTP(http.StatusBadRequest, "bad Sec-WebSocket-Key")
		return
	}
	var err error
	response := s.frames.Raw(func(dst []byte) []byte {
		out := appendWriter{b: dst}
		_, err = s.upgrader.Upgrade(headReadWriter{Reader: bytes.NewReader(head), Writer: &out})
		if err != nil {
			return insertConnectionClose(out.b, len(dst))
		}
		return out.b
	})
	if err != nil {
		s.metrics.add(counterHTTP, 1)
		s.metrics.failUpgrade(failHandshake)
		c.recordReason(reasonHandshakeBad)
		c.phase.Store(int32(phaseClosing))
		c.closingSince.Store(now())
		c.enqueue(response, afterShutdown, true)
		response.Release()
		return
	}
	c.route = rt
	if !c.phase.CompareAndSwap(int32(phaseHandshake), int32(phaseOpen)) {
		response.Release() // timed out or shut down meanwhile
		return
	}
	s.open.Add(1)
	s.metrics.add(counterUpgraded, 1)
	c.reply(response)
	if rt == routePush {
		c.session = s.cfg.Handler.Open(c)
	}
}

// insertConnectionClose adds "Connection: close" after the status line of
// the response that starts at b[start:]: gobwas's refusals do not say it,
// and the server closes after every refusal.
func insertConnectionClose(b []byte, start int) []byte {
	line := bytes.Index(b[start:], crlf)
	if line < 0 {
		return b
	}
	at := start + line + len(crlf)
	const header = "Connection: close\r\n"
	b = append(b, header...)
	copy(b[at+len(header):], b[at:len(b)-len(header)])
	copy(b[at:], header)
	return b
}

// validKey reports whether a Sec-WebSocket-Key is 16 bytes in base64.
func validKey(key []byte) bool {
	var decoded [18]byte
	if len(key) != 24 {
		return false
	}
	n, err := base64.StdEncoding.Decode(decoded[:], key)
	return err == nil && n == 16
}

// originAllowed reports whether origin is in the allowlist; an empty list
// allows every origin.
func (s *Server) originAllowed(origin []byte) bool {
	if len(s.cfg.Origins) == 0 {
		return true
	}
	for _, o := range s.cfg.Origins {
		if bytes.EqualFold([]byte(o), origin) {
			return true
		}
	}
	return false
}

// staticFile is a File compiled into its whole responses.
type staticFile struct {
	get, head *frame.Frame
}

func compileFiles(files map[string]File) map[string]staticFile {
	out := make(map[string]staticFile, len(files))
	for path, f := range files {
		out[path] = staticFile{
			get:  frame.Static(appendResponse(nil, http.StatusOK, "Cache-Control: no-cache\r\n", f.ContentType, f.Body, false)),
			head: frame.Static(appendResponse(nil, http.StatusOK, "Cache-Control: no-cache\r\n", f.ContentType, f.Body, true)),
		}
	}
	return out
}

// serveFile answers GET or HEAD of a static file.
func (c *conn) serveFile(req request, f staticFile) {
	switch string(req.method) {
	case http.MethodGet:
		c.respond(f.get)
	case http.MethodHead:
		c.respond(f.head)
	default:
		c.rejectHTTP(http.StatusMethodNotAllowed, "")
	}
}

// respond queues a whole HTTP response and then half-closes the connection.
func (c *conn) respond(response *frame.Frame) {
	c.server.metrics.add(counterHTTP, 1)
	c.recordReason(reasonHTTPDone)
	c.phase.Store(int32(phaseClosing))
	c.closingSince.Store(now())
	c.enqueue(response, afterShutdown, true)
	response.Release()
}

// rejectHTTP answers with an error status and a short text body (the status
// text if body is empty), then half-closes the connection.
func (c *conn) rejectHTTP(status int, body string) {
	if body == "" {
		body = http.StatusText(status)
	}
	c.recordReason(reasonHandshakeBad)
	c.respond(c.server.frames.Raw(func(dst []byte) []byte {
		return appendResponse(dst, status, "", "text/plain; charset=utf-8", []byte(body+"\n"), false)
	}))
}

// appendResponse appends an HTTP/1.1 response that closes the connection;
// headers, if any, are whole lines ending in CRLF.
func appendResponse(dst []byte, status int, headers, contentType string, body []byte, headOnly bool) []byte {
	dst = fmt.Appendf(dst, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	dst = append(dst, headers...)
	dst = append(dst, "Content-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	if !headOnly {
		dst = append(dst, body...)
	}
	return dst
}

// headReadWriter lets gobwas's Upgrader read a request head already in
// memory and write its response into a frame.
type headReadWriter struct {
	io.Reader
	io.Writer
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
