package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// ServerAddr is where one server listens.
type ServerAddr struct {
	WS  string // WebSocket host:port
	API string // publish API host:port
}

// Servers are server processes started by SpawnServers.
type Servers struct {
	Addrs []ServerAddr
	procs []*serverProc
}

type serverProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// SpawnServers starts k server processes of bin on consecutive ports of
// 127.0.0.1: WebSocket on base, base+1, ...; API on base+1000, base+1001,
// .... With base 0 each gets free ports instead. It returns once every
// /healthz answers. args are added to each command line; the servers'
// output goes to logs.
func SpawnServers(ctx context.Context, bin string, k, base int, args []string, logs io.Writer) (*Servers, error) {
	addrs := make([]ServerAddr, k)
	for i := range addrs {
		var err error
		if addrs[i], err = serverAddr(base, i); err != nil {
			return nil, err
		}
	}
	return spawn(ctx, bin, addrs, args, logs)
}

// SpawnShared starts k server processes of bin that share one WebSocket
// port of 127.0.0.1 (-reuseport), each with its API on a port of its own:
// the kernel spreads the connections to that port over them. base is as
// in SpawnServers, for the WebSocket port and base+1000... for the APIs.
func SpawnShared(ctx context.Context, bin string, k, base int, args []string, logs io.Writer) (*Servers, error) {
	addrs := make([]ServerAddr, k)
	for i := range addrs {
		var err error
		if addrs[i], err = serverAddr(base, i); err != nil {
			return nil, err
		}
		addrs[i].WS = addrs[0].WS
	}
	return spawn(ctx, bin, addrs, append([]string{"-reuseport"}, args...), logs)
}

// spawn starts one server process of bin at each of addrs.
func spawn(ctx context.Context, bin string, addrs []ServerAddr, args []string, logs io.Writer) (*Servers, error) {
	s := &Servers{}
	for _, addr := range addrs {
		cmd := exec.Command(bin, append([]string{"-listen", addr.WS, "-api", addr.API, "-log-level", "warn"}, args...)...)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			s.Stop()
			return nil, fmt.Errorf("bench: start %s: %w", bin, err)
		}
		p := &serverProc{cmd: cmd, done: make(chan struct{})}
		go func() { cmd.Wait(); close(p.done) }()
		s.procs = append(s.procs, p)
		s.Addrs = append(s.Addrs, addr)
	}
	for i, a := range s.Addrs {
		if err := waitHealthy(ctx, a.API, s.procs[i].done); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// serverAddr returns the addresses of server i.
func serverAddr(base, i int) (ServerAddr, error) {
	if base > 0 {
		return ServerAddr{
			WS:  "127.0.0.1:" + strconv.Itoa(base+i),
			API: "127.0.0.1:" + strconv.Itoa(base+1000+i),
		}, nil
	}
	ws, err := freePort()
	if err != nil {
		return ServerAddr{}, err
	}
	api, err := freePort()
	return ServerAddr{WS: ws, API: api}, err
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr() (string, error) { return freePort() }

// freePort returns a 127.0.0.1 address whose port was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(ctx context.Context, api string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-exited:
			return fmt.Errorf("bench: server for %s exited before it was healthy", api)
		default:
		}
		resp, err := http.Get("http://" + api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("bench: server at %s did not become healthy", api)
}

// Pids returns the process id of every server, in the order of Addrs.
func (s *Servers) Pids() []int {
	pids := make([]int, len(s.procs))
	for i, p := range s.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// signal sends sig to server i.
func (s *Servers) signal(i int, sig os.Signal) error { return s.procs[i].cmd.Process.Signal(sig) }

// exited is closed once server i has exited.
func (s *Servers) exited(i int) <-chan struct{} { return s.procs[i].done }

// exitCode is server i's exit code once it has exited; -1 if a signal
// ended it.
func (s *Servers) exitCode(i int) int { return s.procs[i].cmd.ProcessState.ExitCode() }

// Stop sends SIGTERM to every server and waits for them, killing any that
// has not exited after 15 s.
func (s *Servers) Stop() {
	for _, p := range s.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	s.procs = nil
}
