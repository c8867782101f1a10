package value

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"edgepush/hub"
)

var negativeZero = math.Copysign(0, -1)

func TestFromJSON(t *testing.T) {
	tests := []struct {
		raw  string
		want Value
	}{
		{`0`, FromInt(0)},
		{`-0`, FromInt(0)},
		{`42`, FromInt(42)},
		{`-17`, FromInt(-17)},
		{`9223372036854775807`, FromInt(math.MaxInt64)},
		{`-9223372036854775808`, FromInt(math.MinInt64)},
		{`9223372036854775808`, FromFloat(9223372036854775808)},
		{`-9223372036854775809`, FromFloat(-9223372036854775809)},
		{`12345678901234567890123`, FromFloat(12345678901234567890123)},
		{`1.0`, FromFloat(1)},
		{`1e2`, FromFloat(100)},
		{`1E+2`, FromFloat(100)},
		{`21.5`, FromFloat(21.5)},
		{`-0.0`, FromFloat(negativeZero)},
		{`1e308`, FromFloat(1e308)},
		{`1.7976931348623157e308`, FromFloat(math.MaxFloat64)},
		{`5e-324`, FromFloat(5e-324)},
		{`2.2250738585072014e-308`, FromFloat(2.2250738585072014e-308)},
		{`1e-400`, FromFloat(0)},
		{`""`, FromString("")},
		{`"door open"`, FromString("door open")},
		{`"a\"b\\c\/d"`, FromString(`a"b\c/d`)},
		{`"\b\f\n\r\t"`, FromString("\b\f\n\r\t")},
		{`"\u0000\u001f"`, FromString("\x00\x1f")},
		{`"°C"`, FromString("°C")},
		{`"\u00b0C"`, FromString("°C")},
		{"\"\u2028\u2029\"", FromString("\u2028\u2029")},
		{`"\u2028"`, FromString("\u2028")},
		{`"😀"`, FromString("😀")},
		{`"\ud83d\ude00"`, FromString("😀")},
		{`"\uD83D\uDE00"`, FromString("😀")},
		{`"\ud800"`, FromString("\uFFFD")},
		{`"\udc00\ud800x"`, FromString("\uFFFD\uFFFDx")},
		{`"\ud800\u0041"`, FromString("\uFFFDA")},
		{`true`, FromBool(true)},
		{`false`, FromBool(false)},
		{`null`, Null()},
		{`{}`, Value{typ: TypeObject, data: []byte(`{}`)}},
		{` {"value": 21.5, "unit": "°C"} `, Value{typ: TypeObject, data: []byte(`{"value": 21.5, "unit": "°C"}`)}},
		{`{"a":{"b":[1,{"c":null}]},"d":"}"}`, Value{typ: TypeObject, data: []byte(`{"a":{"b":[1,{"c":null}]},"d":"}"}`)}},
		{"[]", Value{typ: TypeArray, data: []byte(`[]`)}},
		{"\t\r\n[ 1 , \"two\" , [ ] , { } ]\n", Value{typ: TypeArray, data: []byte(`[ 1 , "two" , [ ] , { } ]`)}},
		{" \n\t\r42\r\n", FromInt(42)},
		{" \"x\" ", FromString("x")},
		{" true ", FromBool(true)},
	}
	for _, test := range tests {
		got, err := FromJSON([]byte(test.raw))
		if err != nil {
			t.Errorf("FromJSON(%q): %v", test.raw, err)
			continue
		}
		if !got.Equal(test.want) {
			t.Errorf("FromJSON(%q) = %v, want %v", test.raw, got, test.want)
		}
	}
}

func TestFromJSONInvalid(t *testing.T) {
	bad := []string{
		``, ` `, "\n\t",
		`01`, `-01`, `1.`, `.5`, `+1`, `1e`, `1e+`, `-`, `--1`, `0x10`, `1_000`,
		`1e400`, `-1e400`, `NaN`, `Infinity`, `-Infinity`,
		`tru`, `truex`, `nul`, `nulll`, `True`, `FALSE`, `undefined`,
		`"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, `"\`, "\"\x01\"", "\"\x1f\"", "\"a\nb\"",
		"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\xef\xbb\xbf1",
		`'a'`, `{"a"}`, `{"a":}`, `{,}`, `{"a":1,}`, `{1:2}`, `{a:1}`, `{"a" 1}`,
		`[1,]`, `[1 2]`, `[,1]`, `[`, `]`, `{`, `}`, `{"a":1}}`, `[[]`, `[]]`,
		`1 2`, `"a" "b"`, `{} {}`, `null,`, "[\"\xff\"]", "{\"\xff\":1}",
		`[1e]`, `{"a":tru}`, `[-]`,
	}
	for _, raw := range bad {
		v, err := FromJSON([]byte(raw))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("FromJSON(%q) = %v, %v; want an error wrapping ErrInvalid", raw, v, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "value: invalid") {
			t.Errorf("FromJSON(%q): error %q lacks the package prefix", raw, err)
		}
	}
}

func TestDepth(t *testing.T) {
	nested := func(depth int, open, close string) []byte {
		return []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
	}
	if v, err := FromJSON(nested(MaxDepth, "[", "]")); err != nil || v.Type() != TypeArray {
		t.Errorf("arrays %d deep: %v, %v", MaxDepth, v.Type(), err)
	}
	if _, err := FromJSON(nested(MaxDepth+1, "[", "]")); !errors.Is(err, ErrInvalid) {
		t.Errorf("arrays %d deep: %v, want ErrInvalid", MaxDepth+1, err)
	}
	if v, err := FromJSON(nested(MaxDepth, `{"a":`, "}")); err != nil || v.Type() != TypeObject {
		t.Errorf("objects %d deep: %v, %v", MaxDepth, v.Type(), err)
	}
	if _, err := FromJSON(nested(MaxDepth+1, `{"a":`, "}")); !errors.Is(err, ErrInvalid) {
		t.Errorf("objects %d deep: %v, want ErrInvalid", MaxDepth+1, err)
	}
	mixed := nested(MaxDepth/2, `{"a":[`, "]}")
	if v, err := FromJSON(mixed); err != nil || !json.Valid(v.Bytes()) {
		t.Errorf("objects and arrays %d deep: %v", MaxDepth, err)
	}
	// Far too deep: rejected without recursion.
	if _, err := FromJSON(bytes.Repeat([]byte("["), 1<<20)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a million [: %v, want ErrInvalid", err)
	}
	// A wrong closer deep inside.
	if _, err := FromJSON([]byte(`[{"a":[{}]]]`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched closer: %v, want ErrInvalid", err)
	}
}

// roundTrips are values of every type with their text and binary data.
var roundTrips = []struct {
	name   string
	value  Value
	text   string
	binary string
}{
	{"null", Null(), `null`, "\x00"},
	{"zero value", Value{}, `null`, "\x00"},
	{"true", FromBool(true), `true`, "\x01\x01"},
	{"false", FromBool(false), `false`, "\x01\x00"},
	{"integer", FromInt(42), `42`, "\x02\x00\x00\x00\x00\x00\x00\x00\x2a"},
	{"negative integer", FromInt(-2), `-2`, "\x02\xff\xff\xff\xff\xff\xff\xff\xfe"},
	{"int64 max", FromInt(math.MaxInt64), `9223372036854775807`, "\x02\x7f\xff\xff\xff\xff\xff\xff\xff"},
	{"int64 min", FromInt(math.MinInt64), `-9223372036854775808`, "\x02\x80\x00\x00\x00\x00\x00\x00\x00"},
	{"float", FromFloat(21.5), `21.5`, "\x03\x40\x35\x80\x00\x00\x00\x00\x00"},
	{"integral float", FromFloat(2), `2.0`, "\x03\x40\x00\x00\x00\x00\x00\x00\x00"},
	{"zero float", FromFloat(0), `0.0`, "\x03\x00\x00\x00\x00\x00\x00\x00\x00"},
	{"negative zero", FromFloat(negativeZero), `-0.0`, "\x03\x80\x00\x00\x00\x00\x00\x00\x00"},
	{"2^63 as float", FromFloat(9223372036854775808), `9223372036854776000.0`, "\x03\x43\xe0\x00\x00\x00\x00\x00\x00"},
	{"1e20", FromFloat(1e20), `100000000000000000000.0`, "\x03\x44\x15\xaf\x1d\x78\xb5\x8c\x40"},
	{"1e21", FromFloat(1e21), `1e+21`, "\x03\x44\x4b\x1a\xe4\xd6\xe2\xef\x50"},
	{"1e308", FromFloat(1e308), `1e+308`, "\x03\x7f\xe1\xcc\xf3\x85\xeb\xc8\xa0"},
	{"largest float", FromFloat(math.MaxFloat64), `1.7976931348623157e+308`, "\x03\x7f\xef\xff\xff\xff\xff\xff\xff"},
	{"one millionth", FromFloat(1e-6), `0.000001`, "\x03\x3e\xb0\xc6\xf7\xa0\xb5\xed\x8d"},
	{"1e-7", FromFloat(1e-7), `1e-7`, "\x03\x3e\x7a\xd7\xf2\x9a\xbc\xaf\x48"},
	{"smallest float", FromFloat(5e-324), `5e-324`, "\x03\x00\x00\x00\x00\x00\x00\x00\x01"},
	{"smallest normal", FromFloat(-2.2250738585072014e-308), `-2.2250738585072014e-308`, "\x03\x80\x10\x00\x00\x00\x00\x00\x00"},
	{"empty string", FromString(""), `""`, "\x04"},
	{"string", FromString("door open"), `"door open"`, "\x04door open"},
	{"quotes", FromString(`say "hi" \o/`), `"say \"hi\" \\o/"`, "\x04say \"hi\" \\o/"},
	{"control characters", FromString("a\x00\b\f\n\r\t\x1f\x7fz"), `"a\u0000\b\f\n\r\t\u001f` + "\x7f" + `z"`, "\x04a\x00\b\f\n\r\t\x1f\x7fz"},
	{"line separators", FromString("a\u2028b\u2029c"), `"a\u2028b\u2029c"`, "\x04a\u2028b\u2029c"},
	{"non-ASCII", FromString("21.5 °C, 温度, 😀"), `"21.5 °C, 温度, 😀"`, "\x0421.5 °C, 温度, 😀"},
	{"utf8 bytes", FromUTF8([]byte("héllo")), `"héllo"`, "\x04héllo"},
	{"empty object", Value{typ: TypeObject, data: []byte(`{}`)}, `{}`, "\x05{}"},
	{"object", Value{typ: TypeObject, data: []byte(`{"value":21.5,"unit":"°C"}`)}, `{"value":21.5,"unit":"°C"}`, "\x05{\"value\":21.5,\"unit\":\"°C\"}"},
	{"empty array", Value{typ: TypeArray, data: []byte(`[]`)}, `[]`, "\x06[]"},
	{"array", Value{typ: TypeArray, data: []byte(`[1, "a", null]`)}, `[1, "a", null]`, "\x06[1, \"a\", null]"},
	{"bytes", FromBytes([]byte{1, 2, 3}), `"AQID"`, "\x07\x01\x02\x03"},
	{"padded bytes", FromBytes([]byte{0xff, 0xfe}), `"//4="`, "\x07\xff\xfe"},
	{"empty bytes", FromBytes(nil), `""`, "\x07"},
	{"binary bytes", FromBytes([]byte("\x00\xff\"\\")), `"AP8iXA=="`, "\x07\x00\xff\"\\"},
}

func TestRoundTrip(t *testing.T) {
	for _, test := range roundTrips {
		t.Run(test.name, func(t *testing.T) {
			text, err := AppendText([]byte("prefix"), test.value)
			if err != nil {
				t.Fatalf("AppendText: %v", err)
			}
			if got := string(text); got != "prefix"+test.text {
				t.Errorf("AppendText = %s, want prefix%s", got, test.text)
			}
			text = text[len("prefix"):]
			if !json.Valid(text) {
				t.Errorf("AppendText = %s: not valid JSON", text)
			}
			back, err := ParseText(text, test.value.Type())
			if err != nil || !back.Equal(test.value) {
				t.Errorf("ParseText(%s) = %v, %v; want %v", text, back, err, test.value)
			}
			data := AppendBinary([]byte("prefix"), test.value)
			if got := string(data); got != "prefix"+test.binary {
				t.Errorf("AppendBinary = %q, want prefix%q", got, test.binary)
			}
			data = data[len("prefix"):]
			back, err = ParseBinary(data)
			if err != nil || !back.Equal(test.value) {
				t.Errorf("ParseBinary(%q) = %v, %v; want %v", data, back, err, test.value)
			}
		})
	}
}

// TestRoundTripFromJSON sends JSON through FromJSON, then text and binary.
func TestRoundTripFromJSON(t *testing.T) {
	inputs := []string{
		`null`, `true`, `false`, `0`, `-0`, `7`, `-9223372036854775808`, `9223372036854775807`,
		`9223372036854775808`, `-9223372036854775809`, `1e40`, `0.1`, `-0.0`, `1.5e300`, `1e-320`,
		`4.9e-324`, `123456789012345678901234567890`, `""`, `"x"`, `"\"\\\/\b\f\n\r\t"`,
		`"\u0000\u007f\u0080\u2028\u2029\uffff"`, `"\ud83d\ude00 \ud800 \udfff"`, "\"\u2028\"",
		`"°C 温度"`, `{"a":[1,2,{"b":null}],"c":"d"}`, ` [ true , false ] `, `{"deep":[[[[[[[[[[{}]]]]]]]]]]}`,
	}
	for _, raw := range inputs {
		v, err := FromJSON([]byte(raw))
		if err != nil {
			t.Errorf("FromJSON(%s): %v", raw, err)
			continue
		}
		checkRoundTrip(t, v)
		if v.Type() == TypeString {
			var want string
			if err := json.Unmarshal([]byte(raw), &want); err != nil {
				t.Fatal(err)
			}
			if got := string(v.AppendString(nil)); got != want {
				t.Errorf("FromJSON(%s) decodes to %q, encoding/json to %q", raw, got, want)
			}
		}
	}
}

// checkRoundTrip checks that v goes through text and binary unchanged.
func checkRoundTrip(t *testing.T, v Value) {
	t.Helper()
	text, err := AppendText(nil, v)
	if err != nil {
		t.Errorf("AppendText(%v): %v", v, err)
		return
	}
	if !json.Valid(text) {
		t.Errorf("AppendText(%v) = %s: not valid JSON", v, text)
	}
	back, err := ParseText(text, v.Type())
	if err != nil || !back.Equal(v) {
		t.Errorf("ParseText(%s) = %v, %v; want %v", text, back, err, v)
	}
	again, err := AppendText(nil, back)
	if err != nil || !bytes.Equal(again, text) {
		t.Errorf("text of %v: %s, then %s", v, text, again)
	}
	data := AppendBinary(nil, v)
	back, err = ParseBinary(data)
	if err != nil || !back.Equal(v) {
		t.Errorf("ParseBinary(%q) = %v, %v; want %v", data, back, err, v)
	}
	if again := AppendBinary(nil, back); !bytes.Equal(again, data) {
		t.Errorf("binary of %v: %q, then %q", v, data, again)
	}
}

func TestStringEscapesMatchEncodingJSON(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x100; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\u2028\u2029\uFFFD😀")
	s := all.String()
	text, err := AppendText(nil, FromString(s))
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := json.Unmarshal(text, &back); err != nil || back != s {
		t.Errorf("encoding/json reads %s as %q, %v", text, back, err)
	}
	// A String from escaped JSON is written the same way.
	fromJSON, err := FromJSON(text)
	if err != nil {
		t.Fatal(err)
	}
	again, err := AppendText(nil, fromJSON)
	if err != nil || !bytes.Equal(again, text) {
		t.Errorf("re-encoded: %s, want %s", again, text)
	}
	// Other escapes of the same characters are written canonically.
	escaped, err := FromJSON([]byte(`"\u0041\/\u00e9\u000A\u2028\"\ud83d\ude00"`))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := AppendText(nil, escaped); string(got) != `"A/é\n\u2028\"😀"` {
		t.Errorf("canonical text: %s", got)
	}
}

func TestAppendTextErrors(t *testing.T) {
	tests := []struct {
		value Value
		want  error
	}{
		{FromString("\xff"), ErrUTF8},
		{FromString("ok\xc3"), ErrUTF8},
		{FromUTF8([]byte("\xed\xa0\x80")), ErrUTF8}, // a surrogate in UTF-8
		{FromFloat(math.NaN()), ErrNotFinite},
		{FromFloat(math.Inf(1)), ErrNotFinite},
		{FromFloat(math.Inf(-1)), ErrNotFinite},
		{Value{typ: 8}, ErrUnknownType},
	}
	for _, test := range tests {
		dst := []byte("keep")
		got, err := AppendText(dst, test.value)
		if !errors.Is(err, test.want) {
			t.Errorf("AppendText(%v): %v, want %v", test.value.Type(), err, test.want)
		}
		if string(got) != "keep" {
			t.Errorf("AppendText(%v) changed dst to %q", test.value.Type(), got)
		}
		for _, m := range []Mode{Text, Binary} {
			got, _, err := Encode(dst, test.value, m)
			if !errors.Is(err, test.want) || string(got) != "keep" {
				t.Errorf("Encode(%v, %v) = %q, %v; want keep, %v", test.value.Type(), m, got, err, test.want)
			}
		}
	}
}

func TestParseBinaryInvalid(t *testing.T) {
	tests := []struct {
		data string
		also error // besides ErrInvalid, if any
	}{
		{"", nil},
		{"\x08", ErrUnknownType},
		{"\xffabc", ErrUnknownType},
		{"\x00\x00", nil},
		{"\x01", nil},
		{"\x01\x02", nil},
		{"\x01\xff", nil},
		{"\x01\x01\x00", nil},
		{"\x02", nil},
		{"\x02\x00\x00\x00\x00\x00\x00\x2a", nil},
		{"\x02\x00\x00\x00\x00\x00\x00\x00\x2a\x00", nil},
		{"\x03\x40\x35\x80\x00\x00\x00\x00", nil},
		{"\x03\x40\x35\x80\x00\x00\x00\x00\x00\x00", nil},
		{"\x03\x7f\xf8\x00\x00\x00\x00\x00\x01", ErrNotFinite}, // NaN
		{"\x03\x7f\xf0\x00\x00\x00\x00\x00\x00", ErrNotFinite}, // +Inf
		{"\x03\xff\xf0\x00\x00\x00\x00\x00\x00", ErrNotFinite}, // -Inf
		{"\x04\xff", ErrUTF8},
		{"\x04ok\xe2\x82", ErrUTF8},
		{"\x05", nil},
		{"\x05[]", nil},
		{"\x05 {}", nil},
		{"\x05{} ", nil},
		{"\x05{\"a\":1", nil},
		{"\x05{\"a\":1}{}", nil},
		{"\x05{\"\xff\":1}", nil},
		{"\x06", nil},
		{"\x06{}", nil},
		{"\x06[1,", nil},
		{"\x06[1]\n", nil},
		{"\x06\"a\"", nil},
	}
	for _, test := range tests {
		v, err := ParseBinary([]byte(test.data))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBinary(%q) = %v, %v; want ErrInvalid", test.data, v, err)
		}
		if test.also != nil && !errors.Is(err, test.also) {
			t.Errorf("ParseBinary(%q): %v, want it to wrap %v", test.data, err, test.also)
		}
	}
}

func TestParseBinaryRefersToData(t *testing.T) {
	data := []byte("\x07abc")
	v, err := ParseBinary(data)
	if err != nil {
		t.Fatal(err)
	}
	data[1] = 'x'
	if string(v.Bytes()) != "xbc" {
		t.Errorf("Bytes = %q, want the caller's memory", v.Bytes())
	}
}

func TestParseTextHint(t *testing.T) {
	tests := []struct {
		text string
		hint Type
		want Value
	}{
		{`"AQID"`, TypeBytes, FromBytes([]byte{1, 2, 3})},
		{`""`, TypeBytes, FromBytes(nil)},
		{`"\/\/4="`, TypeBytes, FromBytes([]byte{0xff, 0xfe})},
		{`"AQID"`, TypeString, FromString("AQID")},
		{`"AQID"`, TypeNull, FromString("AQID")},
		{`2`, TypeFloat, FromFloat(2)},
		{`-9223372036854775808`, TypeFloat, FromFloat(-9223372036854775808)},
		{`2`, TypeInteger, FromInt(2)},
		{`2`, TypeBytes, FromInt(2)},
		{`2.5`, TypeInteger, FromFloat(2.5)},
		{`[1]`, TypeBytes, Value{typ: TypeArray, data: []byte(`[1]`)}},
		{` null `, TypeFloat, Null()},
	}
	for _, test := range tests {
		got, err := ParseText([]byte(test.text), test.hint)
		if err != nil || !got.Equal(test.want) {
			t.Errorf("ParseText(%s, %v) = %v, %v; want %v", test.text, test.hint, got, err, test.want)
		}
	}
	for _, text := range []string{`"AQI"`, `"A QID"`, `"AQID="`, `"AQ=D"`, `"-_8="`, `"AQ\nID"`, `"AQJ="`} {
		if v, err := ParseText([]byte(text), TypeBytes); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseText(%s, bytes) = %v, %v; want ErrInvalid", text, v, err)
		}
	}
	if _, err := ParseText([]byte(`{`), TypeObject); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseText({): %v, want ErrInvalid", err)
	}
}

func TestMode(t *testing.T) {
	for _, test := range []struct {
		name string
		mode Mode
	}{{"text", Text}, {"binary", Binary}} {
		m, err := ParseMode(test.name)
		if err != nil || m != test.mode || m.String() != test.name {
			t.Errorf("ParseMode(%q) = %v, %v", test.name, m, err)
		}
	}
	for _, name := range []string{"", "Text", "json", "bin", " text"} {
		if _, err := ParseMode(name); !errors.Is(err, ErrMode) {
			t.Errorf("ParseMode(%q): %v, want ErrMode", name, err)
		}
	}
	if got := Mode(7).String(); got != "mode(7)" {
		t.Errorf("Mode(7) = %s", got)
	}
}

func TestEncode(t *testing.T) {
	v := FromFloat(21.5)
	data, kind, err := Encode([]byte("x"), v, Text)
	if err != nil || kind != hub.Text || string(data) != "x21.5" {
		t.Errorf("Encode text = %q, %v, %v", data, kind, err)
	}
	data, kind, err = Encode([]byte("x"), v, Binary)
	if err != nil || kind != hub.Binary || string(data) != "x\x03\x40\x35\x80\x00\x00\x00\x00\x00" {
		t.Errorf("Encode binary = %q, %v, %v", data, kind, err)
	}
	data, _, err = Encode([]byte("x"), v, Mode(2))
	if !errors.Is(err, ErrMode) || string(data) != "x" {
		t.Errorf("Encode with mode 2 = %q, %v; want ErrMode", data, err)
	}
	for _, test := range roundTrips {
		data, kind, err := Encode(nil, test.value, Binary)
		if err != nil || kind != hub.Binary || string(data) != test.binary {
			t.Errorf("Encode(%s, binary) = %q, %v, %v", test.name, data, kind, err)
		}
	}
}

func TestTypeString(t *testing.T) {
	names := []string{"null", "bool", "integer", "float", "string", "object", "array", "bytes"}
	for i, name := range names {
		if got := Type(i).String(); got != name {
			t.Errorf("Type(%d) = %s, want %s", i, got, name)
		}
	}
	if got := Type(8).String(); got != "type(8)" {
		t.Errorf("Type(8) = %s", got)
	}
}

func TestAccessors(t *testing.T) {
	values := []Value{Null(), FromBool(true), FromInt(-3), FromFloat(1.5), FromString("s"), FromBytes([]byte("b"))}
	for _, v := range values {
		if got := v.Int(); (got != 0) != (v.Type() == TypeInteger) {
			t.Errorf("%v: Int = %d", v, got)
		}
		if got := v.Float(); (got != 0) != (v.Type() == TypeFloat) {
			t.Errorf("%v: Float = %v", v, got)
		}
		if got := v.Bool(); got != (v.Type() == TypeBool) {
			t.Errorf("%v: Bool = %v", v, got)
		}
		if got := v.Bytes(); (got != nil) != (v.Type() == TypeBytes) {
			t.Errorf("%v: Bytes = %q", v, got)
		}
		if got := v.AppendString(nil); (got != nil) != (v.Type() == TypeString) {
			t.Errorf("%v: AppendString = %q", v, got)
		}
	}
	object, err := FromJSON([]byte(` {"a":1} `))
	if err != nil || string(object.Bytes()) != `{"a":1}` {
		t.Errorf("Object Bytes = %q, %v", object.Bytes(), err)
	}
	if got := FromInt(-3).String(); got != "integer -3" {
		t.Errorf("String = %s", got)
	}
	if got := FromString("\xff").String(); !strings.HasPrefix(got, "string (value: ") {
		t.Errorf("String of invalid UTF-8 = %s", got)
	}
}

func TestEqual(t *testing.T) {
	escaped, err := FromJSON([]byte(`"\u0061b"`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a, b  Value
		equal bool
	}{
		{Null(), Value{}, true},
		{FromInt(1), FromFloat(1), false},
		{FromFloat(0), FromFloat(negativeZero), false},
		{FromString("ab"), escaped, true},
		{escaped, FromString("ab"), true},
		{FromString("ab"), FromBytes([]byte("ab")), false},
		{FromString(""), FromUTF8(nil), true},
		{Value{typ: TypeObject, data: []byte(`{"a":1,"b":2}`)}, Value{typ: TypeObject, data: []byte(`{"b":2,"a":1}`)}, false},
		{FromBool(true), FromBool(false), false},
	}
	for _, test := range tests {
		if got := test.a.Equal(test.b); got != test.equal {
			t.Errorf("%v Equal %v = %v, want %v", test.a, test.b, got, test.equal)
		}
	}
}

func TestClone(t *testing.T) {
	raw := []byte(`{"a":"\u0062"}`)
	object, err := FromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	str, err := FromJSON(raw[5:13])
	if err != nil {
		t.Fatal(err)
	}
	objectCopy, strCopy := object.Clone(), str.Clone()
	copy(raw, `[      "zzzzzz"]`)
	if string(objectCopy.Bytes()) != `{"a":"\u0062"}` || string(strCopy.AppendString(nil)) != "b" {
		t.Errorf("clones changed with their source: %s, %v", objectCopy.Bytes(), strCopy)
	}
	if !Null().Clone().Equal(Null()) || !FromInt(5).Clone().Equal(FromInt(5)) {
		t.Error("clone of a scalar differs")
	}
}
