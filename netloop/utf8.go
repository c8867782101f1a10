package netloop

import "unicode/utf8"

// utf8Stream validates UTF-8 that arrives in pieces, split anywhere, and
// fails at the first byte that no valid text can contain.
type utf8Stream struct {
	carry [utf8.UTFMax]byte // the start of a code point split across pieces
	n     int
}

func (v *utf8Stream) reset() { v.n = 0 }

// complete reports whether the text so far ends on a code point boundary.
func (v *utf8Stream) complete() bool { return v.n == 0 }

// write validates the next piece and reports whether the text so far can
// still be the start of valid UTF-8.
func (v *utf8Stream) write(p []byte) bool {
	if v.n > 0 {
		need := sequenceLength(v.carry[0]) - v.n
		take := min(need, len(p))
		v.n += copy(v.carry[v.n:], p[:take])
		p = p[take:]
		if take < need {
			return validPrefix(v.carry[:v.n])
		}
		if !utf8.Valid(v.carry[:v.n]) {
			return false
		}
		v.n = 0
	}
	tail := incompleteTail(p)
	if !utf8.Valid(p[:len(p)-tail]) {
		return false
	}
	v.n = copy(v.carry[:], p[len(p)-tail:])
	return validPrefix(v.carry[:v.n])
}

// sequenceLength is the length of the sequence a leading byte starts, or 1
// for a byte that cannot lead one (utf8.Valid then rejects it).
func sequenceLength(b byte) int {
	switch {
	case b >= 0xf0 && b <= 0xf4:
		return 4
	case b >= 0xe0 && b <= 0xef:
		return 3
	case b >= 0xc2 && b <= 0xdf:
		return 2
	}
	return 1
}

// incompleteTail returns how many bytes at the end of p form the start of a
// multi-byte sequence that p cuts short.
func incompleteTail(p []byte) int {
	for back := 1; back <= utf8.UTFMax-1 && back <= len(p); back++ {
		b := p[len(p)-back]
		if b < 0x80 {
			return 0
		}
		if b >= 0xc0 { // a leading byte
			if sequenceLength(b) > back {
				return back
			}
			return 0
		}
	}
	return 0
}

// validPrefix reports whether p, shorter than the sequence its first byte
// starts, can still be completed into a valid code point.
func validPrefix(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if sequenceLength(p[0]) <= len(p) {
		return false
	}
	if len(p) >= 2 {
		lo, hi := byte(0x80), byte(0xbf)
		switch p[0] {
		case 0xe0:
			lo = 0xa0 // no overlong 3-byte forms
		case 0xed:
			hi = 0x9f // no surrogates
		case 0xf0:
			lo = 0x90 // no overlong 4-byte forms
		case 0xf4:
			hi = 0x8f // nothing past U+10FFFF
		}
		if p[1] < lo || p[1] > hi {
			return false
		}
	}
	return len(p) < 3 || (p[2] >= 0x80 && p[2] <= 0xbf)
}
