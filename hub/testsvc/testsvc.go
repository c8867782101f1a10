// Package testsvc starts the real servers that the tests of the store and
// the bus run against, redis-server and rabbitmq-server from Debian's
// packages (scripts/deps.sh installs them): each on free loopback ports, in
// a temp dir of its own, stopped by Stop. Start one of each per test
// package (in TestMain, or once on first use), not per test.
//
//	r, err := testsvc.StartRedis()
//	defer r.Stop()
//	store, _ := redisstore.New(redisstore.Config{URL: r.URL()})
//
//	q, err := testsvc.StartRabbitMQ()
//	defer q.Stop()
//	conn, _ := amqp.Dial(q.URL())
//	out, _ := q.Ctl("list_bindings") // rabbitmqctl against this node
package testsvc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"
)

// ErrMissing reports a server binary that is not installed.
var ErrMissing = errors.New("testsvc: not installed (scripts/deps.sh installs it)")

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// find returns the path of a server binary, looking in PATH and then in
// Debian's sbin, which a non-root PATH lacks.
func find(name string, fallbacks ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrMissing)
}

// waitListening waits until something accepts on addr, or the process
// exited, or limit passed.
func waitListening(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("testsvc: the server exited before it listened on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testsvc: nothing listens on %s after %v: %w", addr, limit, err)
		}
	}
}

// process is a started server and what to remove after it.
type process struct {
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
}

func start(cmd *exec.Cmd, dir string) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill ends the process if it still runs and removes its dir.
func (p *process) kill() {
	p.end()
	os.RemoveAll(p.dir)
}

// end ends the process if it still runs.
func (p *process) end() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}
