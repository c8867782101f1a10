package testsvc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// RabbitMQ is a rabbitmq-server node of its own, with its own epmd, so that
// several test packages can each run one at once.
type RabbitMQ struct {
	port int
	node string
	env  []string
	bin  string
	dir  string
	proc *process
}

// erlangNoSpin turns off the busy waiting of the Erlang VM's schedulers.
const erlangNoSpin = "+sbwt none +sbwtdcpu none +sbwtdio none"

// rabbitStartLimit bounds the wait for a node to listen: about 5 to 12 s
// on this project's machines.
const rabbitStartLimit = 60 * time.Second

// StartRabbitMQ starts rabbitmq-server without systemd: every path it
// writes in a temp dir owned by user rabbitmq, its AMQP, distribution and
// epmd ports free loopback ports. It returns once AMQP accepts
// connections.
func StartRabbitMQ() (*RabbitMQ, error) {
	bin, err := find("rabbitmq-server", "/usr/sbin/rabbitmq-server")
	if err != nil {
		return nil, err
	}
	dir, err := rabbitDir()
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	q := &RabbitMQ{port: ports[0], node: fmt.Sprintf("testsvc%d@localhost", ports[0])}
	q.env = append(os.Environ(),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(ports[0]),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(ports[1]),
		"ERL_EPMD_PORT="+strconv.Itoa(ports[2]),
		"RABBITMQ_NODENAME="+q.node,
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_FEATURE_FLAGS_FILE="+filepath.Join(dir, "feature_flags"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(dir, "plugins-expand"),
		// Erlang's schedulers spin while idle, taking CPU the other
		// processes of a small shared host need (docs/cluster.md).
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+erlangNoSpin,
	)
	q.bin, q.dir = bin, dir
	if err := q.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return q, nil
}

// start runs the server in q's dir and waits until it listens.
func (q *RabbitMQ) start() error {
	cmd := exec.Command(q.bin)
	cmd.Env = q.env
	cmd.Dir = q.dir
	log, err := os.OpenFile(filepath.Join(q.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	if q.proc, err = start(cmd, q.dir); err != nil {
		return fmt.Errorf("testsvc: start rabbitmq-server: %w", err)
	}
	if err := waitListening(q.Addr(), q.proc.exited, rabbitStartLimit); err != nil {
		out, _ := os.ReadFile(filepath.Join(q.dir, "server.out"))
		q.halt()
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// Restart stops the node and starts it again on the same ports, its
// queues and bindings gone as after a broker restart: every client's
// connection breaks.
func (q *RabbitMQ) Restart() error {
	q.halt()
	return q.start()
}

// rabbitDir makes the temp dir rabbitmq-server writes in, owned by user
// rabbitmq, as the server drops to that user.
func rabbitDir() (string, error) {
	dir, err := os.MkdirTemp("", "testsvc-rabbitmq-")
	if err != nil {
		return "", err
	}
	for _, sub := range []string{"mnesia", "log", "plugins-expand"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755)
	if out, err := exec.Command("chown", "-R", "rabbitmq:rabbitmq", dir).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testsvc: chown %s to rabbitmq: %v: %s", dir, err, out)
	}
	return dir, nil
}

// Addr is the AMQP host:port.
func (q *RabbitMQ) Addr() string { return "127.0.0.1:" + strconv.Itoa(q.port) }

// URL is amqp://guest:guest@host:port/ (guest may log in from loopback).
func (q *RabbitMQ) URL() string { return "amqp://guest:guest@" + q.Addr() + "/" }

// Ctl runs rabbitmqctl against this node and returns its output.
func (q *RabbitMQ) Ctl(args ...string) (string, error) {
	bin, err := find("rabbitmqctl", "/usr/sbin/rabbitmqctl")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, append([]string{"-n", q.node, "-q"}, args...)...)
	cmd.Env = q.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("testsvc: rabbitmqctl %v: %w: %s", args, err, out)
	}
	return string(out), nil
}

// Stop stops the node, its epmd, and removes its dir.
func (q *RabbitMQ) Stop() {
	q.halt()
	q.stopEpmd()
	os.RemoveAll(q.dir)
}

// halt stops the node (rabbitmqctl stop, then a kill if it lingers) and
// waits until its port is free.
func (q *RabbitMQ) halt() {
	q.Ctl("stop")
	select {
	case <-q.proc.exited:
	case <-time.After(15 * time.Second):
	}
	q.proc.end()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", q.Addr(), time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
}

// stopEpmd stops the epmd this node started on its own port.
func (q *RabbitMQ) stopEpmd() {
	for _, kv := range q.env {
		if len(kv) > len("ERL_EPMD_PORT=") && kv[:len("ERL_EPMD_PORT=")] == "ERL_EPMD_PORT=" {
			cmd := exec.Command("epmd", "-kill")
			cmd.Env = append(os.Environ(), kv)
			cmd.Run()
		}
	}
}
