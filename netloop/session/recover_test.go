package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/hub"
)

// expectData reads the next message and checks it is the push of id with
// seq.
func expectData(t *testing.T, ws *websocket.Conn, id string, seq uint64) answer {
	t.Helper()
	a := readAnswer(t, ws)
	if a.Op != "data" || a.ID != id || a.Seq != seq {
		t.Fatalf("got %+v, want data %s seq %d", a, id, seq)
	}
	return a
}

// expectNext publishes to id and expects that push to be the next
// message: nothing else was queued before it.
func expectNext(t *testing.T, srv *testServer, ws *websocket.Conn, id string) {
	t.Helper()
	r := srv.publish(t, "demo", id, `"marker"`)
	expectData(t, ws, id, r.Seq)
}

func TestSubAckCarriesPositionsAndLastValue(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	for i := 1; i <= 3; i++ {
		srv.publish(t, "demo", "001", fmt.Sprintf(`{"v":%d}`, i))
	}
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, `{"op":"sub","app":"demo","ids":["001","002","001"],"ref":"7"}`)
	ack := readAnswer(t, ws)
	if ack.Op != "ack" || ack.Ref != "7" || len(ack.Keys) != 2 {
		t.Fatalf("ack = %+v, want keys of 001 and 002", ack)
	}
	if p := ack.Keys["001"]; p.Seq != 3 || p.Epoch == "" {
		t.Fatalf("001 position = %+v, want seq 3 and an epoch", p)
	}
	if p := ack.Keys["002"]; p.Seq != 0 || p.Epoch == "" || p.Epoch == ack.Keys["001"].Epoch {
		t.Fatalf("002 position = %+v, want seq 0 and an epoch of its own", p)
	}
	last := expectData(t, ws, "001", 3)
	if string(last.Data) != `{"v":3}` {
		t.Fatalf("last value = %s", last.Data)
	}
	if r := srv.publish(t, "demo", "002", `1`); r.Epoch != ack.Keys["002"].Epoch {
		t.Fatalf("002's first publish has epoch %q, the ack said %q", r.Epoch, ack.Keys["002"].Epoch)
	}
	expectData(t, ws, "002", 1)
	expectNext(t, srv, ws, "001") // live, with nothing between
	// Subscribing again sends nothing again.
	send(t, ws, `{"op":"sub","app":"demo","ids":["001"],"ref":"8"}`)
	if a := readAnswer(t, ws); a.Op != "ack" || a.Keys["001"].Seq != 4 {
		t.Fatalf("second sub = %+v, want ack at seq 4", a)
	}
	expectNext(t, srv, ws, "001")
}

func TestSinceReplaysExactlyWhatWasMissed(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, `{"op":"sub","app":"demo","ids":["001"]}`)
	readAnswer(t, ws)
	r := srv.publish(t, "demo", "001", `1`)
	seen := expectData(t, ws, "001", r.Seq)
	ws.Close()
	for i := 0; i < 5; i++ { // missed while disconnected
		srv.publish(t, "demo", "001", fmt.Sprint(i+2))
	}
	ws = dialWS(t, srv.Addr, "/ws")
	send(t, ws, fmt.Sprintf(`{"op":"sub","app":"demo","ids":["001"],"ref":"r","since":{"001":{"seq":%d,"epoch":%q}}}`, seen.Seq, r.Epoch))
	if a := readAnswer(t, ws); a.Op != "ack" || a.Keys["001"].Seq != 6 {
		t.Fatalf("ack = %+v, want seq 6", a)
	}
	for seq := uint64(2); seq <= 6; seq++ {
		if a := expectData(t, ws, "001", seq); string(a.Data) != fmt.Sprint(seq) {
			t.Fatalf("replayed seq %d carries %s", seq, a.Data)
		}
	}
	expectNext(t, srv, ws, "001")
}

// TestSinceForms checks each since form against a key at seq 6 whose
// history holds 3..6 (-history-size 4); each case has a key of its own.
func TestSinceForms(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{HistorySize: 4}, "127.0.0.1:0")
	cases := []struct {
		name   string
		since  string   // %q is the key's epoch
		gap    string   // the gap reason, or "" for a replay
		replay []uint64 // seqs that follow the ack (and the gap)
	}{
		{name: "current", since: `6`},
		{name: "current with epoch", since: `{"seq":6,"epoch":%q}`},
		{name: "oldest held", since: `2`, replay: []uint64{3, 4, 5, 6}},
		{name: "oldest held with epoch", since: `{"seq":2,"epoch":%q}`, replay: []uint64{3, 4, 5, 6}},
		{name: "evicted", since: `1`, gap: "evicted", replay: []uint64{6}},
		{name: "zero with seq 1 evicted", since: `0`, gap: "evicted", replay: []uint64{6}},
		{name: "ahead", since: `9`, gap: "ahead", replay: []uint64{6}},
		{name: "other epoch", since: `{"seq":5,"epoch":"restarted.1"}`, gap: "epoch", replay: []uint64{6}},
		{name: "other epoch at the current seq", since: `{"seq":6,"epoch":"restarted.1"}`, gap: "epoch", replay: []uint64{6}},
		{name: "zero of another epoch", since: `{"seq":0,"epoch":"x"}`, gap: "evicted", replay: []uint64{6}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint(i)
			var epoch string
			for v := 1; v <= 6; v++ {
				epoch = srv.publish(t, "demo", id, fmt.Sprint(v)).Epoch
			}
			since := tc.since
			if strings.Contains(since, "%q") {
				since = fmt.Sprintf(since, epoch)
			}
			ws := dialWS(t, srv.Addr, "/ws")
			send(t, ws, `{"op":"sub","app":"demo","ids":["`+id+`"],"since":{"`+id+`":`+since+`}}`)
			if a := readAnswer(t, ws); a.Op != "ack" || a.Keys[id].Seq != 6 || a.Keys[id].Epoch != epoch {
				t.Fatalf("ack = %+v", a)
			}
			if tc.gap != "" {
				a := readAnswer(t, ws)
				if a.Op != "gap" || a.Reason != tc.gap || a.App != "demo" || a.ID != id || a.Seq != 6 || a.Epoch != epoch {
					t.Fatalf("got %+v, want gap %s at seq 6", a, tc.gap)
				}
			}
			for _, seq := range tc.replay {
				expectData(t, ws, id, seq)
			}
			expectNext(t, srv, ws, id)
		})
	}
}

// restartStore stops srv and starts the stack again on the same port with
// a new store: what a process restart looks like to clients.
func restartStore(t *testing.T, srv *testServer) *testServer {
	t.Helper()
	addr := srv.Addr
	srv.stop(t)
	return startServer(t, Config{}, hub.MemoryStoreConfig{}, addr)
}

func TestEpochChangesAfterRestart(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	first := srv.publish(t, "demo", "001", `1`)
	srv = restartStore(t, srv)
	srv.publish(t, "demo", "001", `"after"`)
	second := srv.publish(t, "demo", "001", `"after"`)
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, fmt.Sprintf(`{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":%d,"epoch":%q}}}`, first.Seq, first.Epoch))
	if a := readAnswer(t, ws); a.Op != "ack" || a.Keys["001"].Epoch != second.Epoch || second.Epoch == first.Epoch {
		t.Fatalf("ack = %+v after a restart; epochs %q then %q", a, first.Epoch, second.Epoch)
	}
	if a := readAnswer(t, ws); a.Op != "gap" || a.Reason != "epoch" || a.Since != first.Seq || a.Seq != 2 {
		t.Fatalf("got %+v, want gap epoch since 1 at seq 2", a)
	}
	expectData(t, ws, "001", 2)
}

func TestBadSince(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	long := strings.Repeat("e", 65)
	for _, since := range []string{
		`"since":1`, `"since":[1]`, `"since":"001"`, `"since":null`, `"since":true`,
		`"since":{"002":1}`,
		`"since":{"001":-1}`, `"since":{"001":1.5}`, `"since":{"001":1e3}`, `"since":{"001":"1"}`,
		`"since":{"001":18446744073709551616}`, `"since":{"001":null}`, `"since":{"001":-0}`,
		`"since":{"001":{"seq":1,"epoch":5}}`, `"since":{"001":{"seq":1,"epoch":null}}`,
		`"since":{"001":{"epoch":"e"}}`, `"since":{"001":{"seq":"1","epoch":"e"}}`,
		`"since":{"001":{"seq":1,"epoch":"e","x":1}}`, `"since":{"001":{"seq":1,"epoch":"` + long + `"}}`,
		`"since":{"001":[1]}`,
	} {
		t.Run(since, func(t *testing.T) {
			send(t, ws, `{"op":"sub","app":"demo","ids":["001"],"ref":"s",`+since+`}`)
			if a := readAnswer(t, ws); a.Op != "error" || a.Code != "bad_since" || a.Ref != "s" || a.Msg == "" {
				t.Fatalf("answer = %+v, want error bad_since", a)
			}
		})
	}
	send(t, ws, `{"op":"unsub","app":"demo","ids":["001"],"ref":"u","since":{"001":1}}`)
	if a := readAnswer(t, ws); a.Code != "bad_since" {
		t.Fatalf("unsub with since = %+v, want bad_since", a)
	}
	if n := srv.Hub.Subscribers(hub.Key{App: "demo", ID: "001"}); n != 0 {
		t.Fatalf("refused subs left %d subscribers", n)
	}
	// Still usable.
	send(t, ws, `{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":0,"epoch":""}}}`)
	if a := readAnswer(t, ws); a.Op != "ack" {
		t.Fatalf("sub after errors = %+v", a)
	}
	expectNext(t, srv, ws, "001")
}

// TestResubscribeUnderLoad: 8 publishers publish 2,000 values to one key
// while a client keeps dropping its connection and resubscribing with
// since; across its connections it gets every seq exactly once, in order.
func TestResubscribeUnderLoad(t *testing.T) {
	const publishers, each = 8, 250
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{HistorySize: 4096}, "127.0.0.1:0")
	var wg sync.WaitGroup
	start := make(chan struct{})
	var startOnce sync.Once
	defer func() { startOnce.Do(func() { close(start) }); wg.Wait() }()
	for w := 0; w < publishers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < each; i++ {
				if _, err := srv.Pipeline.Publish(t.Context(), hub.Key{App: "demo", ID: "001"}, hub.Text, []byte(`1`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var got []uint64
	var position hub.Position
	connections := 0
	for last := uint64(0); last < publishers*each; connections++ {
		ws := dialWS(t, srv.Addr, "/ws")
		sub := `{"op":"sub","app":"demo","ids":["001"]}`
		if connections > 0 {
			sub = fmt.Sprintf(`{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":%d,"epoch":%q}}}`, last, position.Epoch)
		}
		send(t, ws, sub)
		ack := readAnswer(t, ws)
		if ack.Op != "ack" {
			t.Fatalf("connection %d: %+v", connections, ack)
		}
		position = ack.Keys["001"]
		if connections == 0 {
			startOnce.Do(func() { close(start) })
		}
		// Read a few dozen pushes, then drop the connection.
		for n := 0; n < 40 && last < publishers*each; n++ {
			a := readAnswer(t, ws)
			if a.Op != "data" {
				t.Fatalf("connection %d: got %+v, want data", connections, a)
			}
			got = append(got, a.Seq)
			last = a.Seq
		}
		ws.Close()
	}
	wg.Wait()
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("push %d has seq %d, want %d (over %d connections; around it %v)", i, seq, i+1, connections, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	if len(got) != publishers*each {
		t.Fatalf("got %d pushes, want %d", len(got), publishers*each)
	}
	t.Logf("2,000 pushes over %d connections, none lost or repeated", connections)
}

func TestMessageRateLimit(t *testing.T) {
	srv := startServer(t, Config{MessageRate: 10, MessageBurst: 20}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	// A flood: 20,000 subs as fast as the client can write them.
	go func() {
		for i := 0; i < 20000; i++ {
			msg := fmt.Sprintf(`{"op":"sub","app":"flood","ids":["%d"]}`, i)
			if ws.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
				return
			}
		}
	}()
	acks, limited := 0, 0
	for {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("after %d acks and %d rate_limited: %v, want close 1008", acks, limited, err)
			}
			break
		}
		var a answer
		json.Unmarshal(data, &a)
		switch {
		case a.Op == "ack":
			acks++
		case a.Op == "error" && a.Code == "rate_limited":
			limited++
		default:
			t.Fatalf("got %s", data)
		}
	}
	ws.Close()
	if acks < 20 || acks > 100 || limited != 10 {
		t.Fatalf("%d acks and %d rate_limited before 1008; want about the burst of 20 and 10 refusals", acks, limited)
	}
	if !waitFor(10*time.Second, func() bool { return srv.Hub.Stats().Subscribers == 0 }) {
		t.Fatalf("%d subscriptions left after the close", srv.Hub.Stats().Subscribers)
	}
}

// TestRateLimitRefills: a client that pauses after being limited is served
// again, and refusals in between do not add up to a close.
func TestRateLimitRefills(t *testing.T) {
	srv := startServer(t, Config{MessageRate: 20, MessageBurst: 2, MaxStrikes: 3}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	for round := 0; round < 5; round++ {
		for i := 0; i < 4; i++ { // two over the burst
			send(t, ws, `{"op":"unsub","app":"a","ids":["1"]}`)
		}
		codes := ""
		for i := 0; i < 4; i++ {
			a := readAnswer(t, ws)
			codes += a.Op + a.Code + " "
		}
		if codes != "ack ack errorrate_limited errorrate_limited " {
			t.Fatalf("round %d: answers %q", round, codes)
		}
		time.Sleep(200 * time.Millisecond) // 4 tokens' worth: the bucket refills
	}
}

// TestLivePushOfANewEpoch: when the history behind a watched key is lost
// (a Redis restart), its live pushes start over at seq 1 under a new epoch;
// the client gets a gap of reason epoch, then those pushes, not silence.
func TestLivePushOfANewEpoch(t *testing.T) {
	srv := startServer(t, Config{}, hub.MemoryStoreConfig{}, "127.0.0.1:0")
	ws := dialWS(t, srv.Addr, "/ws")
	send(t, ws, `{"op":"sub","app":"demo","ids":["001"]}`)
	readAnswer(t, ws)
	for i := 1; i <= 3; i++ {
		srv.publish(t, "demo", "001", fmt.Sprint(i))
		expectData(t, ws, "001", uint64(i))
	}
	k := hub.Key{App: "demo", ID: "001"}
	for seq := uint64(1); seq <= 2; seq++ { // as a bus consumer delivers after the loss
		srv.Hub.Deliver(k, hub.Entry{Seq: seq, Kind: hub.Text, Data: []byte(`"new"`), Epoch: "reborn.1"})
	}
	if a := readAnswer(t, ws); a.Op != "gap" || a.Reason != "epoch" || a.Since != 3 || a.Seq != 0 || a.Epoch != "reborn.1" {
		t.Fatalf("got %+v, want gap epoch since 3 at seq 0 of reborn.1", a)
	}
	expectData(t, ws, "001", 1)
	expectData(t, ws, "001", 2)
}
