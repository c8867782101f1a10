package netloop

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestLatencyHistogramsMerge: spans observed by two writers and by the
// flush goroutines' shared part come out of a scrape as one histogram
// with the right cumulative buckets, count and sum.
func TestLatencyHistogramsMerge(t *testing.T) {
	l := newLatency(2)
	w0, w1 := l.part(0), l.part(1)
	ms := int64(time.Millisecond)
	w0.published.observe(ms / 2)      // 0.5 ms: bucket le=0.0005
	w1.published.observe(3 * ms)      // 3 ms: le=0.005
	w1.published.observe(-ms)         // another host's clock ahead: counts as 0
	w0.published.observe(20e9)        // 20 s: +Inf only
	w0.observeShared(11*ms, ms, 0, 3) // 3 frames 10 ms after publishing: le=0.01
	tests := []struct {
		le   float64
		want uint64
	}{
		{0.00005, 1}, {0.0005, 2}, {0.001, 2}, {0.005, 3}, {0.01, 6}, {10, 6},
	}
	var m dto.Metric
	metric := collectOne(t, &l.published)
	if err := metric.Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 7 {
		t.Errorf("count = %d, want 7", h.GetSampleCount())
	}
	if want := 0.0005 + 0.003 + 0 + 20 + 3*0.01; h.GetSampleSum() < want-1e-9 || h.GetSampleSum() > want+1e-9 {
		t.Errorf("sum = %v, want %v", h.GetSampleSum(), want)
	}
	cumulative := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for _, tc := range tests {
		if got := cumulative[tc.le]; got != tc.want {
			t.Errorf("bucket le=%v = %d, want %d", tc.le, got, tc.want)
		}
	}
	var empty dto.Metric
	if err := collectOne(t, &l.fanned).Write(&empty); err != nil || empty.GetHistogram().GetSampleCount() != 0 {
		t.Errorf("queue wait: count %d (%v), want 0: nothing had a fan-out stamp", empty.GetHistogram().GetSampleCount(), err)
	}
}

// collectOne returns the one metric m collects.
func collectOne(t *testing.T, m *merged) prometheus.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 2)
	m.Collect(ch)
	close(ch)
	if len(ch) != 1 {
		t.Fatalf("collected %d metrics, want 1", len(ch))
	}
	return <-ch
}
