// Package jsonapi is what edgepush's HTTP APIs share (the publish API and
// the simulated data center): JSON replies, the one JSON error body, and
// 405 with an Allow header.
//
//	mux.Handle("/v1/publish", jsonapi.Allow(publish, http.MethodPost))
//	jsonapi.WriteError(w, http.StatusBadRequest, "bad_key", "id: empty")
//	// {"error":{"code":"bad_key","msg":"id: empty"}}
package jsonapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// ErrorReply is the body of every failed request.
type ErrorReply struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is a failure's code, for programs, and message, for people.
type ErrorBody struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

// CodeMethodNotAllowed is the code of Allow's 405.
const CodeMethodNotAllowed = "method_not_allowed"

// WriteError answers status with {"error":{"code":code,"msg":msg}}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, ErrorReply{Error: ErrorBody{Code: code, Msg: msg}})
}

// WriteJSON answers status with v as JSON and a newline.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // the APIs' own reply types always marshal
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","msg":"internal error"}}`)
	}
	SetHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// SetHeaders sets the headers of a JSON reply.
func SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Allow answers 405 with an Allow header to a request whose method is not
// one of methods, and passes the others to next.
func Allow(next http.HandlerFunc, methods ...string) http.Handler {
	list := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				next(w, r)
				return
			}
		}
		w.Header().Set("Allow", list)
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" not allowed; use "+list)
	})
}
