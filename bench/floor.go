package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// The floor: what the machine does with no WebSocket, no hub and no Go
// event loop in the way. One frame-sized write(2) to each of Conns loopback
// connections, from Writers goroutines, while a reader process drains the
// other ends with epoll and stamps each arrival. Every edge result can be
// printed as a ratio to it.

// FloorConfig describes a floor measurement.
type FloorConfig struct {
	Conns   int // connections; default 1000
	Writers int // writing goroutines; default 1
	Size    int // bytes per write, at least 8; default 64
	Rounds  int // fan-outs; default 5
	// Reader starts the reader process for addr (edgebench's floor-reader
	// with the same Conns, Size and Rounds); its stdout carries "ready"
	// and then a Histogram in JSON.
	Reader func(addr string) *exec.Cmd
}

// FloorResult is the floor on this machine.
type FloorResult struct {
	Conns        int       `json:"conns"`
	Writers      int       `json:"writers"`
	FramesPerSec float64   `json:"frames_per_sec"` // writes per second of write loop
	Latency      Histogram `json:"latency"`        // write-loop start to arrival
}

// Floor runs the measurement.
func Floor(ctx context.Context, cfg FloorConfig) (FloorResult, error) {
	cfg.Conns = max(cfg.Conns, 1)
	cfg.Writers = max(cfg.Writers, 1)
	cfg.Size = max(cfg.Size, 64)
	cfg.Rounds = max(cfg.Rounds, 1)
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return FloorResult{}, fmt.Errorf("bench: floor: %w", err)
	}
	defer ln.Close()
	cmd := cfg.Reader(ln.Addr().String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return FloorResult{}, fmt.Errorf("bench: floor reader: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return FloorResult{}, fmt.Errorf("bench: floor reader: %w", err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	fds, err := acceptAll(ln, cfg.Conns)
	defer closeAll(fds)
	if err != nil {
		return FloorResult{}, err
	}
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		return FloorResult{}, fmt.Errorf("bench: floor reader said %q: %v", line, err)
	}
	var elapsed time.Duration
	for r := 0; r < cfg.Rounds; r++ {
		elapsed += fanOutOnce(fds, cfg.Writers, cfg.Size)
		select {
		case <-ctx.Done():
			return FloorResult{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	var result FloorResult
	if err := json.NewDecoder(out).Decode(&result.Latency); err != nil {
		return FloorResult{}, fmt.Errorf("bench: floor reader result: %w", err)
	}
	result.Conns, result.Writers = cfg.Conns, cfg.Writers
	result.FramesPerSec = float64(cfg.Conns*cfg.Rounds) / elapsed.Seconds()
	return result, nil
}

func acceptAll(ln *net.TCPListener, n int) ([]int, error) {
	fds := make([]int, 0, n)
	ln.SetDeadline(time.Now().Add(2 * time.Minute))
	for len(fds) < n {
		c, err := ln.AcceptTCP()
		if err != nil {
			return fds, fmt.Errorf("bench: floor: accepted %d of %d: %w", len(fds), n, err)
		}
		fd, err := dupFD(c)
		if err != nil {
			return fds, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// dupFD returns a duplicate of c's descriptor, in blocking mode, that the
// caller owns, and closes c.
func dupFD(c *net.TCPConn) (int, error) {
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("bench: floor: %w", err)
	}
	fd, dupErr := -1, error(nil)
	err = raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) })
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return -1, fmt.Errorf("bench: floor: dup: %w", err)
	}
	return fd, syscall.SetNonblock(fd, false)
}

// fanOutOnce writes one stamped frame to every fd, split among writers,
// and returns how long the writes took.
func fanOutOnce(fds []int, writers, size int) time.Duration {
	frame := make([]byte, size)
	start := time.Now()
	putSendTime(frame, start)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(share []int) {
			defer wg.Done()
			for _, fd := range share {
				syscall.Write(fd, frame)
			}
		}(fds[w*len(fds)/writers : (w+1)*len(fds)/writers])
	}
	wg.Wait()
	return time.Since(start)
}

// FloorReader is the reader process: it connects conns connections to
// addr, prints "ready", reads rounds frames of size bytes on each through
// epoll, and prints the arrival latencies as a Histogram in JSON.
func FloorReader(ctx context.Context, addr string, conns, size, rounds int, out io.Writer) error {
	size = max(size, 64)
	r, err := newDrain(addr, conns)
	if err != nil {
		return err
	}
	defer r.close()
	fmt.Fprintln(out, "ready")
	h, err := r.collect(ctx, conns*max(rounds, 1), size)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(h)
}
