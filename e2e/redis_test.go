package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"edgepush/hub/testsvc"
)

// One redis-server for the package, started by the first test that needs
// it and stopped by TestMain.
var (
	redisOnce   sync.Once
	redisServer *testsvc.Redis
	redisErr    error
)

// sharedRedis returns the URL of the package's redis-server, starting it
// the first time.
func sharedRedis(t *testing.T) string {
	t.Helper()
	redisOnce.Do(func() { redisServer, redisErr = testsvc.StartRedis() })
	requireDep(t, "Debian's redis-server", redisErr)
	return redisServer.URL()
}

func stopRedis() {
	if redisServer != nil {
		redisServer.Stop()
	}
	if rabbitServer != nil {
		rabbitServer.Stop()
	}
}

// One rabbitmq-server for the package, like the redis-server.
var (
	rabbitOnce   sync.Once
	rabbitServer *testsvc.RabbitMQ
	rabbitErr    error
)

func sharedRabbitMQ(t *testing.T) string {
	t.Helper()
	rabbitOnce.Do(func() { rabbitServer, rabbitErr = testsvc.StartRabbitMQ() })
	requireDep(t, "Debian's rabbitmq-server", rabbitErr)
	return rabbitServer.URL()
}

// publishTo posts a JSON value to app/id on s's API and returns the reply.
func publishTo(t *testing.T, s *Server, app, id, value string) (seq uint64, epoch string) {
	t.Helper()
	resp, err := http.Post(s.APIURL("/v1/publish?app="+app+"&id="+id), "application/json", strings.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		Seq   uint64 `json:"seq"`
		Epoch string `json:"epoch"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&reply) != nil {
		t.Fatalf("publish to %s: status %d", s.API, resp.StatusCode)
	}
	return reply.Seq, reply.Epoch
}

// TestRedisStoreSharedAcrossNodes: two edgepush processes on one real
// Redis share each key's sequence and history: publishes entering either
// node get one sequence, and a client that was on node A resumes on node B
// with since and gets exactly what it missed.
func TestRedisStoreSharedAcrossNodes(t *testing.T) {
	url := sharedRedis(t)
	app := fmt.Sprintf("e2e-%d", time.Now().UnixNano()) // keys of this run only
	a := StartServer(t, "-redis", url)
	b := StartServer(t, "-redis", url)

	ws, _, err := websocket.DefaultDialer.Dial(a.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","app":"`+app+`","ids":["001"]}`))
	var ack struct {
		Op   string `json:"op"`
		Keys map[string]struct {
			Seq   uint64 `json:"seq"`
			Epoch string `json:"epoch"`
		} `json:"keys"`
	}
	if _, msg, err := ws.ReadMessage(); err != nil || json.Unmarshal(msg, &ack) != nil || ack.Op != "ack" {
		t.Fatalf("sub on A: %s, %v", msg, err)
	}
	seq, epoch := publishTo(t, a, app, "001", `1`)
	if seq != 1 || epoch != ack.Keys["001"].Epoch {
		t.Fatalf("first publish on A: seq %d epoch %q; the ack said epoch %q", seq, epoch, ack.Keys["001"].Epoch)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"seq":1,`) {
		t.Fatalf("push on A: %s, %v", msg, err)
	}
	ws.Close()

	// Missed while away, entering both nodes: one sequence.
	for i := 2; i <= 6; i++ {
		node := a
		if i%2 == 0 {
			node = b
		}
		if got, e := publishTo(t, node, app, "001", fmt.Sprint(i)); got != uint64(i) || e != epoch {
			t.Fatalf("publish %d on %s: seq %d epoch %q, want seq %d epoch %q", i, node.API, got, e, i, epoch)
		}
	}

	ws, _, err = websocket.DefaultDialer.Dial(b.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"op":"sub","app":%q,"ids":["001"],"since":{"001":{"seq":1,"epoch":%q}}}`, app, epoch)))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"op":"ack"`) || !strings.Contains(string(msg), `"seq":6,`) {
		t.Fatalf("sub with since on B: %s, %v", msg, err)
	}
	for want := 2; want <= 6; want++ {
		_, msg, err := ws.ReadMessage()
		var push struct {
			Op   string          `json:"op"`
			Seq  int             `json:"seq"`
			Data json.RawMessage `json:"data"`
		}
		if err != nil || json.Unmarshal(msg, &push) != nil || push.Op != "data" || push.Seq != want || string(push.Data) != fmt.Sprint(want) {
			t.Fatalf("replay on B: %s, %v; want seq %d", msg, err, want)
		}
	}
}

// TestRedisURLRefused: a -redis URL that does not parse fails the start
// with exit code 2 and says why.
func TestRedisURLRefused(t *testing.T) {
	out, err := exec.Command(binaryPath, "-redis", "localhost:6379").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "-redis") {
		t.Fatalf("edgepush -redis localhost:6379: %v\n%s\nwant exit 2 naming -redis", err, out)
	}
}

// TestRedisDownAtStart: a node whose Redis does not answer still starts
// and says so: publishes get 503 unavailable and a sub the error
// unavailable, with no internal text.
func TestRedisDownAtStart(t *testing.T) {
	s := StartServer(t, "-redis", "redis://"+freeAddr(t)+"/0?dial_timeout=1s")
	resp, err := http.Post(s.APIURL("/v1/publish?app=demo&id=001"), "application/json", strings.NewReader(`1`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code, Msg string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "unavailable" || strings.Contains(body.Error.Msg, "127.0.0.1") {
		t.Fatalf("publish with Redis down: %d %+v, want 503 unavailable without internals", resp.StatusCode, body.Error)
	}
	ws, _, err := websocket.DefaultDialer.Dial(s.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","app":"demo","ids":["001"],"ref":"r"}`))
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"code":"unavailable"`) || !strings.Contains(string(msg), `"ref":"r"`) {
		t.Fatalf("sub with Redis down: %s, %v; want error unavailable", msg, err)
	}
	if code, body := getBody(t, s.APIURL("/readyz")); code != http.StatusServiceUnavailable || !strings.Contains(body, "redis not reachable") {
		t.Errorf("/readyz with Redis down: %d %s, want 503 naming redis", code, body)
	}
	if code, _ := getBody(t, s.APIURL("/healthz")); code != http.StatusOK {
		t.Errorf("/healthz with Redis down: %d, want 200 (the process serves)", code)
	}
	if !strings.Contains(s.Output(), "redis store not reachable") {
		t.Errorf("the log does not say Redis is unreachable:\n%s", s.Output())
	}
}

// subscriptionsOf reads GET /v1/subscriptions?app=app on s.
func subscriptionsOf(t *testing.T, s *Server, app string) string {
	t.Helper()
	resp, err := http.Get(s.APIURL("/v1/subscriptions?app=" + app))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		IDs []struct {
			ID          string         `json:"id"`
			Subscribers int            `json:"subscribers"`
			Nodes       map[string]int `json:"nodes"`
		} `json:"ids"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&reply) != nil {
		t.Fatalf("GET /v1/subscriptions on %s: %d", s.API, resp.StatusCode)
	}
	return fmt.Sprint(reply.IDs)
}

// TestSubscriptionIndexAcrossNodes: three nodes on one Redis write their
// subscriptions through; any node's /v1/subscriptions tells them all; a
// node killed with SIGKILL leaves nothing once its heartbeat expires, and
// one stopped cleanly leaves nothing at once.
func TestSubscriptionIndexAcrossNodes(t *testing.T) {
	url := sharedRedis(t)
	app := fmt.Sprintf("index-%d", time.Now().UnixNano())
	nodes := []*Server{
		StartServer(t, "-redis", url, "-node-id", "n1"),
		StartServer(t, "-redis", url, "-node-id", "n2"),
		StartServer(t, "-redis", url, "-node-id", "n3"),
	}
	for i, s := range nodes { // node i gets i+1 clients of 001, node 0 one of 002
		for c := 0; c <= i; c++ {
			ids := []string{"001"}
			if i == 0 {
				ids = append(ids, "002")
			}
			subscribeOn(t, s, app, ids...)
		}
	}
	waitFor := func(what string, s *Server, want string, limit time.Duration) {
		t.Helper()
		var got string
		for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got = subscriptionsOf(t, s, app); got == want {
				return
			}
		}
		t.Fatalf("%s: /v1/subscriptions on %s = %s, want %s", what, s.API, got, want)
	}
	waitFor("all subscribed", nodes[2], "[{001 6 map[n1:1 n2:2 n3:3]} {002 1 map[n1:1]}]", 10*time.Second)

	nodes[1].Kill() // kill -9: no clean-up
	waitFor("after n2's kill -9, within its heartbeat TTL", nodes[0], "[{001 4 map[n1:1 n3:3]} {002 1 map[n1:1]}]", 30*time.Second)

	if code, err := nodes[2].Stop(); err != nil || code != 0 {
		t.Fatalf("stopping n3: %d, %v", code, err)
	}
	waitFor("after n3's clean stop", nodes[0], "[{001 1 map[n1:1]} {002 1 map[n1:1]}]", 5*time.Second)
}

// connectionsOf reads edgepush_connections from s's /metrics.
func connectionsOf(t *testing.T, s *Server) int {
	t.Helper()
	return int(value(t, scrape(t, s), "edgepush_connections"))
}

// TestReusePortSharesOnePort: two nodes started with -reuseport on one
// -listen port both get connections.
func TestReusePortSharesOnePort(t *testing.T) {
	addr := freeAddr(t)
	a := startServerOn(t, addr, freeAddr(t), "-reuseport", "-node-id", "r1")
	b := startServerOn(t, addr, freeAddr(t), "-reuseport", "-node-id", "r2")
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 64; i++ {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	na, nb := connectionsOf(t, a), connectionsOf(t, b)
	if na == 0 || nb == 0 || na+nb < 64 {
		t.Fatalf("64 connections to the shared port: %d on one node, %d on the other; want both used", na, nb)
	}
	t.Logf("64 connections: %d and %d", na, nb)
}

// readPush reads the next message on ws and checks it is the data push of
// id with seq.
func readPush(t *testing.T, ws *websocket.Conn, id string, seq uint64) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	var push struct {
		Op  string `json:"op"`
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	if err != nil || json.Unmarshal(msg, &push) != nil || push.Op != "data" || push.ID != id || push.Seq != seq {
		t.Fatalf("got %s, %v; want the push of %s seq %d", msg, err, id, seq)
	}
}

// TestClusterLivePushAcrossNodes: three nodes on one Redis and one
// RabbitMQ; a publish entering any node reaches the subscribers on every
// node live, once, in seq order; a node whose clients left gets nothing
// more for the key, and its queue loses the binding.
func TestClusterLivePushAcrossNodes(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	app := fmt.Sprintf("cluster-%d", time.Now().UnixNano())
	var nodes []*Server
	var clients []*websocket.Conn
	for i := 1; i <= 3; i++ {
		s := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", fmt.Sprintf("c%d", i))
		nodes = append(nodes, s)
		ws := subscribeOn(t, s, app, "001")
		clients = append(clients, ws)
	}
	for _, s := range nodes {
		if code, body := getBody(t, s.APIURL("/readyz")); code != http.StatusOK {
			t.Fatalf("/readyz of %s: %d %s", s.API, code, body)
		}
	}
	// Publishes entering each node in turn, and two at once.
	for seq := uint64(1); seq <= 6; seq++ {
		if got, _ := publishTo(t, nodes[seq%3], app, "001", fmt.Sprint(seq)); got != seq {
			t.Fatalf("publish %d answered seq %d", seq, got)
		}
	}
	var wg sync.WaitGroup
	for _, s := range []*Server{nodes[0], nodes[2]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				http.Post(s.APIURL("/v1/publish?app="+app+"&id=001"), "application/json", strings.NewReader(`0`))
			}
		}()
	}
	wg.Wait()
	for i, ws := range clients {
		for seq := uint64(1); seq <= 26; seq++ {
			readPush(t, ws, "001", seq)
		}
		t.Logf("node c%d's client got seqs 1..26 in order", i+1)
	}
	// c2's client leaves; after the linger c2 is unbound and gets nothing.
	clients[1].Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	queueOf := "edgepush.node.c2"
	bound := func() bool {
		out, err := rabbitServer.Ctl("list_bindings", "destination_name", "routing_key")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == queueOf && f[1] != queueOf {
				n++
			}
		}
		return n > 0
	}
	waitFor("c2's queue to lose the binding", func() bool { return !bound() })
	publishTo(t, nodes[0], app, "001", `27`)
	readPush(t, clients[0], "001", 27)
	readPush(t, clients[2], "001", 27)
}

// getBody GETs url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String()
}

// TestClusterSurvivesABrokerRestart: RabbitMQ restarted under two nodes:
// while it is down publishes get 503 and /readyz says so; once it is back
// both nodes reconnect, declare their queues and bind again by themselves,
// and a publish entering one node reaches the other's client live.
func TestClusterSurvivesABrokerRestart(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	app := fmt.Sprintf("restart-%d", time.Now().UnixNano())
	a := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", "ra")
	b := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", "rb")
	for _, s := range []*Server{a, b} {
		waitReady(t, s)
	}
	ws := subscribeOn(t, b, app, "001")
	publishTo(t, a, app, "001", `1`)
	readPush(t, ws, "001", 1)

	restarted := make(chan error, 1)
	go func() { restarted <- rabbitServer.Restart() }()
	// While it is down: a publish is refused with 503, not answered 200.
	sawRefusal := false
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && !sawRefusal; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Post(a.APIURL("/v1/publish?app="+app+"&id=probe"), "application/json", strings.NewReader(`0`))
		if err == nil {
			resp.Body.Close()
			sawRefusal = resp.StatusCode == http.StatusServiceUnavailable
		}
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if !sawRefusal {
		t.Fatal("no publish was refused with 503 while RabbitMQ was down")
	}
	for _, s := range []*Server{a, b} {
		waitReady(t, s)
	}
	// b binds 001 again by itself; give a publish until it arrives.
	var seq uint64
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		seq, _ = publishTo(t, a, app, "001", `2`)
		ws.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, msg, err := ws.ReadMessage()
		if err == nil && strings.Contains(string(msg), fmt.Sprintf(`"seq":%d,`, seq)) {
			return
		}
	}
	t.Fatalf("after the broker's restart, no live push reached node b's client (last seq %d)", seq)
}

// waitReady waits until s's /readyz answers 200.
func waitReady(t *testing.T, s *Server) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if code, _ := getBody(t, s.APIURL("/readyz")); code == http.StatusOK {
			return
		}
	}
	code, body := getBody(t, s.APIURL("/readyz"))
	t.Fatalf("%s not ready: %d %s", s.API, code, body)
}

// TestClusterSurvivesARedisRestart: Redis restarted empty under two nodes:
// the nodes write their subscription counts again by themselves, and the
// key's pushes start over under a new epoch: the client on the other node
// gets a gap of reason epoch, then the new pushes live.
func TestClusterSurvivesARedisRestart(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	app := fmt.Sprintf("redis-restart-%d", time.Now().UnixNano())
	a := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", "sa")
	b := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-node-id", "sb")
	waitReady(t, a)
	waitReady(t, b)
	ws := subscribeOn(t, b, app, "001")
	for seq := uint64(1); seq <= 3; seq++ {
		publishTo(t, a, app, "001", fmt.Sprint(seq))
		readPush(t, ws, "001", seq)
	}
	if err := redisServer.Restart(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, a)
	for end := time.Now().Add(20 * time.Second); subscriptionsOf(t, a, app) != "[{001 1 map[sb:1]}]"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after the restart, /v1/subscriptions = %s: the index was not written again", subscriptionsOf(t, a, app))
		}
	}
	seq, epoch := publishTo(t, a, app, "001", `"after"`)
	if seq != 1 {
		t.Fatalf("the first publish after the restart has seq %d, want 1 (the history is gone)", seq)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"op":"gap"`) || !strings.Contains(string(msg), `"reason":"epoch"`) || !strings.Contains(string(msg), epoch) {
		t.Fatalf("after the restart: %s, %v; want a gap of reason epoch naming %s", msg, err, epoch)
	}
	readPush(t, ws, "001", 1)
}

// subscribeOn opens a WebSocket to s, subscribes it to ids of app and
// waits for the ack; the connection closes when the test ends.
func subscribeOn(t *testing.T, s *Server, app string, ids ...string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.WSURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	list, _ := json.Marshal(ids)
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","app":"`+app+`","ids":`+string(list)+`}`))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"op":"ack"`) {
		t.Fatalf("sub on %s: %s, %v", s.Addr, msg, err)
	}
	return ws
}
