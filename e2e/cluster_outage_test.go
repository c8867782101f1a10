package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/hub"
	"edgepush/hub/amqpbus"
)

// keyPos is a key's position as the protocol writes it: in an ack's keys,
// and in a sub's since.
type keyPos struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

// serverMsg is any message the server sends on /ws: an ack, an error, a
// data push or a gap.
type serverMsg struct {
	Op     string            `json:"op"`
	Ref    string            `json:"ref"`
	Code   string            `json:"code"`
	Keys   map[string]keyPos `json:"keys"`
	App    string            `json:"app"`
	ID     string            `json:"id"`
	Seq    uint64            `json:"seq"`
	Data   json.RawMessage   `json:"data"`
	Reason string            `json:"reason"`
	Since  uint64            `json:"since"`
	Epoch  string            `json:"epoch"`

	raw string // the message as it came, for failure messages
}

// readServerMsg reads one text message within limit.
func readServerMsg(ws *websocket.Conn, limit time.Duration) (serverMsg, error) {
	ws.SetReadDeadline(time.Now().Add(limit))
	kind, b, err := ws.ReadMessage()
	if err != nil {
		return serverMsg{}, err
	}
	var m serverMsg
	if kind != websocket.TextMessage {
		return serverMsg{raw: fmt.Sprintf("binary %x", b)}, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		m = serverMsg{}
	}
	m.raw = string(b)
	return m, nil
}

// dialWS opens a WebSocket to s's /ws, closed when the test ends.
func dialWS(t *testing.T, s *Server) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.WSURL("/ws"), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// subWithAck sends a sub of ids of app on ws (with since, if not nil; the
// ids are JSON-encoded, whatever they hold) and returns the positions of
// its ack, which must name every id.
func subWithAck(t *testing.T, ws *websocket.Conn, app string, ids []string, since map[string]keyPos) map[string]keyPos {
	t.Helper()
	msg, err := json.Marshal(struct {
		Op    string            `json:"op"`
		App   string            `json:"app"`
		IDs   []string          `json:"ids"`
		Ref   string            `json:"ref"`
		Since map[string]keyPos `json:"since,omitempty"`
	}{"sub", app, ids, "s", since})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatalf("sending %s: %v", msg, err)
	}
	ack, err := readServerMsg(ws, stepTimeout)
	if err != nil || ack.Op != "ack" || ack.Ref != "s" {
		t.Fatalf("sub %s: got %s, %v; want its ack", msg, ack.raw, err)
	}
	for _, id := range ids {
		if p, ok := ack.Keys[id]; !ok || p.Epoch == "" {
			t.Fatalf("sub %s: the ack %s names no position of id %q", msg, ack.raw, id)
		}
	}
	return ack.Keys
}

// publishEscaped posts the JSON value body to app/id on s, both escaped
// with url.QueryEscape, and returns the status and the answer.
func publishEscaped(client *http.Client, s *Server, app, id, body string) (int, []byte, error) {
	u := s.APIURL("/v1/publish?app=" + url.QueryEscape(app) + "&id=" + url.QueryEscape(id))
	resp, err := client.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

// idSubscriptions is the answer of GET /v1/subscriptions?app=A&id=X.
type idSubscriptions struct {
	App         string         `json:"app"`
	ID          string         `json:"id"`
	Subscribers int            `json:"subscribers"`
	Nodes       map[string]int `json:"nodes"`
}

// TestClusterRoutesOddIDs: three nodes on the shared Redis and RabbitMQ;
// clients on B and C watch ids made of the characters that mean something
// to AMQP topic routing ('.', '*', '#'), to a URL query ('%', '+', '&',
// '=', '/', ' '), to JSON ('"', '\'), to Redis hash tags ('{', '}'), and
// non-ASCII ones (composed and decomposed é are different keys); several
// are wildcard look-alikes or prefixes of others (x, x.y, x.*, x.#, *.y,
// #), so that a routing key made from the id would cross-deliver. Every
// id, the unwatched one included, is published twice through A. Each
// client must get exactly the pushes of the ids it watches (id, seq and
// data), nothing else; each node's queue must be bound to exactly the
// routing keys of the ids its clients watch, none with a wildcard; and
// /v1/subscriptions on A, which has no client, must give every id's count
// per node, the id coming back byte for byte.
func TestClusterRoutesOddIDs(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	app := fmt.Sprintf("odd ids/%d", time.Now().UnixNano()) // an odd app too
	longest := strings.Repeat("é", 32)                      // 64 bytes: the longest id allowed
	cases := []struct {
		id       string
		onB, onC bool
	}{
		{".", true, false},
		{"*", false, true},
		{"#", true, false},
		{"a.*", true, false},
		{"#.b", false, true},
		{"a.b", false, true}, // what a.* and #.b would match as topic patterns
		{"a b", true, false},
		{"a+b", false, true}, // '+' is a space in a query unless escaped
		{"%", true, true},
		{"%2F", true, false}, // decoded once, never twice
		{"/", false, true},
		{",", true, false},
		{"&=?", false, true},
		{`"\`, true, false},
		{"{x}", false, true}, // a Redis hash tag
		{"}{", true, false},
		{"température/东京", true, true},
		{"\u00e9", true, false},  // é, composed
		{"e\u0301", false, true}, // é, decomposed: another key
		{"🙂", false, true},
		{"\u00a0", true, false}, // no-break space: past the C1 controls, allowed
		{longest, false, true},
		{"x", true, false},
		{"x.y", false, true},
		{"x.*", true, false},
		{"x.#", false, true},
		{"*.y", true, false},
		{"x.y.z", false, true},
		{"nobody", false, false}, // published, watched by no one
	}
	for _, c := range cases {
		if err := (hub.Key{App: app, ID: c.id}).Validate(); err != nil {
			t.Fatalf("test id %q is not a valid key: %v", c.id, err)
		}
	}
	nodeID := func(n string) string { return fmt.Sprintf("odd-%s-%d", n, time.Now().UnixNano()%1e6) }
	ids := []string{nodeID("a"), nodeID("b"), nodeID("c")}
	a := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", ids[0])
	b := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", ids[1])
	c := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", ids[2])
	for _, s := range []*Server{a, b, c} {
		waitReady(t, s)
	}

	type client struct {
		name string
		node string
		ws   *websocket.Conn
		ids  []string
		ack  map[string]keyPos
	}
	clients := []*client{{name: "B's client", node: ids[1]}, {name: "C's client", node: ids[2]}}
	for _, cs := range cases {
		if cs.onB {
			clients[0].ids = append(clients[0].ids, cs.id)
		}
		if cs.onC {
			clients[1].ids = append(clients[1].ids, cs.id)
		}
	}
	clients[0].ws, clients[1].ws = dialWS(t, b), dialWS(t, c)
	epochs := map[string]string{}
	for _, cl := range clients {
		cl.ack = subWithAck(t, cl.ws, app, cl.ids, nil)
		for id, p := range cl.ack {
			if p.Seq != 0 {
				t.Errorf("%s: the ack gives %q seq %d, want 0 (never published)", cl.name, id, p.Seq)
			}
			if e, ok := epochs[id]; ok && e != p.Epoch {
				t.Errorf("%q: the acks on B and C give epochs %q and %q", id, e, p.Epoch)
			}
			epochs[id] = p.Epoch
		}
	}

	// Each node's queue is bound to exactly the routing keys of the ids its
	// clients watch (the sub waited for the binding before its ack).
	want := map[string]map[string]string{ids[0]: {}, ids[1]: {}, ids[2]: {}} // node -> routing key -> id
	for _, cl := range clients {
		for _, id := range cl.ids {
			want[cl.node][amqpbus.RoutingKey(hub.Key{App: app, ID: id})] = id
		}
	}
	out, err := rabbitServer.Ctl("list_bindings", "source_name", "destination_name", "routing_key")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]bool{ids[0]: {}, ids[1]: {}, ids[2]: {}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "edgepush" {
			continue
		}
		for _, n := range ids {
			if f[1] == "edgepush.node."+n {
				got[n][f[2]] = true
				if strings.ContainsAny(f[2], ".*#") {
					t.Errorf("queue of %s bound with routing key %q, which holds a topic wildcard or separator", n, f[2])
				}
			}
		}
	}
	t.Logf("bindings of the queues of A, B and C: %d, %d and %d", len(got[ids[0]]), len(got[ids[1]]), len(got[ids[2]]))
	for _, n := range ids {
		for rk, id := range want[n] {
			if !got[n][rk] {
				t.Errorf("queue of %s is not bound to %s, the routing key of %q", n, rk, id)
			}
		}
		for rk := range got[n] {
			if _, ok := want[n][rk]; !ok {
				t.Errorf("queue of %s is bound to %s, no id its clients watch", n, rk)
			}
		}
	}

	// /v1/subscriptions on A (no client there) names every odd id's count.
	subsOf := func(id string) (idSubscriptions, error) {
		var r idSubscriptions
		resp, err := http.Get(a.APIURL("/v1/subscriptions?app=" + url.QueryEscape(app) + "&id=" + url.QueryEscape(id)))
		if err != nil {
			return r, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return r, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		return r, json.Unmarshal(body, &r)
	}
	var mismatches []string
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		mismatches = nil
		for _, cs := range cases {
			r, err := subsOf(cs.id)
			wantNodes := map[string]int{}
			if cs.onB {
				wantNodes[ids[1]] = 1
			}
			if cs.onC {
				wantNodes[ids[2]] = 1
			}
			switch {
			case err != nil:
				mismatches = append(mismatches, fmt.Sprintf("%q: %v", cs.id, err))
			case r.App != app || r.ID != cs.id || r.Subscribers != len(wantNodes) || fmt.Sprint(r.Nodes) != fmt.Sprint(wantNodes):
				mismatches = append(mismatches, fmt.Sprintf("%q: got %+v, want app %q id %q, %d subscribers %v", cs.id, r, app, cs.id, len(wantNodes), wantNodes))
			}
		}
		if len(mismatches) == 0 || time.Now().After(end) {
			break
		}
	}
	for _, m := range mismatches {
		t.Errorf("/v1/subscriptions on A: %s", m)
	}

	// Two publishes of every id through A; the data names the id and round.
	dataOf := func(id string, round int) string {
		b, _ := json.Marshal(struct {
			ID    string `json:"id"`
			Round int    `json:"round"`
		}{id, round})
		return string(b)
	}
	httpClient := &http.Client{Timeout: stepTimeout}
	for round := 1; round <= 2; round++ {
		for _, cs := range cases {
			status, answer, err := publishEscaped(httpClient, a, app, cs.id, dataOf(cs.id, round))
			var r keyPos
			if err != nil || status != http.StatusOK || json.Unmarshal(answer, &r) != nil {
				t.Fatalf("publish %q round %d through A: %d %s %v", cs.id, round, status, answer, err)
			}
			if r.Seq != uint64(round) {
				t.Errorf("publish %q round %d: seq %d, want %d", cs.id, round, r.Seq, round)
			}
			if e, ok := epochs[cs.id]; ok && r.Epoch != e {
				t.Errorf("publish %q round %d: epoch %q, the acks said %q", cs.id, round, r.Epoch, e)
			}
		}
	}

	// Each client: exactly its ids' two pushes, in seq order per id, with
	// the right data; then nothing more.
	for _, cl := range clients {
		next := map[string]uint64{}
		for _, id := range cl.ids {
			next[id] = 1
		}
		for left := 2 * len(cl.ids); left > 0; left-- {
			m, err := readServerMsg(cl.ws, stepTimeout)
			if err != nil {
				t.Fatalf("%s: %d pushes still expected: %v", cl.name, left, err)
			}
			seq, watched := next[m.ID]
			switch {
			case m.Op != "data" || m.App != app:
				t.Fatalf("%s: got %s, want a data push of app %q", cl.name, m.raw, app)
			case !watched:
				t.Fatalf("%s: got a push of %q, an id it does not watch: %s", cl.name, m.ID, m.raw)
			case m.Seq != seq || seq > 2:
				t.Fatalf("%s: got %q seq %d, want seq %d: %s", cl.name, m.ID, m.Seq, seq, m.raw)
			case string(m.Data) != dataOf(m.ID, int(seq)):
				t.Fatalf("%s: %q seq %d carries %s, want %s", cl.name, m.ID, seq, m.Data, dataOf(m.ID, int(seq)))
			}
			next[m.ID]++
		}
		if m, err := readServerMsg(cl.ws, time.Second); err == nil {
			t.Errorf("%s: after all its pushes, an extra message: %s", cl.name, m.raw)
		}
		t.Logf("%s got exactly the 2 pushes of each of its %d ids", cl.name, len(cl.ids))
	}
}

// The outage test's shape.
const (
	outageNodes     = 3
	outageEvery     = 5 * time.Millisecond   // each node's publisher
	outageBefore    = 60                     // publishes answered 200 before the outage, at least
	outageAfter     = 60                     // and after every node is ready again
	outageAfterTime = 2 * time.Second        // publishing after every node is ready again, at least
	outageHistory   = "100000"               // -history-size: holds every push of the run
	outageDown      = 4 * time.Second        // Redis unreachable: longer than go-redis rides out by retrying
	outageBlink     = 300 * time.Millisecond // Redis unreachable: shorter than that
	outageBlinks    = 5                      // blinks in a row, each a chance to catch a command in flight
)

var outageKeys = []string{"k0", "k1", "k2", "k3"}

// outagePublish is one publish of the outage test and its answer.
type outagePublish struct {
	n          int // the value published, {"n":N}: unique in the run
	node       int
	id         string
	start, end time.Time
	status     int // 0: no answer
	seq        uint64
	epoch      string
	answer     string
}

// outageKES names a push: key (id), epoch, seq.
type outageKES struct {
	id    string
	epoch string
	seq   uint64
}

// outageClient is a WebSocket client of the outage test; a goroutine
// reads everything it gets.
type outageClient struct {
	name string
	node int
	ids  []string
	ws   *websocket.Conn
	ack  map[string]keyPos

	mu      sync.Mutex
	msgs    []serverMsg // every message after the ack, in order
	readErr error       // why reading stopped
	done    chan struct{}
}

func (c *outageClient) read() {
	defer close(c.done)
	for {
		c.ws.SetReadDeadline(time.Time{})
		kind, b, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		var m serverMsg
		if kind != websocket.TextMessage || json.Unmarshal(b, &m) != nil {
			m = serverMsg{}
		}
		m.raw = string(b)
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	}
}

func (c *outageClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// TestClusterOutageAtRate: an outage under three nodes while each node's
// publisher posts every 5 ms, round robin over four keys, a value {"n":N}
// unique in the run, and two clients per node watch the keys (one all
// four, one two). The nodes reach Redis through a TCP proxy. The outages:
//
//   - redis: Redis restarted empty (redisServer.Restart) while the proxy
//     refuses connections for 4 s: a restart alone takes about 100 ms,
//     which go-redis's retries ride out, so no publish would see it;
//   - rabbitmq: the broker restarted (rabbitServer.Restart, 10 to 15 s);
//   - redis-blink: five times, 300 ms apart, the proxy cuts every
//     connection to Redis and refuses new ones for 300 ms, Redis keeping
//     its data: short enough for go-redis to retry through, so no 503 is
//     required, only that nothing is lost or doubled (each cut may catch
//     a publish whose script ran but whose reply was lost).
//
// Publishing goes on through the outage and for 2 s after /readyz is 200
// on every node again (and until 60 publishes were answered 200 since).
// What it proves, for each outage:
//   - every publish is answered, 200 with a seq and epoch or 503 with the
//     JSON error unavailable, nothing else; no 503 before the outage; at
//     least one 503 for redis and rabbitmq (the outage was hit); at least
//     60 answered 200 before the outage and 60 after every node is ready;
//   - no two publishes answered 200 share a (key, epoch, seq);
//   - no client gets a push twice, neither a (key, epoch, seq) nor a value
//     N, and per key and epoch the seqs it gets increase; every push it
//     gets carries the value its seq was answered 200 with, or for a seq
//     not answered 200 the value of a publish to that key answered 503 (a
//     publish can reach the history and the bus and still be refused: the
//     caller retries). Epochs are tracked as a client must: from the ack,
//     then from each gap;
//   - every publish answered 200 of the key's current epoch that a client
//     did not get live is recovered: a fresh client on the next node sends
//     sub with since = {the last seq the original got before its first
//     miss (the last it got, when it missed nothing), the epoch} and gets
//     exactly every seq after it up to the ack's seq, in order, without a
//     gap (-history-size holds the whole run), each with its value;
//   - rabbitmq and redis-blink: Redis keeps the history, so every publish
//     has the ack's epoch and no client gets a gap: nothing answered 200
//     is lost, live or recovered;
//   - redis: every key starts over under exactly one new epoch: publishes
//     answered before the outage have the ack's, after it the new one.
//     An old-epoch publish answered 200 that a client did not get live is
//     gone with the history (docs/cluster.md: "a key whose history Redis
//     lost starts a new epoch, and its subscribers get a live gap"), so it
//     is not asserted recoverable; instead every client must get, per key,
//     a live gap of reason epoch naming the new epoch, with since the last
//     seq it got and seq one less than the next push it gets
//     (docs/protocol.md): a client that missed old-epoch publishes was
//     told so.
func TestClusterOutageAtRate(t *testing.T) {
	sharedRedis(t)
	amqpURL := sharedRabbitMQ(t)
	for _, tc := range []outageCase{
		{name: "redis", newEpoch: true, refused: true, outage: func(proxy *tcpProxy) error {
			restarted := make(chan error, 1)
			go func() { restarted <- redisServer.Restart() }()
			proxy.cut(outageDown)
			return <-restarted
		}},
		{name: "rabbitmq", refused: true, outage: func(*tcpProxy) error { return rabbitServer.Restart() }},
		{name: "redis-blink", outage: func(proxy *tcpProxy) error {
			before := proxy.Accepted()
			for range outageBlinks {
				proxy.cut(outageBlink)
				time.Sleep(outageBlink)
			}
			for end := time.Now().Add(stepTimeout); proxy.Accepted() == before; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(end) {
					return fmt.Errorf("no node connected to Redis again within %v of the blink", stepTimeout)
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			proxy := startProxy(t, redisServer.Addr())
			runOutage(t, "redis://"+proxy.Addr+"/0", amqpURL, tc, proxy)
			t.Logf("%s outage: %v", tc.name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// outageCase is one outage of TestClusterOutageAtRate.
type outageCase struct {
	name string
	// outage breaks a dependency of the nodes, whose Redis is behind
	// proxy, and returns once it is back.
	outage   func(proxy *tcpProxy) error
	newEpoch bool // the outage loses the history: every key starts a new epoch
	refused  bool // long enough that some publish must be answered 503
}

// outageErrors reports the first errors of a kind and counts the rest, so
// that one broken run does not print thousands of lines.
type outageErrors struct {
	t     *testing.T
	count map[string]int
}

func (e *outageErrors) add(kind, format string, args ...any) {
	e.t.Helper()
	e.count[kind]++
	if e.count[kind] <= 10 {
		e.t.Errorf(kind+": "+format, args...)
	}
}

func (e *outageErrors) summary() {
	e.t.Helper()
	kinds := make([]string, 0, len(e.count))
	for k := range e.count {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if n := e.count[k]; n > 10 {
			e.t.Errorf("%s: %d times in all (the first 10 above)", k, n)
		}
	}
}

func runOutage(t *testing.T, redisURL, amqpURL string, tc outageCase, proxy *tcpProxy) {
	name, newEpoch := tc.name, tc.newEpoch
	app := fmt.Sprintf("outage-%s-%d", name, time.Now().UnixNano())
	var nodes []*Server
	for i := range outageNodes {
		nodes = append(nodes, StartServer(t, "-redis", redisURL, "-amqp", amqpURL,
			"-node-id", fmt.Sprintf("outage-%s-%d", name, i), "-history-size", outageHistory))
	}
	for _, s := range nodes {
		waitReady(t, s)
	}

	// Two clients per node: one watches every key, one half of them.
	var clients []*outageClient
	for i, s := range nodes {
		for j, ids := range [][]string{outageKeys, {outageKeys[i%2], outageKeys[i%2+2]}} {
			c := &outageClient{name: fmt.Sprintf("node %d client %d", i, j), node: i, ids: ids, ws: dialWS(t, s), done: make(chan struct{})}
			c.ack = subWithAck(t, c.ws, app, ids, nil)
			clients = append(clients, c)
			go c.read()
		}
	}
	startEpoch := map[string]string{}
	for _, c := range clients {
		for id, p := range c.ack {
			if e, ok := startEpoch[id]; ok && e != p.Epoch {
				t.Fatalf("%s: the acks give %s two epochs, %q and %q", c.name, id, e, p.Epoch)
			}
			startEpoch[id] = p.Epoch
			if p.Seq != 0 {
				t.Fatalf("%s: the ack gives %s seq %d, want 0", c.name, id, p.Seq)
			}
		}
	}

	// One publisher per node, each post {"n":N} with N unique in the run.
	var (
		mu        sync.Mutex
		publishes []*outagePublish
		counter   atomic.Int64
		stop      = make(chan struct{})
		stopOnce  sync.Once
		wg        sync.WaitGroup
	)
	httpClient := &http.Client{Timeout: 30 * time.Second} // longer than the server's own bounds
	for i, s := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(outageEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				n := int(counter.Add(1))
				p := &outagePublish{n: n, node: i, id: outageKeys[n%len(outageKeys)], start: time.Now()}
				status, answer, err := publishEscaped(httpClient, s, app, p.id, fmt.Sprintf(`{"n":%d}`, n))
				p.end, p.status, p.answer = time.Now(), status, string(answer)
				if err != nil {
					p.status, p.answer = 0, err.Error()
				} else if status == http.StatusOK {
					var r keyPos
					if json.Unmarshal(answer, &r) == nil {
						p.seq, p.epoch = r.Seq, r.Epoch
					}
				}
				mu.Lock()
				publishes = append(publishes, p)
				mu.Unlock()
			}
		}()
	}
	stopPublishers := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopPublishers()
	countOK := func(after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range publishes {
			if p.status == http.StatusOK && p.start.After(after) {
				n++
			}
		}
		return n
	}
	waitOK := func(what string, after time.Time, n int, least time.Duration) {
		t.Helper()
		begin := time.Now()
		for end := begin.Add(60 * time.Second); countOK(after) < n || time.Since(begin) < least; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: only %d publishes answered 200 in 60 s, want %d", what, countOK(after), n)
			}
		}
	}

	began := time.Now()
	waitOK("before the outage", began, outageBefore, 0)
	outageAt := time.Now()
	if err := tc.outage(proxy); err != nil {
		t.Fatalf("%s outage: %v", name, err)
	}
	backAt := time.Now()
	for _, s := range nodes {
		waitReady(t, s)
	}
	readyAt := time.Now()
	waitOK("after every node is ready again", readyAt, outageAfter, outageAfterTime)
	stopPublishers()
	stoppedAt := time.Now()
	t.Logf("publishing %v before the outage, outage %v, every node ready %v after, publishing %v after",
		outageAt.Sub(began).Round(time.Millisecond), backAt.Sub(outageAt).Round(time.Millisecond),
		readyAt.Sub(backAt).Round(time.Millisecond), stoppedAt.Sub(readyAt).Round(time.Millisecond))

	// Let the last pushes arrive: until no client got anything for 1 s.
	total := func() int {
		n := 0
		for _, c := range clients {
			n += c.count()
		}
		return n
	}
	for last, lastAt, end := total(), time.Now(), time.Now().Add(20*time.Second); time.Since(lastAt) < time.Second && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := total(); n != last {
			last, lastAt = n, time.Now()
		}
	}
	for _, c := range clients {
		c.mu.Lock()
		err := c.readErr
		c.mu.Unlock()
		if err != nil {
			t.Errorf("%s: the connection broke during the run: %v", c.name, err)
		}
		c.ws.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the reader did not stop", c.name)
		}
	}

	errs := &outageErrors{t: t, count: map[string]int{}}
	defer errs.summary()

	// The answers.
	byN := map[int]*outagePublish{}
	byKES := map[outageKES]*outagePublish{}
	current := map[string]string{}       // id -> the epoch of its last publish answered 200
	currentEnd := map[string]time.Time{} // when that answer came
	lastSeq := map[string]uint64{}       // id -> the last seq answered 200 in the current epoch
	epochsOf := map[string]map[string]bool{}
	var before, after, refused, refusedEarly, refusedLate int
	for _, p := range publishes {
		byN[p.n] = p
		switch p.status {
		case http.StatusOK:
			if p.seq == 0 || p.epoch == "" {
				errs.add("bad 200 answer", "publish %d to %s on node %d: %s", p.n, p.id, p.node, p.answer)
				continue
			}
			kes := outageKES{p.id, p.epoch, p.seq}
			if q := byKES[kes]; q != nil {
				errs.add("seq answered twice", "publishes %d and %d both answered %s seq %d epoch %s", q.n, p.n, p.id, p.seq, p.epoch)
			}
			byKES[kes] = p
			if epochsOf[p.id] == nil {
				epochsOf[p.id] = map[string]bool{}
			}
			epochsOf[p.id][p.epoch] = true
			if p.end.After(currentEnd[p.id]) {
				current[p.id], currentEnd[p.id] = p.epoch, p.end
			}
			if p.end.Before(outageAt) {
				before++
			}
			if p.start.After(readyAt) {
				after++
			}
		case http.StatusServiceUnavailable:
			var body struct {
				Error struct{ Code, Msg string } `json:"error"`
			}
			if json.Unmarshal([]byte(p.answer), &body) != nil || body.Error.Code != "unavailable" {
				errs.add("bad 503 answer", "publish %d to %s on node %d: 503 %s, want the JSON error unavailable", p.n, p.id, p.node, p.answer)
			}
			refused++
			if p.end.Before(outageAt) {
				refusedEarly++
			}
			if p.start.After(readyAt) {
				refusedLate++
			}
		default:
			errs.add("publish answered neither 200 nor 503", "publish %d to %s on node %d: %d %s", p.n, p.id, p.node, p.status, p.answer)
		}
	}
	for _, p := range publishes {
		if p.status == http.StatusOK && p.epoch == current[p.id] && p.seq > lastSeq[p.id] {
			lastSeq[p.id] = p.seq
		}
	}
	t.Logf("%d publishes: %d answered 200 before the outage, %d after every node was ready, %d answered 503 (%d before the outage, %d after every node was ready)",
		len(publishes), before, after, refused, refusedEarly, refusedLate)
	if tc.refused && refused == 0 {
		t.Errorf("no publish was answered 503: the %s outage was not exercised", name)
	}
	if refusedEarly > 0 {
		t.Errorf("%d publishes answered 503 before the outage, with everything up", refusedEarly)
	}
	if before < outageBefore || after < outageAfter {
		t.Errorf("%d publishes answered 200 before the outage and %d after, want at least %d and %d", before, after, outageBefore, outageAfter)
	}
	for _, id := range outageKeys {
		switch {
		case !newEpoch && (len(epochsOf[id]) != 1 || current[id] != startEpoch[id]):
			errs.add("epoch changed", "%s: publishes answered with epochs %v, the acks said %q; Redis kept the history, the epoch must not change", id, epochsOf[id], startEpoch[id])
		case newEpoch && (len(epochsOf[id]) != 2 || !epochsOf[id][startEpoch[id]] || current[id] == startEpoch[id]):
			errs.add("epochs", "%s: publishes answered with epochs %v (current %q), the acks said %q; want the ack's and one new one", id, epochsOf[id], current[id], startEpoch[id])
		}
	}
	if newEpoch {
		for _, p := range publishes {
			if p.status != http.StatusOK {
				continue
			}
			if p.epoch == startEpoch[p.id] && p.start.After(backAt) {
				errs.add("old epoch after the outage", "publish %d to %s, sent after Redis restarted empty, answered seq %d of the old epoch", p.n, p.id, p.seq)
			}
			if p.epoch != startEpoch[p.id] && p.end.Before(outageAt) {
				errs.add("new epoch before the outage", "publish %d to %s answered seq %d of epoch %s before the outage", p.n, p.id, p.seq, p.epoch)
			}
		}
	}

	// What each client got live.
	type clientResult struct {
		got         map[outageKES]bool
		missed      map[string][]uint64 // current epoch, per id
		missedOld   int
		recoverFrom map[string]uint64
	}
	results := make([]clientResult, len(clients))
	for ci, c := range clients {
		watched := map[string]bool{}
		epoch := map[string]string{}
		for _, id := range c.ids {
			watched[id] = true
			epoch[id] = c.ack[id].Epoch
		}
		got := map[outageKES]bool{}
		gotN := map[int]bool{}
		last := map[string]uint64{} // id -> last seq got, in the epoch tracked
		var pendingGap = map[string]serverMsg{}
		gaps := map[string][]serverMsg{}
		pushes := 0
		for _, m := range c.msgs {
			switch {
			case m.Op == "data" && m.App == app && watched[m.ID]:
				pushes++
				kes := outageKES{m.ID, epoch[m.ID], m.Seq}
				if got[kes] {
					errs.add("duplicate push", "%s got %s seq %d of epoch %s twice", c.name, m.ID, m.Seq, kes.epoch)
				} else if m.Seq <= last[m.ID] {
					errs.add("seq out of order", "%s got %s seq %d after seq %d (epoch %s)", c.name, m.ID, m.Seq, last[m.ID], kes.epoch)
				}
				got[kes] = true
				last[m.ID] = max(last[m.ID], m.Seq)
				if g, ok := pendingGap[m.ID]; ok {
					if m.Seq != g.Seq+1 {
						errs.add("gap's seq", "%s: after the gap %s the next push of %s has seq %d, want %d", c.name, g.raw, m.ID, m.Seq, g.Seq+1)
					}
					delete(pendingGap, m.ID)
				}
				var v struct {
					N int `json:"n"`
				}
				json.Unmarshal(m.Data, &v)
				p := byN[v.N]
				switch {
				case p == nil:
					errs.add("push of no publish", "%s got %s", c.name, m.raw)
				case p.id != m.ID:
					errs.add("push of another key", "%s got %s, the value of publish %d to %s", c.name, m.raw, p.n, p.id)
				case gotN[v.N]:
					errs.add("value pushed twice", "%s got the value of publish %d twice, the second time as %s", c.name, v.N, m.raw)
				case p.status == http.StatusOK && (p.seq != m.Seq || p.epoch != kes.epoch):
					errs.add("wrong seq for a value", "%s got %s as seq %d (epoch %s); its publish was answered seq %d epoch %s", c.name, m.raw, m.Seq, kes.epoch, p.seq, p.epoch)
				case p.status != http.StatusOK && byKES[kes] != nil:
					errs.add("wrong value for a seq", "%s got %s (publish %d, answered %d) as %s seq %d, which publish %d was answered", c.name, m.raw, p.n, p.status, m.ID, m.Seq, byKES[kes].n)
				}
				gotN[v.N] = true
			case m.Op == "gap" && m.App == app && watched[m.ID]:
				gaps[m.ID] = append(gaps[m.ID], m)
				if !newEpoch {
					errs.add("gap", "%s got %s, but this outage loses no history", c.name, m.raw)
				}
				if m.Reason != "epoch" || m.Epoch == epoch[m.ID] || m.Since != last[m.ID] {
					errs.add("bad live gap", "%s got %s after seq %d of epoch %s; want reason epoch, a new epoch, since %d", c.name, m.raw, last[m.ID], epoch[m.ID], last[m.ID])
				}
				epoch[m.ID], last[m.ID] = m.Epoch, 0
				pendingGap[m.ID] = m
			default:
				errs.add("unexpected message", "%s got %s", c.name, m.raw)
			}
		}
		r := clientResult{got: got, missed: map[string][]uint64{}, recoverFrom: map[string]uint64{}}
		missedOld := map[string]int{}
		for _, p := range publishes {
			if p.status != http.StatusOK || !watched[p.id] || got[outageKES{p.id, p.epoch, p.seq}] {
				continue
			}
			if p.epoch == current[p.id] {
				r.missed[p.id] = append(r.missed[p.id], p.seq)
			} else {
				missedOld[p.id]++
				r.missedOld++
			}
		}
		for _, id := range c.ids {
			slices.Sort(r.missed[id])
			told := false
			for _, g := range gaps[id] {
				told = told || g.Epoch == current[id]
			}
			if newEpoch && !told {
				errs.add("no gap", "%s got no gap naming %s's new epoch %s (it missed %d publishes of the old epoch)", c.name, id, current[id], missedOld[id])
			}
			if epoch[id] != current[id] {
				errs.add("epoch not followed", "%s ends on epoch %s of %s, the key's is %s", c.name, epoch[id], id, current[id])
			}
			// Recover from the last seq got before the first miss.
			from := uint64(0)
			for kes := range got {
				if kes.id == id && kes.epoch == current[id] && kes.seq > from && (len(r.missed[id]) == 0 || kes.seq < r.missed[id][0]) {
					from = kes.seq
				}
			}
			r.recoverFrom[id] = from
		}
		results[ci] = r
		missedNow := 0
		for _, l := range r.missed {
			missedNow += len(l)
		}
		t.Logf("%s (%v): %d pushes live, %d gaps; missed %d publishes answered 200 of the current epoch, %d of an old one",
			c.name, c.ids, pushes, len(gaps), missedNow, r.missedOld)
	}

	// Recovery on another node: every missed publish of the current epoch.
	recovered := 0
	for ci, c := range clients {
		r := results[ci]
		s := nodes[(c.node+1)%len(nodes)]
		ws := dialWS(t, s)
		for _, id := range c.ids {
			from := r.recoverFrom[id]
			ack := subWithAck(t, ws, app, []string{id}, map[string]keyPos{id: {Seq: from, Epoch: current[id]}})
			pos := ack[id]
			if pos.Epoch != current[id] || pos.Seq < lastSeq[id] {
				errs.add("recovery ack", "%s's recovery of %s on node %d: the ack gives %+v, want epoch %s and seq at least %d", c.name, id, (c.node+1)%len(nodes), pos, current[id], lastSeq[id])
				continue
			}
			replayed := map[uint64]bool{}
			values := map[int]uint64{} // N -> the seq that carried it
			for want := from + 1; want <= pos.Seq; want++ {
				m, err := readServerMsg(ws, stepTimeout)
				if err != nil {
					t.Fatalf("%s's recovery of %s since %d: waiting for seq %d of %d: %v", c.name, id, from, want, pos.Seq, err)
				}
				if m.Op != "data" || m.App != app || m.ID != id || m.Seq != want {
					errs.add("recovery", "%s's recovery of %s since %d (epoch %s): got %s, want the push of seq %d", c.name, id, from, current[id], m.raw, want)
					break
				}
				var v struct {
					N int `json:"n"`
				}
				json.Unmarshal(m.Data, &v)
				switch p, q := byKES[outageKES{id, current[id], want}], byN[v.N]; {
				case p != nil && p.n != v.N:
					errs.add("recovered value", "%s's recovery of %s: seq %d carries %s, but publish %d was answered with that seq", c.name, id, want, m.Data, p.n)
				case q == nil || q.id != id:
					errs.add("recovered value", "%s's recovery of %s: seq %d carries %s, no publish to %s", c.name, id, want, m.Data, id)
				case values[v.N] != 0:
					errs.add("recovered value twice", "%s's recovery of %s: seqs %d and %d both carry %s (publish %d, answered %d seq %d)", c.name, id, values[v.N], want, m.Data, q.n, q.status, q.seq)
				}
				values[v.N] = want
				replayed[want] = true
			}
			for _, seq := range r.missed[id] {
				if !replayed[seq] {
					errs.add("lost", "%s missed %s seq %d (epoch %s, answered 200) live and the recovery since %d on another node did not give it", c.name, id, seq, current[id], from)
				} else {
					recovered++
				}
			}
		}
		if m, err := readServerMsg(ws, 500*time.Millisecond); err == nil {
			errs.add("recovery", "%s's recovery: an extra message after the replays: %s", c.name, m.raw)
		}
		ws.Close()
	}
	t.Logf("recovered on other nodes: %d missed publishes", recovered)

}
