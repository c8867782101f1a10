package datacenter

import (
	"bytes"
	"context"
	"edgepush/internal/jsonapi"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangGuard bounds a wait for a handler that must end; it is a guard
// against a hang, not a measure of speed.
const hangGuard = 20 * time.Second

// quiet is a logger for sims whose injections need not be logged.
var quiet = slog.New(slog.DiscardHandler)

type answer struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, srv *httptest.Server, method, target, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return answer{res.StatusCode, res.Header, b}
}

func get(t *testing.T, srv *httptest.Server, target string) answer {
	t.Helper()
	return do(t, srv, http.MethodGet, target, "")
}

// response decodes a 200 answer of /realtime, strictly.
func (a answer) response(t *testing.T) Response {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var r Response
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("body %s: %v", a.body, err)
	}
	if r.Items == nil {
		t.Errorf("items is null: %s", a.body)
	}
	return r
}

// errorCode returns the code of a JSON error answer, checking the status.
func (a answer) errorCode(t *testing.T, status int) string {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	var e jsonapi.ErrorReply
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error.Code == "" || e.Error.Msg == "" {
		t.Fatalf("body %s is not a JSON error (%v)", a.body, err)
	}
	return e.Error.Code
}

func ids(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func newServer(t *testing.T, cfg SimConfig) (*Sim, *fakeClock, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, clock := testSim(cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, clock, srv
}

func TestRealtime(t *testing.T) {
	s, clock, srv := newServer(t, SimConfig{Apps: []string{"demo", "other app"}, IDList: oddIDs})
	tests := []struct {
		query string
		app   string
		want  []string
	}{
		{"app=demo&ids=001", "demo", []string{"001"}},
		{Query("demo", oddIDs), "demo", oddIDs},
		{Query("other app", []string{"001", "a,b"}), "other app", []string{"001", "a,b"}},
		{"app=demo&ids=a%2Cb", "demo", []string{"a,b"}},
		{"app=demo&ids=a,b", "demo", []string{}},                              // the ids a and b, not held
		{"app=demo&ids=a+b,x.y,50%25", "demo", []string{"a b", "x.y", "50%"}}, // + is a space
		{"app=demo&ids=a%20b,temp%C3%A9rature", "demo", []string{"a b", "température"}},
		{"app=demo&ids=1%2B1,k%26v,x%3Dy", "demo", []string{"1+1", "k&v", "x=y"}},
		{"app=demo&ids=001,nope,x.y", "demo", []string{"001", "x.y"}},    // unknown ids are absent
		{"app=demo&ids=x.y,001,x.y,001", "demo", []string{"x.y", "001"}}, // each id once, first order
		{"app=nope&ids=001", "nope", []string{}},                         // an unknown app has no items
		{"ids=001&app=demo&extra=1", "demo", []string{"001"}},
	}
	for _, tt := range tests {
		r := get(t, srv, "/realtime?"+tt.query).response(t)
		if r.App != tt.app || !slices.Equal(ids(r.Items), tt.want) {
			t.Errorf("%s: app %q ids %q, want %q %q", tt.query, r.App, ids(r.Items), tt.app, tt.want)
		}
		for _, it := range r.Items {
			want := current(t, s, r.App, it.ID)
			if it.TS != clock.Now().UnixMilli() || string(it.Value) != string(want.Value) {
				t.Errorf("%s: %s = %s at %d, want %s at %d", tt.query, it.ID, it.Value, it.TS, want.Value, want.TS)
			}
		}
	}
}

// TestRealtimeRawUTF8 sends an id in raw UTF-8, unescaped, which a Go
// client would not.
func TestRealtimeRawUTF8(t *testing.T) {
	s, _ := testSim(SimConfig{IDList: []string{"température"}, Logger: quiet})
	r := httptest.NewRequest(http.MethodGet, "/realtime", nil)
	r.URL.RawQuery = "app=demo&ids=température"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	got := answer{w.Code, w.Header(), w.Body.Bytes()}.response(t)
	if !slices.Equal(ids(got.Items), []string{"température"}) {
		t.Errorf("items %q", ids(got.Items))
	}
}

func TestRealtimeBadRequests(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{MaxIDs: 5})
	tests := []struct {
		query string
		code  string
	}{
		{"", "bad_request"},
		{"ids=001", "bad_request"},
		{"app=&ids=001", "bad_request"},
		{"app=demo", "bad_request"},
		{"app=demo&ids=", "bad_request"},
		{"app=demo&ids=001,", "bad_request"},
		{"app=demo&ids=,001", "bad_request"},
		{"app=demo&ids=001,,002", "bad_request"},
		{"app=demo&ids=%zz", "bad_request"},
		{"app=demo&ids=50%", "bad_request"},
		{"app=%zz&ids=001", "bad_request"},
		{"app=demo&app=demo&ids=001", "bad_request"},
		{"app=demo&ids=001&ids=002", "bad_request"},
		{"app=demo&ids=%01", "bad_request"},
		{"app=demo&ids=%FF", "bad_request"},
		{"app=demo&ids=" + strings.Repeat("x", 65), "bad_request"},
		{"app=" + strings.Repeat("x", 65) + "&ids=001", "bad_request"},
		{"app=demo&ids=1,2,3,4,5,6", "too_many_ids"},
	}
	for _, tt := range tests {
		if code := get(t, srv, "/realtime?"+tt.query).errorCode(t, http.StatusBadRequest); code != tt.code {
			t.Errorf("%q: code %q, want %q", tt.query, code, tt.code)
		}
	}
	if r := get(t, srv, "/realtime?app=demo&ids=001,002,003,004,005").response(t); len(r.Items) != 5 {
		t.Errorf("5 ids, at most 5: %d items", len(r.Items))
	}
}

func TestDefaultMaxIDs(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{})
	list := make([]string, DefaultMaxIDs)
	for i := range list {
		list[i] = "001"
	}
	get(t, srv, "/realtime?"+Query("demo", list)).response(t)
	list = append(list, "002")
	if code := get(t, srv, "/realtime?"+Query("demo", list)).errorCode(t, http.StatusBadRequest); code != "too_many_ids" {
		t.Errorf("%d ids: code %q", len(list), code)
	}
}

func TestRoutesAndMethods(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, "/realtime?app=demo&ids=001", http.StatusMethodNotAllowed, "GET"},
		{http.MethodHead, "/realtime?app=demo&ids=001", http.StatusMethodNotAllowed, "GET"},
		{http.MethodPut, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, "/control", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/realtime/", http.StatusNotFound, ""},
		{http.MethodGet, "/healthz", http.StatusOK, ""},
		{http.MethodHead, "/healthz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		a := do(t, srv, tt.method, tt.path, "")
		if a.status != tt.status || a.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tt.method, tt.path, a.status, a.header.Get("Allow"), tt.status, tt.allow)
		}
		if tt.method != http.MethodHead && tt.status != http.StatusOK {
			a.errorCode(t, tt.status)
		}
	}
	if a := get(t, srv, "/healthz"); string(a.body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz: %s", a.body)
	}
}

// TestRealtimeChanges checks the answers follow the sim's clock.
func TestRealtimeChanges(t *testing.T) {
	_, clock, srv := newServer(t, SimConfig{Kinds: []Kind{Bool}, IDs: 3, ChangeEvery: 10 * time.Second})
	first := get(t, srv, "/realtime?app=demo&ids=001,002,003").response(t)
	clock.Advance(5 * time.Second)
	if again := get(t, srv, "/realtime?app=demo&ids=001,002,003").response(t); !slices.EqualFunc(first.Items, again.Items, sameItem) {
		t.Errorf("changed before ChangeEvery: %v then %v", first.Items, again.Items)
	}
	clock.Advance(5 * time.Second)
	later := get(t, srv, "/realtime?app=demo&ids=001,002,003").response(t)
	for i, it := range later.Items {
		if it.TS != first.Items[i].TS+10_000 || string(it.Value) == string(first.Items[i].Value) {
			t.Errorf("after ChangeEvery: %s = %s at %d, was %s at %d", it.ID, it.Value, it.TS, first.Items[i].Value, first.Items[i].TS)
		}
	}
}

func sameItem(a, b Item) bool {
	return a.ID == b.ID && a.TS == b.TS && string(a.Value) == string(b.Value)
}

func TestInjectedErrorRates(t *testing.T) {
	t.Run("5xx", func(t *testing.T) {
		_, _, srv := newServer(t, SimConfig{Error5xx: 1})
		if code := get(t, srv, "/realtime?app=demo&ids=001").errorCode(t, http.StatusServiceUnavailable); code != "unavailable" {
			t.Errorf("code %q", code)
		}
	})
	t.Run("badjson", func(t *testing.T) {
		_, _, srv := newServer(t, SimConfig{ErrorBadJSON: 1})
		for _, q := range []string{"app=demo&ids=001,002", "app=nope&ids=001", "app=x&ids=" + EncodeIDs(oddIDs)} {
			a := get(t, srv, "/realtime?"+q)
			if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" || json.Valid(a.body) || len(a.body) == 0 {
				t.Errorf("%s: %d %q %s, want 200 application/json and a body that is not JSON", q, a.status, a.header.Get("Content-Type"), a.body)
			}
		}
	})
	t.Run("huge", func(t *testing.T) {
		const size = 1 << 20
		_, _, srv := newServer(t, SimConfig{ErrorHuge: 1, HugeSize: size})
		a := get(t, srv, "/realtime?app=demo&ids=001,002")
		if len(a.body) != size {
			t.Errorf("huge body of %d bytes, want %d", len(a.body), size)
		}
		var r struct {
			Response
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(a.body, &r); err != nil || !slices.Equal(ids(r.Items), []string{"001", "002"}) || len(r.Pad) < size/2 {
			t.Errorf("huge body is not the answer and a pad: %v, items %v", err, r.Items)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, _, srv := newServer(t, SimConfig{ErrorTimeout: 1, Hang: 10 * time.Millisecond})
		if code := get(t, srv, "/realtime?app=demo&ids=001").errorCode(t, http.StatusGatewayTimeout); code != "timeout" {
			t.Errorf("code %q", code)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		_, _, srv := newServer(t, SimConfig{Error5xx: 0.25, ErrorBadJSON: 0.25, Rand: seeded(3)})
		seen := map[string]int{}
		for range 200 {
			a := get(t, srv, "/realtime?app=demo&ids=001")
			switch {
			case a.status == http.StatusServiceUnavailable:
				seen["5xx"]++
			case !json.Valid(a.body):
				seen["badjson"]++
			default:
				a.response(t)
				seen["ok"]++
			}
		}
		for _, k := range []string{"5xx", "badjson", "ok"} {
			if seen[k] < 20 {
				t.Errorf("%v: too few %s", seen, k)
			}
		}
	})
}

// serveCanceled runs one request through h with a context that is canceled
// after start, and waits for the handler to return.
func serveCanceled(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}()
		h.ServeHTTP(w, r)
	}()
	select {
	case <-done:
		t.Fatal("the handler answered before its context ended")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatal("the handler still hangs after its context ended")
	}
	return w
}

func TestTimeoutEndsWithTheRequest(t *testing.T) {
	s, _ := testSim(SimConfig{ErrorTimeout: 1, Hang: time.Hour, Logger: quiet})
	if w := serveCanceled(t, s.Handler(), "/realtime?app=demo&ids=001"); w.Body.Len() != 0 {
		t.Errorf("a canceled hang wrote %q", w.Body)
	}
	// Through a client with a timeout: the client gives up, and the server
	// closes without waiting for the hour.
	srv := httptest.NewServer(s.Handler())
	client := &http.Client{Timeout: 50 * time.Millisecond}
	if res, err := client.Get(srv.URL + "/realtime?app=demo&ids=001"); err == nil {
		res.Body.Close()
		t.Errorf("a hang answered %s", res.Status)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(hangGuard):
		t.Fatal("the server waits for a hang whose client left")
	}
}

func TestLatency(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond})
	get(t, srv, "/realtime?app=demo&ids=001").response(t)
	s, _ := testSim(SimConfig{Latency: time.Hour, Logger: quiet})
	if w := serveCanceled(t, s.Handler(), "/realtime?app=demo&ids=001"); w.Body.Len() != 0 {
		t.Errorf("a canceled wait wrote %q", w.Body)
	}
}

type controlReply struct {
	Fail       string             `json:"fail"`
	App        string             `json:"app"`
	IDs        []string           `json:"ids"`
	Rate       float64            `json:"rate"`
	Until      int64              `json:"until"`
	ErrorRates map[string]float64 `json:"error_rates"`
	Requests   int                `json:"requests"`
}

func control(t *testing.T, srv *httptest.Server, method, body string) controlReply {
	t.Helper()
	a := do(t, srv, method, "/control", body)
	if a.status != http.StatusOK {
		t.Fatalf("%s /control %s: %d %s", method, body, a.status, a.body)
	}
	var c controlReply
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("/control: %s: %v", a.body, err)
	}
	return c
}

func TestControl(t *testing.T) {
	_, clock, srv := newServer(t, SimConfig{Apps: []string{"demo", "other"}, Error5xx: 0, ErrorHuge: 0})
	status := func(q string) int { return get(t, srv, "/realtime?"+q).status }
	if c := control(t, srv, http.MethodGet, ""); c.Fail != "none" || c.Requests != 0 || len(c.ErrorRates) != 4 {
		t.Errorf("GET /control at start: %+v", c)
	}

	c := control(t, srv, http.MethodPost, `{"fail":"5xx","app":"demo","ids":["001","003"]}`)
	if c.Fail != "5xx" || c.App != "demo" || !slices.Equal(c.IDs, []string{"001", "003"}) || c.Rate != 1 || c.Until != 0 {
		t.Errorf("POST /control: %+v", c)
	}
	for q, want := range map[string]int{
		"app=demo&ids=001":     http.StatusServiceUnavailable,
		"app=demo&ids=002,003": http.StatusServiceUnavailable, // any failing id fails the request
		"app=demo&ids=002":     http.StatusOK,
		"app=other&ids=001":    http.StatusOK,
	} {
		if got := status(q); got != want {
			t.Errorf("5xx on demo/001,003: %s: %d, want %d", q, got, want)
		}
	}
	if c := control(t, srv, http.MethodGet, ""); c.Fail != "5xx" || c.Requests != 4 {
		t.Errorf("GET /control: %+v", c)
	}

	control(t, srv, http.MethodPost, `{"fail":"badjson"}`) // replaces: every app and id
	for _, q := range []string{"app=demo&ids=002", "app=other&ids=001", "app=nope&ids=1"} {
		if a := get(t, srv, "/realtime?"+q); a.status != http.StatusOK || json.Valid(a.body) {
			t.Errorf("badjson everywhere: %s: %d %s", q, a.status, a.body)
		}
	}
	control(t, srv, http.MethodPost, `{"fail":"none"}`)
	get(t, srv, "/realtime?app=demo&ids=001").response(t)

	c = control(t, srv, http.MethodPost, `{"fail":"5xx","ids":["002"],"for":"30s"}`)
	if c.Until != clock.Now().Add(30*time.Second).UnixMilli() {
		t.Errorf("until %d, want now+30s", c.Until)
	}
	if got := status("app=other&ids=002"); got != http.StatusServiceUnavailable {
		t.Errorf("for 30s, at once: %d", got)
	}
	clock.Advance(30 * time.Second)
	if got := status("app=other&ids=002"); got != http.StatusOK {
		t.Errorf("for 30s, 30s later: %d", got)
	}
	if c := control(t, srv, http.MethodGet, ""); c.Fail != "none" {
		t.Errorf("an ended injection shows: %+v", c)
	}

	control(t, srv, http.MethodPost, `{"fail":"5xx","rate":0.5}`)
	n := map[int]int{}
	for range 100 {
		n[status("app=demo&ids=001")]++
	}
	if n[http.StatusOK] < 10 || n[http.StatusServiceUnavailable] < 10 {
		t.Errorf("rate 0.5: %v", n)
	}

	if c := control(t, srv, http.MethodPost, `{"fail":"timeout","app":"demo"}`); c.Fail != "timeout" || c.App != "demo" {
		t.Errorf("timeout: %+v", c)
	}
	control(t, srv, http.MethodPost, `{"fail":"huge","app":"other"}`)
	if c := control(t, srv, http.MethodGet, ""); c.Fail != "huge" || c.App != "other" {
		t.Errorf("huge: %+v", c)
	}
}

func TestControlTimeout(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{Hang: 10 * time.Millisecond})
	control(t, srv, http.MethodPost, `{"fail":"timeout"}`)
	get(t, srv, "/realtime?app=demo&ids=001").errorCode(t, http.StatusGatewayTimeout)
}

func TestControlBadBodies(t *testing.T) {
	_, _, srv := newServer(t, SimConfig{})
	control(t, srv, http.MethodPost, `{"fail":"5xx"}`)
	for _, body := range []string{
		``, `nope`, `[]`, `{}`, `{"fail":""}`, `{"fail":"500"}`, `{"fail":"5xx","extra":1}`,
		`{"fail":"5xx","for":"x"}`, `{"fail":"5xx","for":"-1s"}`, `{"fail":"5xx","for":30}`,
		`{"fail":"5xx","rate":0}`, `{"fail":"5xx","rate":1.5}`, `{"fail":"5xx","app":"a\u0001"}`,
		`{"fail":"5xx","ids":[""]}`, `{"fail":"5xx"} {"fail":"none"}`,
		`{"fail":"5xx","app":"` + strings.Repeat("x", maxControlBody) + `"}`,
	} {
		if code := do(t, srv, http.MethodPost, "/control", body).errorCode(t, http.StatusBadRequest); code != "bad_request" {
			t.Errorf("%.40s: code %q", body, code)
		}
	}
	if c := control(t, srv, http.MethodGet, ""); c.Fail != "5xx" {
		t.Errorf("a bad body changed the injection: %+v", c)
	}
}

func TestInject(t *testing.T) {
	s, clock := testSim(SimConfig{Logger: quiet})
	if err := s.Inject(Injection{Fault: FaultBadJSON, App: "demo", IDs: []string{"001"}, For: time.Minute}); err != nil {
		t.Fatal(err)
	}
	in, until := s.Injected()
	if in.Fault != FaultBadJSON || in.Rate != 1 || !until.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("Injected = %+v, %v", in, until)
	}
	for _, bad := range []Injection{{Fault: "x"}, {Fault: Fault5xx, Rate: 2}, {Fault: Fault5xx, For: -1}, {Fault: Fault5xx, App: "\x00"}, {Fault: Fault5xx, IDs: []string{""}}} {
		if err := s.Inject(bad); err == nil {
			t.Errorf("Inject(%+v) passed", bad)
		}
	}
	if in, _ := s.Injected(); in.Fault != FaultBadJSON {
		t.Errorf("a bad Inject changed the injection: %+v", in)
	}
	if err := s.Inject(Injection{Fault: FaultNone}); err != nil {
		t.Fatal(err)
	}
	if in, until := s.Injected(); in.Fault != FaultNone || !until.IsZero() {
		t.Errorf("after none: %+v, %v", in, until)
	}
}

func TestCounters(t *testing.T) {
	s, _, srv := newServer(t, SimConfig{IDList: oddIDs, Error5xx: 0})
	get(t, srv, "/realtime?"+Query("demo", []string{"001", "a,b"}))
	get(t, srv, "/realtime?"+Query("demo", []string{"001", "001", "nope"}))
	get(t, srv, "/realtime?"+Query("other", []string{"001"}))     // not held: not counted
	get(t, srv, "/realtime?app=demo&ids=001,")                    // 400: a request, no ids asked
	do(t, srv, http.MethodPost, "/realtime?app=demo&ids=001", "") // 405: not a request
	s.Inject(Injection{Fault: Fault5xx})
	get(t, srv, "/realtime?"+Query("demo", []string{"x.y"})) // failed on purpose, still asked
	if got := s.Requests(); got != 5 {
		t.Errorf("Requests = %d, want 5", got)
	}
	for id, want := range map[string]int{"001": 3, "a,b": 1, "x.y": 1, "50%": 0, "nope": 0} {
		if got := s.Asked("demo", id); got != want {
			t.Errorf("Asked(demo, %q) = %d, want %d", id, got, want)
		}
	}
	if got := s.Asked("other", "001"); got != 0 {
		t.Errorf("Asked(other, 001) = %d", got)
	}
}

// TestConcurrent hits the handler from many goroutines while the clock
// moves and the injection changes (for -race), then checks the counters.
func TestConcurrent(t *testing.T) {
	s, clock, srv := newServer(t, SimConfig{IDs: 20})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				q := Query("demo", []string{s.IDs("demo")[(w+i)%20], "020"})
				a := get(t, srv, "/realtime?"+q)
				if a.status != http.StatusOK && a.status != http.StatusServiceUnavailable {
					t.Errorf("%s: %d", q, a.status)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			clock.Advance(time.Second)
			f := FaultNone
			if i%2 == 0 {
				f = Fault5xx
			}
			if err := s.Inject(Injection{Fault: f, IDs: []string{"007"}}); err != nil {
				t.Error(err)
			}
			s.Current("demo", "001")
			s.Injected()
		}
	})
	wg.Wait()
	if got := s.Requests(); got != workers*each {
		t.Errorf("Requests = %d, want %d", got, workers*each)
	}
	total := 0
	for _, id := range s.IDs("demo") {
		total += s.Asked("demo", id)
	}
	if want := 2 * workers * each; total != want || s.Asked("demo", "020") < workers*each {
		t.Errorf("asked %d in all, want %d (020: %d)", total, want, s.Asked("demo", "020"))
	}
}

// TestHugeEndsWithTheClient checks that a huge body stops being written
// when its client stops reading and leaves.
func TestHugeEndsWithTheClient(t *testing.T) {
	s, _ := testSim(SimConfig{ErrorHuge: 1, HugeSize: 256 << 20, Logger: quiet})
	srv := httptest.NewServer(s.Handler())
	res, err := srv.Client().Get(srv.URL + "/realtime?app=demo&ids=001")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1024)
	if _, err := io.ReadFull(res.Body, head); err != nil || !bytes.HasPrefix(head, []byte(`{"app":"demo","pad":"xxx`)) {
		t.Errorf("huge body starts %q (%v)", head, err)
	}
	res.Body.Close()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(hangGuard):
		t.Fatal("the server still writes a huge body its client left")
	}
}
