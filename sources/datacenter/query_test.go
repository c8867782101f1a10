package datacenter

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"edgepush/hub"
)

// oddIDs need escaping in a query: a comma, a dot, a percent sign, a
// non-ASCII letter, a space, a plus, an ampersand and an equals sign.
var oddIDs = []string{"a,b", "x.y", "50%", "température", "a b", "1+1", "k&v", "x=y", "001"}

func TestEncodeIDs(t *testing.T) {
	got := EncodeIDs(oddIDs)
	want := "a%2Cb,x.y,50%25,temp%C3%A9rature,a+b,1%2B1,k%26v,x%3Dy,001"
	if got != want {
		t.Errorf("EncodeIDs = %q, want %q", got, want)
	}
	if q := Query("my app", []string{"a,b"}); q != "app=my+app&ids=a%2Cb" {
		t.Errorf("Query = %q", q)
	}
}

func TestParseIDs(t *testing.T) {
	tests := []struct {
		raw  string
		max  int
		want []string
		err  error // nil: no error
	}{
		{raw: "001", want: []string{"001"}},
		{raw: "001,002,003", want: []string{"001", "002", "003"}},
		{raw: "a%2Cb", want: []string{"a,b"}},
		{raw: "a%2cb,c", want: []string{"a,b", "c"}},
		{raw: "a,b", want: []string{"a", "b"}},
		{raw: "x.y", want: []string{"x.y"}},
		{raw: "50%25", want: []string{"50%"}},
		{raw: "temp%C3%A9rature", want: []string{"température"}},
		{raw: "température", want: []string{"température"}},
		{raw: "a+b,a%20b", want: []string{"a b", "a b"}},
		{raw: "1%2B1", want: []string{"1+1"}},
		{raw: "001,001", want: []string{"001", "001"}},
		{raw: EncodeIDs(oddIDs), want: oddIDs},
		{raw: "1,2,3", max: 3, want: []string{"1", "2", "3"}},
		{raw: "1,2,3,4", max: 3, err: ErrTooManyIDs},
		{raw: ",,,,", max: 3, err: ErrTooManyIDs},
		{raw: "", err: ErrBadQuery},
		{raw: "001,", err: ErrBadQuery},
		{raw: ",001", err: ErrBadQuery},
		{raw: "001,,002", err: ErrBadQuery},
		{raw: "50%", err: ErrBadQuery},
		{raw: "%zz", err: ErrBadQuery},
		{raw: "%01", err: ErrBadQuery}, // a control character
		{raw: "%FF", err: ErrBadQuery}, // not UTF-8
		{raw: "%7F", err: ErrBadQuery}, // DEL
		{raw: strings.Repeat("x", hub.MaxKeyPart)},
		{raw: strings.Repeat("x", hub.MaxKeyPart+1), err: ErrBadQuery},
	}
	for _, tt := range tests {
		got, err := ParseIDs(tt.raw, tt.max)
		switch {
		case tt.err != nil:
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseIDs(%q, %d) = %q, %v; want error %v", tt.raw, tt.max, got, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseIDs(%q, %d): %v", tt.raw, tt.max, err)
		case tt.want != nil && !slices.Equal(got, tt.want):
			t.Errorf("ParseIDs(%q, %d) = %q, want %q", tt.raw, tt.max, got, tt.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query string
		app   string
		ids   []string
		bad   bool
	}{
		{query: "app=demo&ids=001,002", app: "demo", ids: []string{"001", "002"}},
		{query: "ids=001&app=demo", app: "demo", ids: []string{"001"}},
		{query: "app=my+app&ids=a%2Cb&x=1&&", app: "my app", ids: []string{"a,b"}},
		{query: "app=a%26b&ids=1", app: "a&b", ids: []string{"1"}},
		{query: "%61pp=demo&ids=1", app: "demo", ids: []string{"1"}}, // the name is unescaped too
		{query: "app=demo&ids=a;b", app: "demo", ids: []string{"a;b"}},
		{query: "", bad: true},
		{query: "ids=001", bad: true},
		{query: "app=&ids=001", bad: true},
		{query: "app=demo", bad: true},
		{query: "app=demo&ids=", bad: true},
		{query: "app=demo&ids", bad: true},
		{query: "app=demo&app=demo&ids=1", bad: true},
		{query: "app=demo&ids=1&ids=2", bad: true},
		{query: "app=%zz&ids=1", bad: true},
		{query: "app=%01&ids=1", bad: true},
		{query: "a%zz=1&app=demo&ids=1", bad: true},
	}
	for _, tt := range tests {
		app, ids, err := ParseQuery(tt.query, 0)
		switch {
		case tt.bad:
			if !errors.Is(err, ErrBadQuery) {
				t.Errorf("ParseQuery(%q) = %q, %q, %v; want ErrBadQuery", tt.query, app, ids, err)
			}
		case err != nil:
			t.Errorf("ParseQuery(%q): %v", tt.query, err)
		case app != tt.app || !slices.Equal(ids, tt.ids):
			t.Errorf("ParseQuery(%q) = %q, %q; want %q, %q", tt.query, app, ids, tt.app, tt.ids)
		}
	}
}

// FuzzIDsQuery checks that no query makes the parsing or the handler
// panic, that whatever parses re-encodes to the same app and ids, and that
// any list of valid ids survives EncodeIDs and ParseIDs unchanged.
func FuzzIDsQuery(f *testing.F) {
	for _, seed := range []string{
		"app=demo&ids=001,002", "app=demo&ids=" + EncodeIDs(oddIDs), "app=demo&ids=a,b",
		"app=%zz&ids=1", "app=demo&ids=001,,002", "app=demo&ids=%", "ids=1&ids=2",
		"a,b\nx.y\n50%\ntempérature\na b", "app=x&ids=%C3%A9,%2C,%25,+,%2B", ";;&&==",
	} {
		f.Add(seed)
	}
	sim := NewSim(SimConfig{IDList: oddIDs, MaxIDs: 50})
	h := sim.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		if app, ids, err := ParseQuery(raw, 0); err == nil {
			app2, ids2, err := ParseQuery(Query(app, ids), 0)
			if err != nil || app2 != app || !slices.Equal(ids2, ids) {
				t.Fatalf("ParseQuery(%q) = %q, %q; re-encoded as %q it is %q, %q, %v", raw, app, ids, Query(app, ids), app2, ids2, err)
			}
		}
		if ids, err := ParseIDs(raw, 0); err == nil {
			ids2, err := ParseIDs(EncodeIDs(ids), 0)
			if err != nil || !slices.Equal(ids2, ids) {
				t.Fatalf("ParseIDs(%q) = %q; re-encoded as %q it is %q, %v", raw, ids, EncodeIDs(ids), ids2, err)
			}
		}
		list := strings.Split(raw, "\n")
		valid := true
		for _, id := range list {
			valid = valid && hub.ValidatePart(id) == nil
		}
		if valid {
			got, err := ParseIDs(EncodeIDs(list), 0)
			if err != nil || !slices.Equal(got, list) {
				t.Fatalf("ids %q encoded as %q parse as %q, %v", list, EncodeIDs(list), got, err)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/realtime", nil)
		r.URL.RawQuery = raw
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("GET /realtime?%s: status %d", raw, w.Code)
		}
	})
}
