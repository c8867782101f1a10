package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientScript is the source of the browser client, as the server embeds it.
const clientScript = "../cmd/edgepush/page/edgepush.js"

// TestEdgePushJSUnit runs edgepush.js's unit tests (testdata/edgepush_unit.mjs)
// under Node.js: positions, since, duplicates, gaps, reconnect backoff,
// chunking and rate limits, against a fake WebSocket.
func TestEdgePushJSUnit(t *testing.T) {
	node, err := exec.LookPath("node")
	requireDep(t, "Node.js (node)", err)
	runScript(t, node, "--test", "testdata/edgepush_unit.mjs")
}

// TestClientScriptServed: GET /edgepush.js on the WebSocket port answers the
// embedded client as JavaScript, byte for byte.
func TestClientScriptServed(t *testing.T) {
	want, err := os.ReadFile(clientScript)
	if err != nil {
		t.Fatal(err)
	}
	s := StartServer(t)
	res, err := http.Get(s.PageURL("/edgepush.js"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /edgepush.js: %d %s", res.StatusCode, got)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("GET /edgepush.js: Content-Type %q, want text/javascript", ct)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("GET /edgepush.js: %d bytes differing from %s (%d bytes)", len(got), clientScript, len(want))
	}
}

// requireChromium skips (or under CI fails) a test without Chromium.
func requireChromium(t *testing.T) {
	t.Helper()
	_, err := os.Stat(chromiumPath)
	requireDep(t, "Debian's chromium ("+chromiumPath+")", err)
}

// startServerOn starts the binary on the given -listen and -api addresses,
// like StartServer, so that a second process can take over the ports of a
// stopped one. It retries a port still in use for a few seconds.
func startServerOn(t *testing.T, addr, api string, args ...string) *Server {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := startServerAt(t, addr, api, args)
		if err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			t.Fatalf("starting edgepush on %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publisher posts a value to one key every interval, in its own goroutine,
// until stopped, limit publishes are done or maxTime passes. Failed
// publishes (the server is down) are counted and retried on the next tick.
// Every binaryEvery-th value (if > 0) goes as application/octet-stream.
// Stopping lets a publish on its way finish, so that answers() holds every
// value the server took.
type publisher struct {
	api, app, id string
	interval     time.Duration
	binaryEvery  int

	quit     chan struct{} // closed by stop
	stopOnce sync.Once
	done     chan struct{} // closed when run returns

	mu      sync.Mutex
	results []publishAnswer
	failed  int
	budget  int // publishes allowed before waiting for more; -1: no bound
}

// publishAnswer is the publish API's answer: the key's new position.
type publishAnswer struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

func startPublisher(t *testing.T, api, app, id string, interval time.Duration, limit int, maxTime time.Duration, binaryEvery int) *publisher {
	t.Helper()
	p := &publisher{api: api, app: app, id: id, interval: interval, binaryEvery: binaryEvery,
		quit: make(chan struct{}), done: make(chan struct{}), budget: -1}
	go p.run(time.Now().Add(maxTime), limit)
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) run(deadline time.Time, limit int) {
	defer close(p.done)
	client := &http.Client{Timeout: 2 * time.Second}
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for n := 1; n <= limit && time.Now().Before(deadline); {
		select {
		case <-p.quit:
			return
		case <-ticker.C:
		}
		if !p.take() {
			continue
		}
		if answer, err := p.publish(client, n); err != nil {
			p.mu.Lock()
			p.failed++
			if p.budget >= 0 {
				p.budget++ // not spent
			}
			p.mu.Unlock()
		} else {
			p.mu.Lock()
			p.results = append(p.results, answer)
			p.mu.Unlock()
			n++
		}
	}
}

// take spends one publish of the budget, or reports that none is left.
func (p *publisher) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budget == 0 {
		return false
	}
	if p.budget > 0 {
		p.budget--
	}
	return true
}

func (p *publisher) publish(client *http.Client, n int) (publishAnswer, error) {
	body, contentType := []byte(fmt.Sprintf(`{"value":%d,"unit":"n"}`, n)), "application/json"
	if p.binaryEvery > 0 && n%p.binaryEvery == 0 {
		contentType = "application/octet-stream"
	}
	q := url.Values{"app": {p.app}, "id": {p.id}}
	req, err := http.NewRequest(http.MethodPost, "http://"+p.api+"/v1/publish?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return publishAnswer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	res, err := client.Do(req)
	if err != nil {
		return publishAnswer{}, err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	var a publishAnswer
	if res.StatusCode != http.StatusOK || json.Unmarshal(answer, &a) != nil || a.Seq == 0 {
		return publishAnswer{}, fmt.Errorf("publish: %d %s", res.StatusCode, answer)
	}
	return a, nil
}

// limit lets at most n more publishes happen until unlimit.
func (p *publisher) limit(n int) {
	p.mu.Lock()
	p.budget = n
	p.mu.Unlock()
}

func (p *publisher) unlimit() { p.limit(-1) }

// stop ends the publishing after the publish on its way, and waits for it.
func (p *publisher) stop() {
	p.stopOnce.Do(func() { close(p.quit) })
	<-p.done
}

// answers returns the answers of the successful publishes so far.
func (p *publisher) answers() []publishAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]publishAnswer(nil), p.results...)
}

// last returns the answer of the last successful publish.
func (p *publisher) last() publishAnswer {
	a := p.answers()
	if len(a) == 0 {
		return publishAnswer{}
	}
	return a[len(a)-1]
}

func (p *publisher) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// evalInto evaluates expr in the page and decodes its JSON value into v.
func (p *page) evalInto(t *testing.T, expr string, v any) {
	t.Helper()
	raw, err := p.eval(expr)
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("evaluating %s: %s: %v", expr, raw, err)
	}
}

// pageGap is a gap as the demo page records it in demo.gaps.
type pageGap struct {
	App    string `json:"app"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Since  uint64 `json:"since"`
	Seq    uint64 `json:"seq"`
	Epoch  string `json:"epoch"`
	Local  bool   `json:"local"`
}

// runs returns the seqs the demo page delivered for id, as runs [first, last].
func (p *page) runs(t *testing.T, id string) [][2]uint64 {
	t.Helper()
	var runs [][2]uint64
	p.evalInto(t, fmt.Sprintf(`demo.runs[%q]`, id), &runs)
	return runs
}

func (p *page) gaps(t *testing.T, id string) []pageGap {
	t.Helper()
	var gaps []pageGap
	p.evalInto(t, fmt.Sprintf(`demo.gaps[%q]`, id), &gaps)
	return gaps
}

func (p *page) states(t *testing.T) []string {
	t.Helper()
	var states []string
	p.evalInto(t, `demo.states`, &states)
	return states
}

// closes returns the close codes of the page's connections that were open.
func (p *page) closes(t *testing.T) []int {
	t.Helper()
	var codes []int
	p.evalInto(t, `demo.closes`, &codes)
	return codes
}

// waitSubscribed waits until the page is connected and the card of id shows
// its sub acknowledged.
func (p *page) waitSubscribed(t *testing.T, id string) {
	t.Helper()
	p.waitFor(t, "the page connected and "+id+" subscribed", stepTimeout, func() (bool, string) {
		v, err := p.evalString(fmt.Sprintf(`(document.getElementById("state")?.textContent ?? "-") + " " + (document.getElementById("state-%s")?.textContent ?? "-")`, id))
		return v == "open subscribed", fmt.Sprintf("state, state-%s: %q %v", id, v, err)
	})
}

// checkClean fails the test if the page counted a duplicate for id or threw.
func (p *page) checkClean(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if n := p.number(t, "dups-"+id); n != 0 {
			t.Errorf("dups-%s is %d, want 0", id, n)
		}
	}
	if errs := p.b.jsErrors(); len(errs) > 0 {
		t.Errorf("the page threw:\n%s", strings.Join(errs, "\n"))
	}
}
