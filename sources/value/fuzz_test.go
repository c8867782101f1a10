package value

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"unicode/utf8"
)

// FuzzValueJSON feeds any bytes to FromJSON. It must not panic; what it
// accepts must be valid JSON (for encoding/json too), encode to valid JSON
// text, and go through text and binary unchanged. What encoding/json reads
// must be accepted, unless it is not UTF-8, nested too deep or has a
// number beyond float64.
func FuzzValueJSON(f *testing.F) {
	for _, seed := range []string{
		`null`, `true`, `-0`, `9223372036854775808`, `-9223372036854775808`, `1.5e-7`, `1e400`,
		`"a\"\\\u2028\ud83d\ude00\ud800"`, "\"\xff\"", ` {"a":[1,{"b":null}],"c":"}"} `,
		`[1,]`, `[[[[[]]]]]`, `{"a" 1}`, `01`, `"\u00"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := FromJSON(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("FromJSON(%q): %v, not ErrInvalid", raw, err)
			}
			// Shallow enough for MaxDepth, UTF-8, and readable by
			// encoding/json (so no number out of range): must be accepted.
			var any interface{}
			if len(raw) <= MaxDepth && utf8.Valid(raw) && json.Unmarshal(raw, &any) == nil {
				t.Fatalf("FromJSON(%q): %v, but encoding/json reads it", raw, err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("FromJSON(%q) = %v, but encoding/json finds it invalid", raw, v)
		}
		checkAgainstEncodingJSON(t, raw, v)
		checkRoundTrip(t, v)
	})
}

// checkAgainstEncodingJSON compares v with what encoding/json reads from
// raw.
func checkAgainstEncodingJSON(t *testing.T, raw []byte, v Value) {
	switch v.Type() {
	case TypeString:
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || string(v.AppendString(nil)) != want {
			t.Fatalf("FromJSON(%q) = %q; encoding/json: %q, %v", raw, v.AppendString(nil), want, err)
		}
	case TypeInteger:
		var want int64
		if err := json.Unmarshal(raw, &want); err != nil || v.Int() != want {
			t.Fatalf("FromJSON(%q) = %d; encoding/json: %d, %v", raw, v.Int(), want, err)
		}
	case TypeFloat:
		var want float64
		err := json.Unmarshal(raw, &want)
		if err != nil || math.Float64bits(v.Float()) != math.Float64bits(want) {
			t.Fatalf("FromJSON(%q) = %v; encoding/json: %v, %v", raw, v.Float(), want, err)
		}
	case TypeObject, TypeArray:
		if !bytes.Equal(v.Bytes(), bytes.TrimSpace(raw)) {
			t.Fatalf("FromJSON(%q) kept %q", raw, v.Bytes())
		}
	}
}

// FuzzValueBinary feeds any bytes to ParseBinary. It must not panic; what
// it accepts must encode back to the same bytes, and go through text
// unchanged.
func FuzzValueBinary(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "\x01\x01", "\x01\x02", "\x02\x80\x00\x00\x00\x00\x00\x00\x00",
		"\x03\x7f\xf8\x00\x00\x00\x00\x00\x01", "\x03\x80\x00\x00\x00\x00\x00\x00\x00",
		"\x04door open", "\x04\xff", "\x05{\"a\":[1]}", "\x06[1,\"\\u2028\"]", "\x06[1,",
		"\x07\x00\xff", "\x08",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseBinary(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseBinary(%q): %v, not ErrInvalid", data, err)
			}
			return
		}
		if again := AppendBinary(nil, v); !bytes.Equal(again, data) {
			t.Fatalf("ParseBinary(%q) = %v, encoded again as %q", data, v, again)
		}
		if _, _, err := Encode(nil, v, Binary); err != nil {
			t.Fatalf("Encode(%v, binary): %v", v, err)
		}
		checkRoundTrip(t, v)
	})
}
