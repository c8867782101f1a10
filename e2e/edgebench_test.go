package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"edgepush/bench"
)

// buildEdgebench builds cmd/edgebench into the test's temp dir.
func buildEdgebench(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edgebench")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/edgebench")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/edgebench: %v\n%s", err, out)
	}
	return path
}

func runEdgebench(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("edgebench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// checkTable asserts that every row is there, complete and without errors.
func checkTable(t *testing.T, path string, rows []int, pushes int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var table bench.Table
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(table.Rows) != len(rows) {
		t.Fatalf("%d rows, want %d: %s", len(table.Rows), len(rows), data)
	}
	for i, r := range table.Rows {
		want := int64(rows[i]) * int64(pushes)
		if r.Conns != rows[i] || r.Pushes != want || r.Received != want {
			t.Errorf("row %d: conns %d pushes %d received %d; want %d, %d, %d", i, r.Conns, r.Pushes, r.Received, rows[i], want, want)
		}
		if r.ErrorRate != 0 || len(r.Errors) != 0 {
			t.Errorf("row %d (%d conns): error rate %v%%, errors %v", i, r.Conns, r.ErrorRate, r.Errors)
		}
		if r.P99MS <= 0 || r.MaxMS < r.P99MS || r.ConnectRate <= 0 {
			t.Errorf("row %d: p99 %v max %v connect/s %v", i, r.P99MS, r.MaxMS, r.ConnectRate)
		}
	}
}

// TestEdgebenchTable runs `edgebench table` with small rows against a real
// edgepush, over two client processes, and checks every output format.
func TestEdgebenchTable(t *testing.T) {
	srv := StartServer(t)
	prefix := filepath.Join(t.TempDir(), "table")
	out := runEdgebench(t, buildEdgebench(t), "table", "-targets", srv.Addr+"="+srv.API, "-rows", "50,200",
		"-procs", "2", "-pushes", "3", "-interval", "50ms", "-out", prefix)
	for _, want := range []string{"50", "200"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks the %s row:\n%s", want, out)
		}
	}
	checkTable(t, prefix+".json", []int{50, 200}, 3)
	for _, ext := range []string{".csv", ".svg", ".md"} {
		if info, err := os.Stat(prefix + ext); err != nil || info.Size() == 0 {
			t.Errorf("%s%s: %v", prefix, ext, err)
		}
	}
}

// TestEdgebenchTableSpawnsServers lets edgebench start two edgepush
// processes itself and spread the connections over them.
func TestEdgebenchTableSpawnsServers(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "spawn")
	runEdgebench(t, buildEdgebench(t), "table", "-spawn", "2", "-server-bin", binaryPath, "-base-port", "0",
		"-rows", "100", "-pushes", "2", "-interval", "50ms", "-out", prefix)
	checkTable(t, prefix+".json", []int{100}, 2) // each connection gets its own server's two pushes
}

// TestEdgebenchChurn: after storms of connects and disconnects the server
// holds no connection and no subscription.
func TestEdgebenchChurn(t *testing.T) {
	srv := StartServer(t)
	out := runEdgebench(t, buildEdgebench(t), "churn", "-target", srv.Addr, "-api", srv.API, "-conns", "300", "-rounds", "3", "-json")
	var r bench.ChurnResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("churn output %q: %v", out, err)
	}
	if r.Leaked || r.ConnectionsAfter != 0 || r.SubscriptionsAfter != 0 || len(r.Errors) != 0 {
		t.Fatalf("after churn: %+v", r)
	}
}

// TestEdgebenchTableThroughACluster: `edgebench table -cluster -reuseport`
// spawns two nodes on one port, on the package's Redis and RabbitMQ; each
// round's one publish, entering the nodes in turn, reaches every
// connection on both.
func TestEdgebenchTableThroughACluster(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	prefix := filepath.Join(t.TempDir(), "cluster")
	runEdgebench(t, buildEdgebench(t), "table", "-spawn", "2", "-cluster", "-reuseport", "-redis", redisURL, "-amqp", amqpURL,
		"-server-bin", binaryPath, "-base-port", "0", "-rows", "200", "-pushes", "4", "-interval", "50ms", "-out", prefix)
	checkTable(t, prefix+".json", []int{200}, 4)
	data, err := os.ReadFile(prefix + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var table bench.Table
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	if r := table.Rows[0]; !r.Cluster || r.Servers != 2 || r.FanoutRate <= 0 {
		t.Errorf("row: cluster %v, servers %d, fan-out %v frames/s; want a cluster of 2 and a rate", r.Cluster, r.Servers, r.FanoutRate)
	}
}

// TestEdgebenchCluster runs `edgebench cluster` briefly on two spawned
// nodes: every publish answered 200 reaches every subscriber on both, and
// every paced publish reaches the other node.
func TestEdgebenchCluster(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	out := runEdgebench(t, buildEdgebench(t), "cluster", "-nodes", "2", "-redis", redisURL, "-amqp", amqpURL,
		"-server-bin", binaryPath, "-keys", "20", "-duration", "1s", "-rate", "100", "-latency-duration", "1s",
		"-latency-keys", "10", "-json")
	var r bench.ClusterResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("cluster output %q: %v", out, err)
	}
	if r.Nodes != 2 || r.Published == 0 || r.Expected != 2*r.Published || r.Delivered != r.Expected || len(r.Errors) != 0 {
		t.Errorf("throughput: %d nodes, %d published, %d of %d delivered, errors %v", r.Nodes, r.Published, r.Delivered, r.Expected, r.Errors)
	}
	if r.LatencyPublished != 100 || r.LatencyReceived != int64(r.LatencyPublished) || len(r.LatencyErrors) != 0 || r.P99MS <= 0 {
		t.Errorf("latency: %d published, %d received, p99 %v ms, errors %v", r.LatencyPublished, r.LatencyReceived, r.P99MS, r.LatencyErrors)
	}
}
