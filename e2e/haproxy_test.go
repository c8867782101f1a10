package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startHAProxy runs haproxy with deploy/haproxy/haproxy.cfg, its listen
// address and two servers replaced by the test's, and stops it after.
func startHAProxy(t *testing.T, listen string, nodes [2]*Server) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	if _, err := os.Stat(bin); err != nil {
		requireDep(t, "Debian's haproxy", err)
	}
	cfg, err := os.ReadFile("../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	text := string(cfg)
	for old, repl := range map[string]string{
		"bind :8080":                          "bind " + listen,
		"10.0.0.11:8080 check port 8081":      nodes[0].Addr + " check addr " + hostOf(nodes[0].API) + " port " + portOf(nodes[0].API),
		"10.0.0.12:8080 check port 8081":      nodes[1].Addr + " check addr " + hostOf(nodes[1].API) + " port " + portOf(nodes[1].API),
		"log stdout format raw local0 notice": "",
		"maxconn 200000":                      "maxconn 8000", // within this host's 20,000 descriptors a process
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("deploy/haproxy/haproxy.cfg no longer has %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ws, _, err := websocket.DefaultDialer.Dial("ws://"+listen+"/ws", nil); err == nil {
			ws.Close()
			return
		}
		if time.Now().After(end) {
			t.Fatalf("haproxy does not pass connections on %s:\n%s", listen, out.String())
		}
	}
}

func hostOf(addr string) string { h, _, _ := strings.Cut(addr, ":"); return h }
func portOf(addr string) string { _, p, _ := strings.Cut(addr, ":"); return p }

// recoveringClient is a client as a real one behaves: one key, and after
// every close it reconnects (through the load balancer) with since at the
// last seq it got. It records every push and gap.
type recoveringClient struct {
	url, app, id string

	mu     sync.Mutex
	epoch  string
	seq    uint64          // the last seq received
	seen   map[uint64]int  // seq -> times received
	gaps   [][2]uint64     // (since, seq) of each gap
	opened atomic.Int64    // connections that got their ack
	acked  bool            // the current connection got its ack
	closes map[int]int     // close code -> count
	conn   *websocket.Conn // the current one
	stop   chan struct{}
}

func startRecoveringClient(url, app, id string) *recoveringClient {
	c := &recoveringClient{url: url, app: app, id: id, seen: map[uint64]int{}, closes: map[int]int{}, stop: make(chan struct{})}
	go c.run()
	return c
}

func (c *recoveringClient) run() {
	for {
		c.session()
		select {
		case <-c.stop:
			return
		case <-time.After(time.Duration(50+rand.IntN(450)) * time.Millisecond): // jitter, as edgepush.js
		}
	}
}

// session is one connection's life: sub (with since after the first),
// then pushes until it closes.
func (c *recoveringClient) session() {
	ws, _, err := websocket.DefaultDialer.Dial(c.url, nil)
	if err != nil {
		return
	}
	defer func() {
		ws.Close()
		c.mu.Lock()
		c.acked = false
		c.mu.Unlock()
	}()
	c.mu.Lock()
	c.conn = ws
	sub := fmt.Sprintf(`{"op":"sub","app":%q,"ids":[%q]}`, c.app, c.id)
	if c.epoch != "" {
		sub = fmt.Sprintf(`{"op":"sub","app":%q,"ids":[%q],"since":{%q:{"seq":%d,"epoch":%q}}}`, c.app, c.id, c.id, c.seq, c.epoch)
	}
	c.mu.Unlock()
	if ws.WriteMessage(websocket.TextMessage, []byte(sub)) != nil {
		return
	}
	for {
		ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.mu.Lock()
				c.closes[ce.Code]++
				c.mu.Unlock()
			}
			return
		}
		c.take(msg)
	}
}

func (c *recoveringClient) take(msg []byte) {
	var m struct {
		Op    string `json:"op"`
		Seq   uint64 `json:"seq"`
		Since uint64 `json:"since"`
		Epoch string `json:"epoch"`
		Keys  map[string]struct {
			Seq   uint64
			Epoch string
		} `json:"keys"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Op {
	case "ack":
		c.opened.Add(1)
		c.acked = true
		if k, ok := m.Keys[c.id]; ok && c.epoch == "" {
			c.epoch, c.seq = k.Epoch, k.Seq // a fresh sub: what came before is not ours to check
		}
	case "data":
		c.seen[m.Seq]++
		c.seq = max(c.seq, m.Seq)
	case "gap":
		c.gaps = append(c.gaps, [2]uint64{m.Since, m.Seq})
		c.epoch = m.Epoch
	}
}

func (c *recoveringClient) close() {
	close(c.stop)
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
}

// TestRollingRestartBehindHAProxy: 1,000 clients reach two nodes (one
// Redis, one RabbitMQ) through haproxy with deploy/haproxy/haproxy.cfg,
// while 200 pushes a second go to 50 keys. Node A is stopped (SIGTERM:
// drained) and started again, then node B. Every client ends connected and
// has every seq of its key published while it was subscribed exactly once,
// or was told gap; every publish answered 200 is in what the clients got.
func TestRollingRestartBehindHAProxy(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	app := fmt.Sprintf("roll-%d", time.Now().UnixNano())
	args := func(node string) []string {
		return []string{"-redis", redisURL, "-amqp", amqpURL, "-node-id", node, "-history-size", "100000", "-history-ttl", "10m", "-drain-timeout", "5s"}
	}
	addrs := [2][2]string{{freeAddr(t), freeAddr(t)}, {freeAddr(t), freeAddr(t)}}
	start := func(i int) *Server {
		s, err := startServerAt(t, addrs[i][0], addrs[i][1], args(fmt.Sprintf("roll-%c", 'a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, s)
		return s
	}
	nodes := [2]*Server{start(0), start(1)}
	lb := freeAddr(t)
	startHAProxy(t, lb, nodes)

	const clients, keys = 1000, 50
	all := make([]*recoveringClient, clients)
	for i := range all {
		all[i] = startRecoveringClient("ws://"+lb+"/ws", app, fmt.Sprintf("k%02d", i%keys))
	}
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	waitAllOpened(t, all, 1)

	// 200 publishes a second, to the nodes' APIs in turn (the one up).
	var pubMu sync.Mutex
	published := map[string][]uint64{} // key -> seqs answered 200
	refused := 0
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		client := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopPub:
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("k%02d", n%keys)
			api := addrs[n%2][1]
			resp, err := client.Post("http://"+api+"/v1/publish?app="+app+"&id="+id, "application/json", strings.NewReader(fmt.Sprint(n)))
			if err != nil {
				api = addrs[(n+1)%2][1] // that node is down: the other
				resp, err = client.Post("http://"+api+"/v1/publish?app="+app+"&id="+id, "application/json", strings.NewReader(fmt.Sprint(n)))
			}
			if err != nil {
				pubMu.Lock()
				refused++
				pubMu.Unlock()
				continue
			}
			var r struct{ Seq uint64 }
			ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&r) == nil
			resp.Body.Close()
			pubMu.Lock()
			if ok {
				published[id] = append(published[id], r.Seq)
			} else {
				refused++
			}
			pubMu.Unlock()
		}
	}()

	time.Sleep(2 * time.Second)
	for i := range nodes {
		before := totalOpened(all)
		if code, err := nodes[i].Stop(); err != nil || code != 0 {
			t.Fatalf("node %d: exit %d, %v", i, code, err)
		}
		nodes[i] = start(i)
		// The drained node's clients are back (through the other node),
		// before the next node goes.
		waitAllOpened(t, all, 0)
		t.Logf("node %d restarted: %d reconnects so far", i, totalOpened(all)-before)
		time.Sleep(2 * time.Second)
	}
	close(stopPub)
	<-pubDone
	waitAllOpened(t, all, 0)
	time.Sleep(3 * time.Second) // the last pushes land

	pubMu.Lock()
	defer pubMu.Unlock()
	total := 0
	for _, seqs := range published {
		total += len(seqs)
	}
	t.Logf("%d publishes answered 200, %d refused or failed", total, refused)
	if total < 1000 {
		t.Fatalf("only %d publishes answered 200", total)
	}
	for i, c := range all {
		c.mu.Lock()
		missing, twice := 0, 0
		first := uint64(0)
		for s := range c.seen {
			if first == 0 || s < first {
				first = s
			}
		}
		for _, seq := range published[c.id] {
			if seq < first || covered(c.gaps, seq) {
				continue // before this client's first push, or told gap
			}
			switch c.seen[seq] {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		for _, n := range c.seen {
			if n > 1 {
				twice++
			}
		}
		if missing > 0 || twice > 0 {
			t.Errorf("client %d (%s): %d publishes answered 200 missing, %d seqs twice; gaps %v, closes %v", i, c.id, missing, twice, c.gaps, c.closes)
		}
		c.mu.Unlock()
		if t.Failed() && i > 20 {
			break
		}
	}
}

// covered reports whether seq falls in one of the gaps (since, seq].
func covered(gaps [][2]uint64, seq uint64) bool {
	for _, g := range gaps {
		if seq > g[0] && seq < g[1] {
			return true
		}
	}
	return false
}

// waitAllOpened waits until every client has an ack for its current
// connection: at least min acks, and no client in the middle of a
// reconnect.
func waitAllOpened(t *testing.T, all []*recoveringClient, min int64) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ready := 0
		for _, c := range all {
			c.mu.Lock()
			if c.opened.Load() >= max(min, 1) && c.acked {
				ready++
			}
			c.mu.Unlock()
		}
		if ready == len(all) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d of %d clients connected after 60 s", ready, len(all))
		}
	}
}

func totalOpened(all []*recoveringClient) int64 {
	var n int64
	for _, c := range all {
		n += c.opened.Load()
	}
	return n
}
