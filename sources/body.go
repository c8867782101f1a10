package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"edgepush/frame"
)

// Errors of a push's body, as POST /v1/publish and the AMQP source read
// one: application/json is a text push of that JSON value, text/plain a
// text push of the body as a JSON string.
var (
	ErrBodyJSON = errors.New("sources: body is not a JSON value")
	ErrBodyUTF8 = errors.New("sources: body is not valid UTF-8")
)

// JSONBody returns body, a JSON value in UTF-8, without the white space
// around it: the data of a text push.
func JSONBody(body []byte) ([]byte, error) {
	data := bytes.Trim(body, " \t\r\n")
	if !json.Valid(data) {
		return nil, ErrBodyJSON
	}
	if !utf8.Valid(data) {
		return nil, ErrBodyUTF8
	}
	return data, nil
}

// TextBody returns body, which must be UTF-8, as a JSON string: the data
// of a text push.
func TextBody(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, ErrBodyUTF8
	}
	return frame.AppendJSONString(make([]byte, 0, len(body)+2), string(body)), nil
}

// UTF8Charset reports whether cs, a charset parameter, names UTF-8 or its
// subset US-ASCII.
func UTF8Charset(cs string) bool {
	switch strings.ToLower(cs) {
	case "utf-8", "utf8", "us-ascii":
		return true
	}
	return false
}
