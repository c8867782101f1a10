package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets per power of two: values are kept to within 1/128 (0.8%).
const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits
	histBuckets   = (64 - subBucketBits + 1) * subBuckets
)

// Histogram counts durations in log-linear buckets, HDR-style: exact below
// 128 ns and within 0.8% above, over the whole int64 range. Histograms
// merge exactly, so percentiles across loops and processes are computed
// from all samples, never averaged. The zero value is empty and ready.
// It is not safe for concurrent use.
type Histogram struct {
	Counts []uint64 `json:"counts,omitempty"` // by bucket; nil until the first Record
	Total  uint64   `json:"total"`
	Sum    float64  `json:"sum_ns"` // for the mean
	MaxNS  int64    `json:"max_ns"`
}

// bucketOf returns the bucket of v (v >= 0).
func bucketOf(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - subBucketBits // >= 1
	return exp*subBuckets + int(uint64(v)>>(exp-1)) - subBuckets
}

// lowOf returns the smallest value in bucket b.
func lowOf(b int) int64 {
	if b < subBuckets {
		return int64(b)
	}
	exp := b / subBuckets
	sub := b%subBuckets + subBuckets
	return int64(sub) << (exp - 1)
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	h.Counts[bucketOf(v)]++
	h.Total++
	h.Sum += float64(v)
	h.MaxNS = max(h.MaxNS, v)
}

// Merge adds every sample of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.Total == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = make([]uint64, histBuckets)
	}
	for i, n := range o.Counts {
		h.Counts[i] += n
	}
	h.Total += o.Total
	h.Sum += o.Sum
	h.MaxNS = max(h.MaxNS, o.MaxNS)
}

// Quantile returns the duration below which a fraction q (0 to 1) of the
// samples fall, as the upper edge of its bucket capped by the maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.Total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Total)))
	rank = min(max(rank, 1), h.Total)
	var seen uint64
	for b, n := range h.Counts {
		seen += n
		if seen >= rank {
			return time.Duration(min(lowOf(b+1)-1, h.MaxNS))
		}
	}
	return time.Duration(h.MaxNS)
}

// Mean returns the average duration.
func (h *Histogram) Mean() time.Duration {
	if h.Total == 0 {
		return 0
	}
	return time.Duration(h.Sum / float64(h.Total))
}

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.MaxNS) }
