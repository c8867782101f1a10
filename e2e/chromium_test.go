package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const chromiumPath = "/usr/bin/chromium"

// growTimeout bounds each wait for the demo's counters to move; the demo
// publishes a reading a second, so this is many readings on a slow machine.
const growTimeout = 30 * time.Second

// TestChromiumDemo opens the demo page in headless Chromium, driven over the
// DevTools protocol, and clicks its buttons as a person would: after Cancel
// on 002 its count stops while 001's keeps growing, and after Subscribe on
// 002 it grows again. No duplicate is counted and the page throws nothing.
//
// With EDGEPUSH_E2E_SCREENSHOT=file.png the page is also saved as a picture.
func TestChromiumDemo(t *testing.T) {
	requireChromium(t)
	s := StartServer(t, "-demo")
	b := startChromium(t)
	p := b.openPage(t)
	p.navigate(t, s.PageURL("/"))

	p.waitFor(t, "the demo page's buttons", stepTimeout*2, func() (bool, string) {
		v, err := p.evalString(`document.readyState + " " + !!document.getElementById("sub-001") + " " + !!document.getElementById("count-010")`)
		return v == "complete true true", fmt.Sprintf("%q %v", v, err)
	})

	// Subscribe to 001 and 002 unless the page already did (it disables
	// Subscribe then), and wait for both counts to grow.
	p.clickIfEnabled(t, "sub-001")
	p.clickIfEnabled(t, "sub-002")
	c1, c2 := p.count(t, "001"), p.count(t, "002")
	p.waitFor(t, "counts of 001 and 002 to grow by 2", growTimeout, func() (bool, string) {
		n1, n2 := p.count(t, "001"), p.count(t, "002")
		return n1 >= c1+2 && n2 >= c2+2, fmt.Sprintf("count-001 %d (from %d), count-002 %d (from %d)", n1, c1, n2, c2)
	})
	seq1 := p.number(t, "seq-001")
	if v := p.text(t, "value-001"); strings.TrimSpace(v) == "" {
		t.Errorf("value-001 is empty after %d readings", p.count(t, "001"))
	}

	// Cancel 002. Readings of 002 already on their way may still land, so
	// first let 001 get two more readings, then 002 must stand still while
	// 001 gets three more.
	p.click(t, "cancel-002")
	n1 := p.count(t, "001")
	p.waitFor(t, "count-001 to grow by 2 after Cancel on 002", growTimeout, func() (bool, string) {
		n := p.count(t, "001")
		return n >= n1+2, fmt.Sprintf("count-001 %d (from %d)", n, n1)
	})
	stopped := p.count(t, "002")
	n1 = p.count(t, "001")
	p.waitFor(t, "count-001 to grow by 3 more", growTimeout, func() (bool, string) {
		n := p.count(t, "001")
		return n >= n1+3, fmt.Sprintf("count-001 %d (from %d)", n, n1)
	})
	if n2 := p.count(t, "002"); n2 != stopped {
		t.Errorf("count-002 went from %d to %d after Cancel, while count-001 grew by 3", stopped, n2)
	}
	if seq := p.number(t, "seq-001"); seq <= seq1 {
		t.Errorf("seq-001 is %d, was %d before: want it to grow", seq, seq1)
	}

	// Subscribe again: 002 grows again.
	p.click(t, "sub-002")
	p.waitFor(t, "count-002 to grow by 2 after Subscribe", growTimeout, func() (bool, string) {
		n := p.count(t, "002")
		return n >= stopped+2, fmt.Sprintf("count-002 %d (from %d)", n, stopped)
	})

	if state := p.text(t, "state"); state != "open" {
		t.Errorf("#state is %q, want open", state)
	}
	if path := os.Getenv("EDGEPUSH_E2E_SCREENSHOT"); path != "" {
		p.screenshot(t, path)
	}
	p.checkClean(t, "001", "002")
}

// browser is a headless Chromium process and its DevTools endpoint.
type browser struct {
	cmd  *exec.Cmd
	port string // DevTools HTTP port
	done chan struct{}
	out  *syncBuffer

	mu     sync.Mutex
	errors []string // exceptions and console errors of the page
}

// startChromium starts headless Chromium with a new profile and DevTools on
// a port it picks itself, read from the profile's DevToolsActivePort. The
// whole process group is killed and the profile removed when the test ends.
func startChromium(t *testing.T) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "edgepush-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{done: make(chan struct{}), out: &syncBuffer{}}
	b.cmd = exec.Command(chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1",
		"--remote-debugging-port=0", "about:blank")
	b.cmd.Stdout = b.out
	b.cmd.Stderr = b.out
	// Its own process group, so that the renderer and helper processes
	// go with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(profile)
		t.Fatalf("starting chromium: %v", err)
	}
	go func() {
		b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		pgid := b.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-b.done
		// Helpers may still be writing to the profile for a moment.
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil {
				break
			}
			if i == 20 {
				t.Errorf("removing the Chromium profile: %v", err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s", b.out.String())
		}
	})

	portFile := filepath.Join(profile, "DevToolsActivePort")
	deadline := time.Now().Add(stepTimeout * 2)
	for {
		data, err := os.ReadFile(portFile)
		if err == nil {
			if line, _, _ := strings.Cut(string(data), "\n"); line != "" {
				if _, err := strconv.Atoi(line); err == nil {
					b.port = line
					return b
				}
			}
		}
		select {
		case <-b.done:
			t.Fatalf("chromium exited at start; output:\n%s", b.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium wrote no DevToolsActivePort in %v; output:\n%s", stepTimeout*2, b.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) addError(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

func (b *browser) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// page is a DevTools connection to one tab.
type page struct {
	b    *browser
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpReply
	readErr error
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// openPage attaches to the tab Chromium opened with about:blank.
func (b *browser) openPage(t *testing.T) *page {
	t.Helper()
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"webSocketDebuggerUrl"`
	}
	deadline := time.Now().Add(stepTimeout)
	for {
		res, err := http.Get("http://127.0.0.1:" + b.port + "/json/list")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			targets = nil
			json.Unmarshal(body, &targets)
			for _, tg := range targets {
				if tg.Type == "page" && tg.URL != "" {
					return b.attach(t, tg.URL)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page target in Chromium's /json/list: %v %v", targets, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *browser) attach(t *testing.T, url string) *page {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: stepTimeout}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("DevTools connection %s: %v", url, err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	p := &page{b: b, conn: conn, pending: make(map[int]chan cdpReply)}
	t.Cleanup(func() { conn.Close() })
	go p.readLoop()
	p.call(t, "Runtime.enable", nil)
	p.call(t, "Page.enable", nil)
	return p
}

func (p *page) readLoop() {
	for {
		_, msg, err := p.conn.ReadMessage()
		if err != nil {
			p.mu.Lock()
			p.readErr = err
			for id, ch := range p.pending {
				close(ch)
				delete(p.pending, id)
			}
			p.mu.Unlock()
			return
		}
		var m struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		if m.ID != 0 {
			p.mu.Lock()
			ch := p.pending[m.ID]
			delete(p.pending, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m.cdpReply
			}
			continue
		}
		switch m.Method {
		case "Runtime.exceptionThrown":
			p.b.addError("exception: " + string(m.Params))
		case "Runtime.consoleAPICalled":
			var c struct {
				Type string `json:"type"`
			}
			json.Unmarshal(m.Params, &c)
			if c.Type == "error" {
				p.b.addError("console.error: " + string(m.Params))
			}
		}
	}
}

// call sends one DevTools command and waits for its result.
func (p *page) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	r, err := p.tryCall(method, params)
	if err != nil {
		t.Fatalf("DevTools %s: %v", method, err)
	}
	return r
}

func (p *page) tryCall(method string, params any) (json.RawMessage, error) {
	ch := make(chan cdpReply, 1)
	p.mu.Lock()
	if p.readErr != nil {
		p.mu.Unlock()
		return nil, p.readErr
	}
	p.nextID++
	id := p.nextID
	p.pending[id] = ch
	req, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err == nil {
		p.conn.SetWriteDeadline(time.Now().Add(stepTimeout))
		err = p.conn.WriteMessage(websocket.TextMessage, req)
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("DevTools connection closed: %v", p.readErr)
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%d %s", r.Error.Code, r.Error.Message)
		}
		return r.Result, nil
	case <-time.After(stepTimeout):
		return nil, errors.New("no answer from Chromium")
	}
}

func (p *page) navigate(t *testing.T, url string) {
	t.Helper()
	r := p.call(t, "Page.navigate", map[string]any{"url": url})
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	json.Unmarshal(r, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("navigating to %s: %s", url, nav.ErrorText)
	}
}

// eval evaluates expr in the page and returns its value as JSON.
func (p *page) eval(expr string) (json.RawMessage, error) {
	r, err := p.tryCall("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(r, &res); err != nil {
		return nil, err
	}
	if len(res.ExceptionDetails) > 0 {
		return nil, fmt.Errorf("%s threw: %s", expr, res.ExceptionDetails)
	}
	return res.Result.Value, nil
}

func (p *page) evalString(expr string) (string, error) {
	v, err := p.eval(expr)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: not a string: %s", expr, v)
	}
	return s, nil
}

// click clicks the element with id, as a person would: the element must
// exist and be enabled, and the click runs its handlers.
func (p *page) click(t *testing.T, id string) {
	t.Helper()
	if v := p.tryClick(t, id); v != "ok" {
		t.Fatalf("click #%s: %s", id, v)
	}
}

// clickIfEnabled clicks the element with id unless it is disabled, and
// reports whether it clicked.
func (p *page) clickIfEnabled(t *testing.T, id string) bool {
	t.Helper()
	switch v := p.tryClick(t, id); v {
	case "ok":
		return true
	case "disabled":
		return false
	default:
		t.Fatalf("click #%s: %s", id, v)
		return false
	}
}

func (p *page) tryClick(t *testing.T, id string) string {
	t.Helper()
	v, err := p.evalString(fmt.Sprintf(`(() => {
		const e = document.getElementById(%q);
		if (!e) return "missing";
		if (e.disabled) return "disabled";
		e.click();
		return "ok";
	})()`, id))
	if err != nil {
		t.Fatalf("click #%s: %v", id, err)
	}
	return v
}

// text returns the textContent of the element with id.
func (p *page) text(t *testing.T, id string) string {
	t.Helper()
	v, err := p.evalString(fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e ? e.textContent : "\u0000missing"; })()`, id))
	if err != nil {
		t.Fatalf("reading #%s: %v", id, err)
	}
	if v == "\x00missing" {
		t.Fatalf("the page has no element #%s", id)
	}
	return v
}

// number reads the element with id as an integer; empty reads as 0.
func (p *page) number(t *testing.T, id string) int64 {
	t.Helper()
	s := strings.TrimSpace(p.text(t, id))
	if s == "" || s == "-" || s == "—" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("#%s is %q, want a number", id, s)
	}
	return n
}

func (p *page) count(t *testing.T, sensor string) int64 {
	t.Helper()
	return p.number(t, "count-"+sensor)
}

// tryWait polls cond every 200 ms until it holds or timeout passes.
func (p *page) tryWait(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFor polls cond until it holds, failing the test after timeout with
// cond's last description of the state.
func (p *page) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	var state string
	ok := p.tryWait(timeout, func() bool {
		var done bool
		done, state = cond()
		return done
	})
	if !ok {
		t.Fatalf("waited %v for %s: %s", timeout, what, state)
	}
}

func (p *page) screenshot(t *testing.T, path string) {
	t.Helper()
	r := p.call(t, "Page.captureScreenshot", map[string]any{"format": "png"})
	var shot struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(r, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestChromiumDemoShowsStale: the demo's simulated data center is told to
// fail for 001 (POST /datacenter/control on the API); the page marks 001
// stale, and fresh again with new values once the failure ends.
func TestChromiumDemoShowsStale(t *testing.T) {
	requireChromium(t)
	s := StartServer(t, "-demo", "-stale-after", "1s")
	b := startChromium(t)
	p := b.openPage(t)
	p.navigate(t, s.PageURL("/"))
	p.waitFor(t, "the demo page's buttons", stepTimeout*2, func() (bool, string) {
		v, err := p.evalString(`document.readyState + " " + !!document.getElementById("sub-001")`)
		return v == "complete true", fmt.Sprintf("%q %v", v, err)
	})
	p.clickIfEnabled(t, "sub-001")
	c := p.count(t, "001")
	p.waitFor(t, "a value of 001", growTimeout, func() (bool, string) { return p.count(t, "001") > c, "" })
	resp, err := http.Post(s.APIURL("/datacenter/control"), "application/json", strings.NewReader(`{"fail":"5xx","ids":["001"],"for":"4s"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("control: %s", resp.Status)
	}
	notices := func() string {
		v, _ := p.evalString(`(demo.stale["001"] || []).join(" ") + "|" + document.getElementById("card-001").className`)
		return v
	}
	p.waitFor(t, "001 marked stale", growTimeout, func() (bool, string) {
		n := notices()
		return strings.HasPrefix(n, "stale|"), n
	})
	c = p.count(t, "001")
	p.waitFor(t, "001 fresh, then a new value", growTimeout*2, func() (bool, string) {
		n := notices()
		return strings.HasPrefix(n, "stale fresh|") && p.count(t, "001") > c, n
	})
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Errorf("the page threw: %v", errs)
	}
}
