package redisstore

import (
	"bytes"
	"fmt"
	"strconv"

	"edgepush/hub"
)

// parseStream reads the read script's reply {seq, epoch, recovered,
// entries, stale}.
func parseStream(reply []any) (hub.Stream, error) {
	if len(reply) != 5 {
		return hub.Stream{}, fmt.Errorf("%w: read answered %d values", ErrReply, len(reply))
	}
	seq, ok1 := reply[0].(int64)
	epoch, ok2 := reply[1].(string)
	recovered, ok3 := reply[2].(int64)
	list, ok4 := reply[3].([]any)
	stale, ok5 := reply[4].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || seq < 0 {
		return hub.Stream{}, fmt.Errorf("%w: read answered %v", ErrReply, reply)
	}
	st := hub.Stream{Position: hub.Position{Seq: uint64(seq), Epoch: epoch}, Recovered: recovered == 1, Stale: stale}
	if len(list) > 0 {
		st.Entries = make([]hub.Entry, len(list))
	}
	for i, item := range list {
		raw, ok := item.(string)
		if !ok {
			return hub.Stream{}, fmt.Errorf("%w: history entry %v", ErrReply, item)
		}
		e, err := parseEntry([]byte(raw))
		if err != nil {
			return hub.Stream{}, err
		}
		e.Epoch = epoch
		st.Entries[i] = e
	}
	return st, nil
}

// parseEntry reads "seq:ts:kind:data".
func parseEntry(raw []byte) (hub.Entry, error) {
	parts := bytes.SplitN(raw, []byte(":"), 4)
	if len(parts) != 4 {
		return hub.Entry{}, fmt.Errorf("%w: history entry of %d bytes without 4 fields", ErrReply, len(raw))
	}
	seq, err1 := strconv.ParseUint(string(parts[0]), 10, 64)
	ts, err2 := strconv.ParseInt(string(parts[1]), 10, 64)
	kind, err3 := strconv.ParseUint(string(parts[2]), 10, 8)
	if err1 != nil || err2 != nil || err3 != nil || hub.Kind(kind) > hub.Binary {
		return hub.Entry{}, fmt.Errorf("%w: history entry %q", ErrReply, raw[:min(len(raw), 40)])
	}
	return hub.Entry{Seq: seq, TS: ts, Kind: hub.Kind(kind), Data: parts[3]}, nil
}
