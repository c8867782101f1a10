package value

import (
	"strings"
	"testing"
)

// benchValues are the JSON of a reading's value of each type.
var benchValues = []struct {
	name string
	raw  string
}{
	{"null", `null`},
	{"bool", `true`},
	{"integer", `1700000000000`},
	{"float", `21.53`},
	{"string", `"door open"`},
	{"escaped", `"21.5 \u00b0C \"quoted\"\n"`},
	{"object", `{"value":21.53,"unit":"°C","quality":"good","tags":["a","b"]}`},
	{"array", `[21.53,21.61,21.7,21.65,21.6,21.58]`},
	{"long string", `"` + strings.Repeat("a reading of 21.5 °C ", 50) + `"`},
}

func BenchmarkFromJSON(b *testing.B) {
	for _, bench := range benchValues {
		raw := []byte(bench.raw)
		b.Run(bench.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := FromJSON(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendText(b *testing.B) {
	for _, bench := range benchValues {
		v := mustJSON(b, bench.raw)
		dst := make([]byte, 0, 4096)
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = AppendText(dst[:0], v); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
	b.Run("bytes", func(b *testing.B) {
		v := FromBytes([]byte(strings.Repeat("\x00\x01\x02\xff", 64)))
		dst := make([]byte, 0, 4096)
		b.SetBytes(256)
		b.ReportAllocs()
		for b.Loop() {
			dst, _ = AppendText(dst[:0], v)
		}
	})
}

func BenchmarkAppendBinary(b *testing.B) {
	for _, bench := range benchValues {
		v := mustJSON(b, bench.raw)
		dst := make([]byte, 0, 4096)
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendBinary(dst[:0], v)
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

func BenchmarkParseBinary(b *testing.B) {
	for _, bench := range benchValues {
		data := AppendBinary(nil, mustJSON(b, bench.raw))
		b.Run(bench.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseBinary(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode is a source's whole step: classify, then encode.
func BenchmarkEncode(b *testing.B) {
	raw := []byte(`{"value":21.53,"unit":"°C"}`)
	for _, m := range []Mode{Text, Binary} {
		dst := make([]byte, 0, 256)
		b.Run(m.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				v, err := FromJSON(raw)
				if err != nil {
					b.Fatal(err)
				}
				if dst, _, err = Encode(dst[:0], v, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustJSON(tb testing.TB, raw string) Value {
	v, err := FromJSON([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
