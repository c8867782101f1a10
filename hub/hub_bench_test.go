package hub

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	h := newHub()
	subs := make([]*counter, 1000)
	for i := range subs {
		subs[i] = &counter{}
		h.Subscribe(subs[i], Key{App: "demo", ID: "001"})
	}
	k := Key{App: "demo", ID: "001"}
	sub := &counter{}
	b.ReportAllocs()
	for b.Loop() {
		h.Subscribe(sub, k)
		h.Unsubscribe(sub, k)
	}
}

// BenchmarkFanout is the lookup and hand-over of one frame to n
// subscribers, per push.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := newHub()
			k := Key{App: "demo", ID: "001"}
			for i := 0; i < n; i++ {
				h.Subscribe(&counter{}, k)
			}
			data := []byte(`{"value":21.5}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(ctx, k, Text, data)
			}
		})
	}
}

// BenchmarkPublishParallel publishes to many keys from every core at once,
// where sharding matters.
func BenchmarkPublishParallel(b *testing.B) {
	h := newHub()
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = Key{App: "demo", ID: fmt.Sprintf("%04d", i)}
		h.Subscribe(&counter{}, keys[i])
	}
	data := []byte(`1`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			h.Publish(ctx, keys[i%len(keys)], Text, data)
		}
	})
}
