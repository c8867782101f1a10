package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Load publishes JSON values to many keys through the publish API, in
// rounds: a round publishes one value to every key, and the next round
// starts once every publish of the last was answered, so that each key's
// values are published in order. The requests go over Conns keep-alive
// HTTP/1.1 connections, each with up to Depth requests in flight
// (pipelined: written back to back, answered in order); Depth 1 is one
// request at a time per connection. This is the publish API as any HTTP
// client can use it, only without the per-request cost of net/http's
// client, which on two cores would otherwise take as much CPU as the
// server.
type Load struct {
	API   string // host:port of the publish API
	App   string // default "bench"
	Keys  int    // keys 0 .. Keys-1; default 1
	ID    func(k int) string
	Conns int // default 4
	Depth int // default 16
	// Value is the body of round r's publish to key k; default a
	// JSONValue of 40 bytes.
	Value func(k, r int) []byte

	conns []*pipeConn
	seqs  []uint64
}

// LoadResult is what Rounds did.
type LoadResult struct {
	Rounds    int           `json:"rounds"`     // rounds completed
	Published int64         `json:"published"`  // publishes answered 200
	Elapsed   time.Duration `json:"elapsed_ns"` // the whole of Rounds
	Busy      time.Duration `json:"busy_ns"`    // in rounds, leaving out the calls of after
	// Seqs is, by key, the seq the API answered for the last publish.
	Seqs []uint64 `json:"-"`
}

// PerSecond is the publish rate while publishing.
func (r LoadResult) PerSecond() float64 {
	if r.Busy <= 0 {
		return 0
	}
	return float64(r.Published) / r.Busy.Seconds()
}

// Rounds publishes rounds rounds. After each, if after is not nil, it is
// called with the number of rounds done; when it returns false, Rounds
// stops there. A failed or refused publish stops Rounds with an error: the
// seqs would no longer be known.
func (p *Load) Rounds(ctx context.Context, rounds int, after func(done int) bool) (LoadResult, error) {
	p.defaults()
	start := time.Now()
	r := LoadResult{}
	for round := 0; round < rounds; round++ {
		began := time.Now()
		n, err := p.round(ctx, round)
		r.Busy += time.Since(began)
		r.Published += n
		if err != nil {
			r.Elapsed, r.Seqs = time.Since(start), p.seqs
			return r, fmt.Errorf("bench: publish round %d: %w", round+1, err)
		}
		r.Rounds++
		if after != nil && !after(r.Rounds) {
			break
		}
	}
	r.Elapsed, r.Seqs = time.Since(start), p.seqs
	return r, nil
}

// Close closes the connections.
func (p *Load) Close() {
	for _, c := range p.conns {
		if c != nil {
			c.close()
		}
	}
	p.conns = nil
}

func (p *Load) defaults() {
	p.App = cmpOr(p.App, "bench")
	p.Keys = max(p.Keys, 1)
	p.Conns = max(p.Conns, 1)
	if p.Depth <= 0 {
		p.Depth = 16
	}
	if p.ID == nil {
		p.ID = KeyID
	}
	if p.Value == nil {
		p.Value = func(k, r int) []byte { return JSONValue(40, k+r) }
	}
	if len(p.conns) != p.Conns {
		p.Close()
		p.conns = make([]*pipeConn, p.Conns)
	}
	if len(p.seqs) != p.Keys {
		p.seqs = make([]uint64, p.Keys)
	}
}

// round publishes to every key once, in batches of Depth keys taken in
// turn by the connections.
func (p *Load) round(ctx context.Context, round int) (int64, error) {
	var next, published atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, p.Conns)
	for w := range p.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				first := int(next.Add(int64(p.Depth))) - p.Depth
				if first >= p.Keys {
					return
				}
				keys := make([]int, 0, p.Depth)
				for k := first; k < min(first+p.Depth, p.Keys); k++ {
					keys = append(keys, k)
				}
				n, err := p.batch(w, round, keys)
				published.Add(int64(n))
				if err != nil {
					errs[w] = err
					next.Store(int64(p.Keys)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return published.Load(), err
	}
	return published.Load(), ctx.Err()
}

// maxIdle is how long a connection may have been idle and still be used:
// well under the idle timeout of a server (edgepush's is 2 minutes), so
// that the server never closes one under a batch.
const maxIdle = 20 * time.Second

// batch publishes round's values to keys over connection w.
func (p *Load) batch(w, round int, keys []int) (int, error) {
	if c := p.conns[w]; c != nil && time.Since(c.used) > maxIdle {
		c.close()
		p.conns[w] = nil
	}
	if p.conns[w] == nil {
		c, err := dialPipe(p.API)
		if err != nil {
			return 0, err
		}
		p.conns[w] = c
	}
	c := p.conns[w]
	for _, k := range keys {
		c.writeRequest(p.App, p.ID(k), p.Value(k, round))
	}
	if err := c.w.Flush(); err != nil {
		c.close()
		p.conns[w] = nil
		return 0, fmt.Errorf("write: %w", err)
	}
	for i, k := range keys {
		seq, err := c.readAnswer()
		if err != nil {
			c.close() // with answers still unread
			p.conns[w] = nil
			return i, err
		}
		p.seqs[k] = seq
	}
	c.used = time.Now()
	return len(keys), nil
}

// pipeConn is one keep-alive connection to the API.
type pipeConn struct {
	conn net.Conn
	host string
	r    *bufio.Reader
	w    *bufio.Writer
	body []byte
	used time.Time // when the last answer was read
}

func dialPipe(api string) (*pipeConn, error) {
	conn, err := net.DialTimeout("tcp", api, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &pipeConn{conn: conn, host: api, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10), used: time.Now()}, nil
}

func (c *pipeConn) close() { c.conn.Close() }

// writeRequest buffers one publish.
func (c *pipeConn) writeRequest(app, id string, value []byte) {
	fmt.Fprintf(c.w, "POST /v1/publish?app=%s&id=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		url.QueryEscape(app), url.QueryEscape(id), c.host, len(value))
	c.w.Write(value)
}

// readAnswer reads one answer and returns its seq.
func (c *pipeConn) readAnswer() (uint64, error) {
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	c.body = c.body[:0]
	buf := bytes.NewBuffer(c.body)
	_, err = io.Copy(buf, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	c.body = buf.Bytes()
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("refused: %s: %s", resp.Status, bytes.TrimSpace(c.body))
	}
	seq, ok := fieldUint(c.body, `"seq":`)
	if !ok {
		return 0, fmt.Errorf("answer %q has no seq", c.body)
	}
	return seq, nil
}
