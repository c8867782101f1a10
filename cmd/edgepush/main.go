// Command edgepush is the real-time WebSocket push server: clients subscribe
// to keys (app, id) over WebSocket and get every value published to them.
//
// It serves the WebSocket endpoint /ws and the demo page / on -listen, and
// the internal publish API (/v1/publish, /healthz, /readyz, /metrics) on
// -api. On SIGTERM it drains: /readyz turns 503, upgrades get 503, and the
// clients are closed with 1001 spread over -drain-timeout, then it exits 0. With
// -demo it publishes made-up sensor readings to app "demo", ids 001 to 010,
// which the demo page shows.
//
//	edgepush -demo                  # then open http://localhost:8080/
//	curl -H 'Content-Type: application/json' -d '{"value":21.5}' \
//		'http://127.0.0.1:8081/v1/publish?app=demo&id=001'
//
// Every flag can also be set through the environment (-max-ids through
// EDGEPUSH_MAX_IDS); see edgepush -h and docs/protocol.md.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"edgepush/frame"
	"edgepush/hub"
	"edgepush/hub/amqpbus"
	"edgepush/hub/redisstore"
	"edgepush/internal/ratelog"
	"edgepush/netloop"
	"edgepush/netloop/session"
	"edgepush/sources"
	"edgepush/sources/amqpsource"
	"edgepush/sources/datacenter"
	"edgepush/sources/poller"
	"edgepush/tuning"
)

// indexPage is the demo page served at /; clientScript is edgepush.js,
// the browser client, served at /edgepush.js.
var (
	//go:embed page/index.html
	indexPage []byte
	//go:embed page/edgepush.js
	clientScript []byte
)

// shutdownTimeout bounds the shutdown after the drain: the API's in-flight
// requests, then the WebSocket clients' closing handshakes.
const shutdownTimeout = 10 * time.Second

// logEvery is the period of the rate limit on repeated warnings and errors
// (internal/ratelog): one line per kind per period, with the count held back.
const logEvery = 10 * time.Second

// exit ends the process; a second signal calls it with 1 (a test replaces it).
var exit = os.Exit

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run is the whole program; it returns the exit code: 0 after a clean stop
// (a drain that ran to its end included), 1 when serving failed, 2 for a bad
// configuration. A second SIGTERM or SIGINT during the drain or the shutdown
// after it exits 1 at once: the drain was cut short, and that is no clean
// stop (the node's index entries are then removed by the other nodes once
// its heartbeat expires).
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stderr)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "edgepush: %v\nRun edgepush -h for the flags.\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	routeLibraryLogs(logger)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopSignals := onSignals(cancel, logger)
	defer stopSignals()
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("edgepush stopped", "err", err)
		return 1
	}
	logger.Info("edgepush stopped")
	return 0
}

// onSignals calls drain on the first SIGTERM or SIGINT and exits 1 on the
// second; the returned func stops listening.
func onSignals(drain context.CancelFunc, logger *slog.Logger) (stop func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			logger.Info("signal received: draining", "signal", sig.String())
			drain()
		case <-done:
			return
		}
		select {
		case sig := <-signals:
			logger.Warn("second signal: exiting at once, the drain cut short", "signal", sig.String())
			exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(signals)
		close(done)
	}
}

// serve runs the servers until ctx is done or one of them fails. When ctx
// is done it drains: /readyz turns 503 and upgrades get 503 at once, and
// the clients are closed with 1001 spread over -drain-timeout while the API
// and the sources keep serving those still connected. Then it shuts both
// servers down, and the deferred node.close takes the node's state out of
// the store.
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	// netpoll's buffer sizes are process-wide settings rather than per
	// server, so they are made here in wiring, before any connection exists.
	if err := netloop.TuneNetpoll(0); err != nil {
		return err
	}
	if files, err := tuning.RaiseOpenFiles(); err != nil {
		logger.Warn("open files limit not raised", "err", err)
	} else {
		logger.Info("open files limit", "files", files)
		for _, f := range tuning.Inspect(max(int(files)-1000, 1)) {
			logger.Warn("host limit low for this many connections", "setting", f.Setting, "value", f.Value, "want", f.Want, "why", f.Why)
		}
	}
	// The layers log through a rate limit: a failure that repeats on every
	// retry or request (Redis, RabbitMQ, the data center) is one line per
	// kind per logEvery, with the count of those held back.
	limited := ratelog.Logger(logger, ratelog.Options{Every: logEvery})
	n, err := newNode(cfg, limited)
	if err != nil {
		return err
	}
	defer n.close()
	srv := n.server
	wsListener, apiListener, err := listen(cfg)
	if err != nil {
		return err
	}
	var apiHandler http.Handler = sources.NewAPI(sources.APIConfig{}, sources.Deps{
		Publisher: n.pipeline.Source("api"), Subscriptions: n.subs, Ready: n.ready, Metrics: n.registry, Registerer: n.registry, Logger: logger, // NewAPI limits its own lines
	})
	if cfg.Demo && cfg.DataCenter == "" {
		apiHandler = withDataCenter(apiHandler, datacenter.NewSim(datacenter.SimConfig{Logger: limited}))
		cfg.DataCenter = "http://" + apiListener.Addr().String() + "/datacenter"
		cfg.PollApps = []string{"demo"}
	}
	api := newAPIServer(apiHandler, logger)

	// The sources run until the drain has ended (or a server failed), not
	// only until the signal: the clients still connected during the drain
	// keep getting their values.
	sourcesCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	failed := make(chan error, 2)
	go func() { failed <- stopped("websocket server", srv.Serve(wsListener)) }()
	go func() { failed <- stopped("api server", api.Serve(apiListener)) }()
	if cfg.Pprof != "" {
		go servePprof(cfg.Pprof, limited)
	}
	if cfg.DataCenter != "" {
		if err := n.startPoller(sourcesCtx, cfg, limited); err != nil {
			return err
		}
	}
	if cfg.AMQPSource != "" {
		if err := n.startAMQPSource(sourcesCtx, cfg, limited); err != nil {
			return err
		}
	}
	logger.Info("edgepush listening",
		"ws", "ws://"+wsListener.Addr().String()+"/ws",
		"page", "http://"+wsListener.Addr().String()+"/",
		"api", "http://"+apiListener.Addr().String(),
		"demo", cfg.Demo, "echo", cfg.Echo, "drain_timeout", cfg.DrainTimeout)

	var serveErr error
	select {
	case <-ctx.Done():
		serveErr = drainNode(srv, cfg.DrainTimeout, failed, logger)
	case serveErr = <-failed:
	}
	stopSources()
	logger.Info("edgepush shutting down", "open", srv.OpenConns())
	return errors.Join(serveErr, shutdown(srv, api))
}

// drainNode starts the drain on srv (upgrades refused, /readyz 503, at
// once) and closes its clients over window; a server that fails meanwhile
// ends it early with its error.
func drainNode(srv *netloop.Server, window time.Duration, failed <-chan error, logger *slog.Logger) error {
	srv.BeginDrain()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runDrain(ctx, srv, window, logger)
	}()
	select {
	case <-done:
		return nil
	case err := <-failed:
		cancel()
		<-done
		return err
	}
}

// node is one edgepush process's layers, wired: transport, session,
// hub, pipeline and store.
type node struct {
	server   *netloop.Server
	sessions *session.Handler
	hub      *hub.Hub
	pipeline *hub.Pipeline
	store    hub.Store
	memory   *hub.MemoryStore  // the store when it is in memory, else nil
	index    *redisstore.Index // the subscription index with -redis, else nil
	subs     sources.Subscriptions
	bus      hub.Bus
	amqp     *amqpbus.Bus         // the bus with -amqp, else nil
	poller   *poller.Poller       // with -datacenter, else nil
	source   *amqpsource.Source   // with -amqp-source, else nil
	stop     context.CancelFunc   // ends the index's loop
	stopped  chan struct{}        // closed when it has ended
	registry *prometheus.Registry // what /metrics serves
}

func newNode(cfg Config, logger *slog.Logger) (*node, error) {
	frames := frame.NewPool()
	n := &node{}
	// The hub wakes the transport's writers once per fan-out; the server
	// needs the session handler, which needs the hub: wake late-binds.
	var srv *netloop.Server
	n.hub = hub.New(hub.Config{Frames: frames, Wake: func() { srv.Wake() }, Changed: n.changed})
	if err := n.openStore(cfg, logger); err != nil {
		return nil, err
	}
	if err := n.openBus(cfg, logger); err != nil {
		return nil, err
	}
	n.pipeline = hub.NewPipeline(hub.PipelineConfig{}, n.store, n.bus, n.hub)
	n.sessions = session.New(session.Config{
		MaxIDs:       cfg.MaxIDs,
		MessageRate:  cfg.MessageRate,
		MessageBurst: cfg.MessageBurst,
		Logger:       logger,
	}, n.hub, n.pipeline)
	srv = netloop.New(netloop.Config{
		MaxMessage:   cfg.MaxMessage,
		MaxPending:   cfg.MaxPending,
		Writers:      cfg.Writers,
		Origins:      cfg.Origins,
		PingInterval: cfg.PingInterval,
		Echo:         cfg.Echo,
		NoHistograms: !cfg.Histograms,
		Handler:      n.sessions,
		Frames:       frames,
		Files: map[string]netloop.File{
			"/":            {ContentType: "text/html; charset=utf-8", Body: indexPage},
			"/index.html":  {ContentType: "text/html; charset=utf-8", Body: indexPage},
			"/edgepush.js": {ContentType: "text/javascript; charset=utf-8", Body: clientScript},
		},
		Logger: logger,
	})
	n.server = srv
	n.registry = n.newRegistry()
	return n, nil
}

// openStore opens the Redis store with -redis, else the in-memory one.
func (n *node) openStore(cfg Config, logger *slog.Logger) error {
	if cfg.Redis == "" {
		n.memory = hub.NewMemoryStore(hub.MemoryStoreConfig{
			HistorySize: cfg.HistorySize,
			HistoryTTL:  cfg.HistoryTTL,
			KeyTTL:      cfg.KeyTTL,
			Watched:     n.hub.Watched,
		})
		n.store = n.memory
		n.subs = localSubscriptions{hub: n.hub, node: cfg.NodeID}
		return nil
	}
	store, err := redisstore.New(redisstore.Config{
		URL:         cfg.Redis,
		HistorySize: cfg.HistorySize,
		HistoryTTL:  cfg.HistoryTTL,
		KeyTTL:      cfg.KeyTTL,
	})
	if err != nil {
		return err
	}
	ping, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.Ping(ping); err != nil {
		// The node still starts: publishes and subscribes fail with
		// 503 and unavailable until Redis answers (go-redis redials).
		logger.Warn("redis store not reachable at start", "err", err)
	} else {
		logger.Info("redis store connected")
	}
	n.store = store
	n.index, err = store.NewIndex(redisstore.IndexConfig{Node: cfg.NodeID, Logger: logger}, n.hub.Subscribers)
	if err != nil {
		return err
	}
	n.subs = n.index
	var ctx context.Context
	ctx, n.stop = context.WithCancel(context.Background())
	n.stopped = make(chan struct{})
	go func() { defer close(n.stopped); n.index.Run(ctx) }()
	return nil
}

// openBus opens the RabbitMQ bus with -amqp, else the in-process one.
func (n *node) openBus(cfg Config, logger *slog.Logger) error {
	if len(cfg.AMQP) == 0 {
		n.bus = hub.NewLocalBus()
		return nil
	}
	bus, err := amqpbus.New(amqpbus.Config{URLs: cfg.AMQP, Node: cfg.NodeID, Logger: logger}, n.hub.Subscribers, n.store.Since)
	if err != nil {
		return err
	}
	n.bus, n.amqp = bus, bus
	return nil
}

// ready reports whether the node takes new clients: not draining, and the
// store and the bus reachable (or embedded): /readyz.
func (n *node) ready(ctx context.Context) error {
	if n.server.Draining() {
		return sources.ErrDraining
	}
	if !n.storeUp(ctx) {
		return errors.New("store: redis not reachable")
	}
	if !n.busUp() {
		return errors.New("bus: rabbitmq not connected")
	}
	return nil
}

// changed tells the index and the bus, if any, that k's local subscribers
// changed.
func (n *node) changed(k hub.Key) {
	if n.index != nil {
		n.index.Changed(k)
	}
	if n.amqp != nil {
		n.amqp.Changed(k)
	}
}

// startPoller polls -datacenter for the ids someone subscribes to: on this
// node alone, or, with -redis, shared with the live nodes.
func (n *node) startPoller(ctx context.Context, cfg Config, logger *slog.Logger) error {
	var members poller.Members = poller.Alone(cfg.NodeID)
	if n.index != nil {
		members = n.index
	}
	p, err := poller.New(poller.Config{
		URL: cfg.DataCenter, Apps: cfg.PollApps, Interval: cfg.PollInterval, EveryPoll: cfg.PollEvery,
		StaleAfter: cfg.StaleAfter, BinaryApps: cfg.BinaryApps, Logger: logger,
	}, n.pipeline.Source("poller"), n.subs, members)
	if err != nil {
		return err
	}
	n.poller = p
	n.registry.MustRegister(p.Metrics())
	go p.Run(ctx)
	logger.Info("polling the data center", "url", cfg.DataCenter, "apps", cfg.PollApps, "interval", cfg.PollInterval)
	return nil
}

// startAMQPSource publishes the readings of the -amqp-source queue.
func (n *node) startAMQPSource(ctx context.Context, cfg Config, logger *slog.Logger) error {
	src, err := amqpsource.New(amqpsource.Config{URLs: cfg.AMQP, Queue: cfg.AMQPSource}, n.pipeline.Source("amqp"), logger)
	if err != nil {
		return err
	}
	n.source = src
	n.registry.MustRegister(src.Metrics())
	go src.Run(ctx)
	logger.Info("publishing from the amqp source", "queue", cfg.AMQPSource)
	return nil
}

// withDataCenter serves the simulated data center of -demo at
// /datacenter/ beside the API.
func withDataCenter(api http.Handler, sim *datacenter.Sim) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/datacenter/", http.StripPrefix("/datacenter", sim.Handler()))
	mux.Handle("/", api)
	return mux
}

// localSubscriptions answers /v1/subscriptions from this node's hub alone.
type localSubscriptions struct {
	hub  *hub.Hub
	node string
}

func (l localSubscriptions) App(_ context.Context, app string) ([]hub.KeyCount, error) {
	return l.hub.App(app, l.node), nil
}

// close removes the node from the index and releases the store and the
// bus, after the servers stopped.
func (n *node) close() {
	if n.stop != nil {
		n.stop()
		<-n.stopped
	}
	n.bus.Close()
	n.store.Close()
}

// servePprof serves the runtime profiles for operators; a failure to
// listen is logged and does not stop the server.
func servePprof(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		logger.Warn("pprof server stopped", "addr", addr, "err", err)
	}
}

// listen opens both listeners, so that a taken port fails the start.
// With -reuseport the WebSocket port may be shared with other processes
// that set it too: the kernel spreads new connections over them.
func listen(cfg Config) (wsListener, apiListener net.Listener, err error) {
	var lc net.ListenConfig
	if cfg.ReusePort {
		lc.Control = reusePort
	}
	wsListener, err = lc.Listen(context.Background(), "tcp", cfg.Listen) // a *net.TCPListener, as netloop needs
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	apiListener, err = net.Listen("tcp", cfg.API)
	if err != nil {
		wsListener.Close()
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.API, err)
	}
	return wsListener, apiListener, nil
}

// reusePort sets SO_REUSEPORT on a listening socket before its bind.
func reusePort(_, _ string, c syscall.RawConn) error {
	var setErr error
	err := c.Control(func(fd uintptr) {
		setErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return setErr
}

func newAPIServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// net/http's lines carry addresses, so they share one budget.
		ErrorLog: slog.NewLogLogger(ratelog.NewHandler(logger.Handler(), ratelog.Options{
			Every: logEvery, Key: func(slog.Record) string { return "api http server" },
		}), slog.LevelWarn),
	}
}

// stopped describes why a server's Serve returned before shutdown.
func stopped(name string, err error) error {
	if err == nil {
		return errors.New(name + " stopped")
	}
	return fmt.Errorf("%s: %w", name, err)
}

// shutdown stops the API first, so that no publish is in flight, then sends
// every WebSocket client still open close 1001 (none, after a drain that ran
// to its end) and waits for them, all within shutdownTimeout.
func shutdown(srv *netloop.Server, api *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if err := api.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("api server shutdown: %w", err))
	}
	if err := srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("websocket server shutdown: %w", err))
	}
	return errors.Join(errs...)
}
