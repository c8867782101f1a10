package sources

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"edgepush/hub"
)

// fixedSubscriptions answers App with a fixed list, or err.
type fixedSubscriptions struct {
	ids []hub.KeyCount
	err error
}

func (f fixedSubscriptions) App(_ context.Context, app string) ([]hub.KeyCount, error) {
	if app != "demo" {
		return nil, f.err
	}
	return f.ids, f.err
}

func TestSubscriptions(t *testing.T) {
	subs := fixedSubscriptions{ids: []hub.KeyCount{
		{ID: "001", Subscribers: 5, Nodes: map[string]int{"a": 3, "b": 2}},
		{ID: "0.0", Subscribers: 1, Nodes: map[string]int{"b": 1}},
	}}
	handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Subscriptions: subs, Logger: discardLogger()})
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		query  string
		status int
		body   string // the whole JSON answer, or for errors the code
	}{
		{query: "app=demo", status: 200, body: `{"app":"demo","ids":[{"id":"001","subscribers":5,"nodes":{"a":3,"b":2}},{"id":"0.0","subscribers":1,"nodes":{"b":1}}]}`},
		{query: "app=demo&id=001", status: 200, body: `{"app":"demo","id":"001","subscribers":5,"nodes":{"a":3,"b":2}}`},
		{query: "app=demo&id=0.0", status: 200, body: `{"app":"demo","id":"0.0","subscribers":1,"nodes":{"b":1}}`},
		{query: "app=demo&id=nobody", status: 200, body: `{"app":"demo","id":"nobody","subscribers":0}`},
		{query: "app=other", status: 200, body: `{"app":"other","ids":[]}`},
		{query: "", status: 400, body: "bad_request"},
		{query: "app=", status: 400, body: "bad_request"},
		{query: "app=demo&id=", status: 400, body: "bad_request"},
		{query: "app=" + long, status: 400, body: "bad_key"},
		{query: "app=demo&id=%01", status: 400, body: "bad_key"},
		{query: "app=demo&app=x", status: 400, body: "bad_request"},
		{query: "app=demo&node=a", status: 400, body: "bad_request"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/subscriptions?"+tc.query, nil))
			got := strings.TrimSpace(w.Body.String())
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, got, tc.status)
			}
			if tc.status == 200 {
				if got != tc.body {
					t.Fatalf("body %s, want %s", got, tc.body)
				}
				return
			}
			var e struct{ Error struct{ Code, Msg string } }
			if json.Unmarshal([]byte(got), &e) != nil || e.Error.Code != tc.body || e.Error.Msg == "" {
				t.Fatalf("body %s, want error %s", got, tc.body)
			}
		})
	}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/subscriptions?app=demo", nil))
	if w.Code != 405 {
		t.Fatalf("POST: %d, want 405", w.Code)
	}
}

func TestSubscriptionsUnavailable(t *testing.T) {
	secret := errors.New("redis 10.0.0.7:6379: connection refused")
	handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Subscriptions: fixedSubscriptions{err: secret}, Logger: discardLogger()})
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/subscriptions?app=demo", nil))
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"unavailable"`) || strings.Contains(w.Body.String(), "10.0.0.7") {
		t.Fatalf("%d %s, want 503 unavailable without internals", w.Code, w.Body.String())
	}
}

func TestSubscriptionsOffWithoutIndex(t *testing.T) {
	handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Logger: discardLogger()})
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/subscriptions?app=demo", nil))
	if w.Code != 404 {
		t.Fatalf("%d, want 404", w.Code)
	}
}

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ready  func(context.Context) error
		status int
		body   string
	}{
		{name: "embedded", status: 200, body: `{"status":"ready"}`},
		{name: "connected", ready: func(context.Context) error { return nil }, status: 200, body: `{"status":"ready"}`},
		{name: "redis down", ready: func(context.Context) error { return errors.New("store: redis not reachable") }, status: 503,
			body: `{"reason":"store: redis not reachable","status":"not ready"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler := NewAPI(APIConfig{}, Deps{Publisher: newTestHub(), Ready: tc.ready, Logger: discardLogger()})
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tc.status || strings.TrimSpace(w.Body.String()) != tc.body {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body.String(), tc.status, tc.body)
			}
		})
	}
}
