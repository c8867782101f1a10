// Command datacenter-sim serves a simulated data center, the system
// edgepush's poller asks for real-time values (getRealTimeData in the
// paper): GET /realtime?app=A&ids=X,Y answers each id's current value,
// which changes as time goes; POST /control makes it fail on purpose.
//
//	datacenter-sim -apps demo,plant -ids 50 -change-every 500ms -error-5xx 0.01
//	curl 'http://127.0.0.1:8090/realtime?app=demo&ids=001,002'
//	curl -d '{"fail":"timeout","ids":["001"],"for":"30s"}' http://127.0.0.1:8090/control
//
// The API and the control endpoint are in docs/datacenter.md; the
// simulation is package edgepush/sources/datacenter. On SIGTERM or
// interrupt the server stops (requests in flight, hangs included, end at
// once) and the process exits 0; a bad flag exits 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"edgepush/sources/datacenter"
)

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the whole program; it returns the exit code: 0 after a clean stop
// (or -h), 1 when serving failed, 2 for bad flags.
func run(args []string, stderr io.Writer) int {
	cfg, err := parseConfig(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stderr)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "datacenter-sim: %v\nRun datacenter-sim -h for the flags.\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("datacenter-sim stopped", "err", err)
		return 1
	}
	logger.Info("datacenter-sim stopped")
	return 0
}

// Config is the command's configuration.
type Config struct {
	Listen string               // -listen
	Seed   uint64               // -seed; 0: from the clock
	Sim    datacenter.SimConfig // the other flags
}

// parseConfig reads the flags; it returns flag.ErrHelp for -h.
func parseConfig(args []string) (Config, error) {
	var cfg Config
	var apps, kinds string
	fs := newFlagSet(&cfg, &apps, &kinds)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	sc := &cfg.Sim
	for a := range strings.SplitSeq(apps, ",") {
		if a = strings.TrimSpace(a); a != "" {
			sc.Apps = append(sc.Apps, a)
		}
	}
	for k := range strings.SplitSeq(kinds, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		kind, err := datacenter.ParseKind(k)
		if err != nil {
			return Config{}, fmt.Errorf("-kinds: %v", err)
		}
		sc.Kinds = append(sc.Kinds, kind)
	}
	switch {
	case cfg.Listen == "":
		return Config{}, errors.New("-listen is empty")
	case len(sc.Apps) == 0:
		return Config{}, errors.New("-apps is empty")
	case sc.IDs < 1:
		return Config{}, fmt.Errorf("-ids must be at least 1, not %d", sc.IDs)
	case sc.ChangeEvery <= 0:
		return Config{}, fmt.Errorf("-change-every must be positive, not %v", sc.ChangeEvery)
	case !(sc.ChangeChance > 0 && sc.ChangeChance <= 1):
		return Config{}, fmt.Errorf("-change-chance must be in (0, 1], not %v", sc.ChangeChance)
	case sc.Hang <= 0:
		return Config{}, fmt.Errorf("-hang must be positive, not %v", sc.Hang)
	case sc.HugeSize <= 0:
		return Config{}, fmt.Errorf("-huge-size must be positive, not %d", sc.HugeSize)
	case sc.MaxIDs <= 0:
		return Config{}, fmt.Errorf("-max-ids must be positive, not %d", sc.MaxIDs)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"-error-5xx", sc.Error5xx}, {"-error-timeout", sc.ErrorTimeout}, {"-error-badjson", sc.ErrorBadJSON}, {"-error-huge", sc.ErrorHuge}} {
		if !(r.v >= 0 && r.v <= 1) {
			return Config{}, fmt.Errorf("%s must be a rate in 0..1, not %v", r.flag, r.v)
		}
	}
	if err := sc.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// newFlagSet defines the flags, with their defaults, over cfg; -apps and
// -kinds go to apps and kinds as given.
func newFlagSet(cfg *Config, apps, kinds *string) *flag.FlagSet {
	fs := flag.NewFlagSet("datacenter-sim", flag.ContinueOnError)
	sc := &cfg.Sim
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8090", "`address` to serve /realtime, /healthz and /control on")
	fs.StringVar(apps, "apps", "demo", "comma-separated `list` of the apps held")
	fs.IntVar(&sc.IDs, "ids", 10, "ids per app: 001, 002, ...")
	fs.StringVar(kinds, "kinds", "", "comma-separated `list` of value kinds, the i-th id taking the i-th modulo the list's length: number, string, bool, object, array, null (default five numbers, then one of each other kind)")
	fs.DurationVar(&sc.ChangeEvery, "change-every", time.Second, "time between two chances of a value to change, a `duration`")
	fs.Float64Var(&sc.ChangeChance, "change-chance", 1, "chance that a value changes at each -change-every, in (0, 1]")
	fs.DurationVar(&sc.Latency, "latency", 0, "added to every answer of /realtime, a `duration`")
	fs.DurationVar(&sc.Jitter, "jitter", 0, "up to this random `duration` more on every answer")
	fs.Float64Var(&sc.Error5xx, "error-5xx", 0, "`rate` of /realtime requests answered 503, 0..1")
	fs.Float64Var(&sc.ErrorTimeout, "error-timeout", 0, "`rate` of /realtime requests held for -hang, then answered 504, 0..1")
	fs.Float64Var(&sc.ErrorBadJSON, "error-badjson", 0, "`rate` of /realtime requests answered 200 with a truncated JSON body, 0..1")
	fs.Float64Var(&sc.ErrorHuge, "error-huge", 0, "`rate` of /realtime requests answered 200 with a body of -huge-size bytes, 0..1")
	fs.DurationVar(&sc.Hang, "hang", 30*time.Second, "how long a timeout failure holds a request, a `duration`")
	fs.IntVar(&sc.HugeSize, "huge-size", 16<<20, "`bytes` of a huge body")
	fs.IntVar(&sc.MaxIDs, "max-ids", datacenter.DefaultMaxIDs, "most ids one /realtime request may ask for; more is 400")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the values and the errors, for runs that repeat; 0: from the clock")
	return fs
}

func printUsage(w io.Writer) {
	fs := newFlagSet(&Config{}, new(string), new(string))
	fmt.Fprint(w, "Usage: datacenter-sim [flags]\n\nServes a simulated data center: GET /realtime?app=A&ids=X,Y, GET /healthz,\nGET and POST /control (docs/datacenter.md).\n\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// serve runs the server until ctx is done or serving fails. Requests take
// their context from ctx, so that a hang or a latency in flight ends at
// shutdown instead of holding it.
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	sc := cfg.Sim
	sc.Logger = logger
	if cfg.Seed != 0 {
		sc.Rand = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>32|1))
	}
	sim := datacenter.NewSim(sc)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	logger.Info("datacenter-sim listening", "addr", ln.Addr().String(),
		"apps", strings.Join(sim.Apps(), ","), "ids", sc.IDs, "change_every", sc.ChangeEvery,
		"latency", sc.Latency, "jitter", sc.Jitter, "error_5xx", sc.Error5xx,
		"error_timeout", sc.ErrorTimeout, "error_badjson", sc.ErrorBadJSON, "error_huge", sc.ErrorHuge)
	select {
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("datacenter-sim shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
