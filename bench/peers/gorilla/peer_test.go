package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testPeer is a peer serving on loopback ports chosen by the kernel.
type testPeer struct {
	ws, api string // host:port
	stop    func() error
}

func startPeer(t *testing.T) *testPeer {
	t.Helper()
	wsListener, apiListener, err := listen("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- serve(ctx, NewPeer(Config{}), wsListener, apiListener, logger) }()
	stopped := false
	tp := &testPeer{ws: wsListener.Addr().String(), api: apiListener.Addr().String()}
	tp.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { tp.stop() })
	return tp
}

func (tp *testPeer) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+tp.ws+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publish posts body to app/id and returns the API's status and answer.
func (tp *testPeer) publish(t *testing.T, app, id, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+tp.api+"/v1/publish?app="+app+"&id="+id, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer))
}

// ask sends msg and returns the one text answer.
func ask(t *testing.T, c *websocket.Conn, msg string) string {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	typ, answer := read(t, c)
	if typ != websocket.TextMessage {
		t.Fatalf("answer to %s: message type %d", msg, typ)
	}
	return string(answer)
}

func read(t *testing.T, c *websocket.Conn) (int, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return typ, data
}

func TestSubPushUnsub(t *testing.T) {
	tp := startPeer(t)
	c := tp.dial(t)
	if got := ask(t, c, `{"op":"sub","app":"demo","ids":["001"],"ref":"7"}`); got != `{"op":"ack","ref":"7"}` {
		t.Fatalf("sub answer %s", got)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		checkBinaryPush(t, tp, c, seq)
	}

	checkTextPush(t, tp, c, "application/json", " {\"value\": 21.5, \"unit\":\"°C\"}\n", `{"value": 21.5, "unit":"°C"}`, 3)
	checkTextPush(t, tp, c, "text/plain; charset=utf-8", `door "open"`, `"door \"open\""`, 4)

	if got := ask(t, c, `{"op":"unsub","app":"demo","ids":["001"],"ref":"8"}`); got != `{"op":"ack","ref":"8"}` {
		t.Fatalf("unsub answer %s", got)
	}
	if status, got := tp.publish(t, "demo", "001", "application/octet-stream", "x"); status != 200 || got != `{"seq":5,"delivered":0}` {
		t.Fatalf("publish after unsub: %d %s", status, got)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, data, err := c.ReadMessage(); !isTimeout(err) {
		t.Fatalf("after unsub: got %q, %v; want nothing", data, err)
	}
}

// checkBinaryPush publishes a binary value and checks the frame byte for byte.
func checkBinaryPush(t *testing.T, tp *testPeer, c *websocket.Conn, seq uint64) {
	t.Helper()
	payload := "\x00\x01\xfe\xffpayload"
	before := time.Now().UnixMilli()
	status, got := tp.publish(t, "demo", "001", "application/octet-stream", payload)
	after := time.Now().UnixMilli()
	if want := `{"seq":` + itoa(seq) + `,"delivered":1}`; status != 200 || got != want {
		t.Fatalf("publish: %d %s, want 200 %s", status, got, want)
	}
	typ, frame := read(t, c)
	if typ != websocket.BinaryMessage {
		t.Fatalf("push: message type %d", typ)
	}
	head := []byte{1, 4, 'd', 'e', 'm', 'o', 3, '0', '0', '1'}
	head = binary.BigEndian.AppendUint64(head, seq)
	if len(frame) != len(head)+8+len(payload) || !bytes.Equal(frame[:len(head)], head) {
		t.Fatalf("push % x, want it to start with % x", frame, head)
	}
	ts := int64(binary.BigEndian.Uint64(frame[len(head):]))
	if ts < before || ts > after {
		t.Errorf("ts %d outside [%d, %d]", ts, before, after)
	}
	if rest := string(frame[len(head)+8:]); rest != payload {
		t.Errorf("payload %q, want %q", rest, payload)
	}
}

// checkTextPush publishes body and checks the text frame, with data as given.
func checkTextPush(t *testing.T, tp *testPeer, c *websocket.Conn, contentType, body, data string, seq uint64) {
	t.Helper()
	if status, got := tp.publish(t, "demo", "001", contentType, body); status != 200 || got != `{"seq":`+itoa(seq)+`,"delivered":1}` {
		t.Fatalf("publish %s: %d %s", contentType, status, got)
	}
	typ, frame := read(t, c)
	var push struct{ TS int64 }
	if typ != websocket.TextMessage || json.Unmarshal(frame, &push) != nil {
		t.Fatalf("text push: type %d, %s", typ, frame)
	}
	want := `{"op":"data","app":"demo","id":"001","seq":` + itoa(seq) + `,"ts":` + itoa(uint64(push.TS)) + `,"data":` + data + `}`
	if string(frame) != want {
		t.Errorf("text push\n %s\nwant\n %s", frame, want)
	}
}

func TestErrorAnswers(t *testing.T) {
	tp := startPeer(t)
	c := tp.dial(t)
	for msg, want := range map[string]string{
		`{"op":`: `{"op":"error","code":"bad_json"`,
		`{"op":"get","app":"a","ids":["1"],"ref":"r"}`: `{"op":"error","ref":"r","code":"unknown_op"`,
		`{"op":"sub","app":"a","ids":[],"ref":"r"}`:    `{"op":"error","ref":"r","code":"bad_request"`,
		`{"op":"sub","app":"a","ids":["1",""]}`:        `{"op":"error","code":"bad_key","msg":"ids[1]: empty"}`,
		`{"op":"sub","app":"a","ids":["1"],"ref":7}`:   `{"op":"error","code":"bad_request"`,
		`[1]`: `{"op":"error","code":"bad_request"`,
		`{"op":"sub","app":"a\u0001","ids":["1"]}`: `{"op":"error","code":"bad_key"`,
	} {
		if got := ask(t, c, msg); !strings.HasPrefix(got, want) {
			t.Errorf("%s: answer %s, want %s...", msg, got, want)
		}
	}
	// The connection survives its errors.
	if got := ask(t, c, `{"op":"sub","app":"a","ids":["1"]}`); got != `{"op":"ack"}` {
		t.Errorf("sub after errors: %s", got)
	}
}

func TestBinaryMessageCloses1003(t *testing.T) {
	tp := startPeer(t)
	c := tp.dial(t)
	c.WriteMessage(websocket.BinaryMessage, []byte("x"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("got %v, want close 1003", err)
	}
}

func TestAPI(t *testing.T) {
	tp := startPeer(t)
	// The ack comes after the connection is counted, which the metrics check.
	ask(t, tp.dial(t), `{"op":"sub","app":"a","ids":["1"]}`)
	for _, tc := range []struct {
		app, contentType string
		status           int
		code             string
	}{
		{"", "application/json", 400, "bad_request"},
		{"demo", "image/png", 415, "unsupported_media"},
		{"demo", "text/plain; charset=latin1", 415, "unsupported_media"},
		{"demo", "application/json", 400, "bad_json"}, // body "{"
	} {
		status, got := tp.publish(t, tc.app, "1", tc.contentType, "{")
		if status != tc.status || !strings.Contains(got, `"code":"`+tc.code+`"`) {
			t.Errorf("%q %q: %d %s, want %d %s", tc.app, tc.contentType, status, got, tc.status, tc.code)
		}
	}
	metrics := get(t, "http://"+tp.api+"/metrics")
	for _, line := range []string{"\nedgepush_connections 1\n", "\nedgepush_process_resident_bytes "} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %q:\n%s", line, metrics)
		}
	}
	if got := get(t, "http://"+tp.api+"/healthz"); got != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz %q", got)
	}
}

func TestShutdownSends1001(t *testing.T) {
	tp := startPeer(t)
	c := tp.dial(t)
	ask(t, c, `{"op":"sub","app":"a","ids":["1"]}`)
	stopped := make(chan error, 1)
	go func() { stopped <- tp.stop() }()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("got %v, want close 1001", err)
	}
	c.Close()
	if err := <-stopped; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestSlowConsumerCutOff queues to a connection whose writer never runs: the
// push that finds its queue full cuts the connection instead of waiting.
func TestSlowConsumerCutOff(t *testing.T) {
	accepted := make(chan *websocket.Conn, 1)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err == nil {
			accepted <- ws
		}
	}))
	defer server.Close()
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(server.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	p := NewPeer(Config{Queue: 2})
	stuck := &conn{ws: <-accepted, send: make(chan *outgoing, 2), done: make(chan struct{}), keys: map[key]struct{}{}}
	k := key{"a", "1"}
	p.subscribe(stuck, []key{k})
	for i, want := range []int{1, 1, 0} {
		if _, delivered, _ := p.Publish(k, true, []byte("x")); delivered != want {
			t.Fatalf("publish %d: delivered %d, want %d", i+1, delivered, want)
		}
	}
	if n := p.slowConsumers.Load(); n != 1 {
		t.Errorf("slow consumers %d, want 1", n)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := client.ReadMessage(); err == nil || isTimeout(err) {
		t.Errorf("client read %v, want the connection cut", err)
	}
}
