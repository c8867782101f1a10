package session

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/hub"
)

func dialWS(t *testing.T, addr, path string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", path, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	return ws
}

type answer struct {
	Op     string                  `json:"op"`
	Keys   map[string]hub.Position `json:"keys"`
	Reason string                  `json:"reason"`
	Since  uint64                  `json:"since"`
	Epoch  string                  `json:"epoch"`
	Ref    string                  `json:"ref"`
	Code   string                  `json:"code"`
	Msg    string                  `json:"msg"`
	App    string                  `json:"app"`
	ID     string                  `json:"id"`
	Seq    uint64                  `json:"seq"`
	TS     int64                   `json:"ts"`
	Data   json.RawMessage         `json:"data"`
}

func readAnswer(t *testing.T, ws *websocket.Conn) answer {
	t.Helper()
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("got message type %d, want text", typ)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("answer %q is not JSON: %v", data, err)
	}
	return a
}

func send(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestPushEndToEnd(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, `{"op":"sub","app":"demo","ids":["001","002"],"ref":"7"}`)
	if a := readAnswer(t, ws); a.Op != "ack" || a.Ref != "7" {
		t.Fatalf("sub answer = %+v, want ack 7", a)
	}
	for _, id := range []string{"001", "002", "001"} {
		r, err := srv.Pipeline.Publish(t.Context(), hub.Key{App: "demo", ID: id}, hub.Text, []byte(`{"v":1.5}`))
		if err != nil || r.Delivered != 1 {
			t.Fatalf("publish %s = %+v, %v; want delivered 1", id, r, err)
		}
	}
	wantSeq := []struct {
		id  string
		seq uint64
	}{{"001", 1}, {"002", 1}, {"001", 2}}
	for _, w := range wantSeq {
		a := readAnswer(t, ws)
		if a.Op != "data" || a.App != "demo" || a.ID != w.id || a.Seq != w.seq || string(a.Data) != `{"v":1.5}` {
			t.Fatalf("push = %+v, want data demo/%s seq %d", a, w.id, w.seq)
		}
		if a.TS <= 0 {
			t.Fatalf("push ts = %d, want unix ms", a.TS)
		}
	}

	send(t, ws, `{"op":"unsub","app":"demo","ids":["002"],"ref":"8"}`)
	if a := readAnswer(t, ws); a.Op != "ack" || a.Ref != "8" {
		t.Fatalf("unsub answer = %+v, want ack 8", a)
	}
	r, _ := srv.Pipeline.Publish(t.Context(), hub.Key{App: "demo", ID: "002"}, hub.Text, []byte(`2`))
	if r.Delivered != 0 || r.Seq != 2 {
		t.Fatalf("publish to unsubscribed 002 = %+v, want seq 2 delivered 0", r)
	}
	r, _ = srv.Pipeline.Publish(t.Context(), hub.Key{App: "demo", ID: "001"}, hub.Binary, []byte{0, 1, 2, 0xff})
	if r.Delivered != 1 {
		t.Fatalf("binary publish = %+v", r)
	}
	typ, data, err := ws.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage {
		t.Fatalf("read binary: type %d, %v", typ, err)
	}
	want := []byte{1, 4, 'd', 'e', 'm', 'o', 3, '0', '0', '1'}
	want = binary.BigEndian.AppendUint64(want, 3)
	if string(data[:len(want)]) != string(want) {
		t.Fatalf("binary push head = %x, want %x", data[:len(want)], want)
	}
	if ts := int64(binary.BigEndian.Uint64(data[len(want):])); time.Since(time.UnixMilli(ts)) > time.Minute {
		t.Fatalf("binary push ts = %d", ts)
	}
	if payload := data[len(want)+8:]; string(payload) != "\x00\x01\x02\xff" {
		t.Fatalf("binary payload = %x", payload)
	}
}

func TestProtocolErrors(t *testing.T) {
	srv := startServer(t, Config{MaxIDs: 3, MaxSubscriptions: 4}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	cases := []struct {
		name string
		msg  string
		code string
		ref  string
	}{
		{name: "bad json", msg: `{"op":`, code: "bad_json"},
		{name: "not an object", msg: `[1,2]`, code: "bad_request"},
		{name: "unknown op", msg: `{"op":"pub","app":"a","ids":["1"],"ref":"r1"}`, code: "unknown_op", ref: "r1"},
		{name: "no op", msg: `{"app":"a","ids":["1"],"ref":"r2"}`, code: "bad_request", ref: "r2"},
		{name: "no app", msg: `{"op":"sub","ids":["1"],"ref":"r3"}`, code: "bad_request", ref: "r3"},
		{name: "empty ids", msg: `{"op":"sub","app":"a","ids":[],"ref":"r4"}`, code: "bad_request", ref: "r4"},
		{name: "ids not strings", msg: `{"op":"sub","app":"a","ids":[1],"ref":"r5"}`, code: "bad_request", ref: "r5"},
		{name: "too many ids", msg: `{"op":"sub","app":"a","ids":["1","2","3","4"],"ref":"r6"}`, code: "too_many_ids", ref: "r6"},
		{name: "long id", msg: `{"op":"sub","app":"a","ids":["` + string(make65('x')) + `"],"ref":"r7"}`, code: "bad_key", ref: "r7"},
		{name: "control char", msg: `{"op":"sub","app":"a\u0001","ids":["1"],"ref":"r8"}`, code: "bad_key", ref: "r8"},
		{name: "empty id", msg: `{"op":"unsub","app":"a","ids":[""],"ref":"r9"}`, code: "bad_key", ref: "r9"},
		{name: "ref not string", msg: `{"op":"sub","app":"a","ids":["1"],"ref":9}`, code: "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			send(t, ws, tc.msg)
			a := readAnswer(t, ws)
			if a.Op != "error" || a.Code != tc.code || a.Ref != tc.ref || a.Msg == "" {
				t.Fatalf("answer = %+v, want error %s ref %q with a message", a, tc.code, tc.ref)
			}
		})
	}
	// The connection stays open and usable after errors; the subscription
	// cap applies all or nothing.
	send(t, ws, `{"op":"sub","app":"a","ids":["1","2","3"],"ref":"ok"}`)
	if a := readAnswer(t, ws); a.Op != "ack" {
		t.Fatalf("sub after errors = %+v, want ack", a)
	}
	send(t, ws, `{"op":"sub","app":"a","ids":["3","4","5"],"ref":"cap"}`)
	if a := readAnswer(t, ws); a.Code != "too_many_subscriptions" {
		t.Fatalf("sub past cap = %+v, want too_many_subscriptions", a)
	}
	if n := srv.Hub.Subscribers(hub.Key{App: "a", ID: "4"}); n != 0 {
		t.Fatalf("refused sub left %d subscribers of a/4", n)
	}
}

func make65(c byte) []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestDisconnectUnsubscribes(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, `{"op":"sub","app":"demo","ids":["001"]}`)
	if a := readAnswer(t, ws); a.Op != "ack" || a.Ref != "" {
		t.Fatalf("answer = %+v, want ack without ref", a)
	}
	key := hub.Key{App: "demo", ID: "001"}
	if n := srv.Hub.Subscribers(key); n != 1 {
		t.Fatalf("subscribers = %d, want 1", n)
	}
	ws.Close()
	if !waitFor(10*time.Second, func() bool { return srv.Hub.Subscribers(key) == 0 && srv.Stats().Connections == 0 }) {
		t.Fatalf("after disconnect: %d subscribers, %d connections; want 0, 0", srv.Hub.Subscribers(key), srv.Stats().Connections)
	}
}
