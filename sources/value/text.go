package value

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendText appends v to dst as the data of a text push, a JSON value in
// UTF-8, and returns the extended slice:
//
//   - Null, Bool: null, true, false.
//   - Integer: its decimal digits.
//   - Float: the shortest decimal that parses back to the same float64, as
//     JavaScript and encoding/json write it (21.5, 1e+21, 5e-324), with ".0"
//     added to an integral one without an exponent (2.0, -0.0), so that it
//     still reads back as a Float. NaN and infinities are an error
//     (ErrNotFinite).
//   - String: a JSON string. ", \ and control characters are escaped
//     (\n, \t, ... or \u00XX), and so are U+2028 and U+2029; other
//     characters are written as they are. A String that is not valid UTF-8
//     is an error (ErrUTF8).
//   - Object, Array: their JSON text as it is.
//   - Bytes: a JSON string of their standard base64 encoding, with padding
//     ("AQID" for 01 02 03): a text push carries only UTF-8 text, never raw
//     bytes. ParseText with the hint TypeBytes decodes it.
//
// On error it returns dst unchanged.
func AppendText(dst []byte, v Value) ([]byte, error) {
	switch v.typ {
	case TypeNull:
		return append(dst, "null"...), nil
	case TypeBool:
		if v.Bool() {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case TypeInteger:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case TypeFloat:
		return appendFloat(dst, v.Float())
	case TypeString:
		return appendStringText(dst, v)
	case TypeObject, TypeArray:
		return append(dst, v.data...), nil
	case TypeBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.data)
		return append(dst, '"'), nil
	}
	return dst, fmt.Errorf("%w %d", ErrUnknownType, v.typ)
}

// appendFloat writes f the way encoding/json (and ECMAScript's
// Number.prototype.toString) does, plus ".0" for an integral value in
// fixed notation.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v", ErrNotFinite, f)
	}
	start := len(dst)
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// 1e-07 to 1e-7, as JavaScript writes it.
		if n := len(dst); n-start >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst, nil
	}
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst, nil
		}
	}
	return append(dst, ".0"...), nil
}

func appendStringText(dst []byte, v Value) ([]byte, error) {
	if v.quoted {
		return appendRequoted(dst, v.data), nil
	}
	if !utf8.Valid(v.data) {
		return dst, ErrUTF8
	}
	dst = append(dst, '"')
	dst = appendEscaped(dst, v.data)
	return append(dst, '"'), nil
}

// appendEscaped appends the valid UTF-8 s with JSON's escapes, without
// quotes.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(s[i:])
			if r != '\u2028' && r != '\u2029' {
				i += size
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscapedRune(dst, r)
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// appendEscapedRune appends r as it goes inside a JSON string.
func appendEscapedRune(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	switch r {
	case '"', '\\':
		return append(dst, '\\', byte(r))
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if r < 0x20 || r == '\u2028' || r == '\u2029' {
		return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// appendRequoted appends the validated JSON string literal lit (quotes
// included) in the escaping of appendEscaped, so that a String reads the
// same whatever it was made from.
func appendRequoted(dst, lit []byte) []byte {
	dst = append(dst, '"')
	body := lit[1 : len(lit)-1]
	for len(body) > 0 {
		plain := plainLength(body)
		dst = appendEscaped(dst, body[:plain])
		if body = body[plain:]; len(body) == 0 {
			break
		}
		r, n := decodeEscape(body)
		dst = appendEscapedRune(dst, r)
		body = body[n:]
	}
	return append(dst, '"')
}

// appendUnquoted appends the UTF-8 the validated JSON string literal lit
// (quotes included) stands for.
func appendUnquoted(dst, lit []byte) []byte {
	body := lit[1 : len(lit)-1]
	for len(body) > 0 {
		plain := plainLength(body)
		dst = append(dst, body[:plain]...)
		if body = body[plain:]; len(body) == 0 {
			break
		}
		r, n := decodeEscape(body)
		dst = utf8.AppendRune(dst, r)
		body = body[n:]
	}
	return dst
}

// plainLength returns the length of the start of body before a backslash.
func plainLength(body []byte) int {
	for i, c := range body {
		if c == '\\' {
			return i
		}
	}
	return len(body)
}

// decodeEscape decodes the validated escape at the start of b, a \uXXXX
// surrogate pair as one rune, and returns the rune and the bytes it took.
// A lone surrogate is U+FFFD.
func decodeEscape(b []byte) (rune, int) {
	switch b[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
	default: // ", \ and /
		return rune(b[1]), 2
	}
	r := hex4(b[2:6])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if pair := utf16.DecodeRune(r, hex4(b[8:12])); pair != utf8.RuneError {
			return pair, 12
		}
	}
	return utf8.RuneError, 6
}

// hex4 returns the value of four validated hex digits.
func hex4(b []byte) rune {
	return hexValue(b[0])<<12 | hexValue(b[1])<<8 | hexValue(b[2])<<4 | hexValue(b[3])
}
