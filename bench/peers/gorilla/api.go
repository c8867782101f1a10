package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"unicode/utf8"

	"edgepush/tuning"
)

// maxBody is the largest publish body, as in edgepush.
const maxBody = 1 << 20

// apiError is a failed API request, answered {"error":{"code":..,"msg":..}}.
type apiError struct {
	status    int
	code, msg string
}

// publishReply is edgepush's answer to a publish, fields in its order.
type publishReply struct {
	Seq       uint64 `json:"seq"`
	Delivered int    `json:"delivered"`
}

// APIHandler serves edgepush's internal API for p: POST /v1/publish,
// GET /healthz and GET /metrics.
func (p *Peer) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/publish", allow(p.publish, http.MethodPost))
	mux.Handle("/healthz", allow(health, http.MethodGet, http.MethodHead))
	mux.Handle("/metrics", allow(p.metrics, http.MethodGet, http.MethodHead))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "not_found", "no such route"})
	})
	return mux
}

func allow(next http.HandlerFunc, methods ...string) http.Handler {
	list := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				next(w, r)
				return
			}
		}
		w.Header().Set("Allow", list)
		writeError(w, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use " + list})
	})
}

func (p *Peer) publish(w http.ResponseWriter, r *http.Request) {
	k := key{app: r.URL.Query().Get("app"), id: r.URL.Query().Get("id")}
	binaryPush, data, aerr := readPush(w, r, k)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	seq, delivered, err := p.Publish(k, binaryPush, data)
	if err != nil {
		writeError(w, &apiError{http.StatusInternalServerError, "internal", "publish failed"})
		return
	}
	writeJSON(w, http.StatusOK, publishReply{Seq: seq, Delivered: delivered})
}

// readPush checks the key and Content-Type and returns the push to make.
func readPush(w http.ResponseWriter, r *http.Request, k key) (binaryPush bool, data []byte, aerr *apiError) {
	if aerr := checkKey(k); aerr != nil {
		return false, nil, aerr
	}
	media, aerr := mediaType(r.Header.Get("Content-Type"))
	if aerr != nil {
		return false, nil, aerr
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return false, nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", "body is larger than 1 MiB"}
	case err != nil:
		return false, nil, &apiError{http.StatusBadRequest, "bad_request", "could not read the body"}
	}
	switch media {
	case "application/json":
		data = bytes.Trim(body, " \t\r\n")
		if !json.Valid(data) {
			return false, nil, &apiError{http.StatusBadRequest, "bad_json", "body is not a JSON value"}
		}
		return false, data, nil
	case "text/plain":
		if !utf8.Valid(body) {
			return false, nil, &apiError{http.StatusBadRequest, "bad_utf8", "body is not valid UTF-8"}
		}
		return false, appendJSONString(nil, string(body)), nil
	}
	return true, body, nil
}

func checkKey(k key) *apiError {
	for _, part := range []struct{ name, value string }{{"app", k.app}, {"id", k.id}} {
		switch why := checkPart(part.value); why {
		case "":
		case "empty":
			return &apiError{http.StatusBadRequest, "bad_request", "query parameter " + part.name + " is missing or empty"}
		default:
			return &apiError{http.StatusBadRequest, "bad_key", "invalid key: " + part.name + ": " + why}
		}
	}
	return nil
}

// mediaType accepts the three publish types; a charset must be UTF-8.
func mediaType(header string) (string, *apiError) {
	unsupported := &apiError{http.StatusUnsupportedMediaType, "unsupported_media",
		"use application/json, text/plain or application/octet-stream"}
	media, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "", unsupported
	}
	switch media {
	case "application/json", "text/plain":
		if cs, ok := params["charset"]; ok && !isUTF8(cs) {
			return "", unsupported
		}
	case "application/octet-stream":
	default:
		return "", unsupported
	}
	return media, nil
}

func isUTF8(charset string) bool {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii":
		return true
	}
	return false
}

func health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// metrics writes the peer's gauges and counters. The two metrics edgebench
// reads keep edgepush's names, so that its idle scenario works unchanged.
func (p *Peer) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if rss, err := tuning.ResidentBytes(); err == nil {
		gauge(w, "edgepush_process_resident_bytes", rss)
	}
	gauge(w, "edgepush_connections", uint64(p.connections.Load()))
	counter(w, "gorilla_peer_upgrades_total", p.upgrades.Load())
	counter(w, "gorilla_peer_publishes_total", p.publishes.Load())
	counter(w, "gorilla_peer_delivered_total", p.delivered.Load())
	counter(w, "gorilla_peer_frames_written_total", p.framesWritten.Load())
	counter(w, "gorilla_peer_write_failures_total", p.writeFailures.Load())
	counter(w, "gorilla_peer_slow_consumers_total", p.slowConsumers.Load())
	counter(w, "gorilla_peer_protocol_closes_total", p.protocolCloses.Load())
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	gauge(w, "go_memstats_heap_inuse_bytes", m.HeapInuse)
	gauge(w, "go_memstats_stack_inuse_bytes", m.StackInuse)
	gauge(w, "go_memstats_sys_bytes", m.Sys)
	gauge(w, "go_goroutines", uint64(runtime.NumGoroutine()))
}

func gauge(w io.Writer, name string, v uint64) {
	fmt.Fprintf(w, "# TYPE %s gauge\n%s %d\n", name, name, v)
}

func counter(w io.Writer, name string, v uint64) {
	fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "msg": e.msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
