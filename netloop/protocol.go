package netloop

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gobwas/ws"

	"edgepush/frame"
	"edgepush/hub"
)

// The push protocol's client messages (docs/protocol.md):
//
//	{"op":"sub","app":"demo","ids":["001","002"],"ref":"7"}
//	{"op":"unsub","app":"demo","ids":["002"],"ref":"8"}
//
// answered by {"op":"ack","ref":"7"} or
// {"op":"error","ref":"7","code":"bad_key","msg":"ids[1]: empty"}.

// maxRef is the longest ref the server echoes, in bytes.
const maxRef = 64

// clientMessage is a decoded client message.
type clientMessage struct {
	Op  string   `json:"op"`
	App string   `json:"app"`
	IDs []string `json:"ids"`
	Ref string   `json:"ref"`
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
// ref, if one could be read, for the answer.
func parseClientMessage(data []byte, maxIDs int) (clientMessage, *protocolError) {
	var m clientMessage
	err := json.Unmarshal(data, &m)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return clientMessage{}, errorf("bad_json", "message is not valid JSON")
	case errors.As(err, &typ) && typ.Field == "":
		return clientMessage{}, errorf("bad_request", "message must be a JSON object")
	case errors.As(err, &typ) && typ.Field == "ref":
		return clientMessage{}, errorf("bad_request", "ref must be a string")
	case errors.As(err, &typ):
		return m, errorf("bad_request", "%s must be %s", typ.Field, fieldType(typ.Field))
	case err != nil:
		return clientMessage{}, errorf("bad_json", "message is not valid JSON")
	}
	if len(m.Ref) > maxRef {
		m.Ref = ""
		return m, errorf("bad_request", "ref is longer than %d bytes", maxRef)
	}
	return m, checkClientMessage(m, maxIDs)
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
		return errorf("bad_request", "op is required")
	case m.Op != "sub" && m.Op != "unsub":
		return errorf("unknown_op", "op must be sub or unsub")
	case m.App == "":
		return errorf("bad_request", "app is required")
	case len(m.IDs) == 0:
		return errorf("bad_request", "ids must hold at least one id")
	case len(m.IDs) > maxIDs:
		return errorf("too_many_ids", "at most %d ids per message", maxIDs)
	}
	if err := hub.ValidatePart(m.App); err != nil {
		return errorf("bad_key", "app: %v", err)
	}
	for i, id := range m.IDs {
		if err := hub.ValidatePart(id); err != nil {
			return errorf("bad_key", "ids[%d]: %v", i, err)
		}
	}
	return nil
}

// handleMessage answers one client message on /ws.
func (c *conn) handleMessage(data []byte) {
	m, perr := parseClientMessage(data, c.server.cfg.MaxIDs)
	if perr == nil {
		if m.Op == "sub" {
			perr = c.subscribe(m)
		} else {
			c.unsubscribe(m)
		}
	}
	if perr != nil {
		c.server.metrics.add(counterProtocolErrs, 1)
		c.reply(c.server.frames.Build(ws.OpText, func(dst []byte) []byte {
			return appendError(dst, m.Ref, perr)
		}))
		return
	}
	c.reply(c.server.frames.Build(ws.OpText, func(dst []byte) []byte {
		return appendAck(dst, m.Ref)
	}))
}

// subscribe adds every key of m, or none if that would take the connection
// past MaxSubscriptions.
func (c *conn) subscribe(m clientMessage) *protocolError {
	limit := c.server.cfg.MaxSubscriptions
	added := make([]hub.Key, 0, len(m.IDs))
	for _, id := range m.IDs {
		k := hub.Key{App: m.App, ID: id}
		if c.subs.add(k) {
			added = append(added, k)
		}
	}
	if len(c.subs) > limit {
		for _, k := range added {
			c.subs.remove(k)
		}
		return errorf("too_many_subscriptions", "at most %d subscriptions per connection", limit)
	}
	for _, k := range added {
		c.server.hub.Subscribe(c, k)
	}
	return nil
}

// unsubscribe removes every key of m; keys not subscribed are ignored.
func (c *conn) unsubscribe(m clientMessage) {
	for _, id := range m.IDs {
		k := hub.Key{App: m.App, ID: id}
		if c.subs.remove(k) {
			c.server.hub.Unsubscribe(c, k)
		}
	}
}

func appendAck(dst []byte, ref string) []byte {
	dst = append(dst, `{"op":"ack"`...)
	dst = appendRef(dst, ref)
	return append(dst, '}')
}

func appendError(dst []byte, ref string, e *protocolError) []byte {
	dst = append(dst, `{"op":"error"`...)
	dst = appendRef(dst, ref)
	dst = append(dst, `,"code":`...)
	dst = frame.AppendJSONString(dst, e.code)
	dst = append(dst, `,"msg":`...)
	dst = frame.AppendJSONString(dst, e.msg)
	return append(dst, '}')
}

func appendRef(dst []byte, ref string) []byte {
	if ref == "" {
		return dst
	}
	dst = append(dst, `,"ref":`...)
	return frame.AppendJSONString(dst, ref)
}
