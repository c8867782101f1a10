package session

import "time"

// bucket is a token bucket of messages: it holds at most burst tokens and
// gains rate tokens a second; a message takes one.
type bucket struct {
	tokens float64
	last   time.Time // of the last refill
}

func (b *bucket) init(burst int) {
	b.tokens = float64(burst)
	b.last = time.Now()
}

// take refills the bucket for the time since the last call and takes one
// token; it reports false if there was none.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*rate, float64(burst))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
