package bench

import (
	"testing"
	"time"
)

func TestFanouts(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	var a, b Fanouts
	a.record(at(0), at(5))
	a.record(at(0), at(3)) // earlier than the last: kept at 5
	a.record(at(10), at(12))
	b.record(at(0), at(7)) // another process saw push 0 arrive later
	b.record(at(20), at(21))
	var all Fanouts
	all.Merge(a)
	all.Merge(b)
	all.Merge(nil)
	tests := []struct {
		sent, last int
	}{{0, 7}, {10, 12}, {20, 21}}
	if len(all) != len(tests) {
		t.Fatalf("%d pushes, want %d: %v", len(all), len(tests), all)
	}
	for _, tt := range tests {
		if got := all[at(tt.sent).UnixNano()]; got != at(tt.last).UnixNano() {
			t.Errorf("push sent at %d ms: last arrival %v, want %d ms", tt.sent, time.Duration(got-base.UnixNano()), tt.last)
		}
	}
	if got, want := all.Spent(), 10*time.Millisecond; got != want { // 7 + 2 + 1
		t.Errorf("Spent = %v, want %v", got, want)
	}
}

func TestFanoutsBounded(t *testing.T) {
	var f Fanouts
	base := time.Unix(1000, 0)
	for i := range maxFanouts + 10 {
		f.record(base.Add(time.Duration(i)), base.Add(time.Duration(i)+time.Millisecond))
	}
	if len(f) != maxFanouts {
		t.Fatalf("%d pushes followed, want the first %d", len(f), maxFanouts)
	}
	f.record(base, base.Add(time.Second)) // a push already followed still moves
	if got := f[base.UnixNano()]; got != base.Add(time.Second).UnixNano() {
		t.Errorf("a followed push's last arrival did not move: %v", got)
	}
}
