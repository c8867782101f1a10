package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"edgepush/hub"
)

// The client messages (docs/protocol.md):
//
//	{"op":"sub","app":"demo","ids":["001","002"],"ref":"7"}
//	{"op":"sub","app":"demo","ids":["001"],"since":{"001":41}}
//	{"op":"sub","app":"demo","ids":["001"],"since":{"001":{"seq":41,"epoch":"..."}}}
//	{"op":"unsub","app":"demo","ids":["002"],"ref":"8"}

// maxRef is the longest ref the server echoes, in bytes; maxEpoch the
// longest epoch a client may send.
const (
	maxRef   = 64
	maxEpoch = 64
)

// The error codes (docs/protocol.md).
const (
	codeBadJSON              = "bad_json"
	codeBadRequest           = "bad_request"
	codeUnknownOp            = "unknown_op"
	codeBadKey               = "bad_key"
	codeBadSince             = "bad_since"
	codeTooManyIDs           = "too_many_ids"
	codeTooManySubscriptions = "too_many_subscriptions"
	codeRateLimited          = "rate_limited"
	codeUnavailable          = "unavailable"
)

// clientMessage is a decoded client message.
type clientMessage struct {
	Op    string          `json:"op"`
	App   string          `json:"app"`
	IDs   []string        `json:"ids"`
	Ref   string          `json:"ref"`
	Since json.RawMessage `json:"since"`

	since map[string]since // parsed from Since
}

// since is where a client says it stands on a key.
type since struct {
	seq      uint64
	epoch    string
	hasEpoch bool
}

// protocolError is an error answer: a short code for programs and a human
// text. It never carries internal error text.
type protocolError struct {
	code string
	msg  string
}

func (e *protocolError) Error() string { return e.code + ": " + e.msg }

func errorf(code, format string, args ...any) *protocolError {
	return &protocolError{code: code, msg: fmt.Sprintf(format, args...)}
}

// parseClientMessage decodes and checks a client message against the
// protocol and the limits. On error the returned message still carries the
// ref, if one could be read, for the answer. Repeated ids are dropped.
func parseClientMessage(data []byte, maxIDs int) (clientMessage, *protocolError) {
	var m clientMessage
	err := json.Unmarshal(data, &m)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return clientMessage{}, errorf(codeBadJSON, "message is not valid JSON")
	case errors.As(err, &typ) && typ.Field == "":
		return clientMessage{}, errorf(codeBadRequest, "message must be a JSON object")
	case errors.As(err, &typ) && typ.Field == "ref":
		return clientMessage{}, errorf(codeBadRequest, "ref must be a string")
	case errors.As(err, &typ):
		return m, errorf(codeBadRequest, "%s must be %s", typ.Field, fieldType(typ.Field))
	case err != nil:
		return clientMessage{}, errorf(codeBadJSON, "message is not valid JSON")
	}
	if len(m.Ref) > maxRef {
		m.Ref = ""
		return m, errorf(codeBadRequest, "ref is longer than %d bytes", maxRef)
	}
	if perr := checkClientMessage(m, maxIDs); perr != nil {
		return m, perr
	}
	m.IDs = unique(m.IDs)
	if m.Since != nil {
		if m.Op != "sub" {
			return m, errorf(codeBadSince, "since is only for sub")
		}
		var perr *protocolError
		m.since, perr = parseSince(m.Since, m.IDs)
		return m, perr
	}
	return m, nil
}

func fieldType(field string) string {
	if field == "ids" || len(field) > 4 && field[:4] == "ids." {
		return "an array of strings"
	}
	return "a string"
}

// checkClientMessage checks a decoded message's op, app and ids.
func checkClientMessage(m clientMessage, maxIDs int) *protocolError {
	switch {
	case m.Op == "":
		return errorf(codeBadRequest, "op is required")
	case m.Op != "sub" && m.Op != "unsub":
		return errorf(codeUnknownOp, "op must be sub or unsub")
	case m.App == "":
		return errorf(codeBadRequest, "app is required")
	case len(m.IDs) == 0:
		return errorf(codeBadRequest, "ids must hold at least one id")
	case len(m.IDs) > maxIDs:
		return errorf(codeTooManyIDs, "at most %d ids per message", maxIDs)
	}
	if err := hub.ValidatePart(m.App); err != nil {
		return errorf(codeBadKey, "app: %v", err)
	}
	for i, id := range m.IDs {
		if err := hub.ValidatePart(id); err != nil {
			return errorf(codeBadKey, "ids[%d]: %v", i, err)
		}
	}
	return nil
}

// unique drops repeated ids, keeping the first of each, in place.
func unique(ids []string) []string {
	out := ids[:0]
	for i, id := range ids {
		seen := false
		for _, prev := range ids[:i] {
			if prev == id {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, id)
		}
	}
	return out
}

// parseSince parses the since object of a sub whose ids are ids.
func parseSince(raw json.RawMessage, ids []string) (map[string]since, *protocolError) {
	var fields map[string]json.RawMessage
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &fields) != nil {
		return nil, errorf(codeBadSince, "since must be an object from ids to positions")
	}
	out := make(map[string]since, len(fields))
	for id, value := range fields {
		if !contains(ids, id) {
			return nil, errorf(codeBadSince, "since names %q, which is not in ids", id)
		}
		s, perr := parsePosition(value)
		if perr != nil {
			return nil, errorf(codeBadSince, "since[%q]: %s", id, perr.msg)
		}
		out[id] = s
	}
	return out, nil
}

// parsePosition parses a seq or {"seq":N,"epoch":"E"}.
func parsePosition(raw json.RawMessage) (since, *protocolError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		seq, ok := parseSeq(raw)
		if !ok {
			return since{}, errorf(codeBadSince, "a position is an unsigned integer or an object with seq and epoch")
		}
		return since{seq: seq}, nil
	}
	var obj struct {
		Seq   json.RawMessage `json:"seq"`
		Epoch json.RawMessage `json:"epoch"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&obj); err != nil {
		return since{}, errorf(codeBadSince, "a position object holds only seq and epoch")
	}
	seq, ok := parseSeq(obj.Seq)
	if !ok {
		return since{}, errorf(codeBadSince, "seq must be an unsigned 64-bit integer")
	}
	s := since{seq: seq}
	if obj.Epoch != nil {
		if json.Unmarshal(obj.Epoch, &s.epoch) != nil || obj.Epoch[0] != '"' {
			return since{}, errorf(codeBadSince, "epoch must be a string")
		}
		if len(s.epoch) > maxEpoch {
			return since{}, errorf(codeBadSince, "epoch is longer than %d bytes", maxEpoch)
		}
		s.hasEpoch = true
	}
	return s, nil
}

// parseSeq parses a JSON number that is an unsigned 64-bit integer written
// without sign, fraction or exponent.
func parseSeq(raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 || (raw[0] == '0' && len(raw) > 1) {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(string(raw), 10, 64)
	return seq, err == nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
