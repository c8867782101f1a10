//go:build !race

// The race detector makes sync.Pool drop items on purpose, so allocation
// counts are checked without it (make test runs this file separately).

package frame

import "testing"

func TestEncodeAllocatesNothing(t *testing.T) {
	p := NewPool()
	push := Push{App: "demo", ID: "001", Seq: 1, TS: 1700000000000, Data: []byte(`{"value":21.5}`)}
	p.Text(push).Release()
	allocs := testing.AllocsPerRun(1000, func() {
		p.Text(push).Release()
		p.Binary(push).Release()
	})
	if allocs != 0 {
		t.Fatalf("encoding allocates %.1f times per push, want 0", allocs)
	}
}
