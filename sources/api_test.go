package sources

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/hub"
	"edgepush/hub/hubtest"
	"edgepush/internal/jsonapi"
)

// testTime is the hub's clock in these tests, so that ts is known.
var testTime = time.UnixMilli(1_700_000_000_123)

// testHub is a hub with its publish pipeline over the in-memory store.
type testHub struct {
	*hub.Hub
	*hub.Pipeline
}

func newTestHub() testHub {
	h := hub.New(hub.Config{})
	p := hub.NewPipeline(hub.PipelineConfig{Now: func() time.Time { return testTime }},
		hub.NewMemoryStore(hub.MemoryStoreConfig{}), hub.NewLocalBus(), h)
	return testHub{Hub: h, Pipeline: p}
}

// textPush is the JSON of a text push.
type textPush struct {
	Op   string          `json:"op"`
	App  string          `json:"app"`
	ID   string          `json:"id"`
	Seq  uint64          `json:"seq"`
	TS   int64           `json:"ts"`
	Data json.RawMessage `json:"data"`
}

func decodeText(t *testing.T, payload []byte) textPush {
	t.Helper()
	var p textPush
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("text push %q: %v", payload, err)
	}
	return p
}

// decodeBinary reads the binary push layout: u8 version, u8 len(app), app,
// u8 len(id), id, u64 seq, i64 ts, payload.
func decodeBinary(t *testing.T, b []byte) (app, id string, seq uint64, ts int64, data []byte) {
	t.Helper()
	fail := func() { t.Fatalf("binary push too short: % x", b) }
	if len(b) < 2 || b[0] != 1 {
		t.Fatalf("binary push does not start with version 1: % x", b)
	}
	n := int(b[1])
	if len(b) < 2+n+1 {
		fail()
	}
	app, b = string(b[2:2+n]), b[2+n:]
	n = int(b[0])
	if len(b) < 1+n+16 {
		fail()
	}
	id, b = string(b[1:1+n]), b[1+n:]
	seq, ts = binary.BigEndian.Uint64(b), int64(binary.BigEndian.Uint64(b[8:]))
	return app, id, seq, ts, b[16:]
}

// errorBodyOf checks that resp is a JSON error reply and returns its code.
func errorBodyOf(t *testing.T, resp *http.Response) jsonapi.ErrorBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var reply jsonapi.ErrorReply
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reply); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if reply.Error.Code == "" || reply.Error.Msg == "" {
		t.Errorf("error body %+v lacks code or msg", reply)
	}
	return reply.Error
}

func serve(h http.Handler, req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestPublish(t *testing.T) {
	long := strings.Repeat("a", hub.MaxKeyPart)
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		unknownSize bool    // send without Content-Length
		maxBody     int64   // APIConfig.MaxBody; 0: 8 KiB
		key         hub.Key // the key subscribed to; zero: demo/001

		wantStatus int
		wantCode   string // for errors
		wantAllow  string // for 405
		wantFirst  byte   // 0x81 text, 0x82 binary; for 200
		wantData   string // the push's data, for 200
	}{
		{name: "json", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: `{"value":21.5,"unit":"°C"}`, wantStatus: 200, wantFirst: 0x81, wantData: `{"value":21.5,"unit":"°C"}`},
		{name: "json charset", target: "/v1/publish?app=demo&id=001", contentType: "application/json; charset=utf-8",
			body: `[1,2]`, wantStatus: 200, wantFirst: 0x81, wantData: `[1,2]`},
		{name: "json media type in capitals", target: "/v1/publish?app=demo&id=001", contentType: "Application/JSON; Charset=UTF-8",
			body: `42`, wantStatus: 200, wantFirst: 0x81, wantData: `42`},
		{name: "json whitespace trimmed", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: " \n\t\"x\"\r\n", wantStatus: 200, wantFirst: 0x81, wantData: `"x"`},
		{name: "json invalid", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: `{"value":`, wantStatus: 400, wantCode: "bad_json"},
		{name: "json empty", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: ``, wantStatus: 400, wantCode: "bad_json"},
		{name: "json two values", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: `1 2`, wantStatus: 400, wantCode: "bad_json"},
		{name: "json invalid UTF-8", target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: "\"\xff\"", wantStatus: 400, wantCode: "bad_json"},
		{name: "text", target: "/v1/publish?app=demo&id=001", contentType: "text/plain",
			body: "hello \"world\"\n", wantStatus: 200, wantFirst: 0x81, wantData: `"hello \"world\"\n"`},
		{name: "text charset", target: "/v1/publish?app=demo&id=001", contentType: "text/plain; charset=utf-8",
			body: "21,5 °C", wantStatus: 200, wantFirst: 0x81, wantData: `"21,5 °C"`},
		{name: "text empty", target: "/v1/publish?app=demo&id=001", contentType: "text/plain",
			body: "", wantStatus: 200, wantFirst: 0x81, wantData: `""`},
		{name: "text invalid UTF-8", target: "/v1/publish?app=demo&id=001", contentType: "text/plain",
			body: "caf\xe9", wantStatus: 400, wantCode: "bad_utf8"},
		{name: "text other charset", target: "/v1/publish?app=demo&id=001", contentType: "text/plain; charset=iso-8859-1",
			body: "x", wantStatus: 415, wantCode: "unsupported_media"},
		{name: "binary", target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream",
			body: "\x00\xff\x01bin", wantStatus: 200, wantFirst: 0x82, wantData: "\x00\xff\x01bin"},
		{name: "binary empty", target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream",
			body: "", wantStatus: 200, wantFirst: 0x82, wantData: ""},
		{name: "binary with parameters", target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream; foo=bar",
			body: "b", wantStatus: 200, wantFirst: 0x82, wantData: "b"},
		{name: "longest key", target: "/v1/publish?app=" + long + "&id=" + long, contentType: "application/json",
			body: `1`, key: hub.Key{App: long, ID: long}, wantStatus: 200, wantFirst: 0x81, wantData: `1`},
		{name: "no content type", target: "/v1/publish?app=demo&id=001",
			body: `1`, wantStatus: 415, wantCode: "unsupported_media"},
		{name: "other content type", target: "/v1/publish?app=demo&id=001", contentType: "text/html",
			body: `1`, wantStatus: 415, wantCode: "unsupported_media"},
		{name: "malformed content type", target: "/v1/publish?app=demo&id=001", contentType: "application/json; charset",
			body: `1`, wantStatus: 415, wantCode: "unsupported_media"},
		{name: "no app", target: "/v1/publish?id=001", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_request"},
		{name: "no id", target: "/v1/publish?app=demo", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_request"},
		{name: "empty app", target: "/v1/publish?app=&id=001", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_request"},
		{name: "app too long", target: "/v1/publish?app=" + long + "a&id=001", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_key"},
		{name: "id with control character", target: "/v1/publish?app=demo&id=0%0A1", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_key"},
		{name: "id not UTF-8", target: "/v1/publish?app=demo&id=%FF", contentType: "application/json",
			body: `1`, wantStatus: 400, wantCode: "bad_key"},
		{name: "GET", method: http.MethodGet, target: "/v1/publish?app=demo&id=001",
			wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "PUT", method: http.MethodPut, target: "/v1/publish?app=demo&id=001", contentType: "application/json",
			body: `1`, wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "body at the cap", maxBody: 8, target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream",
			body: "12345678", wantStatus: 200, wantFirst: 0x82, wantData: "12345678"},
		{name: "body over the cap", maxBody: 8, target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream",
			body: "123456789", wantStatus: 413, wantCode: "too_large"},
		{name: "body over the cap, no length", maxBody: 8, target: "/v1/publish?app=demo&id=001", contentType: "application/octet-stream",
			body: "123456789", unknownSize: true, wantStatus: 413, wantCode: "too_large"},
		{name: "body at the cap, no length", maxBody: 8, target: "/v1/publish?app=demo&id=001", contentType: "text/plain",
			body: "12345678", unknownSize: true, wantStatus: 200, wantFirst: 0x81, wantData: `"12345678"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHub()
			sub := &hubtest.Recorder{}
			k := tt.key
			if k == (hub.Key{}) {
				k = hub.Key{App: "demo", ID: "001"}
			}
			h.Subscribe(sub, k)
			maxBody := tt.maxBody
			if maxBody == 0 {
				maxBody = 8 << 10
			}
			handler := NewAPI(APIConfig{MaxBody: maxBody}, Deps{Publisher: h, Logger: discardLogger()})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.unknownSize {
				req.ContentLength = -1
			}
			resp := serve(handler, req)

			if resp.StatusCode != tt.wantStatus {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 {
				if got := errorBodyOf(t, resp); got.Code != tt.wantCode {
					t.Errorf("code = %q, want %q (msg %q)", got.Code, tt.wantCode, got.Msg)
				}
				if got := resp.Header.Get("Allow"); got != tt.wantAllow {
					t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
				}
				if n := len(sub.Taken()); n != 0 {
					t.Errorf("%d frames queued after a failed publish", n)
				}
				return
			}
			var reply publishReply
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				t.Fatalf("reply: %v", err)
			}
			if reply.Seq != 1 || reply.Delivered != 1 || reply.Epoch == "" {
				t.Errorf("reply = %+v, want seq 1, delivered 1 and an epoch", reply)
			}
			frames := sub.Taken()
			if len(frames) != 1 {
				t.Fatalf("%d frames queued, want 1", len(frames))
			}
			checkPush(t, frames[0], tt.wantFirst, k, 1, tt.wantData)
		})
	}
}

// checkPush checks that b is the push of data to k with sequence number seq.
func checkPush(t *testing.T, b []byte, first byte, k hub.Key, seq uint64, data string) {
	t.Helper()
	gotFirst, payload := hubtest.DecodeFrame(t, b)
	if gotFirst != first {
		t.Fatalf("first byte = %#x, want %#x", gotFirst, first)
	}
	if first == 0x82 {
		app, id, gotSeq, ts, gotData := decodeBinary(t, payload)
		if app != k.App || id != k.ID || gotSeq != seq || ts != testTime.UnixMilli() || string(gotData) != data {
			t.Errorf("binary push = %q %q seq %d ts %d data %q, want %q %q seq %d ts %d data %q",
				app, id, gotSeq, ts, gotData, k.App, k.ID, seq, testTime.UnixMilli(), data)
		}
		return
	}
	p := decodeText(t, payload)
	want := textPush{Op: "data", App: k.App, ID: k.ID, Seq: seq, TS: testTime.UnixMilli(), Data: json.RawMessage(data)}
	if p.Op != want.Op || p.App != want.App || p.ID != want.ID || p.Seq != want.Seq || p.TS != want.TS || string(p.Data) != data {
		t.Errorf("text push = %s, want %+v with data %s", payload, want, data)
	}
}

func TestPublishSeqGrowsByOne(t *testing.T) {
	h := newTestHub()
	first, second := &hubtest.Recorder{}, &hubtest.Recorder{}
	k := hub.Key{App: "demo", ID: "001"}
	h.Subscribe(first, k)
	h.Subscribe(second, k)
	handler := NewAPI(APIConfig{}, Deps{Publisher: h, Logger: discardLogger()})

	publish := func(id string) publishReply {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/v1/publish?app=demo&id="+id, strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		resp := serve(handler, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var reply publishReply
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if got := publish("001"); got.Seq != seq || got.Delivered != 2 {
			t.Fatalf("publish %d = %+v, want seq %d delivered 2", seq, got, seq)
		}
	}
	if got := publish("002"); got.Seq != 1 || got.Delivered != 0 {
		t.Errorf("other key = %+v, want its own seq 1 and no delivery", got)
	}
	for _, sub := range []*hubtest.Recorder{first, second} {
		frames := sub.Taken()
		if len(frames) != 5 {
			t.Fatalf("%d frames, want 5", len(frames))
		}
		for i, b := range frames {
			checkPush(t, b, 0x81, k, uint64(i+1), `{"n":1}`)
		}
	}
}

// failingPublisher fails every publish with err.
type failingPublisher struct{ err error }

func (p failingPublisher) Publish(context.Context, hub.Key, hub.Kind, []byte) (hub.Result, error) {
	return hub.Result{}, p.err
}

func TestPublishErrorsFromPublisher(t *testing.T) {
	secret := errors.New("redis 10.0.0.7:6379: connection refused")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantLogged bool
	}{
		{"internal", secret, 500, "internal", true},
		{"wrapped internal", errors.Join(errors.New("hub"), secret), 500, "internal", true},
		{"invalid JSON", hub.ErrInvalidJSON, 400, "bad_json", false},
		{"key too long", errors.Join(errors.New("id"), hub.ErrKeyTooLong), 400, "bad_key", false},
		{"empty key", errors.Join(errors.New("app"), hub.ErrEmptyKey), 400, "bad_request", false},
		{"store down", fmt.Errorf("%w: append: %w", hub.ErrStore, secret), 503, "unavailable", true},
		{"bus down", fmt.Errorf("%w: publish: %w", hub.ErrBus, secret), 503, "unavailable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&log, nil))
			handler := NewAPI(APIConfig{}, Deps{Publisher: failingPublisher{tt.err}, Logger: logger})
			req := httptest.NewRequest(http.MethodPost, "/v1/publish?app=demo&id=001", strings.NewReader(`1`))
			req.Header.Set("Content-Type", "application/json")
			resp := serve(handler, req)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if strings.Contains(string(body), "10.0.0.7") {
				t.Errorf("internal error text reached the client: %s", body)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if got := errorBodyOf(t, resp); got.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", got.Code, tt.wantCode)
			}
			if logged := strings.Contains(log.String(), "10.0.0.7"); logged != tt.wantLogged {
				t.Errorf("error logged = %v, want %v; log %q", logged, tt.wantLogged, log.String())
			}
		})
	}
}

func TestHealthAndMetrics(t *testing.T) {
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgepush_connections", Help: "Open."}, func() float64 { return 3 }))
	exposed := "# HELP edgepush_connections Open.\n# TYPE edgepush_connections gauge\nedgepush_connections 3\n"
	tests := []struct {
		name       string
		method     string
		target     string
		metrics    prometheus.Gatherer
		wantStatus int
		wantType   string // media type
		wantBody   string // exact, for 200
		wantAllow  string
	}{
		{"healthz", http.MethodGet, "/healthz", metrics, 200, "application/json", `{"status":"ok"}` + "\n", ""},
		{"healthz HEAD", http.MethodHead, "/healthz", metrics, 200, "application/json", "", ""},
		{"healthz POST", http.MethodPost, "/healthz", metrics, 405, "application/json", "", "GET, HEAD"},
		{"metrics", http.MethodGet, "/metrics", metrics, 200, "text/plain", exposed, ""},
		{"metrics none", http.MethodGet, "/metrics", nil, 200, "text/plain", "", ""},
		{"metrics DELETE", http.MethodDelete, "/metrics", metrics, 405, "application/json", "", "GET, HEAD"},
		{"unknown route", http.MethodGet, "/v2/publish", metrics, 404, "application/json", "", ""},
		{"publish under a subpath", http.MethodPost, "/v1/publish/x", metrics, 404, "application/json", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Metrics: tt.metrics, Logger: discardLogger()})
			srv := httptest.NewServer(handler)
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			media, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil || media != tt.wantType {
				t.Errorf("Content-Type = %q, want %s", resp.Header.Get("Content-Type"), tt.wantType)
			}
			if media == "text/plain" && params["version"] != "0.0.4" {
				t.Errorf("metrics Content-Type %q lacks version=0.0.4", resp.Header.Get("Content-Type"))
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantStatus == 200 && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			if tt.wantStatus != 200 && !json.Valid(body) {
				t.Errorf("error body %q is not JSON", body)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestReadiness(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		ready      func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{"no check", http.MethodGet, nil, 200, `{"status":"ready"}`},
		{"ready", http.MethodGet, func(context.Context) error { return nil }, 200, `{"status":"ready"}`},
		{"store down", http.MethodGet, func(context.Context) error { return errors.New("store: redis not reachable") }, 503,
			`{"reason":"store: redis not reachable","status":"not ready"}`},
		{"draining", http.MethodGet, func(context.Context) error { return ErrDraining }, 503, `{"reason":"draining","status":"not ready"}`},
		{"draining HEAD", http.MethodHead, func(context.Context) error { return ErrDraining }, 503, ""}, // the recorder keeps HEAD bodies: not compared
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Ready: tt.ready, Logger: discardLogger()})
			resp := serve(handler, httptest.NewRequest(tt.method, "/readyz", nil))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := strings.TrimSpace(string(body)); tt.method != http.MethodHead && got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
		})
	}
}

// TestPublishFailuresLogLimited: a store that fails every publish gives one
// error line per period, not one per publish.
func TestPublishFailuresLogLimited(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	err := fmt.Errorf("%w: append: refused", hub.ErrStore)
	handler := NewAPI(APIConfig{}, Deps{Publisher: failingPublisher{err}, Logger: logger})
	for range 50 {
		req := httptest.NewRequest(http.MethodPost, "/v1/publish?app=demo&id=001", strings.NewReader(`1`))
		req.Header.Set("Content-Type", "application/json")
		if resp := serve(handler, req); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", resp.StatusCode)
		}
	}
	if n := strings.Count(log.String(), "publish failed"); n != 1 {
		t.Fatalf("%d lines for 50 failed publishes within a period, want 1:\n%s", n, log.String())
	}
}
