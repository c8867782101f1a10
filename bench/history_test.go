package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMemoryCost(t *testing.T) {
	pt := func(rounds, held int, heap float64) HistoryPoint {
		return HistoryPoint{Rounds: rounds, Held: held, Heap: heap}
	}
	cases := []struct {
		name   string
		points []HistoryPoint
		keys   int
		want   MemoryCost
	}{
		{
			name:   "fixed cost and a slope",
			points: []HistoryPoint{pt(0, 0, 1000), pt(1, 1, 1000+10*300), pt(4, 4, 1000+10*300+10*3*100), pt(64, 64, 1000+10*300+10*63*100)},
			keys:   10,
			want:   MemoryCost{Before: 1000, After: 1000 + 10*300 + 10*63*100, PerKey: 300 + 6300, PerHeldValue: 6600.0 / 64, FirstPerKey: 300, PerExtra: 100},
		},
		{
			name:   "past the history size nothing more is held",
			points: []HistoryPoint{pt(0, 0, 0), pt(1, 1, 200), pt(96, 64, 200+63*50)},
			keys:   1,
			want:   MemoryCost{Before: 0, After: 200 + 63*50, PerKey: 200 + 63*50, PerHeldValue: (200 + 63*50) / 64.0, FirstPerKey: 200, PerExtra: 50},
		},
		{
			name:   "one round only: no slope",
			points: []HistoryPoint{pt(0, 0, 100), pt(1, 1, 600)},
			keys:   5,
			want:   MemoryCost{Before: 100, After: 600, PerKey: 100, PerHeldValue: 100, FirstPerKey: 100},
		},
		{
			name:   "not measured",
			points: []HistoryPoint{pt(0, 0, 0), pt(64, 64, 0)},
			keys:   5,
			want:   MemoryCost{},
		},
		{name: "no points", keys: 5, want: MemoryCost{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := memoryCost(tc.points, tc.keys, func(p HistoryPoint) float64 { return p.Heap })
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestLoadRoundsKeepEachKeyInOrder publishes over pipelined connections to
// a server that checks every key's values come in round order, and checks
// the seqs the load reports.
func TestLoadRoundsKeepEachKeyInOrder(t *testing.T) {
	var mu sync.Mutex
	last := map[string]int{} // key -> round of its last value
	seqs := map[string]uint64{}
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.URL.Query().Get("id")
		var round int
		fmt.Sscanf(string(body), `{"round":%d}`, &round)
		mu.Lock()
		if prev, ok := last[id]; (ok && round != prev+1) || (!ok && round != 0) || r.URL.Query().Get("app") != "a b" {
			bad = append(bad, fmt.Sprintf("%s: round %d after %d", r.URL, round, prev))
		}
		last[id] = round
		seqs[id]++
		seq := seqs[id]
		mu.Unlock()
		fmt.Fprintf(w, `{"seq":%d,"delivered":0}`, seq)
	}))
	defer srv.Close()
	cases := []struct{ conns, depth, keys, rounds int }{
		{conns: 1, depth: 1, keys: 3, rounds: 4},
		{conns: 3, depth: 7, keys: 50, rounds: 5},
		{conns: 4, depth: 64, keys: 10, rounds: 3}, // fewer keys than a batch
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d conns depth %d", tc.conns, tc.depth), func(t *testing.T) {
			mu.Lock()
			clear(last)
			clear(seqs)
			mu.Unlock()
			load := &Load{API: strings.TrimPrefix(srv.URL, "http://"), App: "a b", Keys: tc.keys, Conns: tc.conns, Depth: tc.depth,
				ID:    func(k int) string { return fmt.Sprintf("k/%d", k) },
				Value: func(k, r int) []byte { return fmt.Appendf(nil, `{"round":%d}`, r) }}
			defer load.Close()
			var afters []int
			r, err := load.Rounds(context.Background(), tc.rounds, func(done int) bool { afters = append(afters, done); return true })
			if err != nil {
				t.Fatal(err)
			}
			if r.Rounds != tc.rounds || r.Published != int64(tc.keys*tc.rounds) || len(afters) != tc.rounds {
				t.Fatalf("rounds %d published %d afters %v", r.Rounds, r.Published, afters)
			}
			for k, s := range r.Seqs {
				if s != uint64(tc.rounds) {
					t.Fatalf("key %d: seq %d, want %d", k, s, tc.rounds)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bad) > 0 {
				t.Fatalf("out of order: %v", bad)
			}
		})
	}
}

func TestLoadStopsWhenAsked(t *testing.T) {
	f := startFakeServer(t, 64)
	load := &Load{API: f.apiAddr(), Keys: 5}
	defer load.Close()
	r, err := load.Rounds(context.Background(), 10, func(done int) bool { return done < 3 })
	if err != nil || r.Rounds != 3 || r.Published != 15 {
		t.Fatalf("rounds %d published %d err %v", r.Rounds, r.Published, err)
	}
}

func TestLoadReportsARefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") == "003" {
			http.Error(w, `{"error":{"code":"bad_key"}}`, http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"seq":1,"delivered":0}`)
	}))
	defer srv.Close()
	load := &Load{API: strings.TrimPrefix(srv.URL, "http://"), Keys: 5, Conns: 1, Depth: 5}
	defer load.Close()
	_, err := load.Rounds(context.Background(), 2, nil)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "round 1") {
		t.Fatalf("err %v, want the 400 of round 1", err)
	}
}

// TestHistoryAgainstFake: the fake reports 100 B of RSS and 80 B of heap
// per held value, and holds 4 per key.
func TestHistoryAgainstFake(t *testing.T) {
	f := startFakeServer(t, 4)
	gcs := 0
	r, err := History(context.Background(), HistoryConfig{
		API: f.apiAddr(), Target: f.wsAddr(), Keys: 50, PerKey: 10, HistorySize: 4, Verify: 5,
		Settle: time.Millisecond, GC: func(context.Context) error { gcs++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.PerKey != 10 || r.Held != 4 || r.Published != 500 || r.Incomplete != "" {
		t.Fatalf("per key %d held %d published %d incomplete %q", r.PerKey, r.Held, r.Published, r.Incomplete)
	}
	if rounds := pointRounds(r.Points); rounds != "0 1 4 10" || gcs != 4 {
		t.Fatalf("points after rounds %s, %d GCs", rounds, gcs)
	}
	wantHeap := MemoryCost{Before: 500_000, After: 500_000 + 50*4*80, PerKey: 320, PerHeldValue: 80, FirstPerKey: 80, PerExtra: 80}
	if r.Heap != wantHeap || r.RSS.PerHeldValue != 100 {
		t.Fatalf("heap %+v, want %+v; RSS %+v", r.Heap, wantHeap, r.RSS)
	}
	if r.Verify.Keys != 5 || r.Verify.CaughtUp != 5 || len(r.Verify.Errors) != 0 {
		t.Fatalf("verify %+v", r.Verify)
	}
	if r.ModelPerKey != 4*(40+48) {
		t.Fatalf("model %v", r.ModelPerKey)
	}
}

// TestHistoryVerifyCatchesAShortHistory: told the server holds 8 a key
// when it holds 4, the replay check fails for every sampled key.
func TestHistoryVerifyCatchesAShortHistory(t *testing.T) {
	f := startFakeServer(t, 4)
	r, err := History(context.Background(), HistoryConfig{
		API: f.apiAddr(), Target: f.wsAddr(), Keys: 20, PerKey: 10, HistorySize: 8, Verify: 4, Settle: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verify.CaughtUp != 0 || r.Verify.Errors[ErrGap] != 4 {
		t.Fatalf("verify %+v, want a gap for each of 4 keys", r.Verify)
	}
}

func TestHistoryStopsAtMaxDuration(t *testing.T) {
	f := startFakeServer(t, 64)
	r, err := History(context.Background(), HistoryConfig{
		API: f.apiAddr(), Keys: 10, PerKey: 1000, MaxDuration: time.Nanosecond, Settle: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.PerKey != 1 || r.Held != 1 || !strings.Contains(r.Incomplete, "1 of 1000") || !strings.Contains(r.String(), "INCOMPLETE") {
		t.Fatalf("per key %d held %d incomplete %q", r.PerKey, r.Held, r.Incomplete)
	}
}

func pointRounds(points []HistoryPoint) string {
	var s []string
	for _, p := range points {
		s = append(s, fmt.Sprint(p.Rounds))
	}
	return strings.Join(s, " ")
}
