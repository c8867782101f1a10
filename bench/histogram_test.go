package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverValuesInOrder(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucket of %d is %d, before the previous %d", v, b, prev)
		}
		if low, next := lowOf(b), lowOf(b+1); v < low || v >= next {
			t.Fatalf("%d is outside its bucket %d [%d, %d)", v, b, low, next)
		}
		prev = b
	}
}

func TestQuantilesWithinPrecision(t *testing.T) {
	cases := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{name: "uniform ms", gen: func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(100 * time.Millisecond))) }},
		{name: "exponential", gen: func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(time.Millisecond)) }},
		{name: "tiny", gen: func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(100)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var a, b Histogram
			var all []time.Duration
			for i := 0; i < 20000; i++ {
				d := tc.gen(r)
				all = append(all, d)
				if i%2 == 0 {
					a.Record(d)
				} else {
					b.Record(d)
				}
			}
			a.Merge(&b)
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := all[int(q*float64(len(all)-1))]
				got := a.Quantile(q)
				tolerance := exact/100 + 2
				if got < exact-tolerance || got > exact+tolerance {
					t.Errorf("q%.3f = %v, exact %v", q, got, exact)
				}
			}
			if a.Total != 20000 || a.Max() != all[len(all)-1] {
				t.Fatalf("total %d max %v, want 20000 %v", a.Total, a.Max(), all[len(all)-1])
			}
		})
	}
}
