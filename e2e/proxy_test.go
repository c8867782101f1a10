package e2e

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards every TCP connection on its 127.0.0.1 port to target,
// byte for byte in both directions, and can cut them all at once: a network
// blink, without the server noticing anything but closed connections.
type tcpProxy struct {
	t      *testing.T
	target string
	Addr   string // host:port the proxy listens on

	mu       sync.Mutex
	listener net.Listener // nil while cut
	conns    map[net.Conn]struct{}
	accepted int
	stopped  bool
	wg       sync.WaitGroup
}

// startProxy listens on a free 127.0.0.1 port and forwards to target until
// the test ends.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, Addr: l.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.serve(l)
	t.Cleanup(p.stop)
	return p
}

// serve accepts on l in a goroutine until l is closed.
func (p *tcpProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.listener = l
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

// forward dials target for client and copies both ways until either side
// ends; then both connections are closed.
func (p *tcpProxy) forward(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.untrack(client)
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			return
		}
		if !p.track(server) {
			server.Close()
			return
		}
		defer p.untrack(server)
		done := make(chan struct{})
		go func() {
			io.Copy(server, client)
			close(done)
		}()
		io.Copy(client, server)
		client.Close()
		server.Close()
		<-done
	}()
}

// track records c as open, or reports false once the proxy is stopped.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.conns[c] = struct{}{}
	if c.LocalAddr().String() == p.Addr {
		p.accepted++
	}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Accepted is how many client connections the proxy has accepted.
func (p *tcpProxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// closeAll stops listening and closes every forwarded connection, both
// sides; it returns how many connections it closed.
func (p *tcpProxy) closeAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		p.listener.Close()
		p.listener = nil
	}
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	return n
}

// cut closes every connection and refuses new ones for down (nothing
// listens on the port), then listens on the same port again.
func (p *tcpProxy) cut(down time.Duration) {
	p.t.Helper()
	n := p.closeAll()
	p.t.Logf("proxy: cut %d connections, refusing for %v", n, down)
	time.Sleep(down)
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := net.Listen("tcp", p.Addr)
		if err == nil {
			p.serve(l)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("proxy: listening again on %s: %v", p.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop closes everything and waits for the proxy's goroutines.
func (p *tcpProxy) stop() {
	p.closeAll()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.closeAll() // connections tracked between the two calls
	p.wg.Wait()
}
