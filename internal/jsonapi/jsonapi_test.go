package jsonapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAllowAndWriteError(t *testing.T) {
	h := Allow(func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, http.StatusOK, map[string]int{"n": 1}) }, http.MethodGet, http.MethodHead)
	tests := []struct {
		method string
		status int
		allow  string
		body   string
	}{
		{http.MethodGet, 200, "", `{"n":1}` + "\n"},
		{http.MethodPost, 405, "GET, HEAD", `{"error":{"code":"method_not_allowed","msg":"method POST not allowed; use GET, HEAD"}}` + "\n"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/", nil))
		if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow || rec.Body.String() != tt.body {
			t.Errorf("%s: %d, Allow %q, %q; want %d, %q, %q", tt.method, rec.Code, rec.Header().Get("Allow"), rec.Body, tt.status, tt.allow, tt.body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.method, ct)
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Errorf("%s: body is not JSON: %v", tt.method, err)
		}
	}
}
