package frame

import (
	"testing"
)

func BenchmarkEncode(b *testing.B) {
	p := NewPool()
	push := Push{App: "demo", ID: "001", Seq: 1, TS: 1700000000000, Data: []byte(`{"value":21.5,"unit":"C"}`)}
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Text(push).Release()
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Binary(push).Release()
		}
	})
}
