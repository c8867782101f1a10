package value

import (
	"fmt"
	"math"
	"unicode/utf8"

	"edgepush/hub"
)

// Mode is how an app's values are pushed: as text or as binary pushes.
type Mode uint8

// The modes.
const (
	Text   Mode = iota // text pushes: AppendText, hub.Text
	Binary             // binary pushes: AppendBinary, hub.Binary
)

// ParseMode returns the Mode named "text" or "binary", the per-app setting.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "text":
		return Text, nil
	case "binary":
		return Binary, nil
	}
	return 0, fmt.Errorf("%w %q, want text or binary", ErrMode, s)
}

// String returns "text" or "binary", or "mode(N)" for an unknown Mode.
func (m Mode) String() string {
	switch m {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Encode appends v to dst as the data of a push of mode m and returns the
// extended slice and the push's kind, for Publisher.Publish: AppendText
// and hub.Text, or AppendBinary and hub.Binary. Both modes reject a String
// that is not valid UTF-8 (ErrUTF8) and a NaN or infinite Float
// (ErrNotFinite), so what one mode takes the other takes too. On error it
// returns dst unchanged.
func Encode(dst []byte, v Value, m Mode) ([]byte, hub.Kind, error) {
	switch m {
	case Text:
		out, err := AppendText(dst, v)
		return out, hub.Text, err
	case Binary:
		if err := check(v); err != nil {
			return dst, hub.Binary, err
		}
		return AppendBinary(dst, v), hub.Binary, nil
	}
	return dst, 0, fmt.Errorf("%w %d", ErrMode, uint8(m))
}

// check rejects the values AppendText rejects and AppendBinary would
// write anyway.
func check(v Value) error {
	switch {
	case !v.typ.known():
		return fmt.Errorf("%w %d", ErrUnknownType, v.typ)
	case v.typ == TypeFloat && (math.IsNaN(v.Float()) || math.IsInf(v.Float(), 0)):
		return ErrNotFinite
	case v.typ == TypeString && !v.quoted && !utf8.Valid(v.data):
		return ErrUTF8
	}
	return nil
}
