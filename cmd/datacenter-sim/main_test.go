package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgepush/sources/datacenter"
)

// Deadlines are generous guards against hangs: the tests share two cores
// with other work, and none of them measures speed.
const (
	buildTimeout = 5 * time.Minute
	stepTimeout  = 60 * time.Second
)

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8090" || !slices.Equal(cfg.Sim.Apps, []string{"demo"}) || cfg.Sim.IDs != 10 ||
		cfg.Sim.ChangeEvery != time.Second || cfg.Sim.ChangeChance != 1 || cfg.Seed != 0 || cfg.Sim.Kinds != nil {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-listen", ":0", "-apps", "a, b", "-ids", "3", "-kinds", "bool,null",
		"-change-every", "250ms", "-change-chance", "0.5", "-latency", "5ms", "-jitter", "1ms",
		"-error-5xx", "0.1", "-error-timeout", "0.2", "-error-badjson", "0.3", "-error-huge", "0", "-seed", "9"})
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Sim
	if cfg.Listen != ":0" || !slices.Equal(sc.Apps, []string{"a", "b"}) || sc.IDs != 3 ||
		!slices.Equal(sc.Kinds, []datacenter.Kind{datacenter.Bool, datacenter.Null}) ||
		sc.ChangeEvery != 250*time.Millisecond || sc.ChangeChance != 0.5 || sc.Latency != 5*time.Millisecond ||
		sc.Jitter != time.Millisecond || sc.Error5xx != 0.1 || sc.ErrorTimeout != 0.2 || sc.ErrorBadJSON != 0.3 || cfg.Seed != 9 {
		t.Errorf("flags: %+v", cfg)
	}
	if _, err := parseConfig([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, args := range [][]string{
		{"-ids", "x"}, {"-ids", "0"}, {"-ids", "-1"}, {"-ids", "200000"}, {"-nope"}, {"extra"},
		{"-apps", ""}, {"-apps", "a,a"}, {"-apps", "a\x01"}, {"-listen", ""}, {"-kinds", "float"},
		{"-change-every", "0"}, {"-change-every", "x"}, {"-change-chance", "0"}, {"-change-chance", "1.1"},
		{"-latency", "-1s"}, {"-jitter", "-1s"}, {"-hang", "0"}, {"-huge-size", "0"}, {"-max-ids", "0"},
		{"-error-5xx", "2"}, {"-error-timeout", "-0.1"}, {"-error-badjson", "NaN"}, {"-error-huge", "1.5"},
		{"-seed", "-1"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out); code != 0 || !strings.Contains(out.String(), "-error-timeout") {
		t.Errorf("-h: exit %d, %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-error-5xx", "2"}, &out); code != 2 || !strings.Contains(out.String(), "-error-5xx must be a rate in 0..1") {
		t.Errorf("-error-5xx 2: exit %d, %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-listen", "256.0.0.1:1"}, &out); code != 1 {
		t.Errorf("a bad address: exit %d, %s", code, out.String())
	}
}

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "datacenter-sim")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`msg="datacenter-sim listening" addr=(\S+)`)

func TestBinary(t *testing.T) {
	bin := buildBinary(t)

	t.Run("serves and stops on SIGTERM", func(t *testing.T) {
		cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-ids", "3", "-seed", "1", "-hang", "1h")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				default:
				}
			}
			exited <- cmd.Wait()
		}()
		defer func() { _ = cmd.Process.Kill() }()
		var addr string
		var logged []string
		for addr == "" {
			select {
			case line := <-lines:
				logged = append(logged, line)
				if m := listening.FindStringSubmatch(line); m != nil {
					addr = m[1]
				}
			case err := <-exited:
				t.Fatalf("exited before listening: %v\n%s", err, strings.Join(logged, "\n"))
			case <-time.After(stepTimeout):
				t.Fatalf("no listening line\n%s", strings.Join(logged, "\n"))
			}
		}
		client := &http.Client{Timeout: stepTimeout}
		res, err := client.Get("http://" + addr + "/realtime?" + datacenter.Query("demo", []string{"001", "003", "004"}))
		if err != nil {
			t.Fatal(err)
		}
		var r datacenter.Response
		err = json.NewDecoder(res.Body).Decode(&r)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || r.App != "demo" || len(r.Items) != 2 || r.Items[0].ID != "001" || r.Items[1].ID != "003" {
			t.Errorf("GET /realtime: %s %+v %v", res.Status, r, err)
		}
		// A request hanging on an injected timeout must not hold the shutdown.
		res, err = client.Post("http://"+addr+"/control", "application/json", strings.NewReader(`{"fail":"timeout"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		hung := make(chan error, 1)
		go func() {
			res, err := client.Get("http://" + addr + "/realtime?app=demo&ids=001")
			if err == nil {
				res.Body.Close()
			}
			hung <- err
		}()
		// Wait until the server holds it: the second /realtime it counts.
		for deadline := time.Now().Add(stepTimeout); ; {
			var st struct{ Requests int }
			res, err := client.Get("http://" + addr + "/control")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if st.Requests == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hanging request never reached the server: %d requests", st.Requests)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
		case <-time.After(stepTimeout):
			t.Fatal("still running after SIGTERM")
		}
		select {
		case err := <-hung:
			if err == nil {
				t.Error("the hanging request got an answer")
			}
		case <-time.After(stepTimeout):
			t.Error("the hanging request did not end with the server")
		}
	})

	t.Run("bad flags exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"-ids", "x"}, {"-error-timeout", "7"}, {"-nope"}} {
			cmd := exec.Command(bin, args...)
			var out bytes.Buffer
			cmd.Stderr = &out
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out.String(), "Run datacenter-sim -h") {
				t.Errorf("%q: %v, %s", args, err, out.String())
			}
		}
	})
}
