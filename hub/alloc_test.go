//go:build !race

// The race detector makes sync.Pool drop items on purpose, so allocation
// counts are checked without it (make test runs this file separately).

package hub

import (
	"context"
	"testing"
)

func TestPushPathAllocatesNothing(t *testing.T) {
	h := newHub()
	k := Key{App: "demo", ID: "001"}
	for i := 0; i < 100; i++ {
		h.Subscribe(&counter{}, k)
	}
	data := []byte(`{"value":21.5,"unit":"C"}`)
	ctx := context.Background()
	h.Publish(ctx, k, Text, data) // warm the pools and the seq map
	allocs := testing.AllocsPerRun(1000, func() {
		h.Publish(ctx, k, Text, data)
		h.Publish(ctx, k, Binary, data)
	})
	if allocs != 0 {
		t.Fatalf("publish to 100 subscribers allocates %.1f times, want 0", allocs)
	}
}
