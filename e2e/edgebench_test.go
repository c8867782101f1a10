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
