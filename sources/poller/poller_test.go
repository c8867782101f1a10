package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"edgepush/frame"
	"edgepush/hub"
	"edgepush/hub/hubtest"
	"edgepush/sources/datacenter"
)

// dataCenter is a scripted data center: it answers each request with
// answer(app, ids) and records the ids asked, parsed the way the API
// says (the raw list split on literal commas, each part unescaped).
type dataCenter struct {
	mu     sync.Mutex
	asked  [][]string
	urls   []string
	answer func(w http.ResponseWriter, app string, ids []string)
}

func (d *dataCenter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, ids, err := datacenter.ParseQuery(r.URL.RawQuery, datacenter.DefaultMaxIDs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	d.asked = append(d.asked, ids)
	d.urls = append(d.urls, r.URL.String())
	answer := d.answer
	d.mu.Unlock()
	answer(w, app, ids)
}

func (d *dataCenter) requests() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.asked)
}

func (d *dataCenter) set(answer func(w http.ResponseWriter, app string, ids []string)) {
	d.mu.Lock()
	d.answer = answer
	d.mu.Unlock()
}

// values answers every id asked with its value from vals, at ts.
func values(ts int64, vals map[string]string) func(http.ResponseWriter, string, []string) {
	return func(w http.ResponseWriter, app string, ids []string) {
		a := datacenter.Response{App: app, Items: []datacenter.Item{}}
		for _, id := range ids {
			if v, ok := vals[id]; ok {
				a.Items = append(a.Items, datacenter.Item{ID: id, TS: ts, Value: json.RawMessage(v)})
			}
		}
		json.NewEncoder(w).Encode(a)
	}
}

// recorder is a subscriber that keeps the data of each push.
type recorder struct {
	mu     sync.Mutex
	pushes []string
}

func (r *recorder) Send(_ uint64, _ string, f *frame.Frame) bool {
	var m struct {
		Op   string          `json:"op"`
		Data json.RawMessage `json:"data"`
	}
	b := f.Bytes()
	json.Unmarshal(b[2:], &m) // a short server frame: 2 header bytes for small payloads
	got := string(m.Data)
	if m.Op != "data" {
		got = m.Op // a notice
	}
	r.mu.Lock()
	r.pushes = append(r.pushes, got)
	r.mu.Unlock()
	return true
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pushes)
}

// localWatched is the hub's own subscriber counts.
type localWatched struct{ h *hub.Hub }

func (l localWatched) App(_ context.Context, app string) ([]hub.KeyCount, error) {
	return l.h.App(app, "n"), nil
}

// fixture is a hub with its pipeline, a data center and a poller between.
type fixture struct {
	hub   *hub.Hub
	store *hub.MemoryStore
	dc    *dataCenter
	p     *Poller
}

func newFixture(t *testing.T, cfg Config, answer func(http.ResponseWriter, string, []string)) *fixture {
	t.Helper()
	dc := &dataCenter{answer: answer}
	srv := httptest.NewServer(dc)
	t.Cleanup(srv.Close)
	h := hub.New(hub.Config{})
	store := hub.NewMemoryStore(hub.MemoryStoreConfig{})
	t.Cleanup(func() { store.Close() })
	pipe := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
	cfg.URL = srv.URL
	if len(cfg.Apps) == 0 {
		cfg.Apps = []string{"demo"}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(cfg, pipe, localWatched{h}, Alone("n"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{hub: h, store: store, dc: dc, p: p}
}

// poll runs one interval of app by hand, as runApp does without failures.
func (f *fixture) poll(app string) bool {
	ok := f.p.pollApp(context.Background(), app)
	f.p.checkStale(context.Background(), app)
	return ok
}

func (f *fixture) watch(id string) *recorder {
	r := &recorder{}
	f.hub.Subscribe(r, hub.Key{App: "demo", ID: id})
	return r
}

func TestPollsOnlySubscribedIDsAndPublishesChanges(t *testing.T) {
	vals := map[string]string{"001": `21.5`, "002": `{"on": true}`, "003": `"x"`}
	f := newFixture(t, Config{}, values(1000, vals))
	a, b := f.watch("001"), f.watch("002")
	f.poll("demo")
	f.poll("demo")                                                // unchanged: nothing more
	vals2 := map[string]string{"001": `22`, "002": `{"on":true}`} // 002 the same, spaced otherwise
	f.dc.set(values(2000, vals2))
	f.poll("demo")
	if got := f.dc.requests(); len(got) != 3 || !slices.Equal(got[0], []string{"001", "002"}) {
		t.Fatalf("asked %v, want 001,002 three times", got)
	}
	if got := a.got(); !slices.Equal(got, []string{`21.5`, `22`}) {
		t.Errorf("001 got %v, want 21.5 then 22", got)
	}
	if got := b.got(); !slices.Equal(got, []string{`{"on":true}`}) {
		t.Errorf("002 got %v, want one push of the compacted object", got)
	}
	if f.p.Count(reasonPublished) != 3 || f.p.Count(reasonUnchanged) != 3 {
		t.Errorf("published %d, unchanged %d; want 3 and 3", f.p.Count(reasonPublished), f.p.Count(reasonUnchanged))
	}
}

func TestEveryPollPublishesUnchangedValues(t *testing.T) {
	f := newFixture(t, Config{EveryPoll: true}, values(1000, map[string]string{"001": `1`}))
	r := f.watch("001")
	f.poll("demo")
	f.poll("demo")
	if got := r.got(); len(got) != 2 {
		t.Fatalf("got %v, want the value twice", got)
	}
}

func TestStopsAskingAfterTheLastSubscriberLeaves(t *testing.T) {
	f := newFixture(t, Config{}, values(1000, map[string]string{"001": `1`}))
	r := f.watch("001")
	f.poll("demo")
	f.hub.Unsubscribe(r, hub.Key{App: "demo", ID: "001"})
	f.poll("demo")
	if got := f.dc.requests(); len(got) != 1 {
		t.Fatalf("asked %v after the last subscriber left; want nothing more", got)
	}
}

func TestOddIDsAreEscaped(t *testing.T) {
	ids := []string{"a.b", "a,b", "50%", "a b", "température/東京", "x&y=z", "+"}
	vals := map[string]string{}
	var recs []*recorder
	f := newFixture(t, Config{}, nil)
	for i, id := range ids {
		vals[id] = fmt.Sprint(i)
		recs = append(recs, f.watch(id))
	}
	f.dc.set(values(1000, vals))
	f.poll("demo")
	asked := f.dc.requests()
	want := slices.Clone(ids)
	slices.Sort(want)
	if len(asked) != 1 || !slices.Equal(asked[0], want) {
		t.Fatalf("the data center parsed %q, want %q", asked, want)
	}
	for i, r := range recs {
		if got := r.got(); !slices.Equal(got, []string{fmt.Sprint(i)}) {
			t.Errorf("%q got %v", ids[i], got)
		}
	}
}

func TestManyIDsTakeSeveralRequests(t *testing.T) {
	f := newFixture(t, Config{MaxIDs: 30}, values(1000, map[string]string{}))
	for i := range 100 {
		f.watch(fmt.Sprint(i))
	}
	f.poll("demo")
	asked := f.dc.requests()
	if len(asked) != 4 || len(asked[0]) != 30 || len(asked[3]) != 10 {
		t.Fatalf("%d requests of %d, ..., %d ids; want 30, 30, 30, 10", len(asked), len(asked[0]), len(asked[len(asked)-1]))
	}
}

func TestLongListsTakeSeveralRequests(t *testing.T) {
	f := newFixture(t, Config{MaxURL: 200}, values(1000, map[string]string{}))
	for i := range 100 {
		f.watch(fmt.Sprintf("sensor-%03d", i))
	}
	f.poll("demo")
	asked := f.dc.requests()
	total := 0
	for _, ids := range asked {
		total += len(ids)
	}
	if len(asked) < 2 || total != 100 {
		t.Fatalf("%d requests for %d ids, want several for 100", len(asked), total)
	}
	f.dc.mu.Lock()
	defer f.dc.mu.Unlock()
	for _, u := range f.dc.urls {
		if len(u)+len("http://127.0.0.1:65535") > 200 {
			t.Errorf("a URL of %d bytes: %s", len(u), u)
		}
	}
}

func TestBadAnswersAreCountedAndPublishNothing(t *testing.T) {
	huge := strings.Repeat(" ", 2000)
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, string, []string)
		reason string
	}{
		{"500", func(w http.ResponseWriter, _ string, _ []string) { http.Error(w, "down", 500) }, reasonStatus},
		{"bad json", func(w http.ResponseWriter, _ string, _ []string) { io.WriteString(w, `{"app":"demo","items":[`) }, reasonBadJSON},
		{"other app", func(w http.ResponseWriter, _ string, _ []string) { io.WriteString(w, `{"app":"demo","items":[]}`) }, reasonBadJSON},
		{"huge body", func(w http.ResponseWriter, _ string, _ []string) {
			io.WriteString(w, `{"app":"demo","items":[]`+huge+`}`)
		}, reasonTooLarge},
		{"slow", func(w http.ResponseWriter, _ string, _ []string) { time.Sleep(300 * time.Millisecond) }, reasonTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{MaxBody: 1000, Timeout: 50 * time.Millisecond, Apps: []string{"other"}}, tc.answer)
			r := &recorder{}
			f.hub.Subscribe(r, hub.Key{App: "other", ID: "001"})
			if f.poll("other") {
				t.Fatal("a failed poll reported success")
			}
			want := tc.reason
			if f.p.Count(want) != 1 {
				t.Errorf("%s counted %d times, want 1", want, f.p.Count(want))
			}
			if got := r.got(); len(got) != 0 {
				t.Errorf("published %v from a bad answer", got)
			}
		})
	}
}

func TestItemsAreChecked(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, app string, _ []string) {
		io.WriteString(w, `{"app":"demo","items":[
			{"id":"001","ts":5,"value":1},
			{"id":"001","ts":9,"value":2},
			{"id":"001","ts":7,"value":3},
			{"id":"999","ts":5,"value":1},
			{"id":"002","ts":5},
			{"id":"003","ts":5,"value":4}]}`)
	})
	a, b, c := f.watch("001"), f.watch("002"), f.watch("003")
	f.poll("demo")
	if got := a.got(); !slices.Equal(got, []string{`2`}) {
		t.Errorf("001 got %v: want the duplicate with the latest ts", got)
	}
	if len(b.got()) != 0 || len(c.got()) != 1 {
		t.Errorf("002 (no value) got %v, 003 got %v", b.got(), c.got())
	}
	for reason, want := range map[string]uint64{reasonDuplicate: 2, reasonNotAsked: 1, reasonBadItem: 1, reasonPublished: 2} {
		if got := f.p.Count(reason); got != want {
			t.Errorf("%s = %d, want %d", reason, got, want)
		}
	}
}

func TestOlderReadingsAreNotPublished(t *testing.T) {
	f := newFixture(t, Config{}, values(2000, map[string]string{"001": `1`}))
	r := f.watch("001")
	f.poll("demo")
	f.dc.set(values(1000, map[string]string{"001": `2`})) // ts went backwards
	f.poll("demo")
	if got := r.got(); !slices.Equal(got, []string{`1`}) {
		t.Fatalf("got %v: an older reading was published", got)
	}
}

// TestStaleAndFresh: a key without a value for StaleAfter gets a stale
// notice, once, and a fresh notice before its next value; the store keeps
// the mark meanwhile.
func TestStaleAndFresh(t *testing.T) {
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	at := func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	step := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	f := newFixture(t, Config{Now: at, StaleAfter: 5 * time.Second}, values(1, map[string]string{"001": `1`}))
	r := f.watch("001")
	f.poll("demo")
	f.dc.set(func(w http.ResponseWriter, _ string, _ []string) { http.Error(w, "down", 503) })
	for range 4 {
		step(time.Second)
		f.poll("demo")
	}
	if got := r.got(); !slices.Equal(got, []string{`1`}) {
		t.Fatalf("stale too soon: %v", got)
	}
	step(2 * time.Second)
	f.poll("demo")
	f.poll("demo")
	if got := r.got(); !slices.Equal(got, []string{`1`, "stale"}) || f.p.stale.count() != 1 {
		t.Fatalf("after 6 s without a value: %v, %d stale", got, f.p.stale.count())
	}
	if st, _ := f.store.Last(context.Background(), hub.Key{App: "demo", ID: "001"}); st.Stale != time.Unix(1000, 0).UnixMilli() {
		t.Fatalf("the store's mark = %d, want the last value's time", st.Stale)
	}
	f.dc.set(values(2, map[string]string{"001": `2`}))
	step(time.Second)
	f.poll("demo")
	if got := r.got(); !slices.Equal(got, []string{`1`, "stale", "fresh", `2`}) || f.p.stale.count() != 0 {
		t.Fatalf("after a value again: %v, %d stale", got, f.p.stale.count())
	}
	if st, _ := f.store.Last(context.Background(), hub.Key{App: "demo", ID: "001"}); st.Stale != 0 {
		t.Fatalf("the store's mark = %d after the value, want 0", st.Stale)
	}
}

func TestBackoff(t *testing.T) {
	p, err := New(Config{URL: "http://x", Apps: []string{"a"}, Interval: time.Second, MaxBackoff: 10 * time.Second}, nil, nil, Alone("n"))
	if err != nil {
		t.Fatal(err)
	}
	for failures, want := range []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond, 7500 * time.Millisecond, 9500 * time.Millisecond, 9500 * time.Millisecond} {
		if got := p.backoff(failures); got != want {
			t.Errorf("backoff after %d failures = %v, want %v (the tick it is due on, less half an interval)", failures, got, want)
		}
	}
}

func TestRunPollsEveryIntervalUntilStopped(t *testing.T) {
	f := newFixture(t, Config{Interval: 20 * time.Millisecond}, values(1, map[string]string{"001": `1`}))
	f.watch("001")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.p.Run(ctx); close(done) }()
	for end := time.Now().Add(20 * time.Second); len(f.dc.requests()) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("fewer than 3 polls in 20 s")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// members is a fixed membership.
type members struct {
	self  string
	nodes []string
}

func (m members) Node() string                                          { return m.self }
func (m members) Live(context.Context, time.Duration) ([]string, error) { return m.nodes, nil }

// TestEachIDHasOneOwner: two nodes that see the same members split the ids
// between them, each id to exactly one; when a node leaves, only its ids
// move.
func TestEachIDHasOneOwner(t *testing.T) {
	nodes := []string{"a", "b"}
	counts, moved := 0, 0
	for i := range 1000 {
		id := fmt.Sprint(i)
		o := owner(nodes, "demo", id)
		if o != "a" && o != "b" {
			t.Fatalf("owner %q", o)
		}
		if o == "a" {
			counts++
		}
		if three := owner([]string{"a", "b", "c"}, "demo", id); three != "b" && owner([]string{"a", "c"}, "demo", id) != three {
			moved++ // an id of a or c moved when b left
		}
		if owner([]string{"b"}, "demo", id) != "b" {
			t.Fatal("a lone node does not own everything")
		}
	}
	if counts < 400 || counts > 600 {
		t.Errorf("a owns %d of 1000 ids: not spread", counts)
	}
	if moved != 0 {
		t.Errorf("%d ids of the nodes that stayed moved when b left", moved)
	}
	h := hub.New(hub.Config{})
	for i := range 50 {
		h.Subscribe(&recorder{}, hub.Key{App: "demo", ID: fmt.Sprint(i)})
	}
	all := map[string]int{}
	for _, self := range nodes {
		p, err := New(Config{URL: "http://127.0.0.1:1", Apps: []string{"demo"}}, nil, localWatched{h}, members{self, nodes})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := p.owned(context.Background(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			all[id]++
		}
	}
	for i := range 50 {
		if all[fmt.Sprint(i)] != 1 {
			t.Fatalf("id %d polled by %d nodes", i, all[fmt.Sprint(i)])
		}
	}
}

func TestBadConfig(t *testing.T) {
	cases := []Config{
		{URL: "", Apps: []string{"a"}},
		{URL: "ftp://x", Apps: []string{"a"}},
		{URL: "http://x?q=1", Apps: []string{"a"}},
		{URL: "http://x"},
		{URL: "http://x", Apps: []string{""}},
	}
	for _, cfg := range cases {
		if _, err := New(cfg, nil, nil, Alone("n")); err == nil {
			t.Errorf("New(%+v) took it", cfg)
		}
	}
}

// TestBinaryAppsGetTypedValues: an app of BinaryApps gets binary pushes
// whose data is the typed value (a tag, then the value).
func TestBinaryAppsGetTypedValues(t *testing.T) {
	f := newFixture(t, Config{BinaryApps: []string{"demo"}}, values(1000, map[string]string{"001": `-2`, "002": `"hé"`}))
	a, b := &hubtest.Recorder{}, &hubtest.Recorder{}
	f.hub.Subscribe(a, hub.Key{App: "demo", ID: "001"})
	f.hub.Subscribe(b, hub.Key{App: "demo", ID: "002"})
	f.poll("demo")
	cases := []struct {
		got  *hubtest.Recorder
		id   string
		want []byte
	}{
		{a, "001", []byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}}, // integer -2
		{b, "002", append([]byte{4}, "hé"...)},                                // string
	}
	for _, tc := range cases {
		all := tc.got.Taken()
		if len(all) != 1 || all[0][0] != 0x82 { // FIN and opcode 2: binary
			t.Fatalf("%s: frames %x, want one binary frame", tc.id, all)
		}
		if !strings.HasSuffix(string(all[0]), string(tc.want)) {
			t.Errorf("%s: frame %x does not end in the typed value %x", tc.id, all[0], tc.want)
		}
	}
}
