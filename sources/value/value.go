// Package value is the typed value encoding of the data service layer: it
// turns one value a source read (a string, an integer, a float, a bool,
// null, a JSON object or array, or raw bytes) into the data of a push,
// either a text push (a JSON value) or a binary push (a type tag and the
// value's bytes), and back.
//
// The data-center poller classifies the JSON of a reading's "value" field
// with FromJSON; a source whose messages are raw bytes wraps them with
// FromBytes (or FromUTF8 for text); the app's Mode picks the encoding:
//
//	mode, err := value.ParseMode("binary") // the app's setting: "text" or "binary"
//	...
//	v, err := value.FromJSON(reading.Value) // {"id":"001","ts":...,"value":21.5}
//	if err != nil {
//		return err // wraps value.ErrInvalid
//	}
//	buf, kind, err := value.Encode(buf[:0], v, mode)
//	if err != nil {
//		return err
//	}
//	_, err = publisher.Publish(ctx, key, kind, buf)
//
// Every Append function appends to dst and returns the extended slice, as
// strconv's do: with a dst of enough capacity, reused from one value to the
// next (a pooled buffer), FromJSON, the constructors, AppendText,
// AppendBinary, Encode and ParseBinary allocate nothing, errors aside.
//
// # Validity
//
// A Value does not copy what it is made from. A Value made by FromJSON,
// FromBytes, FromUTF8, ParseText or ParseBinary refers to the bytes it was
// given (except the bytes ParseText decodes from base64, which are new),
// and Bytes returns that memory itself: the Value is valid only as
// long as the caller leaves those bytes unchanged, as a netpoll reader's
// slice is valid only until its Release. A source that reuses its read
// buffer must encode the Value (or Clone it) before the next read. Values
// made by FromString, FromInt, FromFloat, FromBool and Null hold no
// borrowed memory.
//
// The wire formats are documented in docs/protocol.md, "Typed values".
package value

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// The errors of the package; a returned error wraps one or more of them.
var (
	// ErrInvalid: the input is not a value: bad JSON, a binary value of the
	// wrong length, a bad base64 string for ParseText's Bytes hint.
	ErrInvalid = errors.New("value: invalid")
	// ErrUTF8: a String holds bytes that are not valid UTF-8.
	ErrUTF8 = errors.New("value: string is not valid UTF-8")
	// ErrNotFinite: a Float is NaN or infinite, which JSON cannot carry.
	ErrNotFinite = errors.New("value: float is NaN or infinite")
	// ErrUnknownType: a binary value's type tag is not one of the Types.
	ErrUnknownType = errors.New("value: unknown type")
	// ErrMode: a Mode that is not Text or Binary, or a name ParseMode does
	// not know.
	ErrMode = errors.New("value: unknown mode")
)

// Type is the type of a Value. Its number is the tag of the binary
// encoding (AppendBinary).
type Type uint8

// The types. The zero Value is TypeNull. In the docs, "a Float" is a Value
// of TypeFloat, and so on.
const (
	TypeNull    Type = 0 // JSON null; no payload
	TypeBool    Type = 1 // true or false
	TypeInteger Type = 2 // a signed 64-bit integer
	TypeFloat   Type = 3 // a finite 64-bit IEEE 754 float
	TypeString  Type = 4 // UTF-8 text
	TypeObject  Type = 5 // a JSON object, kept as its JSON text
	TypeArray   Type = 6 // a JSON array, kept as its JSON text
	TypeBytes   Type = 7 // raw bytes
)

var typeNames = [...]string{
	TypeNull:    "null",
	TypeBool:    "bool",
	TypeInteger: "integer",
	TypeFloat:   "float",
	TypeString:  "string",
	TypeObject:  "object",
	TypeArray:   "array",
	TypeBytes:   "bytes",
}

// String returns the name of t ("null", "bool", "integer", "float",
// "string", "object", "array", "bytes"), or "type(N)" for an unknown one.
func (t Type) String() string {
	if t.known() {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

func (t Type) known() bool {
	return int(t) < len(typeNames)
}

// Value is one typed value. It is small (40 bytes) and passed by value;
// it refers to memory it does not own (see "Validity" in the package doc).
type Value struct {
	// data: a String's UTF-8 (or, if quoted, its JSON string literal,
	// quotes included); an Object's or Array's JSON; the Bytes.
	data []byte
	// bits: an Integer's two's complement, a Float's IEEE 754 bits, a
	// Bool's 0 or 1.
	bits uint64
	typ  Type
	// quoted: a String whose data is a validated JSON string literal with
	// escapes, decoded only when it is encoded, so FromJSON never needs
	// memory of its own.
	quoted bool
}

// FromString returns the String s. s need not be valid UTF-8, but AppendText
// and Encode reject it if it is not.
func FromString(s string) Value {
	// The bytes of s are only ever read: Bytes returns nil for a String.
	return Value{typ: TypeString, data: unsafe.Slice(unsafe.StringData(s), len(s))}
}

// FromUTF8 returns the String whose UTF-8 is b, without copying b. It is
// FromString for text that arrives as bytes, such as a text/plain message
// body; as with FromString, invalid UTF-8 is rejected when it is encoded.
func FromUTF8(b []byte) Value {
	return Value{typ: TypeString, data: b}
}

// FromBytes returns the Bytes b, without copying b.
func FromBytes(b []byte) Value {
	return Value{typ: TypeBytes, data: b}
}

// FromInt returns the Integer i.
func FromInt(i int64) Value {
	return Value{typ: TypeInteger, bits: uint64(i)}
}

// FromFloat returns the Float f. f should be finite: AppendText and Encode
// reject NaN and infinities.
func FromFloat(f float64) Value {
	return Value{typ: TypeFloat, bits: math.Float64bits(f)}
}

// FromBool returns the Bool b.
func FromBool(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.bits = 1
	}
	return v
}

// Null returns the null value, the same as the zero Value.
func Null() Value {
	return Value{}
}

// Type returns the type of v.
func (v Value) Type() Type {
	return v.typ
}

// Int returns the integer of an Integer, 0 for other types.
func (v Value) Int() int64 {
	if v.typ != TypeInteger {
		return 0
	}
	return int64(v.bits)
}

// Float returns the float of a Float, 0 for other types.
func (v Value) Float() float64 {
	if v.typ != TypeFloat {
		return 0
	}
	return math.Float64frombits(v.bits)
}

// Bool returns the bool of a Bool, false for other types.
func (v Value) Bool() bool {
	return v.typ == TypeBool && v.bits == 1
}

// Bytes returns the bytes of a Bytes and the JSON text of an Object or an
// Array, nil for other types. The slice is the memory v refers to, not a
// copy. For a String, use AppendString.
func (v Value) Bytes() []byte {
	switch v.typ {
	case TypeBytes, TypeObject, TypeArray:
		return v.data
	}
	return nil
}

// AppendString appends the UTF-8 of a String to dst (escapes decoded, for a
// String from JSON) and returns the extended slice; for other types it
// returns dst unchanged.
func (v Value) AppendString(dst []byte) []byte {
	if v.typ != TypeString {
		return dst
	}
	if v.quoted {
		return appendUnquoted(dst, v.data)
	}
	return append(dst, v.data...)
}

// Clone returns a copy of v that refers to no memory of the caller's.
func (v Value) Clone() Value {
	if v.data != nil {
		v.data = bytes.Clone(v.data)
	}
	return v
}

// Equal reports whether v and w are the same value: the same type and the
// same integer, float bits (so 0 and -0 differ), bool, string (after
// decoding escapes), bytes, or JSON text byte for byte (objects and arrays
// are not compared by meaning: {"a":1,"b":2} and {"b":2,"a":1} differ).
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ {
		return false
	}
	switch v.typ {
	case TypeNull:
		return true
	case TypeBool, TypeInteger, TypeFloat:
		return v.bits == w.bits
	case TypeString:
		if v.quoted || w.quoted {
			return bytes.Equal(v.AppendString(nil), w.AppendString(nil))
		}
	}
	return bytes.Equal(v.data, w.data)
}

// String describes v for logs and test failures: its type and its text
// encoding, such as `float 21.5` or `string "door open"`.
func (v Value) String() string {
	text, err := AppendText(nil, v)
	if err != nil {
		return v.typ.String() + " (" + err.Error() + ")"
	}
	return v.typ.String() + " " + string(text)
}
