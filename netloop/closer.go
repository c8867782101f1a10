package netloop

import "sync"

// closer ends the sessions of closed connections on a goroutine of its own:
// a connection is closed by whichever goroutine notices first (a writer
// whose write failed, the sweep, netpoll), and ending a session takes hub
// locks, which must stall none of those. Its list holds at most one entry
// per connection that was open, so it is bounded by the connection count.
type closer struct {
	wake chan struct{} // one token: there may be sessions to end

	mu      sync.Mutex // guards the following fields
	pending []Session
	stopped bool // the goroutine has ended: end sessions inline
}

func (c *closer) init() { c.wake = make(chan struct{}, 1) }

// add ends s soon, off the caller's goroutine.
func (c *closer) add(s Session) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		s.Closed()
		return
	}
	c.pending = append(c.pending, s)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run ends sessions as they come until stop, then the rest.
func (c *closer) run(stop <-chan struct{}) {
	var batch []Session
	for {
		select {
		case <-c.wake:
		case <-stop:
			c.mu.Lock()
			c.stopped = true
			batch, c.pending = c.pending, nil
			c.mu.Unlock()
			endAll(batch)
			return
		}
		c.mu.Lock()
		batch, c.pending = c.pending, batch[:0]
		c.mu.Unlock()
		endAll(batch)
		clear(batch)
	}
}

func endAll(sessions []Session) {
	for _, s := range sessions {
		s.Closed()
	}
}
