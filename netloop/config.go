package netloop

import (
	"log/slog"
	"runtime"
	"time"
)

// Config tunes a Server. The zero value works: each zero field takes the
// default written beside it.
type Config struct {
	// MaxMessage is the largest message a client may send, in bytes, after
	// reassembly of fragments. A frame or message over it fails the
	// connection with 1009 as soon as its header arrives. Default 64 KiB.
	MaxMessage int
	// MaxFragments is the most frames one message may span. Default 1024.
	MaxFragments int
	// MaxHandshake caps the HTTP request head, in bytes. Default 8 KiB.
	MaxHandshake int
	// MaxHeaders caps the number of header lines in the request. Default 64.
	MaxHeaders int
	// HandshakeTimeout is how long a connection may take to send its whole
	// request head. Default 10 s.
	HandshakeTimeout time.Duration
	// FrameTimeout is how long a frame may take to arrive once its first
	// byte has. Default 30 s.
	FrameTimeout time.Duration
	// PingInterval: a connection quiet for this long gets a ping. Default 30 s.
	PingInterval time.Duration
	// PongTimeout: a pinged connection that sends nothing for this long is
	// closed. Default 15 s.
	PongTimeout time.Duration
	// CloseTimeout is how long the server waits for the client to close
	// the TCP connection after the closing handshake. Default 5 s.
	CloseTimeout time.Duration
	// MaxPending caps the bytes queued to one connection and not yet written
	// to its socket; a connection over it is a slow consumer and is cut off.
	// Default 1 MiB.
	MaxPending int
	// WriteTimeout is how long a connection's socket may stay full before
	// the connection is closed. Default 10 s.
	WriteTimeout time.Duration
	// MaxIDs is the most ids one sub or unsub message may carry. Default 256.
	MaxIDs int
	// MaxSubscriptions is the most keys one connection may subscribe to.
	// Default 4096.
	MaxSubscriptions int
	// Origins, if not empty, is the allowlist of Origin header values
	// (compared without regard to case); a handshake from another origin
	// gets 403. A request without an Origin header (not a browser) passes.
	Origins []string
	// Echo serves /echo: every message is sent back on the same path, for
	// conformance suites and echo benchmarks.
	Echo bool
	// Page is served at GET / (and /index.html) as text/html; nil: 404.
	Page []byte
	// Writers is the number of writer goroutines. Default GOMAXPROCS.
	Writers int
	// Logger receives connection-level events, never one line per message.
	// Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDuration := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.MaxMessage, 64<<10)
	setInt(&c.MaxFragments, 1024)
	setInt(&c.MaxHandshake, 8<<10)
	setInt(&c.MaxHeaders, 64)
	setInt(&c.MaxPending, 1<<20)
	setInt(&c.MaxIDs, 256)
	setInt(&c.MaxSubscriptions, 4096)
	setInt(&c.Writers, runtime.GOMAXPROCS(0))
	setDuration(&c.HandshakeTimeout, 10*time.Second)
	setDuration(&c.FrameTimeout, 30*time.Second)
	setDuration(&c.PingInterval, 30*time.Second)
	setDuration(&c.PongTimeout, 15*time.Second)
	setDuration(&c.CloseTimeout, 5*time.Second)
	setDuration(&c.WriteTimeout, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
