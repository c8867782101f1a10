package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgepush/bench"
)

// paperRows are the paper's Table 2 rows, then the machine's.
const paperRows = "500,750,900,1200,1500,5000,10000,19000"

// table runs the paper's Table 2 and onwards: one row per count of
// concurrent connections, over one or more servers and client processes.
func table(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	rows := fs.String("rows", paperRows, "comma-separated connection counts, one row each")
	spawn := fs.Int("spawn", 0, "start at least this many edgepush processes on consecutive ports for each row, fresh per row (then -targets is ignored)")
	perServer := fs.Int("per-server", 19000, "with -spawn, the most connections one edgepush process takes: rows over it get more processes")
	serverBin := fs.String("server-bin", "", "edgepush binary for -spawn; default: edgepush beside edgebench, then on PATH")
	serverArgs := fs.String("server-args", "", "extra flags for spawned servers, space-separated (for example -ping-interval 10m for runs that overload the host)")
	basePort := fs.Int("base-port", 18300, "first WebSocket port for -spawn; APIs from base-port+1000; 0: any free ports")
	targets := fs.String("targets", "127.0.0.1:8080=127.0.0.1:8081", "servers already running: comma-separated ws=api address pairs")
	procs := fs.Int("procs", 0, "client worker processes per row; 0: one per 15,000 connections")
	pushes := fs.Int("pushes", 10, "pushes to each server per row")
	settle := fs.Duration("settle", 0, "how long to wait for the last pushes; 0: 10 s plus 1 s per 10,000 connections")
	interval := fs.Duration("interval", 0, "pause between rounds of pushes; 0: 200 ms, or 1 s per 100,000 connections if longer, so rounds do not queue behind each other")
	outPrefix := fs.String("out", "", "also write PREFIX.json, .csv, .svg and .md")
	asJSON := fs.Bool("json", false, "print JSON instead of the table")
	withFloor := fs.Bool("floor", false, "first measure the machine's raw write(2) fan-out rate and show each row's p99 against it")
	asCluster := fs.Bool("cluster", false, "with -spawn: the servers are nodes of one cluster (-redis, -amqp); each round is one publish, entering the nodes in turn, that every connection receives")
	shared := fs.Bool("reuseport", false, "with -spawn: the servers share one WebSocket port (-reuseport), the kernel spreading the connections over them")
	var cf clusterFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*asCluster || *shared) && *spawn == 0 {
		return errors.New("-cluster and -reuseport need -spawn")
	}
	sc := spawnConfig{*spawn, *perServer, *serverBin, *basePort, strings.Fields(*serverArgs), *shared}
	if *asCluster {
		clusterArgs, stop, err := cf.start()
		defer stop()
		if err != nil {
			return err
		}
		sc.args = append(sc.args, clusterArgs...)
	}
	counts, err := parseCounts(*rows)
	if err != nil {
		return err
	}
	cfg := bench.TableConfig{Procs: *procs, Pushes: *pushes, Interval: *interval, Settle: *settle, Worker: workerCommand(ctx), Cluster: *asCluster}
	if *spawn == 0 {
		if cfg.Servers, err = parseTargets(*targets); err != nil {
			return err
		}
	}
	if *withFloor {
		if cfg.FloorRate, err = measureFloor(ctx, min(slices.Max(counts), 19000)); err != nil {
			return err
		}
	}
	progress := bench.NewProgress(os.Stderr, bench.IsTerminal(os.Stderr), 5*time.Second)
	cfg.Progress = progress.Update
	var t bench.Table
	for _, n := range counts {
		var row bench.Table
		if row, err = runRow(ctx, cfg, n, sc); err != nil {
			break
		}
		t.Rows = append(t.Rows, row.Rows...)
	}
	progress.Stop()
	t.Machine = machine()
	t.Command = "edgebench table " + strings.Join(args, " ")
	if writeErr := writeTable(out, t, *asJSON, *outPrefix); writeErr != nil {
		return errors.Join(err, writeErr)
	}
	return err
}

// spawnConfig says which servers a table run starts for each row.
type spawnConfig struct {
	min       int // at least this many; 0: use the -targets
	perServer int // connections per server at most
	bin       string
	base      int
	args      []string
	shared    bool // one WebSocket port for all (-reuseport)
}

// runRow measures one row; with spawned servers on servers started for it
// alone, so that their memory growth is this row's.
func runRow(ctx context.Context, cfg bench.TableConfig, n int, spawn spawnConfig) (bench.Table, error) {
	cfg.Rows = []int{n}
	if cfg.Interval == 0 {
		cfg.Interval = max(200*time.Millisecond, time.Duration(n/100)*time.Millisecond)
	}
	if cfg.Settle == 0 {
		cfg.Settle = 10*time.Second + time.Duration(n/10000)*time.Second
	}
	if spawn.min == 0 {
		return bench.RunTable(ctx, cfg)
	}
	k := max(spawn.min, (n+spawn.perServer-1)/max(spawn.perServer, 1))
	var servers *bench.Servers
	var err error
	if spawn.shared {
		servers, err = spawnSharedServers(ctx, spawn.bin, k, spawn.base, spawn.args)
	} else {
		servers, err = spawnServers(ctx, spawn.bin, k, spawn.base, spawn.args)
	}
	if err != nil {
		return bench.Table{}, err
	}
	defer servers.Stop()
	cfg.Servers = servers.Addrs
	return bench.RunTable(ctx, cfg)
}

// measureFloor returns the machine's raw fan-out rate over conns
// connections, with one writer per CPU.
func measureFloor(ctx context.Context, conns int) (float64, error) {
	r, err := runFloor(ctx, bench.FloorConfig{Conns: conns, Writers: runtime.NumCPU(), Rounds: 5})
	if err != nil {
		return 0, fmt.Errorf("floor: %w", err)
	}
	fmt.Fprintf(os.Stderr, "edgebench: floor %.0f frames/s over %d connections\n", r.FramesPerSec, conns)
	return r.FramesPerSec, nil
}

func parseCounts(list string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-rows: %q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

func parseTargets(list string) ([]bench.ServerAddr, error) {
	var servers []bench.ServerAddr
	for _, pair := range strings.Split(list, ",") {
		ws, api, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || ws == "" || api == "" {
			return nil, fmt.Errorf("-targets: %q is not ws=api", pair)
		}
		servers = append(servers, bench.ServerAddr{WS: ws, API: api})
	}
	return servers, nil
}

// workerCommand starts this binary as a worker.
func workerCommand(ctx context.Context) func() *exec.Cmd {
	self, _ := os.Executable()
	return func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, self, "worker")
		cmd.Stderr = os.Stderr
		return cmd
	}
}

func spawnServers(ctx context.Context, bin string, k, base int, args []string) (*bench.Servers, error) {
	bin, err := serverBinary(bin)
	if err != nil {
		return nil, err
	}
	return bench.SpawnServers(ctx, bin, k, base, args, os.Stderr)
}

// spawnSharedServers is spawnServers with one WebSocket port for all.
func spawnSharedServers(ctx context.Context, bin string, k, base int, args []string) (*bench.Servers, error) {
	bin, err := serverBinary(bin)
	if err != nil {
		return nil, err
	}
	return bench.SpawnShared(ctx, bin, k, base, args, os.Stderr)
}

// serverBinary returns the edgepush binary to spawn: bin, or the one
// beside edgebench, or the one on PATH.
func serverBinary(bin string) (string, error) {
	if bin == "" {
		self, _ := os.Executable()
		bin = filepath.Join(filepath.Dir(self), "edgepush")
		if _, err := os.Stat(bin); err != nil {
			if bin, err = exec.LookPath("edgepush"); err != nil {
				return "", errors.New("-spawn: no edgepush beside edgebench or on PATH; give -server-bin")
			}
		}
	}
	return bin, nil
}

// machine describes this machine for the table's header.
func machine() string {
	var info strings.Builder
	fmt.Fprintf(&info, "%d cores", runtime.NumCPU())
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(string(data), "MemTotal: %d kB", &kb)
		fmt.Fprintf(&info, ", %d GiB", (kb+(1<<19))>>20)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Fprintf(&info, ", Linux %s", strings.TrimSpace(string(data)))
	}
	return info.String()
}

// writeTable prints t and, with a prefix, writes it in every format.
func writeTable(out io.Writer, t bench.Table, asJSON bool, prefix string) error {
	show := bench.WriteText
	if asJSON {
		show = bench.WriteJSON
	}
	if err := show(out, t); err != nil {
		return err
	}
	if prefix == "" {
		return nil
	}
	for ext, write := range map[string]func(io.Writer, bench.Table) error{
		".json": bench.WriteJSON, ".csv": bench.WriteCSV, ".svg": bench.WriteSVG, ".md": bench.WritePaperComparison,
	} {
		if err := writeFile(prefix+ext, t, write); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, t bench.Table, write func(io.Writer, bench.Table) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f, t); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// worker is the process a table run starts per share of connections.
func worker(ctx context.Context, args []string, out io.Writer) error {
	return bench.RunWorker(ctx, os.Stdin, out)
}

// churn opens and closes connections in storms and checks that the server
// returns to its baseline.
func churn(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("churn", flag.ContinueOnError)
	c.register(fs, 5000)
	rounds := fs.Int("rounds", 5, "connect-and-disconnect storms")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := bench.Churn(ctx, bench.ChurnConfig{Target: c.target, API: c.api, Conns: c.conns, Rounds: *rounds, Sources: strings.Split(c.sources, ",")})
	if err != nil {
		return err
	}
	if c.json {
		return jsonOut(out, r)
	}
	fmt.Fprintln(out, r)
	if r.Leaked {
		return errors.New("the server did not return to its baseline")
	}
	return nil
}
