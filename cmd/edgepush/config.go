package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"edgepush/hub/amqpbus"
	"edgepush/hub/redisstore"
	"edgepush/sources/poller"
)

// Config is the server's configuration, read from flags and the
// environment by parseConfig.
type Config struct {
	Listen       string        // -listen: WebSocket at /ws, demo page at /
	API          string        // -api: internal publish API, health and metrics
	Demo         bool          // -demo: run the demo sensor source
	Echo         bool          // -echo: serve /echo
	MaxMessage   int           // -max-message: largest client message, bytes
	MaxIDs       int           // -max-ids: most ids in one sub or unsub
	MaxPending   int           // -max-pending: bytes queued to one connection before it is cut off
	Writers      int           // -writers: writer goroutines; 0 for one per CPU
	Origins      []string      // -origins: allowed Origin values; empty allows any
	PingInterval time.Duration // -ping-interval: ping connections quiet this long
	HistorySize  int           // -history-size: pushes kept per key, the last value included
	HistoryTTL   time.Duration // -history-ttl: pushes older than this leave the history
	KeyTTL       time.Duration // -key-ttl: keys without publish or subscriber this long are forgotten
	MessageRate  float64       // -message-rate: client messages a second per connection
	MessageBurst int           // -message-burst: client messages at once per connection
	Redis        string        // -redis: URL of the Redis store; empty: in memory
	NodeID       string        // -node-id: this node's id in the cluster
	AMQP         []string      // -amqp: RabbitMQ URLs, tried in turn; empty: in-process bus
	ReusePort    bool          // -reuseport: share -listen with other processes (SO_REUSEPORT)
	DataCenter   string        // -datacenter: base URL of the data center to poll; empty: none
	PollApps     []string      // -poll-apps: the apps polled
	PollInterval time.Duration // -poll-interval: between two polls of an app
	PollEvery    bool          // -poll-every: publish every polled value, not only changes
	StaleAfter   time.Duration // -stale-after: a polled key without a value this long is stale
	BinaryApps   []string      // -binary-apps: apps whose polled values go as binary pushes (typed values)
	AMQPSource   string        // -amqp-source: a queue on the -amqp broker to publish readings from; empty: none
	DrainTimeout time.Duration // -drain-timeout: closes of a drain (SIGTERM) are spread over this; 0: all at once
	LogLevel     slog.Level    // -log-level
	LogFormat    string        // -log-format: text or json
	Pprof        string        // -pprof: address of net/http/pprof, empty for none
	Histograms   bool          // -latency-histograms: the publish-to-written and queue-wait histograms of /metrics
}

// envPrefix starts the environment variable of every flag: -max-ids is
// EDGEPUSH_MAX_IDS.
const envPrefix = "EDGEPUSH_"

// errConfig marks an invalid setting.
var errConfig = errors.New("invalid configuration")

// parseConfig reads the configuration from the command-line arguments (not
// including the program name) and, for each flag not given there, from its
// environment variable as getenv returns it. It returns flag.ErrHelp for -h.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := Config{}
	var lists listFlags
	fs := newFlagSet(&cfg, &lists)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", errConfig, fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return Config{}, err
	}
	cfg.Origins = splitList(lists.origins)
	cfg.AMQP = splitList(lists.amqp)
	cfg.PollApps = splitList(lists.pollApps)
	cfg.BinaryApps = splitList(lists.binaryApps)
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// listFlags are the comma-separated lists as given, split after parsing.
type listFlags struct {
	origins, amqp, pollApps, binaryApps string
}

// newFlagSet defines the flags, with their defaults, over cfg; the lists
// go to lists as given.
func newFlagSet(cfg *Config, lists *listFlags) *flag.FlagSet {
	origins, amqpURLs := &lists.origins, &lists.amqp
	fs := flag.NewFlagSet("edgepush", flag.ContinueOnError)
	fs.StringVar(&cfg.Listen, "listen", ":8080", "`address` of the WebSocket server: /ws, the demo page at /")
	fs.StringVar(&cfg.API, "api", "127.0.0.1:8081", "`address` of the internal API: /v1/publish, /healthz, /metrics")
	fs.BoolVar(&cfg.Demo, "demo", false, "run a simulated data center in process (at the API's /datacenter/) and poll it for app demo, ids 001 to 010")
	fs.BoolVar(&cfg.Echo, "echo", false, "serve /echo, which sends every message back")
	fs.IntVar(&cfg.MaxMessage, "max-message", 64<<10, "largest message a client may send, in `bytes`")
	fs.IntVar(&cfg.MaxIDs, "max-ids", 256, "most ids one sub or unsub message may carry")
	fs.IntVar(&cfg.MaxPending, "max-pending", 1<<20, "`bytes` queued to one connection before it is cut off as a slow consumer")
	fs.IntVar(&cfg.Writers, "writers", 0, "writer goroutines draining connection queues; 0: one per CPU")
	fs.StringVar(origins, "origins", "", "comma-separated `list` of allowed Origin values; empty allows any")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", 30*time.Second, "ping a connection after it has been quiet this `duration`")
	fs.IntVar(&cfg.HistorySize, "history-size", 64, "pushes kept per key for recovery, the last value included")
	fs.DurationVar(&cfg.HistoryTTL, "history-ttl", 2*time.Minute, "pushes older than this `duration` leave the history (the last value stays)")
	fs.DurationVar(&cfg.KeyTTL, "key-ttl", time.Hour, "forget a key with no publish and no subscriber for this `duration`")
	fs.Float64Var(&cfg.MessageRate, "message-rate", 100, "client messages a second one connection may send on average")
	fs.IntVar(&cfg.MessageBurst, "message-burst", 200, "client messages one connection may send at once")
	fs.StringVar(&cfg.Redis, "redis", "", "`URL` of Redis for seq, last value and history, shared by the nodes (redis://, rediss://); empty: in memory")
	fs.StringVar(amqpURLs, "amqp", "", "comma-separated RabbitMQ `URLs` (amqp://, amqps://), tried in turn, carrying pushes between nodes; needs -redis; empty: in process")
	fs.BoolVar(&cfg.ReusePort, "reuseport", false, "share the -listen port with other edgepush processes on this host (SO_REUSEPORT); each is its own node")
	fs.StringVar(&cfg.DataCenter, "datacenter", "", "base `URL` of a data center to poll (GET URL/realtime?app=A&ids=...) for the ids someone subscribes to; with -demo: a simulated one in process")
	fs.StringVar(&lists.pollApps, "poll-apps", "", "comma-separated `list` of the apps -datacenter serves; with -demo: demo")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", time.Second, "between two polls of an app, a `duration`")
	fs.BoolVar(&cfg.PollEvery, "poll-every", false, "publish every polled value, not only those that changed")
	fs.DurationVar(&cfg.StaleAfter, "stale-after", 10*time.Second, "a polled key without a value this `duration` is stale")
	fs.StringVar(&lists.binaryApps, "binary-apps", "", "comma-separated `list` of polled apps whose values go as binary pushes (a type tag, then the value: docs/protocol.md); the others as text")
	fs.StringVar(&cfg.AMQPSource, "amqp-source", "", "`queue` on the -amqp broker whose messages are readings to publish (docs/sources.md); empty: none")
	fs.StringVar(&cfg.NodeID, "node-id", defaultNodeID(), "this node's `id` in the cluster, unique among the nodes on one Redis")
	fs.StringVar(&cfg.Pprof, "pprof", "", "serve net/http/pprof on this `address` (keep it on localhost); empty: off")
	fs.BoolVar(&cfg.Histograms, "latency-histograms", true, "observe every push frame written in the /metrics histograms edgepush_publish_to_write_seconds and edgepush_queue_wait_seconds (false saves their cost, docs/benchmarks.md)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, close the clients with 1001 in batches spread over this `duration` (after /readyz turned 503 and upgrades are refused); 0: all at once")
	cfg.LogLevel = slog.LevelInfo
	fs.Var((*levelFlag)(&cfg.LogLevel), "log-level", "least severe `level` logged: debug, info (the default), warn or error")
	cfg.LogFormat = "text"
	fs.Var((*formatFlag)(&cfg.LogFormat), "log-format", "`format` of the log lines on stderr: text (key=value, the default) or json (one object a line)")
	return fs
}

// printUsage writes the flags and their environment variables to w.
func printUsage(w io.Writer) {
	fs := newFlagSet(&Config{}, &listFlags{})
	fmt.Fprintf(w, "Usage: edgepush [flags]\n\nEvery flag can also be set with the environment variable %s<NAME>\n(-max-ids is %sMAX_IDS); a flag on the command line wins.\n\n", envPrefix, envPrefix)
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (env " + envName(f.Name) + ")" })
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets each flag not given on the command line from its
// environment variable, if that is not empty.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errConfig, name, v, e)
			}
		}
	})
	return err
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// validate checks the values that parse but make no sense.
func (c Config) validate() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("%w: -listen is empty", errConfig)
	case c.API == "":
		return fmt.Errorf("%w: -api is empty", errConfig)
	case c.MaxMessage <= 0:
		return fmt.Errorf("%w: -max-message must be positive, not %d", errConfig, c.MaxMessage)
	case c.MaxIDs <= 0:
		return fmt.Errorf("%w: -max-ids must be positive, not %d", errConfig, c.MaxIDs)
	case c.Writers < 0:
		return fmt.Errorf("%w: -writers must not be negative, not %d", errConfig, c.Writers)
	case c.MaxPending <= 0:
		return fmt.Errorf("%w: -max-pending must be positive, not %d", errConfig, c.MaxPending)
	case c.PingInterval <= 0:
		return fmt.Errorf("%w: -ping-interval must be positive, not %v", errConfig, c.PingInterval)
	case c.HistorySize <= 0:
		return fmt.Errorf("%w: -history-size must be at least 1 (the last value), not %d", errConfig, c.HistorySize)
	case c.HistoryTTL <= 0:
		return fmt.Errorf("%w: -history-ttl must be positive, not %v", errConfig, c.HistoryTTL)
	case c.KeyTTL <= 0:
		return fmt.Errorf("%w: -key-ttl must be positive, not %v", errConfig, c.KeyTTL)
	case !(c.MessageRate > 0) || math.IsInf(c.MessageRate, 0):
		return fmt.Errorf("%w: -message-rate must be a positive number, not %v", errConfig, c.MessageRate)
	case c.MessageBurst <= 0:
		return fmt.Errorf("%w: -message-burst must be positive, not %d", errConfig, c.MessageBurst)
	case c.DrainTimeout < 0:
		return fmt.Errorf("%w: -drain-timeout must not be negative, not %v", errConfig, c.DrainTimeout)
	}
	if c.NodeID == "" || len(c.NodeID) > 64 || strings.ContainsAny(c.NodeID, "\x00{}") {
		return fmt.Errorf("%w: -node-id must be 1 to 64 bytes without NUL, '{' or '}', not %q", errConfig, c.NodeID)
	}
	if c.Redis != "" {
		if err := redisstore.CheckURL(c.Redis); err != nil {
			return fmt.Errorf("%w: -redis: %v", errConfig, err)
		}
	}
	if err := c.validatePolling(); err != nil {
		return err
	}
	if c.AMQPSource != "" && len(c.AMQP) == 0 {
		return fmt.Errorf("%w: -amqp-source needs -amqp, the broker it is on", errConfig)
	}
	if len(c.AMQP) > 0 {
		if c.Redis == "" {
			return fmt.Errorf("%w: -amqp needs -redis: the nodes must share each key's sequence", errConfig)
		}
		if err := amqpbus.CheckURLs(c.AMQP); err != nil {
			return fmt.Errorf("%w: -amqp: %v", errConfig, err)
		}
	}
	return nil
}

// validatePolling checks the poller's flags.
func (c Config) validatePolling() error {
	switch {
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: -poll-interval must be positive, not %v", errConfig, c.PollInterval)
	case c.StaleAfter <= 0:
		return fmt.Errorf("%w: -stale-after must be positive, not %v", errConfig, c.StaleAfter)
	case c.DataCenter == "":
		if (len(c.PollApps) > 0 || len(c.BinaryApps) > 0) && !c.Demo {
			return fmt.Errorf("%w: -poll-apps and -binary-apps need -datacenter", errConfig)
		}
		return nil
	case len(c.PollApps) == 0:
		return fmt.Errorf("%w: -datacenter needs -poll-apps, the apps it serves", errConfig)
	}
	_, err := poller.New(poller.Config{URL: c.DataCenter, Apps: c.PollApps}, nil, nil, poller.Alone(c.NodeID))
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	return nil
}

// defaultNodeID is the host name and the process id: unique among the
// processes of one host, and across hosts with distinct names.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edgepush"
	}
	host = strings.NewReplacer("{", "", "}", "").Replace(host)
	return fmt.Sprintf("%.50s-%d", host, os.Getpid())
}

// levelFlag is a slog.Level that takes only the four names.
type levelFlag slog.Level

func (l *levelFlag) String() string {
	if l == nil {
		return slog.LevelInfo.String()
	}
	return strings.ToLower(slog.Level(*l).String())
}

func (l *levelFlag) Set(s string) error {
	levels := map[string]slog.Level{
		"debug": slog.LevelDebug,
		"info":  slog.LevelInfo,
		"warn":  slog.LevelWarn,
		"error": slog.LevelError,
	}
	level, ok := levels[strings.ToLower(s)]
	if !ok {
		return fmt.Errorf("unknown level %q: use debug, info, warn or error", s)
	}
	*l = levelFlag(level)
	return nil
}

// formatFlag is the log format, text or json.
type formatFlag string

func (f *formatFlag) String() string {
	if f == nil || *f == "" {
		return "text"
	}
	return string(*f)
}

func (f *formatFlag) Set(s string) error {
	switch v := strings.ToLower(s); v {
	case "text", "json":
		*f = formatFlag(v)
		return nil
	}
	return fmt.Errorf("unknown log format %q: use text or json", s)
}
