package datacenter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"edgepush/internal/jsonapi"
)

// Error codes of the API, sent as {"error":{"code":...,"msg":...}}.
const (
	codeBadRequest  = "bad_request"  // missing or bad app or ids, bad control body
	codeTooManyIDs  = "too_many_ids" // more ids than MaxIDs in one request
	codeNotFound    = "not_found"    // no such route
	codeUnavailable = "unavailable"  // injected 5xx
	codeTimeout     = "timeout"      // injected timeout, after Hang
)

// maxControlBody is the largest body of POST /control.
const maxControlBody = 64 << 10

func (s *Sim) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/realtime", jsonapi.Allow(s.realtime, http.MethodGet))
	mux.Handle("/healthz", jsonapi.Allow(health, http.MethodGet, http.MethodHead))
	mux.Handle("/control", jsonapi.Allow(s.control, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		jsonapi.WriteError(w, http.StatusNotFound, codeNotFound, "no such route; use /realtime, /healthz or /control")
	})
	return mux
}

func health(w http.ResponseWriter, _ *http.Request) {
	jsonapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// realtime answers GET /realtime?app=A&ids=X,Y: getRealTimeData(A, ids).
func (s *Sim) realtime(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	app, ids, err := ParseQuery(r.URL.RawQuery, s.cfg.MaxIDs)
	if err != nil {
		code := codeBadRequest
		if errors.Is(err, ErrTooManyIDs) {
			code = codeTooManyIDs
		}
		jsonapi.WriteError(w, http.StatusBadRequest, code, err.Error())
		return
	}
	fault, delay := s.take(app, ids, s.cfg.Now())
	ctx := r.Context()
	if !wait(ctx, delay) {
		abort()
	}
	switch fault {
	case Fault5xx:
		jsonapi.WriteError(w, http.StatusServiceUnavailable, codeUnavailable, "injected failure: the data center is unavailable")
		return
	case FaultTimeout:
		if !wait(ctx, s.cfg.Hang) {
			abort()
		}
		jsonapi.WriteError(w, http.StatusGatewayTimeout, codeTimeout, "injected failure: no answer for "+s.cfg.Hang.String())
		return
	}
	appJSON, itemsJSON := s.answer(app, ids)
	switch fault {
	case FaultHuge:
		s.writeHuge(ctx, w, appJSON, itemsJSON)
	case FaultBadJSON:
		body := realtimeBody(appJSON, itemsJSON)
		writeBody(w, http.StatusOK, body[:(len(body)-1)/2]) // a proper prefix of an object is never JSON
	default:
		writeBody(w, http.StatusOK, realtimeBody(appJSON, itemsJSON))
	}
}

// answer returns app and the items of ids at the sim's time now, each as
// JSON.
func (s *Sim) answer(app string, ids []string) (appJSON, itemsJSON []byte) {
	now := s.cfg.Now()
	s.mu.Lock()
	items := s.items(app, ids, now) // the values are replaced, never changed: safe past the lock
	s.mu.Unlock()
	appJSON, _ = json.Marshal(app)     // a string always marshals
	itemsJSON, _ = json.Marshal(items) // and so do items of valid JSON values
	return appJSON, itemsJSON
}

// realtimeBody is the body of a 200 answer: a Response and a newline.
func realtimeBody(appJSON, itemsJSON []byte) []byte {
	b := make([]byte, 0, len(appJSON)+len(itemsJSON)+20)
	b = append(b, `{"app":`...)
	b = append(b, appJSON...)
	b = append(b, `,"items":`...)
	b = append(b, itemsJSON...)
	return append(b, "}\n"...)
}

// writeHuge writes a valid answer of HugeSize bytes, a pad string first,
// a chunk at a time; it drops the connection when the request's context
// ends or a write fails.
func (s *Sim) writeHuge(ctx context.Context, w http.ResponseWriter, appJSON, itemsJSON []byte) {
	head := append(append([]byte(`{"app":`), appJSON...), `,"pad":"`...)
	tail := append(append([]byte(`","items":`), itemsJSON...), "}\n"...)
	pad := max(s.cfg.HugeSize-len(head)-len(tail), 0)
	jsonapi.SetHeaders(w)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		abort()
	}
	chunk := bytes.Repeat([]byte{'x'}, min(pad, 64<<10))
	for pad > 0 {
		n := min(pad, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil || ctx.Err() != nil {
			abort()
		}
		pad -= n
	}
	_, _ = w.Write(tail)
}

// abort ends the request without an answer, or with a cut one: the server
// drops the connection (or resets the stream) rather than complete an
// empty 200 after the handler. It is for a request whose context ended:
// its client left or the server is shutting down.
func abort() {
	panic(http.ErrAbortHandler)
}

// wait waits d, or until ctx is done; it reports whether d went by and
// ctx is not done.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// controlRequest is the body of POST /control.
type controlRequest struct {
	Fail *string  `json:"fail"`
	App  string   `json:"app"`
	IDs  []string `json:"ids"`
	Rate *float64 `json:"rate"`
	For  string   `json:"for"`
}

// controlState is the answer of GET and POST /control.
type controlState struct {
	Fail       string     `json:"fail"`
	App        string     `json:"app,omitempty"`
	IDs        []string   `json:"ids,omitempty"`
	Rate       float64    `json:"rate,omitempty"`
	Until      int64      `json:"until,omitempty"`
	ErrorRates errorRates `json:"error_rates"`
	Requests   int        `json:"requests"`
}

type errorRates struct {
	Error5xx     float64 `json:"5xx"`
	ErrorTimeout float64 `json:"timeout"`
	ErrorBadJSON float64 `json:"badjson"`
	ErrorHuge    float64 `json:"huge"`
}

// control answers GET /control with the injected state and POST /control
// by replacing the injection first.
func (s *Sim) control(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		in, err := readControl(w, r)
		if err == nil {
			err = s.Inject(in)
		}
		if err != nil {
			jsonapi.WriteError(w, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
	}
	in, until := s.Injected()
	st := controlState{
		Fail: string(in.Fault),
		ErrorRates: errorRates{
			Error5xx: s.cfg.Error5xx, ErrorTimeout: s.cfg.ErrorTimeout,
			ErrorBadJSON: s.cfg.ErrorBadJSON, ErrorHuge: s.cfg.ErrorHuge,
		},
		Requests: s.Requests(),
	}
	if in.Fault != FaultNone {
		st.App, st.IDs, st.Rate = in.App, in.IDs, in.Rate
		if !until.IsZero() {
			st.Until = until.UnixMilli()
		}
	}
	jsonapi.WriteJSON(w, http.StatusOK, st)
}

// readControl reads the body of POST /control: one JSON object with only
// the known members.
func readControl(w http.ResponseWriter, r *http.Request) (Injection, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	var req controlRequest
	if err := dec.Decode(&req); err != nil {
		return Injection{}, errors.New("body is not a control object: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return Injection{}, errors.New("body has more than one JSON value")
	}
	if req.Fail == nil {
		return Injection{}, errors.New(`member "fail" is missing (none, 5xx, timeout, badjson or huge)`)
	}
	fault, err := ParseFault(*req.Fail)
	if err != nil {
		return Injection{}, err
	}
	in := Injection{Fault: fault, App: req.App, IDs: req.IDs, Rate: 1}
	if req.Rate != nil {
		if !(*req.Rate > 0 && *req.Rate <= 1) {
			return Injection{}, errors.New(`"rate" must be in (0, 1]`)
		}
		in.Rate = *req.Rate
	}
	if req.For != "" {
		if in.For, err = time.ParseDuration(req.For); err != nil || in.For <= 0 {
			return Injection{}, errors.New(`"for" must be a positive duration such as "30s"`)
		}
	}
	return in, nil
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	jsonapi.SetHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
