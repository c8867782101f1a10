package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisURL is the URL of the redis-server TestMain started, or "" if there
// is none (then the tests skip, except under CI, where they fail).
var redisURL string

// TestMain starts one real redis-server for the package, on a free port in
// a temp dir, and stops it after the tests.
func TestMain(m *testing.M) {
	stop, err := startRedis()
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisstore tests: no redis-server: %v\n", err)
		if os.Getenv("CI") != "" {
			os.Exit(1) // CI installs it (scripts/deps.sh): a missing one is a failure
		}
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func startRedis() (func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/redis-server"); statErr != nil {
			return nil, err
		}
		bin = "/usr/bin/redis-server"
	}
	dir, err := os.MkdirTemp("", "redisstore-test")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer client.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if i == 100 {
			stop()
			return nil, fmt.Errorf("redis-server on port %d did not answer: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	return stop, nil
}

// newStore returns a store on the test Redis under a prefix of the test's
// own, so that tests do not see each other's keys.
func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if redisURL == "" {
		t.Skip("no redis-server")
	}
	cfg.URL = redisURL
	if cfg.Prefix == "" {
		cfg.Prefix = "test:" + t.Name() + ":"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
