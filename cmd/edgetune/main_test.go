package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// procTree writes a fake proc tree of a host tuned for 1,000,000
// connections, with somaxconn as given, and returns its root.
func procTree(t *testing.T, somaxconn string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"sys/fs/nr_open":                   "1048576",
		"sys/fs/file-max":                  "2097152",
		"sys/net/core/somaxconn":           somaxconn,
		"sys/net/ipv4/tcp_max_syn_backlog": "4096",
		"sys/net/ipv4/ip_local_port_range": "1024\t65535",
		"sys/net/ipv4/tcp_mem":             "1000000\t1333333\t2000000",
		"sys/net/ipv4/tcp_rmem":            "4096\t4096\t6291456",
		"sys/net/ipv4/tcp_wmem":            "4096\t4096\t4194304",
		"meminfo":                          "MemAvailable:   23673884 kB",
		"self/status":                      "CapEff:\t000001fffeffffff",
	}
	for path, content := range files {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRun(t *testing.T) {
	tuned, short := procTree(t, "4096"), procTree(t, "1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{"ok", []string{"check", "-conns", "10", "-proc", tuned}, 0, "\nok: this host holds 10 connections over 1 process\n", ""},
		{"short", []string{"check", "-conns", "10", "-proc", short}, 1, "\nshort: net.core.somaxconn\n", ""},
		{"short fix", []string{"check", "-conns", "10", "-proc", short}, 1, "sysctl -w net.core.somaxconn=10", ""},
		{"over processes", []string{"check", "-conns", "12", "-procs", "3", "-proc", tuned}, 0, "12 connections over 3 processes, 4 each (104 open files)", ""},
		{"sysctl", []string{"sysctl", "-conns", "1000"}, 0, "\nfs.nr_open = 1048576\n", ""},
		{"systemd without connections", []string{"systemd"}, 0, "\nLimitNOFILE=1048576\n", ""},
		{"help", []string{"check", "-h"}, 0, "", "-conns"},
		{"no command", nil, 2, "", "usage: edgetune"},
		{"unknown command", []string{"tune"}, 2, "", `unknown command "tune"`},
		{"no connections", []string{"check"}, 2, "", "tuning: connections must be at least 1"},
		{"zero processes", []string{"check", "-conns", "10", "-procs", "0"}, 2, "", "tuning: processes must be at least 1"},
		{"not a number", []string{"check", "-conns", "many"}, 2, "", "invalid value"},
		{"unknown flag", []string{"sysctl", "-conns", "10", "-procs", "2"}, 2, "", "flag provided but not defined: -procs"},
		{"stray argument", []string{"check", "-conns", "10", "now"}, 2, "", `unexpected argument "now"`},
		{"sysctl without connections", []string{"sysctl"}, 2, "", "tuning: connections must be at least 1"},
		{"systemd negative", []string{"systemd", "-conns", "-1"}, 2, "", "tuning: connections must be at least 1"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(test.args, &stdout, &stderr)
			if code != test.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, test.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), test.wantOut) {
				t.Errorf("no %q in stdout:\n%s", test.wantOut, stdout.String())
			}
			if !strings.Contains(stderr.String(), test.wantErr) {
				t.Errorf("no %q in stderr:\n%s", test.wantErr, stderr.String())
			}
		})
	}
}

// TestDeployFilesAreCurrent: the files under deploy/ are what edgetune
// prints now; go generate ./cmd/edgetune writes them again.
func TestDeployFilesAreCurrent(t *testing.T) {
	tests := []struct {
		path string
		args []string
	}{
		{"../../deploy/sysctl.d/60-edgepush.conf", []string{"sysctl", "-conns", "1000000"}},
		{"../../deploy/systemd/edgepush.service", []string{"systemd", "-conns", "1000000"}},
	}
	for _, test := range tests {
		t.Run(filepath.Base(test.path), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(test.args, &stdout, &stderr); code != 0 {
				t.Fatalf("edgetune %s: exit %d: %s", strings.Join(test.args, " "), code, stderr.String())
			}
			file, err := os.ReadFile(test.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file, stdout.Bytes()) {
				t.Errorf("%s is stale: run go generate ./cmd/edgetune\n--- file\n%s\n--- edgetune %s\n%s", test.path, file, strings.Join(test.args, " "), stdout.String())
			}
		})
	}
}

// TestBinary builds edgetune and runs it: its exit codes, its JSON, and
// the check of this host for 100,000 connections.
func TestBinary(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "edgetune")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tuned, short := procTree(t, "4096"), procTree(t, "1")
	t.Run("exit codes", func(t *testing.T) {
		tests := []struct {
			args []string
			want int
		}{
			{[]string{"check", "-conns", "10", "-proc", tuned}, 0},
			{[]string{"check", "-conns", "10", "-proc", short}, 1},
			{[]string{"check", "-conns", "0"}, 2},
			{[]string{"check", "-bogus"}, 2},
			{[]string{"sysctl", "-conns", "1000000"}, 0},
			{[]string{"systemd"}, 0},
		}
		for _, test := range tests {
			if code, _, stderr := execute(t, binary, test.args...); code != test.want {
				t.Errorf("edgetune %s: exit %d, want %d; stderr %s", strings.Join(test.args, " "), code, test.want, stderr)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		tests := []struct {
			args []string
			key  string // a key the object must have
		}{
			{[]string{"check", "-conns", "10", "-proc", short, "-json"}, "rows"},
			{[]string{"check", "-conns", "100000", "-json"}, "rows"},
			{[]string{"sysctl", "-conns", "1000000", "-json"}, "lines"},
			{[]string{"systemd", "-conns", "1000000", "-json"}, "lines"},
		}
		for _, test := range tests {
			_, stdout, stderr := execute(t, binary, test.args...)
			var value map[string]any
			if err := json.Unmarshal([]byte(stdout), &value); err != nil || value[test.key] == nil {
				t.Errorf("edgetune %s: %v, no %q in %s; stderr %s", strings.Join(test.args, " "), err, test.key, stdout, stderr)
			}
		}
	})
	t.Run("this host, 100000", func(t *testing.T) { checkThisHost(t, binary) })
}

// checkThisHost runs check -conns 100000 on the real host: with a hard
// open-files limit below what one process needs it must fail and name
// the processes needed at that limit.
func checkThisHost(t *testing.T, binary string) {
	const connections = 100000
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := execute(t, binary, "check", "-conns", fmt.Sprint(connections))
	t.Logf("edgetune check -conns %d (exit %d):\n%s", connections, code, stdout)
	if limit.Max >= connections+100 {
		t.Skipf("hard RLIMIT_NOFILE %d holds %d connections in one process", limit.Max, connections)
	}
	if code != 1 {
		t.Errorf("exit %d at a hard limit of %d, want 1; stderr %s", code, limit.Max, stderr)
	}
	processes := (connections + limit.Max - 100 - 1) / (limit.Max - 100)
	for _, want := range []string{fmt.Sprintf(`need %d processes`, processes), fmt.Sprintf(`\nRLIMIT_NOFILE hard +%d `, limit.Max), `\nshort: `} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("no %q in\n%s", want, stdout)
		}
	}
	_, asJSON, _ := execute(t, binary, "check", "-conns", fmt.Sprint(connections), "-json")
	var report struct {
		OK        bool `json:"ok"`
		Processes int  `json:"processes_needed"`
	}
	if err := json.Unmarshal([]byte(asJSON), &report); err != nil || report.OK || report.Processes != int(processes) {
		t.Errorf("JSON ok %v, processes %d, want false, %d (%v)", report.OK, report.Processes, processes, err)
	}
}

// execute runs the binary and returns its exit code and output.
func execute(t *testing.T, binary string, args ...string) (int, string, string) {
	t.Helper()
	command := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	command.Stdout, command.Stderr = &stdout, &stderr
	err := command.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}
