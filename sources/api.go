package sources

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edgepush/hub"
	"edgepush/internal/jsonapi"
	"edgepush/internal/metricset"
	"edgepush/internal/ratelog"
)

// APIConfig tunes the publish API. The zero value works.
type APIConfig struct {
	// MaxBody is the largest publish body, in bytes; a larger one gets 413.
	// Default 1 MiB.
	MaxBody int64
}

func (c APIConfig) withDefaults() APIConfig {
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	return c
}

// Error codes of the publish API, sent as {"error":{"code":...,"msg":...}}.
const (
	codeBadRequest       = "bad_request"       // missing app or id, unreadable body
	codeBadKey           = "bad_key"           // app or id fails hub.Key.Validate
	codeBadJSON          = "bad_json"          // application/json body is not a JSON value
	codeBadUTF8          = "bad_utf8"          // text/plain body is not UTF-8
	codeTooLarge         = "too_large"         // body over MaxBody
	codeUnsupportedMedia = "unsupported_media" // Content-Type missing or not handled
	codeNotFound         = "not_found"         // no such route
	codeUnavailable      = "unavailable"       // the store or the bus failed; retry
	codeInternal         = "internal"          // anything else on the server's side
)

// Subscriptions answers who watches the ids of an app: this node's hub
// alone, or the cluster's write-through index in Redis.
type Subscriptions interface {
	// App returns the ids of app with subscribers, with their counts in
	// total and per node, sorted by id.
	App(ctx context.Context, app string) ([]hub.KeyCount, error)
}

// api serves the internal HTTP API: publish, subscriptions, health and
// metrics.
type api struct {
	cfg     APIConfig
	pub     Publisher
	subs    Subscriptions
	ready   func(context.Context) error
	metrics http.Handler
	logger  *slog.Logger
}

// ErrDraining is what Deps.Ready returns once the node drains (SIGTERM):
// /readyz answers 503 {"status":"not ready","reason":"draining"}, so that a
// load balancer sends no new client, while /healthz stays 200 and the API
// keeps serving publishes to the clients still connected.
var ErrDraining = errors.New("draining")

// Deps are what the API serves from.
type Deps struct {
	Publisher     Publisher                   // required
	Subscriptions Subscriptions               // nil: no /v1/subscriptions (404)
	Ready         func(context.Context) error // nil: always ready; else /readyz is 503 with its error's text (ErrDraining during a drain)
	Metrics       prometheus.Gatherer         // nil: /metrics is empty
	Registerer    prometheus.Registerer       // nil: the API's own requests are not counted; else edgepush_api_requests_total and _duration_seconds
	Logger        *slog.Logger                // nil: slog.Default()
}

// NewAPI returns the handler of the internal API:
//
//	POST /v1/publish?app=A&id=X   publish the body to A/X
//	GET  /v1/subscriptions?app=A  the ids of A with subscribers, and their counts per node
//	GET  /v1/subscriptions?app=A&id=X  one id's count and nodes
//	GET  /healthz                 {"status":"ok"}: the process serves
//	GET  /readyz                  {"status":"ready"}, or 503 with the reason: the store and the bus are reachable, no drain
//	GET  /metrics                 what Metrics gathers, in the Prometheus text format (promhttp)
//
// The body's Content-Type picks the push: application/json is a text push of
// that JSON value, text/plain a text push of the body as a JSON string,
// application/octet-stream a binary push.
func NewAPI(cfg APIConfig, deps Deps) http.Handler {
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// A failing store fails every publish: one line per period, with the
	// count of those held back.
	logger = ratelog.Logger(logger, ratelog.Options{})
	a := &api{cfg: cfg.withDefaults(), pub: deps.Publisher, subs: deps.Subscriptions, ready: deps.Ready, logger: logger}
	a.metrics = metricsHandler(deps.Metrics, logger)
	mux := http.NewServeMux()
	route := instrument(deps.Registerer)
	mux.Handle("/v1/publish", route("publish", jsonapi.Allow(a.publish, http.MethodPost)))
	if a.subs != nil {
		mux.Handle("/v1/subscriptions", route("subscriptions", jsonapi.Allow(a.subscriptions, http.MethodGet, http.MethodHead)))
	}
	mux.Handle("/readyz", route("readyz", jsonapi.Allow(a.readiness, http.MethodGet, http.MethodHead)))
	mux.Handle("/healthz", route("healthz", jsonapi.Allow(a.health, http.MethodGet, http.MethodHead)))
	mux.Handle("/metrics", route("metrics", jsonapi.Allow(a.metrics.ServeHTTP, http.MethodGet, http.MethodHead)))
	mux.Handle("/", route("other", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		jsonapi.WriteError(w, http.StatusNotFound, codeNotFound, "no such route")
	})))
	return mux
}

// apiError is a failed request: its status, code and a message safe to
// show the client.
type apiError struct {
	status int
	code   string
	msg    string
}

// publishReply is the body of a successful publish.
type publishReply struct {
	Seq       uint64 `json:"seq"`
	Epoch     string `json:"epoch"`
	Delivered int    `json:"delivered"`
}

func (a *api) publish(w http.ResponseWriter, r *http.Request) {
	k := hub.Key{App: r.URL.Query().Get("app"), ID: r.URL.Query().Get("id")}
	kind, data, aerr := a.readPush(w, r, k)
	if aerr != nil {
		jsonapi.WriteError(w, aerr.status, aerr.code, aerr.msg)
		return
	}
	res, err := a.pub.Publish(r.Context(), k, kind, data)
	if err != nil {
		a.failPublish(w, r, k, err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, publishReply{Seq: res.Seq, Epoch: res.Epoch, Delivered: res.Delivered})
}

// readPush checks the key and the Content-Type, reads the body and returns
// the kind and data to publish.
func (a *api) readPush(w http.ResponseWriter, r *http.Request, k hub.Key) (hub.Kind, []byte, *apiError) {
	if err := checkKey(k); err != nil {
		return 0, nil, err
	}
	media, err := mediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return 0, nil, err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return 0, nil, err
	}
	switch media {
	case "application/json":
		data, err := jsonData(body)
		return hub.Text, data, err
	case "text/plain":
		data, err := textData(body)
		return hub.Text, data, err
	default: // application/octet-stream
		return hub.Binary, body, nil
	}
}

// checkKey reports a missing or invalid app or id.
func checkKey(k hub.Key) *apiError {
	switch {
	case k.App == "":
		return &apiError{http.StatusBadRequest, codeBadRequest, "query parameter app is missing or empty"}
	case k.ID == "":
		return &apiError{http.StatusBadRequest, codeBadRequest, "query parameter id is missing or empty"}
	}
	if err := k.Validate(); err != nil {
		return keyError(err)
	}
	return nil
}

// keyError turns an error of hub.Key.Validate into the API's answer.
func keyError(err error) *apiError {
	if errors.Is(err, hub.ErrEmptyKey) {
		return &apiError{http.StatusBadRequest, codeBadRequest, "invalid key: " + err.Error()}
	}
	return &apiError{http.StatusBadRequest, codeBadKey, "invalid key: " + err.Error()}
}

// mediaType returns the media type of a Content-Type header if the API
// handles it. Parameters are allowed; a charset, if given, must be UTF-8
// (or its subset US-ASCII).
func mediaType(header string) (string, *apiError) {
	const accepted = "use application/json, text/plain or application/octet-stream"
	if header == "" {
		return "", &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type is missing; " + accepted}
	}
	media, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "", &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type is malformed; " + accepted}
	}
	switch media {
	case "application/json", "text/plain", "application/octet-stream":
	default:
		return "", &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type " + media + " is not supported; " + accepted}
	}
	if cs, ok := params["charset"]; ok && media != "application/octet-stream" && !UTF8Charset(cs) {
		return "", &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "charset " + cs + " is not supported; use utf-8"}
	}
	return media, nil
}

// readBody reads the whole body, at most MaxBody bytes.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{http.StatusRequestEntityTooLarge, codeTooLarge, "body is larger than " + formatBytes(a.cfg.MaxBody)}
	if r.ContentLength > a.cfg.MaxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge
	case err != nil:
		a.logger.Debug("api: reading publish body", "err", err)
		return nil, &apiError{http.StatusBadRequest, codeBadRequest, "could not read the body"}
	}
	return body, nil
}

// jsonData returns body as a text push's data (JSONBody), or the API's answer.
func jsonData(body []byte) ([]byte, *apiError) {
	data, err := JSONBody(body)
	switch {
	case errors.Is(err, ErrBodyUTF8):
		return nil, &apiError{http.StatusBadRequest, codeBadJSON, "body is not valid UTF-8"}
	case err != nil:
		return nil, &apiError{http.StatusBadRequest, codeBadJSON, "body is not a JSON value"}
	}
	return data, nil
}

// textData returns body as a text push's data (TextBody), or the API's answer.
func textData(body []byte) ([]byte, *apiError) {
	data, err := TextBody(body)
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, codeBadUTF8, "body is not valid UTF-8"}
	}
	return data, nil
}

// failPublish answers a publish the publisher refused. Errors of the
// client's making get 400; any other is logged and gets a generic 500.
func (a *api) failPublish(w http.ResponseWriter, r *http.Request, k hub.Key, err error) {
	switch {
	case errors.Is(err, hub.ErrInvalidJSON):
		jsonapi.WriteError(w, http.StatusBadRequest, codeBadJSON, "body is not a JSON value")
	case errors.Is(err, hub.ErrEmptyKey), errors.Is(err, hub.ErrKeyTooLong),
		errors.Is(err, hub.ErrKeyControl), errors.Is(err, hub.ErrKeyUTF8):
		e := keyError(err)
		jsonapi.WriteError(w, e.status, e.code, e.msg)
	case r.Context().Err() != nil: // the client left; no one reads the answer
		a.logger.Debug("api: publish abandoned by the client", "app", k.App, "id", k.ID, "err", err)
		jsonapi.WriteError(w, http.StatusInternalServerError, codeInternal, "internal error")
	case errors.Is(err, hub.ErrStore), errors.Is(err, hub.ErrBus):
		a.logger.Error("api: publish failed", "app", k.App, "id", k.ID, "err", err)
		jsonapi.WriteError(w, http.StatusServiceUnavailable, codeUnavailable, "publish not accepted; retry")
	default:
		a.logger.Error("api: publish failed", "app", k.App, "id", k.ID, "err", err)
		jsonapi.WriteError(w, http.StatusInternalServerError, codeInternal, "internal error")
	}
}

func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	jsonapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness answers /readyz: 200 when the node can take publishes and
// subscribes, else 503 with the reason (for a load balancer's check):
// "draining" from the start of a drain, or which dependency is unreachable.
func (a *api) readiness(w http.ResponseWriter, r *http.Request) {
	if a.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.ready(ctx); err != nil {
			jsonapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	jsonapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// instrument returns what wraps the handler of each route so that its
// requests are counted by status and method and timed, in series
// registered with reg; with a nil reg, nothing.
func instrument(reg prometheus.Registerer) func(route string, h http.Handler) http.Handler {
	if reg == nil {
		return func(_ string, h http.Handler) http.Handler { return h }
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgepush_api_requests_total",
		Help: "Requests to the internal API, by route, HTTP status and method.",
	}, []string{"route", "code", "method"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "edgepush_api_request_duration_seconds",
		Help:    "Time to answer a request to the internal API, by route (a publish: its store append and bus send included).",
		Buckets: metricset.LatencyBuckets(),
	}, []string{"route"})
	reg.MustRegister(requests, durations)
	return func(route string, h http.Handler) http.Handler {
		labels := prometheus.Labels{"route": route}
		h = promhttp.InstrumentHandlerCounter(requests.MustCurryWith(labels), h)
		return promhttp.InstrumentHandlerDuration(durations.MustCurryWith(labels), h)
	}
}

// metricsHandler serves what g gathers; a collector that fails is
// logged and left out, the rest served.
func metricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	if g == nil {
		g = prometheus.NewRegistry()
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// formatBytes writes n as a whole number of MiB or KiB when it is one.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
