package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestDrain: on SIGTERM /readyz turns 503 (before most clients are closed),
// a new upgrade gets 503 with Retry-After, /healthz stays 200, every client
// gets close 1001, the closes are spread over -drain-timeout rather than
// bunched at its start, and the process exits 0.
//
// Nothing here measures speed: the waits are bounded generously, and the
// spread is checked as an order of events with wide margins.
func TestDrain(t *testing.T) {
	const (
		clients = 2000
		window  = 3 * time.Second
	)
	s := StartServer(t, "-drain-timeout", window.String())
	if status, body := httpGet(t, s.APIURL("/readyz")); status != http.StatusOK {
		t.Fatalf("/readyz before the drain: %d %s, want 200", status, body)
	}

	conns := dialMany(t, s.WSURL("/ws"), clients)
	// One client is subscribed and gets pushes while the others are closed.
	gorillaSub(t, conns[0], "sub", "drain", []string{"k"}, "s1")

	type closed struct {
		at   time.Time
		code int
		err  error
	}
	results := make(chan closed, clients)
	for _, c := range conns {
		go func() {
			err := readUntilClose(c, stopTimeout)
			var ce *websocket.CloseError
			code := -1
			if errors.As(err, &ce) {
				code = ce.Code
			}
			results <- closed{at: time.Now(), code: code, err: err}
		}()
	}

	ready503 := make(chan time.Time, 1)
	sigterm := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { // polls /readyz until it answers 503
		client := &http.Client{Timeout: 2 * time.Second}
		for time.Since(sigterm) < stopTimeout {
			res, err := client.Get(s.APIURL("/readyz"))
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"reason":"draining"`) {
					ready503 <- time.Now()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var readyAt time.Time
	select {
	case readyAt = <-ready503:
	case <-time.After(stopTimeout):
		t.Fatalf("/readyz did not answer 503 draining within %v of SIGTERM", stopTimeout)
	}
	t.Logf("/readyz answered 503 draining %v after SIGTERM", readyAt.Sub(sigterm).Round(time.Millisecond))

	// During the drain: upgrades refused with Retry-After, /healthz 200, the
	// subscribed client still gets pushes.
	d := websocket.Dialer{HandshakeTimeout: stepTimeout}
	if c, res, err := d.Dial(s.WSURL("/ws"), nil); err == nil {
		c.Close()
		t.Errorf("an upgrade after SIGTERM succeeded, want 503")
	} else if res == nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("an upgrade after SIGTERM: %v (response %v), want 503 with Retry-After", err, res)
	}
	if status, body := httpGet(t, s.APIURL("/healthz")); status != http.StatusOK {
		t.Errorf("/healthz during the drain: %d %s, want 200", status, body)
	}
	if _, metrics := httpGet(t, s.APIURL("/metrics")); !strings.Contains(metrics, "\nedgepush_draining 1\n") {
		t.Errorf("/metrics during the drain lacks edgepush_draining 1")
	}
	if status, body := s.PublishRaw(t, "drain", "k", "application/json", []byte(`{"v":1}`)); status != http.StatusOK {
		t.Errorf("publish during the drain: %d %s, want 200", status, body)
	}

	var times []time.Time
	codes := map[int]int{}
	for range clients {
		select {
		case r := <-results:
			times = append(times, r.at)
			codes[r.code]++
			if r.code != websocket.CloseGoingAway && codes[r.code] <= 3 {
				t.Errorf("a client ended with %v, want close 1001", r.err)
			}
		case <-time.After(stopTimeout + stepTimeout):
			t.Fatalf("only %d of %d clients closed within %v; codes %v", len(times), clients, stopTimeout+stepTimeout, codes)
		}
	}
	if codes[websocket.CloseGoingAway] != clients {
		t.Errorf("close codes %v, want %d × 1001", codes, clients)
	}

	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	first, last := times[0], times[len(times)-1]
	early := 0
	beforeReady := 0
	for _, at := range times {
		if at.Before(first.Add(window / 5)) {
			early++
		}
		if at.Before(readyAt) {
			beforeReady++
		}
	}
	t.Logf("closes: first %v after SIGTERM, last %v after; %d in the first 20%% of the window; %d before /readyz was seen 503",
		first.Sub(sigterm).Round(time.Millisecond), last.Sub(sigterm).Round(time.Millisecond), early, beforeReady)
	if spread := last.Sub(first); spread < window/2 {
		t.Errorf("closes spread over %v, want at least %v of the %v window", spread, window/2, window)
	}
	if early > clients/2 {
		t.Errorf("%d of %d closes in the first 20%% of the window, want at most half", early, clients)
	}
	// /readyz turns 503 when the drain starts, the first batch a tick later:
	// seen from outside, most closes come after the 503.
	if beforeReady > clients/2 {
		t.Errorf("%d of %d closes came before /readyz was seen 503, want most after", beforeReady, clients)
	}
	if !readyAt.Before(first) && readyAt.Sub(sigterm) > time.Second {
		t.Errorf("/readyz was seen 503 %v after SIGTERM and after the first close (%v): want it first or within 1 s",
			readyAt.Sub(sigterm), first.Sub(sigterm))
	}

	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("edgepush still running %v after SIGTERM", stopTimeout)
	}
	if code, err := s.Stop(); err != nil || code != 0 {
		t.Errorf("edgepush exit: code %d, %v; want 0", code, err)
	}
	out := s.Output()
	for _, want := range []string{"drain started", "drain finished", "closed=" + strconv.Itoa(clients), "left=0", "aborted=false"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestDrainSecondSignal: a second SIGTERM during a drain exits 1 at once,
// without waiting for the window.
func TestDrainSecondSignal(t *testing.T) {
	p := startRaw(t, "-drain-timeout", "5m")
	dialMany(t, "ws://"+p.addr+"/ws", 50)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "drain started")
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		t.Fatalf("edgepush still running %v after the second SIGTERM", stopTimeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d after a second SIGTERM, want 1; output:\n%s", code, p.out.String())
	}
	if !strings.Contains(p.out.String(), "second signal") {
		t.Errorf("log lacks the second signal:\n%s", p.out.String())
	}
	t.Logf("exited %v after the second SIGTERM", time.Since(sent).Round(time.Millisecond))
}

// TestLogFormat: -log-format json writes one JSON object a line; a bad
// value, as a flag or in the environment, exits 2 saying what is allowed.
func TestLogFormat(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		s := StartServer(t, "-log-format", "json")
		if code, err := s.Stop(); err != nil || code != 0 {
			t.Fatalf("edgepush exit: code %d, %v; want 0", code, err)
		}
		lines := 0
		for line := range strings.SplitSeq(strings.TrimSpace(s.Output()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("not a JSON line: %q", line)
				continue
			}
			if m["level"] == nil || m["msg"] == nil || m["time"] == nil {
				t.Errorf("JSON line without time, level and msg: %q", line)
			}
			lines++
		}
		for _, want := range []string{`"msg":"edgepush listening"`, `"msg":"drain started`, `"msg":"edgepush stopped"`} {
			if !strings.Contains(s.Output(), want) {
				t.Errorf("log lacks %s", want)
			}
		}
		if lines < 3 {
			t.Errorf("%d JSON lines, want the start, drain and stop", lines)
		}
	})
	for _, bad := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"flag", []string{"-log-format", "xml"}, "", `invalid value "xml" for flag -log-format: unknown log format "xml": use text or json`},
		{"env", nil, "EDGEPUSH_LOG_FORMAT=logfmt", `EDGEPUSH_LOG_FORMAT="logfmt"`},
	} {
		t.Run("bad "+bad.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, binaryPath, append([]string{"-listen", freeAddr(t), "-api", freeAddr(t)}, bad.args...)...)
			cmd.Env = serverEnv()
			if bad.env != "" {
				cmd.Env = append(cmd.Env, bad.env)
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want code 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), bad.want) {
				t.Errorf("output lacks %q:\n%s", bad.want, out)
			}
		})
	}
}

// dialMany opens n WebSocket connections to url, a few at a time, and
// closes them when the test ends.
func dialMany(t *testing.T, url string, n int) []*websocket.Conn {
	t.Helper()
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: stepTimeout, ReadBufferSize: 512, WriteBufferSize: 512}
			for i := range jobs {
				c, _, err := d.Dial(url, nil)
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatalf("%v (and %d more failed)", err, len(errs))
	default:
	}
	return conns
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: stepTimeout}
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// rawProcess is an edgepush process started without StartServer, for a
// test that expects an exit code other than 0.
type rawProcess struct {
	cmd  *exec.Cmd
	addr string
	out  *syncBuffer
	done chan struct{}
}

// startRaw starts the binary with args on free ports and waits until it
// answers /healthz; it is killed when the test ends if still running.
func startRaw(t *testing.T, args ...string) *rawProcess {
	t.Helper()
	p := &rawProcess{addr: freeAddr(t), out: &syncBuffer{}, done: make(chan struct{})}
	api := freeAddr(t)
	p.cmd = exec.Command(binaryPath, append([]string{"-listen", p.addr, "-api", api}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = serverEnv()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if strings.Contains(p.out.String(), bad) {
				t.Errorf("edgepush output contains %q", bad)
			}
		}
		if t.Failed() {
			t.Logf("edgepush output:\n%s", p.out.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		if res, err := client.Get("http://" + api + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("edgepush exited before it was ready; output:\n%s", p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgepush not ready after %v; output:\n%s", startTimeout, p.out.String())
		}
	}
}

// waitLog waits until the process has logged a line containing want.
func waitLog(t *testing.T, p *rawProcess, want string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within %v; output:\n%s", want, stepTimeout, p.out.String())
}
