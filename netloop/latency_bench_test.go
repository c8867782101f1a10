package netloop

import (
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/frame"
	"edgepush/internal/metricset"
)

// BenchmarkWriteStampedFrames is the writer's part of a push per frame:
// queue, writev(2) of 16 frames at a time, and, with the histograms,
// observing each frame's two latencies. The difference between the two
// sub-benchmarks is what the histograms cost per frame written.
func BenchmarkWriteStampedFrames(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"histograms", Config{}},
		{"no_histograms", Config{NoHistograms: true}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchmarkWrites(b, tc.cfg) })
	}
}

func benchmarkWrites(b *testing.B, cfg Config) {
	const batch = 16
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	c := newDetachedConn(b, cfg, routePush)
	c.fd = fds[0]
	data := []byte(`{"value":21.5}`)
	sink := make([]byte, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		stamp := time.Now().UnixNano()
		for j := range batch {
			f := c.server.frames.Text(frame.Push{App: "demo", ID: "001", Seq: uint64(i + j), Data: data})
			f.Stamp(stamp, stamp)
			c.Queue(f)
			f.Release()
		}
		c.writer.drainOnce()
		if _, err := syscall.Read(fds[1], sink); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserveLatency is the histograms' part alone: one op is one
// frame written, its two latencies observed (batches of 16 frames share
// one clock read, as a writev(2) of them does): with the writer's own
// parts, and, for comparison, with two client_golang Histograms.
func BenchmarkObserveLatency(b *testing.B) {
	b.Run("parts", benchmarkObserveParts)
	b.Run("client_golang", benchmarkObserveClientGolang)
}

func benchmarkObserveClientGolang(b *testing.B) {
	published := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "p", Buckets: metricset.LatencyBuckets()})
	fanned := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "f", Buckets: metricset.LatencyBuckets()})
	stamp := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 16 {
		now := time.Now().UnixNano()
		for range 16 {
			published.Observe(seconds(now - stamp))
			fanned.Observe(seconds(now - stamp))
		}
	}
}

func benchmarkObserveParts(b *testing.B) {
	pool := frame.NewPool()
	frames := make([]*frame.Frame, 16)
	stamp := time.Now().UnixNano()
	for i := range frames {
		frames[i] = pool.Text(frame.Push{App: "demo", ID: "001", Seq: uint64(i), Data: []byte(`1`)})
		frames[i].Stamp(stamp, stamp)
	}
	w := newLatency(1).part(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(frames) {
		w.observe(frames)
	}
}
