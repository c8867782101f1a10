package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Redis is a redis-server without persistence.
type Redis struct {
	addr string
	args []string // the command line, for Restart
	proc *process
}

// StartRedis starts redis-server on a free loopback port and returns once
// it accepts connections.
func StartRedis() (*Redis, error) {
	bin, err := find("redis-server", "/usr/bin/redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testsvc-redis-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{addr: fmt.Sprintf("127.0.0.1:%d", port), args: []string{bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}}
	if err := r.start(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

func (r *Redis) start(dir string) error {
	proc, err := start(exec.Command(r.args[0], r.args[1:]...), dir)
	if err != nil {
		return fmt.Errorf("testsvc: start redis-server: %w", err)
	}
	r.proc = proc
	if err := waitListening(r.addr, proc.exited, 10*time.Second); err != nil {
		proc.end()
		return err
	}
	return nil
}

// Restart kills the server and starts it again on the same port, empty:
// what a Redis without persistence looks like after a crash.
func (r *Redis) Restart() error {
	r.proc.end()
	return r.start(r.proc.dir)
}

// Addr is host:port.
func (r *Redis) Addr() string { return r.addr }

// URL is redis://host:port/0.
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// Stop kills the server and removes its dir.
func (r *Redis) Stop() { r.proc.kill() }
