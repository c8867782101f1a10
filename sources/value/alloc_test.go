//go:build !race

// Allocation counts are checked without the race detector (make test runs
// -run Allocat separately, without -race).

package value

import "testing"

// everyType is the JSON of a value of each type FromJSON gives, and one
// String with escapes, which stays undecoded until it is encoded.
var everyType = []string{
	`null`, `true`, `false`, `-9223372036854775808`, `9223372036854775808`, `21.5`, `-0.0`, `1e-7`,
	`"door open"`, `"21.5 \u00b0C \"quoted\" \ud83d\ude00\n"`,
	` {"value": 21.5, "unit": "°C", "tags": ["a", "b"]} `, `[1, 2.5, "three", null]`,
}

func TestEncodeAllocatesNothing(t *testing.T) {
	dst := make([]byte, 0, 1024)
	for _, raw := range everyType {
		input := []byte(raw)
		allocs := testing.AllocsPerRun(1000, func() {
			v, err := FromJSON(input)
			if err != nil {
				t.Fatal(err)
			}
			if dst, err = AppendText(dst[:0], v); err != nil {
				t.Fatal(err)
			}
			dst = AppendBinary(dst[:0], v)
			for _, m := range []Mode{Text, Binary} {
				if dst, _, err = Encode(dst[:0], v, m); err != nil {
					t.Fatal(err)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("FromJSON and encoding %s allocate %.1f times, want 0", raw, allocs)
		}
	}
}

func TestConstructorsAllocateNothing(t *testing.T) {
	dst := make([]byte, 0, 1024)
	payload := []byte("\x00\x01\x02 raw bytes")
	text := []byte("héllo")
	allocs := testing.AllocsPerRun(1000, func() {
		for _, v := range []Value{Null(), FromBool(true), FromInt(-1), FromFloat(0.1), FromString("s"), FromUTF8(text), FromBytes(payload)} {
			var err error
			if dst, err = AppendText(dst[:0], v); err != nil {
				t.Fatal(err)
			}
			dst = AppendBinary(dst[:0], v)
		}
	})
	if allocs != 0 {
		t.Errorf("constructing and encoding allocate %.1f times, want 0", allocs)
	}
}

func TestParseBinaryAllocatesNothing(t *testing.T) {
	var encoded [][]byte
	for _, raw := range everyType {
		v, err := FromJSON([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, AppendBinary(nil, v))
	}
	encoded = append(encoded, AppendBinary(nil, FromBytes([]byte{1, 2, 3})))
	allocs := testing.AllocsPerRun(1000, func() {
		for _, data := range encoded {
			if _, err := ParseBinary(data); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("ParseBinary allocates %.1f times, want 0", allocs)
	}
}
