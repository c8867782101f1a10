package session

import (
	"encoding/json"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"edgepush/frame"
	"edgepush/hub"
)

// fakeConn is a netloop.Conn that keeps the payloads of the text frames
// sent to it.
type fakeConn struct {
	frames *frame.Pool

	mu     sync.Mutex // guards the following fields
	sent   [][]byte
	closed ws.StatusCode
}

func (c *fakeConn) Send(f *frame.Frame) bool { return c.Queue(f) }
func (c *fakeConn) Frames() *frame.Pool      { return c.frames }
func (c *fakeConn) Close(code ws.StatusCode) { c.mu.Lock(); c.closed = code; c.mu.Unlock() }
func (c *fakeConn) Queue(f *frame.Frame) bool {
	b := f.Bytes()
	size := 2 // the header of an unmasked server frame
	switch b[1] & 0x7f {
	case 126:
		size = 4
	case 127:
		size = 10
	}
	c.mu.Lock()
	c.sent = append(c.sent, append([]byte(nil), b[size:]...))
	c.mu.Unlock()
	return true
}

// FuzzClientMessage: any text message gets exactly one answer first, an
// ack or an error with a code, in valid JSON; what follows a sub's ack is
// data or gap; the parser never panics and the subscription cap holds.
func FuzzClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"op":"sub","app":"demo","ids":["001","002"],"ref":"7"}`,
		`{"op":"unsub","app":"demo","ids":["002"]}`,
		`{"op":"sub","app":"","ids":[1]}`,
		`[]`,
		`{"op":"sub","app":"a","ids":["\u0000"],"ref":"\"\\"}`,
		`{"op":"sub","app":"demo","ids":["001"],"since":{"001":3}}`,
		`{"op":"sub","app":"demo","ids":["001","002"],"since":{"001":{"seq":2,"epoch":"x"},"002":0}}`,
		`{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":18446744073709551615,"epoch":""}}}`,
		`{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":-1}}}`,
		`{"op":"sub","app":"demo","ids":["001"],"since":[]}`,
	} {
		f.Add([]byte(seed))
	}
	h := hub.New(hub.Config{})
	store := hub.NewMemoryStore(hub.MemoryStoreConfig{HistorySize: 4})
	defer store.Close()
	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
	for i := 0; i < 6; i++ {
		p.Publish(f.Context(), hub.Key{App: "demo", ID: "001"}, hub.Text, []byte(`1`))
	}
	handler := New(Config{MaxIDs: 4, MaxSubscriptions: 8}, h, p)
	frames := frame.NewPool()
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // text messages reach the session only as valid UTF-8
		}
		c := &fakeConn{frames: frames}
		s := handler.Open(c).(*session)
		defer s.Closed()
		s.Message(ws.OpText, data)
		if len(c.sent) == 0 {
			t.Fatal("no answer")
		}
		var first struct {
			Op   string `json:"op"`
			Code string `json:"code"`
		}
		if err := json.Unmarshal(c.sent[0], &first); err != nil {
			t.Fatalf("answer %q is not JSON: %v", c.sent[0], err)
		}
		if first.Op != "ack" && (first.Op != "error" || first.Code == "") {
			t.Fatalf("answer %q is neither ack nor error with a code", c.sent[0])
		}
		for _, next := range c.sent[1:] {
			var m struct{ Op string }
			if err := json.Unmarshal(next, &m); err != nil || first.Op != "ack" || (m.Op != "data" && m.Op != "gap") {
				t.Fatalf("after %q came %q", c.sent[0], next)
			}
		}
		if len(s.subs) > 8 {
			t.Fatalf("%d subscriptions, over the cap", len(s.subs))
		}
	})
}
