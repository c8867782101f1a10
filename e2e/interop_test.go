package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// TestNodeWS runs e2e/testdata/node/client.js, an npm ws 8.x client:
// subscribe, text and binary pushes published through the API, an error
// reply, unsubscribe, ping, and echo of text, binary and fragmented messages.
func TestNodeWS(t *testing.T) {
	node, err := exec.LookPath("node")
	requireDep(t, "node", err)
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json"))
	requireDep(t, "npm ws in e2e/testdata/node/node_modules", err)

	s := StartServer(t, "-echo")
	runScript(t, node, filepath.Join(dir, "client.js"), "ws://"+s.Addr, "http://"+s.API)
}

// TestPythonWebsockets runs e2e/testdata/py_client.py with Debian's
// /usr/bin/python3 and python3-websockets: the same checks as TestNodeWS.
func TestPythonWebsockets(t *testing.T) {
	const python = "/usr/bin/python3"
	_, err := os.Stat(python)
	requireDep(t, python, err)
	out, err := exec.Command(python, "-c", "import websockets").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	requireDep(t, "python3-websockets for "+python, err)

	script, err := filepath.Abs(filepath.Join("testdata", "py_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	s := StartServer(t, "-echo")
	runScript(t, python, script, "ws://"+s.Addr, "http://"+s.API)
}

// maxMessage2M is passed as -max-message so that 1 MiB echoes fit.
const maxMessage2M = "2097152"

// TestGorilla checks pushes, ordering, fan-out, echo of 1 MiB messages and
// the message size limit with a gorilla/websocket client.
func TestGorilla(t *testing.T) {
	s := StartServer(t, "-echo", "-max-message", maxMessage2M)

	t.Run("pushes", func(t *testing.T) {
		c := gorillaDial(t, s.WSURL("/ws"))
		gorillaSub(t, c, "sub", "gorilla", []string{"a", "b", "c"}, "g1")

		value := []byte(`{"t":21.5,"s":"h\u00e9llo ✓","list":[1,2,3],"nested":{"ok":true}}`)
		r := s.Publish(t, "gorilla", "a", "application/json", value)
		if r.Delivered != 1 {
			t.Errorf("delivered %d, want 1", r.Delivered)
		}
		typ, msg := gorillaRead(t, c, "text push")
		checkTextPush(t, typ == websocket.TextMessage, msg, "gorilla", "a", r.Seq, value)

		r2 := s.Publish(t, "gorilla", "b", "text/plain", []byte("plain ✓ \"quoted\""))
		typ, msg = gorillaRead(t, c, "text/plain push")
		checkTextPush(t, typ == websocket.TextMessage, msg, "gorilla", "b", r2.Seq, []byte(`"plain ✓ \"quoted\""`))

		payload := allBytes(3)
		r3 := s.Publish(t, "gorilla", "c", "application/octet-stream", payload)
		typ, msg = gorillaRead(t, c, "binary push")
		checkBinaryPush(t, typ == websocket.BinaryMessage, msg, "gorilla", "c", r3.Seq, payload)

		// An empty binary payload is still a push.
		r4 := s.Publish(t, "gorilla", "c", "application/octet-stream", nil)
		if r4.Seq != r3.Seq+1 {
			t.Errorf("seq %d after %d, want +1", r4.Seq, r3.Seq)
		}
		typ, msg = gorillaRead(t, c, "empty binary push")
		checkBinaryPush(t, typ == websocket.BinaryMessage, msg, "gorilla", "c", r4.Seq, nil)

		gorillaSub(t, c, "unsub", "gorilla", []string{"a", "b", "c"}, "g2")
		if r := s.Publish(t, "gorilla", "a", "application/json", []byte(`1`)); r.Delivered != 0 {
			t.Errorf("publish after unsub delivered %d, want 0", r.Delivered)
		}
		gorillaClose(t, c)
	})

	t.Run("order", func(t *testing.T) {
		c := gorillaDial(t, s.WSURL("/ws"))
		gorillaSub(t, c, "sub", "gorilla", []string{"order"}, "o1")
		const n = 50
		seqs := make([]uint64, n)
		for i := range n {
			r := s.Publish(t, "gorilla", "order", "application/json", fmt.Appendf(nil, `{"i":%d}`, i))
			seqs[i] = r.Seq
			if i > 0 && r.Seq != seqs[i-1]+1 {
				t.Fatalf("publish %d: seq %d after %d, want +1", i, r.Seq, seqs[i-1])
			}
		}
		for i := range n {
			typ, msg := gorillaRead(t, c, fmt.Sprintf("push %d of %d", i+1, n))
			checkTextPush(t, typ == websocket.TextMessage, msg, "gorilla", "order", seqs[i], fmt.Appendf(nil, `{"i":%d}`, i))
		}
		gorillaClose(t, c)
	})

	t.Run("fanout", func(t *testing.T) {
		const n = 5
		conns := make([]*websocket.Conn, n)
		for i := range conns {
			conns[i] = gorillaDial(t, s.WSURL("/ws"))
			gorillaSub(t, conns[i], "sub", "gorilla", []string{"fan"}, fmt.Sprint("f", i))
		}
		payload := allBytes(1)
		r := s.Publish(t, "gorilla", "fan", "application/octet-stream", payload)
		if r.Delivered != n {
			t.Errorf("delivered %d, want %d", r.Delivered, n)
		}
		var first []byte
		for i, c := range conns {
			typ, msg := gorillaRead(t, c, fmt.Sprintf("push on connection %d", i))
			checkBinaryPush(t, typ == websocket.BinaryMessage, msg, "gorilla", "fan", r.Seq, payload)
			if first == nil {
				first = msg
			} else if !bytes.Equal(first, msg) {
				t.Errorf("connection %d got other bytes than connection 0", i)
			}
		}
		for _, c := range conns {
			gorillaClose(t, c)
		}
	})

	t.Run("echo1MiB", func(t *testing.T) {
		c := gorillaDial(t, s.WSURL("/echo"))
		text := bigText(1 << 20)
		bin := randomBytes(t, 1<<20)
		for _, m := range []struct {
			typ  int
			data []byte
		}{{websocket.TextMessage, text}, {websocket.BinaryMessage, bin}} {
			c.SetWriteDeadline(time.Now().Add(stepTimeout))
			if err := c.WriteMessage(m.typ, m.data); err != nil {
				t.Fatalf("write %d bytes: %v", len(m.data), err)
			}
			typ, got := gorillaRead(t, c, "1 MiB echo")
			if typ != m.typ {
				t.Errorf("echo type %d, want %d", typ, m.typ)
			}
			if !bytes.Equal(got, m.data) {
				t.Errorf("echo of %d bytes differs: got %d bytes", len(m.data), len(got))
			}
		}
		// A message gorilla sends as many fragments comes back whole.
		w, err := c.NextWriter(websocket.BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(bin); off += 1000 {
			w.Write(bin[off:min(off+1000, len(bin))])
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if typ, got := gorillaRead(t, c, "fragmented echo"); typ != websocket.BinaryMessage || !bytes.Equal(got, bin) {
			t.Errorf("fragmented echo differs: type %d, %d bytes", typ, len(got))
		}
		gorillaClose(t, c)
	})

	t.Run("push1MiB", func(t *testing.T) {
		// The API takes bodies up to 1 MiB (its default limit), so a
		// subscriber with an empty queue must get a push that big.
		c := gorillaDial(t, s.WSURL("/ws"))
		gorillaSub(t, c, "sub", "gorilla", []string{"big"}, "b1")
		payload := randomBytes(t, 1<<20)
		r := s.Publish(t, "gorilla", "big", "application/octet-stream", payload)
		if r.Delivered != 1 {
			t.Errorf("1 MiB publish delivered %d, want 1", r.Delivered)
		}
		typ, msg := gorillaRead(t, c, "1 MiB binary push")
		checkBinaryPush(t, typ == websocket.BinaryMessage, msg, "gorilla", "big", r.Seq, payload)
		gorillaClose(t, c)
	})

	t.Run("maxIDs", func(t *testing.T) {
		// A sub with more ids than -max-ids (default 256) is answered
		// with an error, and the connection stays usable.
		c := gorillaDial(t, s.WSURL("/ws"))
		ids := make([]string, 257)
		for i := range ids {
			ids[i] = fmt.Sprint("many-", i)
		}
		req, _ := json.Marshal(map[string]any{"op": "sub", "app": "gorilla", "ids": ids, "ref": "m1"})
		c.SetWriteDeadline(time.Now().Add(stepTimeout))
		if err := c.WriteMessage(websocket.TextMessage, req); err != nil {
			t.Fatal(err)
		}
		_, msg := gorillaRead(t, c, "answer to a sub with 257 ids")
		var e map[string]any
		if json.Unmarshal(msg, &e) != nil || e["op"] != "error" || e["ref"] != "m1" {
			t.Errorf("sub with 257 ids answered %s, want {\"op\":\"error\",\"ref\":\"m1\",...}", msg)
		}
		gorillaSub(t, c, "sub", "gorilla", ids[:256], "m2")
		gorillaClose(t, c)
	})

	t.Run("tooBig", func(t *testing.T) {
		// A frame header announcing more than -max-message fails the
		// connection with 1009 as soon as the header arrives. Only the
		// header is sent, so the server has nothing left unread and the
		// close frame cannot be lost to a TCP reset.
		c := gorillaDial(t, s.WSURL("/echo"))
		hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		binary.BigEndian.PutUint64(hdr[2:10], 3<<20)
		c.NetConn().SetWriteDeadline(time.Now().Add(stepTimeout))
		if _, err := c.NetConn().Write(hdr); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(stepTimeout))
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("after a 3 MiB frame header with -max-message 2 MiB: %v, want close 1009", err)
		}
	})
}

// TestCoder checks pushes and echo of 1 MiB messages with a
// github.com/coder/websocket client.
func TestCoder(t *testing.T) {
	s := StartServer(t, "-echo", "-max-message", maxMessage2M)

	t.Run("pushes", func(t *testing.T) {
		c := coderDial(t, s.WSURL("/ws"))
		coderSub(t, c, "sub", "coder", []string{"x", "y"}, "c1")

		value := []byte(`[1,"two",{"three":3.5},null,true]`)
		r := s.Publish(t, "coder", "x", "application/json", value)
		if r.Delivered != 1 {
			t.Errorf("delivered %d, want 1", r.Delivered)
		}
		typ, msg := coderRead(t, c, "text push")
		checkTextPush(t, typ == coder.MessageText, msg, "coder", "x", r.Seq, value)

		payload := allBytes(2)
		r2 := s.Publish(t, "coder", "y", "application/octet-stream", payload)
		typ, msg = coderRead(t, c, "binary push")
		checkBinaryPush(t, typ == coder.MessageBinary, msg, "coder", "y", r2.Seq, payload)

		r3 := s.Publish(t, "coder", "y", "application/json", []byte(`"again"`))
		if r3.Seq != r2.Seq+1 {
			t.Errorf("seq %d after %d, want +1", r3.Seq, r2.Seq)
		}
		typ, msg = coderRead(t, c, "second push")
		checkTextPush(t, typ == coder.MessageText, msg, "coder", "y", r3.Seq, []byte(`"again"`))

		coderSub(t, c, "unsub", "coder", []string{"x", "y"}, "c2")
		if r := s.Publish(t, "coder", "x", "application/json", []byte(`1`)); r.Delivered != 0 {
			t.Errorf("publish after unsub delivered %d, want 0", r.Delivered)
		}
		if err := c.Close(coder.StatusNormalClosure, ""); err != nil {
			t.Errorf("closing handshake: %v", err)
		}
	})

	t.Run("echo1MiB", func(t *testing.T) {
		c := coderDial(t, s.WSURL("/echo"))
		text := bigText(1 << 20)
		bin := randomBytes(t, 1<<20)
		for _, m := range []struct {
			typ  coder.MessageType
			data []byte
		}{{coder.MessageText, text}, {coder.MessageBinary, bin}} {
			ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
			err := c.Write(ctx, m.typ, m.data)
			cancel()
			if err != nil {
				t.Fatalf("write %d bytes: %v", len(m.data), err)
			}
			typ, got := coderRead(t, c, "1 MiB echo")
			if typ != m.typ {
				t.Errorf("echo type %v, want %v", typ, m.typ)
			}
			if !bytes.Equal(got, m.data) {
				t.Errorf("echo of %d bytes differs: got %d bytes", len(m.data), len(got))
			}
		}
		// Each Write on a Writer is one frame: a fragmented text message
		// whose fragments split a multi-byte character.
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		w, err := c.Writer(ctx, coder.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("split ✓ here")
		cut := bytes.IndexRune(msg, '✓') + 1
		w.Write(msg[:cut])
		w.Write(msg[cut:])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if typ, got := coderRead(t, c, "fragmented echo"); typ != coder.MessageText || !bytes.Equal(got, msg) {
			t.Errorf("fragmented echo: %v %q, want text %q", typ, got, msg)
		}
		if err := c.Close(coder.StatusNormalClosure, ""); err != nil {
			t.Errorf("closing handshake: %v", err)
		}
	})
}

// TestOrigins: with -origins, a handshake from another Origin gets 403,
// a listed one (in any case) and one without Origin (not a browser) pass.
func TestOrigins(t *testing.T) {
	s := StartServer(t, "-origins", "http://allowed.example,http://also.example")
	d := websocket.Dialer{HandshakeTimeout: stepTimeout}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://allowed.example", true},
		{"HTTP://ALSO.EXAMPLE", true},
		{"", true},
		{"http://evil.example", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, res, err := d.Dial(s.WSURL("/ws"), h)
		if c != nil {
			c.Close()
		}
		switch {
		case tc.ok && err != nil:
			t.Errorf("Origin %q: %v, want the upgrade", tc.origin, err)
		case !tc.ok && err == nil:
			t.Errorf("Origin %q: upgraded, want 403", tc.origin)
		case !tc.ok && (res == nil || res.StatusCode != http.StatusForbidden):
			t.Errorf("Origin %q: %v, want 403", tc.origin, err)
		}
	}
}

// TestPublishAPIErrors checks that the API refuses bad publishes with a 4xx.
func TestPublishAPIErrors(t *testing.T) {
	s := StartServer(t)
	for _, tc := range []struct {
		name, app, id, contentType string
		body                       string
	}{
		{"invalid JSON", "api", "x", "application/json", `{"t":`},
		{"missing app", "", "x", "application/json", `1`},
		{"missing id", "api", "", "application/json", `1`},
		{"no content type", "api", "x", "", `1`},
	} {
		status, answer := s.PublishRaw(t, tc.app, tc.id, tc.contentType, []byte(tc.body))
		if status < 400 || status > 499 {
			t.Errorf("%s: HTTP %d %s, want 4xx", tc.name, status, answer)
		}
	}
	res, err := http.Get(s.APIURL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", res.StatusCode)
	}
}

// ---- checks shared by the Go clients ----

type textPush struct {
	Op   string          `json:"op"`
	App  string          `json:"app"`
	ID   string          `json:"id"`
	Seq  *uint64         `json:"seq"`
	TS   *int64          `json:"ts"`
	Data json.RawMessage `json:"data"`
}

func checkTextPush(t *testing.T, isText bool, msg []byte, app, id string, seq uint64, data []byte) {
	t.Helper()
	if !isText {
		t.Fatalf("want a text push of %s/%s, got a binary message of %d bytes", app, id, len(msg))
	}
	if !utf8.Valid(msg) {
		t.Fatalf("text push is not UTF-8: %q", msg)
	}
	var p textPush
	if err := json.Unmarshal(msg, &p); err != nil {
		t.Fatalf("text push is not JSON: %v: %s", err, msg)
	}
	if p.Op != "data" || p.App != app || p.ID != id || p.Seq == nil || p.TS == nil {
		t.Fatalf("push %s: want op data, app %q, id %q, seq and ts", msg, app, id)
	}
	if *p.Seq != seq {
		t.Errorf("push seq %d, publish answered %d: %s", *p.Seq, seq, msg)
	}
	checkTS(t, *p.TS)
	if !jsonEqual(p.Data, data) {
		t.Errorf("push data %s, want %s", p.Data, data)
	}
}

func checkBinaryPush(t *testing.T, isBinary bool, msg []byte, app, id string, seq uint64, payload []byte) {
	t.Helper()
	if !isBinary {
		t.Fatalf("want a binary push of %s/%s, got text %q", app, id, msg)
	}
	b := msg
	fail := func(what string) {
		t.Helper()
		t.Fatalf("binary push %x: %s", msg[:min(len(msg), 64)], what)
	}
	if len(b) < 2 || b[0] != 1 {
		fail("want version byte 1")
	}
	n := int(b[1])
	b = b[2:]
	if len(b) < n || string(b[:n]) != app {
		fail("app " + app + " expected")
	}
	b = b[n:]
	if len(b) < 1 {
		fail("truncated before id")
	}
	n = int(b[0])
	b = b[1:]
	if len(b) < n || string(b[:n]) != id {
		fail("id " + id + " expected")
	}
	b = b[n:]
	if len(b) < 16 {
		fail("truncated before seq and ts")
	}
	if got := binary.BigEndian.Uint64(b); got != seq {
		t.Errorf("binary push seq %d, publish answered %d", got, seq)
	}
	checkTS(t, int64(binary.BigEndian.Uint64(b[8:])))
	if got := b[16:]; !bytes.Equal(got, payload) {
		t.Errorf("binary push payload: %d bytes, want %d bytes; differs", len(got), len(payload))
	}
}

// checkTS is a sanity bound on a push's timestamp, not a speed check.
func checkTS(t *testing.T, ts int64) {
	t.Helper()
	if d := time.Since(time.UnixMilli(ts)); d > time.Hour || d < -time.Hour {
		t.Errorf("push ts %d (%v) is more than an hour from now", ts, time.UnixMilli(ts))
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// allBytes returns every byte value, n times over.
func allBytes(n int) []byte {
	b := make([]byte, 0, 256*n)
	for range n {
		for i := range 256 {
			b = append(b, byte(i))
		}
	}
	return b
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// bigText returns n bytes of valid UTF-8 with one-, two-, three- and
// four-byte characters, so that frame boundaries fall inside characters.
func bigText(n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString("ascii é ✓ 𝄞 ")
	}
	s := b.Bytes()[:n]
	for !utf8.Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ---- gorilla/websocket helpers ----

func gorillaDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: stepTimeout}
	c, res, err := d.Dial(url, nil)
	if err != nil {
		status := ""
		if res != nil {
			status = res.Status
		}
		t.Fatalf("gorilla dial %s: %v %s", url, err, status)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

func gorillaRead(t *testing.T, c *websocket.Conn, what string) (int, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(stepTimeout))
	typ, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading %s: %v", what, err)
	}
	return typ, msg
}

// gorillaSub sends a sub or unsub and fails the test unless the reply is
// the matching ack.
func gorillaSub(t *testing.T, c *websocket.Conn, op, app string, ids []string, ref string) {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"op": op, "app": app, "ids": ids, "ref": ref})
	c.SetWriteDeadline(time.Now().Add(stepTimeout))
	if err := c.WriteMessage(websocket.TextMessage, req); err != nil {
		t.Fatalf("sending %s: %v", req, err)
	}
	typ, msg := gorillaRead(t, c, "ack of "+string(req))
	checkAck(t, typ == websocket.TextMessage, req, msg, ref)
}

func checkAck(t *testing.T, isText bool, req, msg []byte, ref string) {
	t.Helper()
	var ack map[string]any
	if !isText || json.Unmarshal(msg, &ack) != nil || ack["op"] != "ack" || ack["ref"] != ref {
		t.Fatalf("%s answered %q, want {\"op\":\"ack\",\"ref\":%q}", req, msg, ref)
	}
}

// gorillaClose runs the closing handshake and checks that the server
// answers with 1000.
func gorillaClose(t *testing.T, c *websocket.Conn) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(stepTimeout))
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")); err != nil {
		t.Fatalf("sending close: %v", err)
	}
	for {
		c.SetReadDeadline(time.Now().Add(stepTimeout))
		_, msg, err := c.ReadMessage()
		if err == nil {
			continue // a push that crossed our close
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Errorf("closing handshake: %v (last message %q), want close 1000", err, msg)
		}
		return
	}
}

// ---- coder/websocket helpers ----

func coderDial(t *testing.T, url string) *coder.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c, res, err := coder.Dial(ctx, url, nil)
	if err != nil {
		status := ""
		if res != nil {
			status = res.Status
		}
		t.Fatalf("coder dial %s: %v %s", url, err, status)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func coderRead(t *testing.T, c *coder.Conn, what string) (coder.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	typ, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("reading %s: %v", what, err)
	}
	return typ, msg
}

func coderSub(t *testing.T, c *coder.Conn, op, app string, ids []string, ref string) {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"op": op, "app": app, "ids": ids, "ref": ref})
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := c.Write(ctx, coder.MessageText, req); err != nil {
		t.Fatalf("sending %s: %v", req, err)
	}
	typ, msg := coderRead(t, c, "ack of "+string(req))
	checkAck(t, typ == coder.MessageText, req, msg, ref)
}

// readUntilClose reads until the connection ends and returns the error that
// ended it, skipping pushes that arrive first.
func readUntilClose(c *websocket.Conn, timeout time.Duration) error {
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return err
		}
	}
}
