// Command gorilla-peer is the baseline edgebench compares edgepush with:
// edgepush's client protocol and publish API served the usual Go way, one
// reader and one writer goroutine per connection on gorilla/websocket.
//
//	gorilla-peer -listen 127.0.0.1:8090 -api 127.0.0.1:8091
//	edgebench fanout -target 127.0.0.1:8090 -api 127.0.0.1:8091
//
// It is a benchmark peer, not a product: it listens on loopback by default,
// keeps no state beyond its process and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds a stop: the API's requests, then the clients'
// closing handshakes.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the command line.
type options struct {
	listen, api string
	cfg         Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gorilla-peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8090", "`address` of the WebSocket server (/ws)")
	fs.StringVar(&o.api, "api", "127.0.0.1:8091", "`address` of the API: /v1/publish, /healthz, /metrics")
	fs.IntVar(&o.cfg.MaxMessage, "max-message", 64<<10, "largest message a client may send, in `bytes`")
	fs.IntVar(&o.cfg.MaxIDs, "max-ids", 256, "most ids one sub or unsub message may carry")
	fs.IntVar(&o.cfg.Queue, "queue", 256, "`frames` queued to one connection before it is cut off as a slow consumer")
	fs.DurationVar(&o.cfg.PingInterval, "ping-interval", 30*time.Second, "ping every connection this often")
	return o, fs.Parse(args)
}

// run is the whole program; it returns the exit code.
func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	wsListener, apiListener, err := listen(o.listen, o.api)
	if err != nil {
		logger.Error("gorilla-peer", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("gorilla-peer listening", "ws", "ws://"+wsListener.Addr().String()+"/ws", "api", "http://"+apiListener.Addr().String())
	if err := serve(ctx, NewPeer(o.cfg), wsListener, apiListener, logger); err != nil {
		logger.Error("gorilla-peer stopped", "err", err)
		return 1
	}
	return 0
}

// listen opens both listeners, so that a taken port fails the start.
func listen(wsAddr, apiAddr string) (net.Listener, net.Listener, error) {
	wsListener, err := net.Listen("tcp", wsAddr)
	if err != nil {
		return nil, nil, err
	}
	apiListener, err := net.Listen("tcp", apiAddr)
	if err != nil {
		wsListener.Close()
		return nil, nil, err
	}
	return wsListener, apiListener, nil
}

// serve runs p's WebSocket and API servers until ctx is done or one fails,
// then stops the API first, so that no publish is in flight while the
// clients are told to go away.
func serve(ctx context.Context, p *Peer, wsListener, apiListener net.Listener, logger *slog.Logger) error {
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	ws := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	api := &http.Server{Handler: p.APIHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
	failed := make(chan error, 2)
	go func() { failed <- fmt.Errorf("websocket server: %w", ws.Serve(wsListener)) }()
	go func() { failed <- fmt.Errorf("api server: %w", api.Serve(apiListener)) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-failed:
	}
	deadline := time.Now().Add(shutdownTimeout)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Shutdown closes the listeners; hijacked WebSocket connections are
	// not the http.Server's any more, so the peer closes those itself.
	apiErr := api.Shutdown(sctx)
	wsErr := ws.Shutdown(sctx)
	p.Shutdown(deadline)
	return errors.Join(serveErr, apiErr, wsErr)
}
