package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Position is where a key's history stands (docs/protocol.md, "Positions,
// last value and recovery"): the seq of its last value and the epoch those
// seqs belong to.
type Position struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

// Error kinds of a resumed subscription, besides those of ClientConfig.
const (
	ErrGap        = "gap"            // the server sent a gap instead of the replay
	ErrStale      = "stale_seq"      // a push at or below the since the client gave: it had seen it already
	ErrUnexpected = "unexpected_seq" // a push past the seq the client was to catch up to
	ErrAckSeq     = "ack_seq"        // the ack's position is not the key's last publish, or is missing
	ErrEpoch      = "epoch_changed"  // the ack's epoch is not the one the client resumed from
	ErrServer     = "server_error"   // an error answer on a subscribed connection
)

// serverText is what the client needs of a server's text message.
type serverText struct {
	Op     string              `json:"op"`
	Ref    string              `json:"ref"`
	Keys   map[string]Position `json:"keys"`   // ack of a sub
	ID     string              `json:"id"`     // data, gap
	Seq    uint64              `json:"seq"`    // data, gap
	Since  uint64              `json:"since"`  // gap
	Epoch  string              `json:"epoch"`  // gap
	Reason string              `json:"reason"` // gap
	Code   string              `json:"code"`   // error
}

// dataPrefix starts every text push edgepush sends.
var dataPrefix = []byte(`{"op":"data",`)

// parseServerText reads a text message from the server. Text pushes, by
// far the most frequent, take a fast path that reads only their seq; the
// rest go through encoding/json. It reports false for a message it cannot
// read.
func parseServerText(payload []byte) (serverText, bool) {
	if bytes.HasPrefix(payload, dataPrefix) {
		if seq, ok := fieldUint(payload[len(dataPrefix):], `"seq":`); ok {
			return serverText{Op: "data", Seq: seq}, true
		}
	}
	var m serverText
	if err := json.Unmarshal(payload, &m); err != nil || m.Op == "" {
		return serverText{}, false
	}
	return m, true
}

// fieldUint finds the first occurrence of name (such as `"seq":`) in b and
// parses the unsigned integer after it. The fields of a push before its
// data are the server's own and its strings are escaped, so the first
// `"seq":` in it is the seq field.
func fieldUint(b []byte, name string) (uint64, bool) {
	at := bytes.Index(b, []byte(name))
	if at < 0 {
		return 0, false
	}
	b = b[at+len(name):]
	end := 0
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	if end == 0 || end == len(b) || (b[end] != ',' && b[end] != '}') {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:end]), 10, 64)
	return v, err == nil
}

// catchUp checks one connection's replay: after resuming from since, it
// must receive the seqs since+1 .. want, each exactly once and in order.
// The zero value expects nothing.
type catchUp struct {
	since, want uint64
	seen        []uint64 // bitmap of since+1 .. want
	got         uint64   // distinct seqs of the range received
	high        uint64   // highest seq received so far, 0 for none
	duplicates  uint64   // a seq of the range received again
	outOfOrder  uint64   // a seq of the range received after a higher one
	stale       uint64   // a seq at or below since
	unexpected  uint64   // a seq past want
}

func newCatchUp(since, want uint64) catchUp {
	t := catchUp{since: since, want: want}
	if n := t.expected(); n > 0 {
		t.seen = make([]uint64, (n+63)/64)
	}
	return t
}

// expected is how many pushes the connection must receive.
func (t *catchUp) expected() uint64 {
	if t.want <= t.since {
		return 0
	}
	return t.want - t.since
}

// add takes one pushed seq and reports whether it completed the range.
func (t *catchUp) add(seq uint64) (completed bool) {
	switch {
	case seq <= t.since:
		t.stale++
		return false
	case seq > t.want:
		t.unexpected++
		t.high = max(t.high, seq)
		return false
	}
	bit := seq - t.since - 1
	word, mask := bit/64, uint64(1)<<(bit%64)
	if t.seen[word]&mask != 0 {
		t.duplicates++
		return false
	}
	t.seen[word] |= mask
	if seq < t.high {
		t.outOfOrder++
	}
	t.high = max(t.high, seq)
	t.got++
	return t.got == t.expected()
}

// complete reports whether every expected push has arrived.
func (t *catchUp) complete() bool { return t.got == t.expected() }

// missing counts the expected pushes that have not arrived.
func (t *catchUp) missing() uint64 { return t.expected() - t.got }

// count adds t's errors to errs, by kind.
func (t *catchUp) count(errs map[string]uint64) {
	for kind, n := range map[string]uint64{
		ErrDuplicate: t.duplicates, ErrOutOfOrder: t.outOfOrder, ErrStale: t.stale,
		ErrUnexpected: t.unexpected, ErrMissingSeq: t.missing(),
	} {
		if n > 0 {
			errs[kind] += n
		}
	}
}

// appendSub appends a sub message for one id, resuming from since if
// resume is true: the seq alone when the epoch is not known, the whole
// position otherwise.
func appendSub(b []byte, app, id string, since Position, resume bool) []byte {
	b = append(b, `{"op":"sub","app":`...)
	b = appendJSONString(b, app)
	b = append(b, `,"ids":[`...)
	b = appendJSONString(b, id)
	b = append(b, ']')
	if resume {
		b = append(b, `,"since":{`...)
		b = appendJSONString(b, id)
		b = append(b, ':')
		if since.Epoch == "" {
			b = strconv.AppendUint(b, since.Seq, 10)
		} else {
			b = append(b, `{"seq":`...)
			b = strconv.AppendUint(b, since.Seq, 10)
			b = append(b, `,"epoch":`...)
			b = appendJSONString(b, since.Epoch)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// JSONValue returns a JSON reading such as {"value":21.53,"unit":"C"} of
// exactly size bytes (or the smallest such reading, 26 bytes, if size is
// smaller), its value varying with n: a sensor's reading as the demo
// publishes it, padded with a "pad" string or, for the last few bytes,
// spaces.
func JSONValue(size, n int) []byte {
	v := 2000 + n%1000 // 20.00 .. 29.99, always five characters
	b := []byte(`{"value":`)
	b = strconv.AppendInt(b, int64(v/100), 10)
	b = append(b, '.', byte('0'+v/10%10), byte('0'+v%10))
	b = append(b, `,"unit":"C"`...)
	const padField = len(`,"pad":""`)
	if room := size - len(b) - 1; room >= padField {
		b = append(b, `,"pad":"`...)
		b = append(b, bytes.Repeat([]byte{'x'}, room-padField)...)
		b = append(b, '"')
	} else if room > 0 {
		b = append(b, bytes.Repeat([]byte{' '}, room)...)
	}
	return append(b, '}')
}

// KeyID names key k (0-based) of a benchmark: "001", "002", ... as the
// demo's sensors, with more digits past 999.
func KeyID(k int) string {
	s := strconv.Itoa(k + 1)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
