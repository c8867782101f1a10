package value

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth is the deepest nesting of objects and arrays FromJSON and
// ParseText accept: [[1]] is nested 2 deep.
const MaxDepth = 1000

// FromJSON classifies the JSON value raw, as it appears in the "value"
// field of a data-center reading. Whitespace around it is allowed.
//
//   - A number written with digits only, with an optional minus (-12, 0,
//     -0), is an Integer if it fits in int64; any other number (a fraction,
//     an exponent, or an integer beyond int64 such as 9223372036854775808)
//     is a Float. A number beyond float64's range (1e400) is rejected; one
//     below its smallest (1e-400) is 0.
//   - A string is a String: its escapes are decoded when it is encoded or
//     read (AppendString), so FromJSON allocates nothing. A \u escape of a
//     lone UTF-16 surrogate decodes to U+FFFD, as encoding/json does.
//   - true and false are a Bool, null is Null.
//   - An object is an Object and an array an Array, holding their JSON text
//     as it is in raw, whitespace inside included. They are checked against
//     the JSON grammar (RFC 8259), to a depth of MaxDepth; the numbers in
//     them are not range-checked.
//
// The whole of raw must be valid UTF-8. A bad input gets an error wrapping
// ErrInvalid that says what is wrong and at which byte offset. The Value
// refers to raw (see "Validity" in the package doc).
func FromJSON(raw []byte) (Value, error) {
	start := skipSpace(raw, 0)
	if start == len(raw) {
		return Value{}, invalid(start, "no JSON value")
	}
	v, end, err := scanTop(raw, start)
	if err != nil {
		return Value{}, err
	}
	if end = skipSpace(raw, end); end != len(raw) {
		return Value{}, invalid(end, "text after the JSON value")
	}
	return v, nil
}

// ParseText parses the data of a text push back into a Value: FromJSON,
// then the hint. JSON cannot tell raw bytes (sent as a base64 string) from
// a string, nor the float 2 from the integer 2 when a publisher other than
// AppendText wrote it as 2, so the receiver says what it expects:
//
//   - hint TypeBytes: a JSON string is decoded from standard base64, as
//     AppendText writes it (padded, no line breaks), into Bytes; the
//     decoded bytes are newly allocated.
//   - hint TypeFloat: an Integer becomes the nearest Float.
//   - any other hint, or a JSON value the hint does not apply to: the
//     Value FromJSON gives.
func ParseText(b []byte, hint Type) (Value, error) {
	v, err := FromJSON(b)
	if err != nil {
		return Value{}, err
	}
	switch {
	case hint == TypeBytes && v.typ == TypeString:
		return decodeBase64(v)
	case hint == TypeFloat && v.typ == TypeInteger:
		return FromFloat(float64(v.Int())), nil
	}
	return v, nil
}

// decodeBase64 decodes a String of canonical standard base64: padded, the
// unused bits zero, no line breaks (which package base64 would skip).
func decodeBase64(v Value) (Value, error) {
	text := v.AppendString(nil)
	if bytes.ContainsAny(text, "\r\n") {
		return Value{}, fmt.Errorf("%w: bytes: line break in base64", ErrInvalid)
	}
	encoding := base64.StdEncoding.Strict()
	data := make([]byte, encoding.DecodedLen(len(text)))
	n, err := encoding.Decode(data, text)
	if err != nil {
		return Value{}, fmt.Errorf("%w: bytes: %v", ErrInvalid, err)
	}
	return FromBytes(data[:n]), nil
}

// invalid returns an ErrInvalid for the JSON at byte offset at.
func invalid(at int, what string) error {
	return fmt.Errorf("%w: JSON: %s at offset %d", ErrInvalid, what, at)
}

// scanTop classifies the JSON value that starts at b[i], which is not
// whitespace, and returns the offset just after it.
func scanTop(b []byte, i int) (Value, int, error) {
	switch c := b[i]; {
	case c == '{' || c == '[':
		end, err := skipValue(b, i)
		if err != nil {
			return Value{}, 0, err
		}
		typ := TypeObject
		if c == '[' {
			typ = TypeArray
		}
		return Value{typ: typ, data: b[i:end]}, end, nil
	case c == '"':
		end, escaped, err := skipString(b, i)
		if err != nil {
			return Value{}, 0, err
		}
		if escaped {
			return Value{typ: TypeString, data: b[i:end], quoted: true}, end, nil
		}
		return Value{typ: TypeString, data: b[i+1 : end-1]}, end, nil
	case c == '-' || isDigit(c):
		return scanNumber(b, i)
	}
	end, err := skipLiteral(b, i)
	if err != nil {
		return Value{}, 0, err
	}
	switch b[i] {
	case 't':
		return FromBool(true), end, nil
	case 'f':
		return FromBool(false), end, nil
	}
	return Null(), end, nil
}

// scanNumber converts the JSON number at b[i].
func scanNumber(b []byte, i int) (Value, int, error) {
	end, integral, err := skipNumber(b, i)
	if err != nil {
		return Value{}, 0, err
	}
	text := b[i:end]
	if integral {
		if n, ok := parseInt(text); ok {
			return FromInt(n), end, nil
		}
	}
	// The syntax is checked, so ParseFloat can only fail on range; it
	// does not keep the string, which is text itself.
	f, err := strconv.ParseFloat(unsafe.String(&text[0], len(text)), 64)
	if err != nil || math.IsInf(f, 0) {
		return Value{}, 0, invalid(i, "number out of float64 range")
	}
	return FromFloat(f), end, nil
}

// parseInt converts an optional minus and decimal digits (no leading
// zero) to an int64, reporting false if it does not fit.
func parseInt(text []byte) (int64, bool) {
	negative := text[0] == '-'
	if negative {
		text = text[1:]
	}
	if len(text) > 19 { // 19 digits fit in a uint64 without overflow
		return 0, false
	}
	var n uint64
	for _, c := range text {
		n = n*10 + uint64(c-'0')
	}
	const limit = 1 << 63 // the magnitude of math.MinInt64
	switch {
	case negative && n <= limit:
		return int64(-n), true
	case !negative && n < limit:
		return int64(n), true
	}
	return 0, false
}

func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipLiteral checks the true, false or null at b[i].
func skipLiteral(b []byte, i int) (int, error) {
	var word string
	switch b[i] {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	case 'n':
		word = "null"
	default:
		return 0, invalid(i, "unexpected "+quoteByte(b[i]))
	}
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, invalid(i, "bad literal, want "+word)
	}
	return i + len(word), nil
}

// skipNumber checks the JSON number at b[i] and reports whether it is
// written as an integer: no fraction and no exponent.
func skipNumber(b []byte, i int) (end int, integral bool, err error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		i = skipDigits(b, i)
	default:
		return 0, false, invalid(i, "number without digits")
	}
	integral = true
	if i < len(b) && b[i] == '.' {
		integral = false
		if i++; i == len(b) || !isDigit(b[i]) {
			return 0, false, invalid(i, "no digit after the decimal point")
		}
		i = skipDigits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || !isDigit(b[i]) {
			return 0, false, invalid(i, "no digit in the exponent")
		}
		i = skipDigits(b, i)
	}
	return i, integral, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// skipString checks the JSON string whose opening quote is at b[i] and
// returns the offset after its closing quote and whether it has escapes.
// It rejects control characters, bad escapes and invalid UTF-8.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	for i++; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			n, err := escapeLength(b, i)
			if err != nil {
				return 0, false, err
			}
			i += n
		case c < 0x20:
			return 0, false, invalid(i, "control character in a string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, invalid(i, "invalid UTF-8")
			}
			i += size
		}
	}
	return 0, false, invalid(i, "unterminated string")
}

// escapeLength checks the escape whose backslash is at b[i] and returns its
// length.
func escapeLength(b []byte, i int) (int, error) {
	if i+1 == len(b) {
		return 0, invalid(i, "unterminated string")
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if len(b)-i < 6 {
			return 0, invalid(i, `short \u escape`)
		}
		for _, c := range b[i+2 : i+6] {
			if hexValue(c) < 0 {
				return 0, invalid(i, `bad \u escape`)
			}
		}
		return 6, nil
	}
	return 0, invalid(i, "bad escape")
}

func hexValue(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// skipValue checks the JSON value that starts at b[i] and returns the
// offset just after it. It keeps the open objects and arrays in a bit set
// on the stack: no recursion, no allocation, at most MaxDepth levels.
func skipValue(b []byte, i int) (int, error) {
	var objects [(MaxDepth + 63) / 64]uint64 // bit d: level d is an object
	depth := 0
	for {
		// A value is expected at b[i] (after whitespace).
		i = skipSpace(b, i)
		if i == len(b) {
			return 0, invalid(i, "unexpected end, want a value")
		}
		var err error
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == MaxDepth {
				return 0, invalid(i, "nested deeper than "+strconv.Itoa(MaxDepth))
			}
			object := c == '{'
			setBit(&objects, depth, object)
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closer(object) {
				depth--
				i++
				break
			}
			if object {
				if i, err = skipKey(b, i); err != nil {
					return 0, err
				}
			}
			continue
		case c == '"':
			i, _, err = skipString(b, i)
		case c == '-' || isDigit(c):
			i, _, err = skipNumber(b, i)
		default:
			i, err = skipLiteral(b, i)
		}
		if err != nil {
			return 0, err
		}
		// After a value: close what ends here, then expect the next one.
		for {
			if depth == 0 {
				return i, nil
			}
			object := bit(&objects, depth-1)
			i = skipSpace(b, i)
			if i == len(b) {
				return 0, invalid(i, "unexpected end, want , or "+string(closer(object)))
			}
			if b[i] == closer(object) {
				depth--
				i++
				continue
			}
			if b[i] != ',' {
				return 0, invalid(i, "unexpected "+quoteByte(b[i])+", want , or "+string(closer(object)))
			}
			i++
			if object {
				if i, err = skipKey(b, i); err != nil {
					return 0, err
				}
			}
			break
		}
	}
}

// skipKey checks an object's `"key":` at b[i] (after whitespace) and
// returns the offset after the colon.
func skipKey(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i == len(b) || b[i] != '"' {
		return 0, invalid(i, "want a string key")
	}
	i, _, err := skipString(b, i)
	if err != nil {
		return 0, err
	}
	i = skipSpace(b, i)
	if i == len(b) || b[i] != ':' {
		return 0, invalid(i, "want : after a key")
	}
	return i + 1, nil
}

func closer(object bool) byte {
	if object {
		return '}'
	}
	return ']'
}

func setBit(set *[(MaxDepth + 63) / 64]uint64, n int, on bool) {
	if on {
		set[n/64] |= 1 << (n % 64)
	} else {
		set[n/64] &^= 1 << (n % 64)
	}
}

func bit(set *[(MaxDepth + 63) / 64]uint64, n int) bool {
	return set[n/64]&(1<<(n%64)) != 0
}

func quoteByte(c byte) string {
	return strconv.Quote(string([]byte{c}))
}
