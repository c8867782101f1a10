package netloop

import (
	"time"
)

// sweep enforces the timeouts and sends keepalive pings until the server
// stops. It looks at every connection once per tick, a small fraction of
// the shortest timeout.
func (s *Server) sweep() {
	ticker := time.NewTicker(s.sweepInterval())
	defer ticker.Stop()
	var conns []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		conns = s.registry.snapshot(conns[:0])
		t := now()
		for _, c := range conns {
			c.check(t)
		}
		clear(conns)
	}
}

func (s *Server) sweepInterval() time.Duration {
	cfg := &s.cfg
	shortest := min(cfg.HandshakeTimeout, cfg.FrameTimeout, cfg.MessageTimeout, cfg.PingInterval, cfg.PongTimeout, cfg.CloseTimeout)
	return min(max(shortest/4, 5*time.Millisecond), time.Second)
}

// check applies the timeouts to c at time t (unix ns).
func (c *conn) check(t int64) {
	cfg := &c.server.cfg
	switch phase(c.phase.Load()) {
	case phaseHandshake:
		if t-c.createdAt > int64(cfg.HandshakeTimeout) {
			c.server.metrics.failUpgrade(failTimeout)
			c.recordReason(reasonHandshakeSlow)
			c.fail(closeNone)
		}
	case phaseOpen:
		c.checkOpen(t)
	case phaseClosing:
		if t-c.closingSince.Load() > int64(cfg.CloseTimeout) {
			c.nc.Close()
		}
	}
}

// checkOpen enforces FrameTimeout and the keepalive on an open connection.
func (c *conn) checkOpen(t int64) {
	cfg := &c.server.cfg
	if since := c.partialSince.Load(); since != 0 && t-since > int64(cfg.FrameTimeout) {
		c.recordReason(reasonFrameSlow)
		c.fail(closePolicy)
		return
	}
	if since := c.messageSince.Load(); since != 0 && t-since > int64(cfg.MessageTimeout) {
		c.recordReason(reasonFrameSlow)
		c.fail(closePolicy)
		return
	}
	if sent := c.pingSent.Load(); sent != 0 {
		if t-sent > int64(cfg.PongTimeout) {
			c.recordReason(reasonNoPong)
			c.nc.Close()
		}
		return
	}
	if t-c.lastRead.Load() > int64(cfg.PingInterval) {
		c.pingSent.Store(t)
		c.server.metrics.add(counterPings, 1)
		c.enqueue(c.server.controls.Ping, afterNothing, true)
	}
}
