package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Deadlines are generous: the tests share two cores with other work, and
// none of them measures speed.
const (
	startTimeout = 60 * time.Second // from exec to /healthz answering
	stopTimeout  = 30 * time.Second // from SIGTERM to exit
	stepTimeout  = 20 * time.Second // one awaited reply, push or close
)

// binaryPath is the edgepush binary under test: built by TestMain from
// ./cmd/edgepush, or EDGEPUSH_E2E_BINARY when that is set.
var binaryPath string

// raceEnabled is set by race_test.go when the tests run with -race; the
// server binary is then built with -race too, and a data race it reports
// fails the test that started it.
var raceEnabled bool

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return m.Run() // go test -list (scripts/fuzz.sh) needs no binary
	}
	dir, err := os.MkdirTemp("", "edgepush-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if p := os.Getenv("EDGEPUSH_E2E_BINARY"); p != "" {
		binaryPath = p
	} else {
		binaryPath = filepath.Join(dir, "edgepush")
		args := []string{"build", "-o", binaryPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/edgepush")
		cmd := exec.Command("go", args...)
		cmd.Dir = ".." // the module root: the tests run in e2e/
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n%s", strings.Join(args, " "), err, out)
			return 1
		}
	}
	defer stopRedis()
	return m.Run()
}

// inCI reports whether the tests run in CI, where a missing dependency
// fails a test instead of skipping it.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// requireDep skips the test when err says a dependency is missing, or fails
// it under CI=true: CI must run every test.
func requireDep(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if inCI() {
		t.Fatalf("%s is missing: %v (scripts/deps.sh installs it; under CI a missing dependency fails)", what, err)
	}
	t.Skipf("%s is missing: %v (run scripts/deps.sh; under CI=true this fails instead)", what, err)
}

// Server is one edgepush process on free loopback ports.
type Server struct {
	t    *testing.T
	Addr string // host:port of -listen: /ws, /echo and the demo page
	API  string // host:port of -api

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, once done is closed

	stopOnce sync.Once
	exitCode int
	stopErr  error
}

// WSURL is the ws:// URL of path on the WebSocket listener.
func (s *Server) WSURL(path string) string { return "ws://" + s.Addr + path }

// PageURL is the http:// URL of path on the WebSocket listener.
func (s *Server) PageURL(path string) string { return "http://" + s.Addr + path }

// APIURL is the http:// URL of path on the API listener.
func (s *Server) APIURL(path string) string { return "http://" + s.API + path }

// Output returns what the process wrote to stdout and stderr so far.
func (s *Server) Output() string { return s.out.String() }

// StartServer starts the binary with args (plus -listen and -api on free
// 127.0.0.1 ports), waits until GET /healthz answers 200 and the WebSocket
// port accepts, and stops the process when the test ends. Its output is
// logged if the test fails.
func StartServer(t *testing.T, args ...string) *Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := startServer(t, args)
		if err == nil {
			return s
		}
		lastErr = err
		// A free port can be taken between our probe and the server's
		// listen; anything else is a real failure.
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting edgepush %s: %v", strings.Join(args, " "), lastErr)
	return nil
}

func startServer(t *testing.T, args []string) (*Server, error) {
	t.Helper()
	return startServerAt(t, freeAddr(t), freeAddr(t), args)
}

// startServerAt starts the binary with args on the given -listen and -api
// addresses and waits until it is ready (see StartServer).
func startServerAt(t *testing.T, addr, api string, args []string) (*Server, error) {
	t.Helper()
	s := &Server{t: t, Addr: addr, API: api, out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binaryPath, append([]string{"-listen", addr, "-api", api}, args...)...)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.Env = serverEnv()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.cleanup() })
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for !s.ready(client) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("edgepush exited before it was ready (%v); output:\n%s", s.err, s.Output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("edgepush not ready after %v; output:\n%s", startTimeout, s.Output())
		}
	}
	t.Logf("edgepush %s: ws on %s, api on %s", strings.Join(args, " "), addr, api)
	return s, nil
}

func (s *Server) ready(client *http.Client) bool {
	res, err := client.Get(s.APIURL("/healthz"))
	if err != nil {
		return false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// serverEnv is this process's environment without EDGEPUSH_* variables, so
// that only the flags a test passes configure the server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDGEPUSH_") {
			env = append(env, kv)
		}
	}
	return env
}

// Stop sends SIGTERM and waits for the process to exit; it returns the exit
// code, or an error if the process had to be killed or died of a signal.
// Only the first call acts; later calls return the same result.
func (s *Server) Stop() (int, error) {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.done
			s.exitCode, s.stopErr = -1, fmt.Errorf("edgepush did not exit within %v of SIGTERM; killed", stopTimeout)
			return
		}
		s.exitCode = s.cmd.ProcessState.ExitCode()
		if s.exitCode < 0 {
			s.stopErr = fmt.Errorf("edgepush died: %v", s.err)
		}
	})
	return s.exitCode, s.stopErr
}

// Kill sends SIGKILL, as a crash or kill -9 would, and waits for the
// process to end; the end of the test then expects no clean exit.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

func (s *Server) cleanup() {
	code, err := s.Stop()
	out := s.Output()
	for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
		if strings.Contains(out, bad) {
			s.t.Errorf("edgepush output contains %q", bad)
		}
	}
	if err != nil {
		s.t.Errorf("stopping edgepush: %v", err)
	} else if code != 0 {
		s.t.Errorf("edgepush exited with code %d after SIGTERM, want 0", code)
	}
	if s.t.Failed() {
		s.t.Logf("edgepush output:\n%s", out)
	}
}

// PublishResult is the publish API's answer.
type PublishResult struct {
	Seq       uint64 `json:"seq"`
	Delivered int    `json:"delivered"`
}

// Publish posts body to app/id with contentType and fails the test unless
// the API answers 200 with a seq.
func (s *Server) Publish(t *testing.T, app, id, contentType string, body []byte) PublishResult {
	t.Helper()
	status, answer := s.PublishRaw(t, app, id, contentType, body)
	if status != http.StatusOK {
		t.Fatalf("publish %s/%s (%s): HTTP %d: %s", app, id, contentType, status, answer)
	}
	var r PublishResult
	if err := json.Unmarshal(answer, &r); err != nil || !bytes.Contains(answer, []byte(`"seq"`)) {
		t.Fatalf("publish %s/%s: answer %s: want {\"seq\":N,\"delivered\":M} (%v)", app, id, answer, err)
	}
	return r
}

// PublishRaw posts body to app/id and returns the status and body of the
// answer.
func (s *Server) PublishRaw(t *testing.T, app, id, contentType string, body []byte) (int, []byte) {
	t.Helper()
	q := url.Values{"app": {app}, "id": {id}}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL("/v1/publish?"+q.Encode()), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish %s/%s: %v", app, id, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("publish %s/%s: reading the answer: %v", app, id, err)
	}
	return res.StatusCode, answer
}

// freeAddr returns 127.0.0.1:port for a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runScript runs an interop client script with a deadline and fails the
// test, showing its output, if it exits non-zero.
func runScript(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
	if ctx.Err() != nil {
		t.Fatalf("%s timed out", name)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s failed with exit code %d (output above)", name, ee.ExitCode())
		}
		t.Fatalf("%s: %v", name, err)
	}
}
