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
	for range 200 { // warm the pools and fill the history ring
		h.Publish(ctx, k, Text, data)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		h.Publish(ctx, k, Text, data)
		h.Publish(ctx, k, Binary, data)
	})
	if allocs != 0 {
		t.Fatalf("publish to 100 subscribers allocates %.1f times, want 0", allocs)
	}
}

// TestDeliverAllocatesNothing: the hub's part alone, from a bus consumer.
func TestDeliverAllocatesNothing(t *testing.T) {
	h := New(Config{})
	k := Key{App: "demo", ID: "001"}
	for i := 0; i < 100; i++ {
		h.Subscribe(&counter{}, k)
	}
	e := Entry{Seq: 1, TS: 1, Kind: Text, Data: []byte(`{"value":21.5}`)}
	h.Deliver(k, e)
	allocs := testing.AllocsPerRun(1000, func() {
		e.Seq++
		h.Deliver(k, e)
	})
	if allocs != 0 {
		t.Fatalf("deliver to 100 subscribers allocates %.1f times, want 0", allocs)
	}
}
