package value

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// AppendBinary appends v to dst as the data of a binary push and returns
// the extended slice: one byte, the Type (the tag), then the payload:
//
//	tag  type         payload
//	0    TypeNull     nothing
//	1    TypeBool     1 byte: 0 (false) or 1 (true)
//	2    TypeInteger  8 bytes: two's complement, big-endian
//	3    TypeFloat    8 bytes: IEEE 754 binary64 bits, big-endian
//	4    TypeString   the UTF-8 bytes, escapes decoded; the rest of the data
//	5    TypeObject   the JSON text, UTF-8; the rest of the data
//	6    TypeArray    the JSON text, UTF-8; the rest of the data
//	7    TypeBytes    the bytes as they are; the rest of the data
//
// The payload has no length of its own: it is the rest of the push.
// AppendBinary does not check v: a String of invalid UTF-8 or a NaN is
// written as it is, and ParseBinary rejects it. Encode checks first.
func AppendBinary(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.typ))
	switch v.typ {
	case TypeBool:
		return append(dst, byte(v.bits))
	case TypeInteger, TypeFloat:
		return binary.BigEndian.AppendUint64(dst, v.bits)
	case TypeString:
		return v.AppendString(dst)
	case TypeObject, TypeArray, TypeBytes:
		return append(dst, v.data...)
	}
	return dst
}

// ParseBinary parses the data of a binary push, as AppendBinary writes it,
// back into a Value that refers to b. It accepts exactly what AppendBinary
// writes for a value Encode accepts, so an accepted b encodes back to the
// same bytes: the payload of each tag must have its length, a Bool must be
// 0 or 1, a Float finite, a String valid UTF-8, and an Object or Array one
// JSON object or array with no whitespace around it. An unknown tag is an
// error wrapping ErrUnknownType and ErrInvalid; any other bad input one
// wrapping ErrInvalid (and ErrUTF8 or ErrNotFinite where they apply).
func ParseBinary(b []byte) (Value, error) {
	if len(b) == 0 {
		return Value{}, fmt.Errorf("%w: binary: empty, want a type tag", ErrInvalid)
	}
	typ, payload := Type(b[0]), b[1:]
	switch typ {
	case TypeNull:
		return Null(), wantLength(typ, payload, 0)
	case TypeBool:
		return parseBool(payload)
	case TypeInteger:
		if err := wantLength(typ, payload, 8); err != nil {
			return Value{}, err
		}
		return FromInt(int64(binary.BigEndian.Uint64(payload))), nil
	case TypeFloat:
		return parseFloat(payload)
	case TypeString:
		if !utf8.Valid(payload) {
			return Value{}, fmt.Errorf("%w: binary: %w", ErrInvalid, ErrUTF8)
		}
		return FromUTF8(payload), nil
	case TypeObject, TypeArray:
		return parseJSON(typ, payload)
	case TypeBytes:
		return FromBytes(payload), nil
	}
	return Value{}, fmt.Errorf("%w: %w: binary: tag %d", ErrInvalid, ErrUnknownType, b[0])
}

func wantLength(typ Type, payload []byte, n int) error {
	if len(payload) != n {
		return fmt.Errorf("%w: binary: %s payload of %d bytes, want %d", ErrInvalid, typ, len(payload), n)
	}
	return nil
}

func parseBool(payload []byte) (Value, error) {
	if err := wantLength(TypeBool, payload, 1); err != nil {
		return Value{}, err
	}
	if payload[0] > 1 {
		return Value{}, fmt.Errorf("%w: binary: bool byte %d, want 0 or 1", ErrInvalid, payload[0])
	}
	return FromBool(payload[0] == 1), nil
}

func parseFloat(payload []byte) (Value, error) {
	if err := wantLength(TypeFloat, payload, 8); err != nil {
		return Value{}, err
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(payload))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, fmt.Errorf("%w: binary: %w", ErrInvalid, ErrNotFinite)
	}
	return FromFloat(f), nil
}

func parseJSON(typ Type, payload []byte) (Value, error) {
	open := byte('{')
	if typ == TypeArray {
		open = '['
	}
	if len(payload) == 0 || payload[0] != open {
		return Value{}, fmt.Errorf("%w: binary: %s payload does not start with %c", ErrInvalid, typ, open)
	}
	end, err := skipValue(payload, 0)
	if err != nil {
		return Value{}, fmt.Errorf("binary: %s: %w", typ, err)
	}
	if end != len(payload) {
		return Value{}, invalid(end, "binary: text after the "+typ.String())
	}
	return Value{typ: typ, data: payload}, nil
}
