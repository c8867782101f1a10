package netloop

import (
	"log/slog"
	"runtime"
	"time"

	"edgepush/frame"
)

// Config tunes a Server. The zero value works: each zero field takes the
// default written beside it.
type Config struct {
	// MaxMessage is the largest message a client may send, in bytes, after
	// reassembly of fragments. A frame or message over it fails the
	// connection with 1009 as soon as its header arrives. Default 64 KiB.
	MaxMessage int
	// MaxEmptyFragments is the most empty continuation frames one message
	// may have: fragments carrying data are bounded by MaxMessage and cost
	// no memory beyond it, empty ones only time. Default 1024.
	MaxEmptyFragments int
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
	// MessageTimeout is how long a fragmented message may take to complete
	// once its first frame has arrived. Default 60 s.
	MessageTimeout time.Duration
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
	// Origins, if not empty, is the allowlist of Origin header values
	// (compared without regard to case); a handshake from another origin
	// gets 403. A request without an Origin header (not a browser) passes.
	Origins []string
	// Echo serves /echo: every message is sent back on the same path, for
	// conformance suites and echo benchmarks.
	Echo bool
	// Handler speaks the protocol of /ws; nil: /ws answers 404.
	Handler Handler
	// Files are served by path (GET and HEAD) on the same port, e.g. the
	// demo page at "/"; any other path is 404.
	Files map[string]File
	// Frames is the pool of the connections' frames. Default a new pool.
	Frames *frame.Pool
	// Writers is the number of writer goroutines. Default GOMAXPROCS.
	Writers int
	// NoHistograms turns off the latency histograms of Metrics
	// (publish-to-written and queue wait), observed for every push frame
	// written: docs/benchmarks.md has what they cost.
	NoHistograms bool
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
	setInt(&c.MaxEmptyFragments, 1024)
	setInt(&c.MaxHandshake, 8<<10)
	setInt(&c.MaxHeaders, 64)
	setInt(&c.MaxPending, 1<<20)
	setInt(&c.Writers, runtime.GOMAXPROCS(0))
	setDuration(&c.HandshakeTimeout, 10*time.Second)
	setDuration(&c.FrameTimeout, 30*time.Second)
	setDuration(&c.MessageTimeout, 60*time.Second)
	setDuration(&c.PingInterval, 30*time.Second)
	setDuration(&c.PongTimeout, 15*time.Second)
	setDuration(&c.CloseTimeout, 5*time.Second)
	setDuration(&c.WriteTimeout, 10*time.Second)
	if c.Frames == nil {
		c.Frames = frame.NewPool()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// File is a static response body served by path.
type File struct {
	ContentType string // e.g. "text/html; charset=utf-8"
	Body        []byte
}
