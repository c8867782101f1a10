package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Error codes of client answers, as in docs/protocol.md.
const (
	codeBadJSON     = "bad_json"
	codeBadRequest  = "bad_request"
	codeUnknownOp   = "unknown_op"
	codeBadKey      = "bad_key"
	codeTooManyIDs  = "too_many_ids"
	codeTooManySubs = "too_many_subscriptions"
)

const (
	opSub, opUnsub = "sub", "unsub"
	maxRef         = 64 // bytes of a ref
	maxKeyPart     = 64 // bytes of an app or id
)

// request is a client's sub or unsub. Pointers tell a missing field from
// an empty one; ref stays raw so that a bad ref can be told apart.
type request struct {
	Op  *string         `json:"op"`
	App *string         `json:"app"`
	IDs []string        `json:"ids"`
	Ref json.RawMessage `json:"ref"`
}

// answer is {"op":"ack"} or {"op":"error"}, with the request's ref.
type answer struct {
	Op   string  `json:"op"`
	Ref  *string `json:"ref,omitempty"`
	Code string  `json:"code,omitempty"`
	Msg  string  `json:"msg,omitempty"`
}

// handle applies one client message to c and returns the answer to send.
func (p *Peer) handle(c *conn, data []byte) []byte {
	var req request
	err := json.Unmarshal(data, &req)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return encodeAnswer(answer{Op: "error", Code: codeBadJSON, Msg: syntax.Error()})
	}
	ref, refOK := parseRef(req.Ref)
	switch {
	case err != nil:
		return encodeAnswer(answer{Op: "error", Ref: ref, Code: codeBadRequest, Msg: err.Error()})
	case !refOK:
		return encodeAnswer(answer{Op: "error", Code: codeBadRequest, Msg: "ref must be a string of at most 64 bytes"})
	}
	keys, code, msg := p.check(&req)
	if code == "" && *req.Op == opSub && !p.subscribe(c, keys) {
		code, msg = codeTooManySubs, fmt.Sprintf("more than %d keys on one connection", maxSubscriptions)
	}
	if code != "" {
		return encodeAnswer(answer{Op: "error", Ref: ref, Code: code, Msg: msg})
	}
	if *req.Op == opUnsub {
		p.unsubscribe(c, keys)
	}
	return encodeAnswer(answer{Op: "ack", Ref: ref})
}

// parseRef returns the ref to echo back and whether it is acceptable: absent,
// or a string of at most 64 bytes.
func parseRef(raw json.RawMessage) (*string, bool) {
	if raw == nil {
		return nil, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || len(s) > maxRef {
		return nil, false
	}
	return &s, true
}

// check validates a decoded request and returns its keys, or an error code
// and message.
func (p *Peer) check(req *request) ([]key, string, string) {
	switch {
	case req.Op == nil:
		return nil, codeBadRequest, "op is missing"
	case *req.Op != opSub && *req.Op != opUnsub:
		return nil, codeUnknownOp, "op must be sub or unsub"
	case req.App == nil || *req.App == "":
		return nil, codeBadRequest, "app is missing or empty"
	case len(req.IDs) == 0:
		return nil, codeBadRequest, "ids is missing or empty"
	case len(req.IDs) > p.cfg.MaxIDs:
		return nil, codeTooManyIDs, fmt.Sprintf("more than %d ids", p.cfg.MaxIDs)
	}
	if why := checkPart(*req.App); why != "" {
		return nil, codeBadKey, "app: " + why
	}
	keys := make([]key, len(req.IDs))
	for i, id := range req.IDs {
		if why := checkPart(id); why != "" {
			return nil, codeBadKey, fmt.Sprintf("ids[%d]: %s", i, why)
		}
		keys[i] = key{app: *req.App, id: id}
	}
	return keys, "", ""
}

// checkPart applies edgepush's key rule to an app or id: 1 to 64 bytes of
// UTF-8 without control characters. It returns why s fails, or "".
func checkPart(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > maxKeyPart:
		return "longer than 64 bytes"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return "contains a control character"
		}
	}
	return ""
}

func encodeAnswer(a answer) []byte {
	b, _ := json.Marshal(a) // strings only: cannot fail
	return b
}

// appendJSONString appends s quoted as JSON. encoding/json escapes <, > and
// & as \u003c...; a JSON parser reads the same string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string: cannot fail
	return append(b, q...)
}
