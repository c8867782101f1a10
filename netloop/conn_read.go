package netloop

import (
	"context"

	"github.com/cloudwego/netpoll"
)

// onRequest runs when a connection has input. It consumes all of it: whole
// units (a request head, a frame) are handled in place, and the tail of a
// partial one is copied into c.pending until the rest arrives.
func (s *Server) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, _ := ctx.(*conn)
	r := nc.Reader()
	n := r.Len()
	if c == nil || n == 0 {
		return nil
	}
	data, err := r.Next(n)
	if err != nil {
		return err
	}
	c.server.metrics.add(counterBytesIn, n)
	t := now()
	c.lastRead.Store(t)
	c.pingSent.Store(0)
	c.consume(data, t)
	return r.Release()
}

// consume handles data, which is valid only for the duration of the call.
func (c *conn) consume(data []byte, t int64) {
	if phase(c.phase.Load()) == phaseClosing {
		return
	}
	buf := data
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		buf = c.pending
	}
	used := c.process(buf)
	rest := buf[used:]
	switch {
	case len(rest) == 0 || phase(c.phase.Load()) == phaseClosing:
		c.pending = nil
		c.partialSince.Store(0)
	case len(c.pending) > 0:
		c.pending = c.pending[:copy(c.pending, rest)]
		if used > 0 {
			c.partialSince.Store(t)
		}
	default:
		c.pending = append([]byte(nil), rest...)
		c.partialSince.Store(t)
	}
}

// process handles the whole units at the start of buf and returns how many
// bytes it used.
func (c *conn) process(buf []byte) int {
	used := 0
	for used < len(buf) {
		var n int
		switch phase(c.phase.Load()) {
		case phaseHandshake:
			n = c.handshake(buf[used:])
		case phaseOpen:
			n = c.readFrame(buf[used:])
		default:
			return len(buf)
		}
		if n == 0 {
			break
		}
		used += n
	}
	return used
}
