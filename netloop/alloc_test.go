//go:build !race

// The race detector makes sync.Pool drop items on purpose, so allocation
// counts are checked without it (make test runs this file separately).

package netloop

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"edgepush/frame"
	"edgepush/internal/metricset"
)

// TestPushPathAllocatesNothing follows a push from its encoding through a
// connection's queue and writev(2) into a socket, in steady state (the
// hub's part is checked in package hub), with the latency histograms
// observing every frame and without them.
func TestPushPathAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"histograms", Config{}},
		{"no histograms", Config{NoHistograms: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { testPushPathAllocations(t, tc.cfg) })
	}
}

func testPushPathAllocations(t *testing.T, cfg Config) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	c := newDetachedConn(t, cfg, routePush)
	c.fd = fds[0]
	data := []byte(`{"value":21.5}`)
	sink := make([]byte, 4096)
	push := func() {
		stamp := time.Now().UnixNano()
		for i := 0; i < 4; i++ {
			f := c.server.frames.Text(frame.Push{App: "demo", ID: "001", Seq: uint64(i), Data: data})
			f.Stamp(stamp, stamp)
			c.Queue(f)
			f.Release()
		}
		c.server.Wake()
		c.writer.drainOnce()
		if _, err := syscall.Read(fds[1], sink); err != nil {
			t.Fatal(err)
		}
	}
	push()
	if allocs := testing.AllocsPerRun(1000, push); allocs != 0 {
		t.Fatalf("a push through a connection allocates %.1f times, want 0", allocs)
	}
	if n := c.server.metrics.counters[counterFramesOut].Load(); n != 4*1002 {
		t.Fatalf("%d frames written, want %d", n, 4*1002)
	}
	text, err := metricset.Text(c.server.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{"edgepush_publish_to_write_seconds_count", "edgepush_queue_wait_seconds_count"} {
		want := series + " 4008\n"
		if cfg.NoHistograms {
			want = series
		}
		if got := strings.Contains(text, want); got == cfg.NoHistograms {
			t.Errorf("metrics with %+v: %q found %v", cfg, want, got)
		}
	}
}
