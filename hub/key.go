package hub

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxKeyPart is the longest app or id, in bytes.
const MaxKeyPart = 64

// Errors of Key.Validate; the returned error wraps one of them.
var (
	ErrEmptyKey   = errors.New("empty")
	ErrKeyTooLong = errors.New("longer than 64 bytes")
	ErrKeyControl = errors.New("contains a control character")
	ErrKeyUTF8    = errors.New("not valid UTF-8")
)

// Key names one stream of values: an application and a data id in it.
type Key struct {
	App string
	ID  string
}

// Validate checks both parts of k (see ValidatePart).
func (k Key) Validate() error {
	if err := ValidatePart(k.App); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if err := ValidatePart(k.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	return nil
}

// ValidatePart checks an app or id: 1 to 64 bytes of UTF-8 with no control
// characters.
func ValidatePart(s string) error {
	switch {
	case s == "":
		return ErrEmptyKey
	case len(s) > MaxKeyPart:
		return ErrKeyTooLong
	case !utf8.ValidString(s):
		return ErrKeyUTF8
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return ErrKeyControl
		}
	}
	return nil
}

// hash is FNV-1a over app, a zero byte and id.
func (k Key) hash() uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(k.App); i++ {
		h = (h ^ uint32(k.App[i])) * prime
	}
	h *= prime // the separator byte, zero
	for i := 0; i < len(k.ID); i++ {
		h = (h ^ uint32(k.ID[i])) * prime
	}
	return h
}
