package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeServer speaks enough of docs/protocol.md for the scenarios' tests:
// subs with since and their replay, the publish API, /metrics with
// memory figures that grow by a known amount per held value.
type fakeServer struct {
	ws, api     net.Listener
	historySize int
	// Faults, for the tests that check the client counts them.
	dupLast    bool // send the last pushed value of a replay twice
	dropFirst  bool // leave the first value out of a replay
	gapAlways  bool // answer every since with a gap
	noPosition bool // leave keys out of the ack

	mu    sync.Mutex
	keys  map[string]*fakeKey
	held  int // values held over all keys
	conns atomic.Int64
	subs  atomic.Int64
}

type fakeKey struct {
	seq   uint64
	hist  [][]byte // frames of the last values, oldest first
	first uint64   // seq of hist[0]
	subs  map[*fakeConn]bool
}

type fakeConn struct {
	mu   sync.Mutex
	conn net.Conn
}

func (c *fakeConn) send(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wsutil.WriteServerText(c.conn, msg)
}

func startFakeServer(t *testing.T, historySize int) *fakeServer {
	t.Helper()
	f := &fakeServer{historySize: historySize, keys: map[string]*fakeKey{}}
	var err error
	if f.ws, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if f.api, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/publish", f.publish)
	mux.HandleFunc("/metrics", f.metrics)
	srv := &http.Server{Handler: mux}
	go srv.Serve(f.api)
	go f.serveWS()
	t.Cleanup(func() { srv.Close(); f.ws.Close() })
	return f
}

func (f *fakeServer) wsAddr() string  { return f.ws.Addr().String() }
func (f *fakeServer) apiAddr() string { return f.api.Addr().String() }

func (f *fakeServer) key(app, id string) *fakeKey {
	k := f.keys[app+"/"+id]
	if k == nil {
		k = &fakeKey{subs: map[*fakeConn]bool{}}
		f.keys[app+"/"+id] = k
	}
	return k
}

func (f *fakeServer) publish(w http.ResponseWriter, r *http.Request) {
	app, id := r.URL.Query().Get("app"), r.URL.Query().Get("id")
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		http.Error(w, `{"error":{"code":"bad_json","msg":""}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	k := f.key(app, id)
	k.seq++
	frame := fmt.Appendf(nil, `{"op":"data","app":%q,"id":%q,"seq":%d,"ts":%d,"data":%s}`, app, id, k.seq, time.Now().UnixMilli(), body)
	if len(k.hist) == 0 {
		k.first = k.seq
	}
	k.hist = append(k.hist, frame)
	f.held++
	if len(k.hist) > f.historySize {
		k.hist, k.first = k.hist[1:], k.first+1
		f.held--
	}
	for c := range k.subs {
		c.send(frame)
	}
	seq, delivered := k.seq, len(k.subs)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"seq":%d,"delivered":%d}`, seq, delivered)
}

// Memory the fake reports: a fixed base plus 100 B of RSS and 80 B of heap
// per held value.
func (f *fakeServer) metrics(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	fmt.Fprintf(w, "edgepush_connections %d\nedgepush_subscriptions %d\n", f.conns.Load(), f.subs.Load())
	fmt.Fprintf(w, "edgepush_process_resident_bytes %d\ngo_memstats_heap_inuse_bytes %d\n", 1_000_000+100*held, 500_000+80*held)
}

func (f *fakeServer) serveWS() {
	for {
		conn, err := f.ws.Accept()
		if err != nil {
			return
		}
		go f.serveConn(conn)
	}
}

func (f *fakeServer) serveConn(conn net.Conn) {
	defer conn.Close()
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	f.conns.Add(1)
	c := &fakeConn{conn: conn}
	var mine []*fakeKey
	defer func() {
		f.mu.Lock()
		for _, k := range mine {
			delete(k.subs, c)
			f.subs.Add(-1)
		}
		f.mu.Unlock()
		f.conns.Add(-1)
	}()
	for {
		msg, op, err := wsutil.ReadClientData(conn)
		if err != nil || op != ws.OpText {
			return
		}
		var sub struct {
			Op    string                     `json:"op"`
			App   string                     `json:"app"`
			IDs   []string                   `json:"ids"`
			Since map[string]json.RawMessage `json:"since"`
		}
		if json.Unmarshal(msg, &sub) != nil || sub.Op != "sub" {
			c.send([]byte(`{"op":"error","code":"bad_request","msg":""}`))
			continue
		}
		mine = append(mine, f.subscribe(c, sub.App, sub.IDs, sub.Since)...)
	}
}

// subscribe answers a sub, replays, and adds c to the keys, all under the
// lock so that no live push comes between.
func (f *fakeServer) subscribe(c *fakeConn, app string, ids []string, since map[string]json.RawMessage) []*fakeKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	ack := map[string]Position{}
	var keys []*fakeKey
	for _, id := range ids {
		k := f.key(app, id)
		ack[id] = Position{Seq: k.seq, Epoch: epochOf(k)}
		keys = append(keys, k)
	}
	answer, _ := json.Marshal(map[string]any{"op": "ack", "keys": ack})
	if f.noPosition {
		answer = []byte(`{"op":"ack"}`)
	}
	c.send(answer)
	for i, id := range ids {
		k := keys[i]
		raw, resumed := since[id]
		var from uint64
		if resumed {
			if json.Unmarshal(raw, &from) != nil {
				var p Position
				json.Unmarshal(raw, &p)
				from = p.Seq
			}
		}
		switch {
		case !resumed && len(k.hist) > 0:
			c.send(k.hist[len(k.hist)-1])
		case !resumed || from == k.seq:
		case f.gapAlways || from+1 < k.first || from > k.seq:
			c.send(fmt.Appendf(nil, `{"op":"gap","app":%q,"id":%q,"reason":"evicted","since":%d,"seq":%d,"epoch":"e"}`, app, id, from, k.seq))
			if len(k.hist) > 0 {
				c.send(k.hist[len(k.hist)-1])
			}
		default:
			replay := k.hist[from+1-k.first:]
			if f.dropFirst {
				replay = replay[1:]
			}
			for _, frame := range replay {
				c.send(frame)
			}
			if f.dupLast && len(replay) > 0 {
				c.send(replay[len(replay)-1])
			}
		}
		k.subs[c] = true
		f.subs.Add(1)
	}
	return keys
}

func epochOf(k *fakeKey) string {
	if k.seq == 0 {
		return ""
	}
	return "fake.1"
}

// The helper process: a test binary started with BENCH_TEST_WORKER=1 is
// an edgebench worker.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_TEST_WORKER") == "1" {
		if err := RunWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testWorker() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	// A race-enabled binary sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), "BENCH_TEST_WORKER=1", "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

// publishJSON publishes one value to the fake, for tests that set it up.
func publishJSON(t *testing.T, api, app, id string, value []byte) uint64 {
	t.Helper()
	resp, err := http.Post("http://"+api+"/v1/publish?app="+app+"&id="+id, "application/json", bytes.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	seq, ok := fieldUint(body, `"seq":`)
	if !ok {
		t.Fatalf("publish answer %q", body)
	}
	return seq
}
