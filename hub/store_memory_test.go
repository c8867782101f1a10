package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func seqsOf(entries []Entry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func TestMemoryStoreSince(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{HistorySize: 5})
	defer s.Close()
	k := Key{App: "a", ID: "1"}
	ms := time.Now().UnixMilli()
	for i := 1; i <= 8; i++ { // holds 4..8
		if pos, err := s.Append(ctx, k, Text, ms+int64(i), fmt.Appendf(nil, "%d", i)); err != nil || pos.Seq != uint64(i) {
			t.Fatalf("append %d = %+v, %v", i, pos, err)
		}
	}
	cases := []struct {
		since     uint64
		recovered bool
		seqs      string
	}{
		{since: 8, recovered: true, seqs: "[]"},
		{since: 5, recovered: true, seqs: "[6 7 8]"},
		{since: 3, recovered: true, seqs: "[4 5 6 7 8]"},
		{since: 2, recovered: false, seqs: "[8]"}, // 3 was evicted: the last value alone
		{since: 0, recovered: false, seqs: "[8]"},
		{since: 9, recovered: false, seqs: "[8]"},
	}
	for _, tc := range cases {
		st, err := s.Since(ctx, k, tc.since)
		if err != nil || st.Recovered != tc.recovered || fmt.Sprint(seqsOf(st.Entries)) != tc.seqs || st.Seq != 8 {
			t.Errorf("Since(%d) = recovered %v %v seq %d, %v; want %v %s seq 8", tc.since, st.Recovered, seqsOf(st.Entries), st.Seq, err, tc.recovered, tc.seqs)
		}
	}
	st, _ := s.Since(ctx, k, 6)
	if string(st.Entries[0].Data) != "7" || st.Entries[0].TS != ms+7 {
		t.Fatalf("entry 7 = %+v", st.Entries[0])
	}
	st.Entries[0].Data[0] = 'x' // a copy: the store keeps its own
	if again, _ := s.Since(ctx, k, 6); string(again.Entries[0].Data) != "7" {
		t.Fatal("a caller's change to a returned entry reached the store")
	}
	last, _ := s.Last(ctx, k)
	if fmt.Sprint(seqsOf(last.Entries)) != "[8]" || last.Epoch != st.Epoch {
		t.Fatalf("Last = %+v", last)
	}
	none, _ := s.Since(ctx, Key{App: "a", ID: "never"}, 0)
	if !none.Recovered || none.Seq != 0 || none.Epoch == "" || len(none.Entries) != 0 {
		t.Fatalf("Since(0) of a key never published = %+v, want recovered at seq 0 with an epoch", none)
	}
	if ahead, _ := s.Since(ctx, Key{App: "a", ID: "never"}, 3); ahead.Recovered || len(ahead.Entries) != 0 {
		t.Fatalf("Since(3) of a key never published = %+v, want not recovered, nothing", ahead)
	}
	first, _ := s.Append(ctx, Key{App: "a", ID: "never"}, Text, 0, []byte(`1`))
	if first.Seq != 1 || first.Epoch != none.Epoch {
		t.Fatalf("first append = %+v, want seq 1 in the epoch the read gave, %q", first, none.Epoch)
	}
}

func TestMemoryStoreHistoryTTLKeepsLastValue(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	s := NewMemoryStore(MemoryStoreConfig{HistoryTTL: time.Minute, Now: clock.Now})
	defer s.Close()
	k := Key{App: "a", ID: "1"}
	for i := 1; i <= 3; i++ {
		s.Append(ctx, k, Text, clock.Now().UnixMilli(), []byte(`1`))
	}
	clock.Add(2 * time.Minute)
	st, _ := s.Since(ctx, k, 1)
	if st.Recovered || fmt.Sprint(seqsOf(st.Entries)) != "[3]" {
		t.Fatalf("after the TTL: Since(1) = %+v, want not recovered, last value 3", st)
	}
	if st, _ := s.Since(ctx, k, 2); !st.Recovered || fmt.Sprint(seqsOf(st.Entries)) != "[3]" {
		t.Fatalf("after the TTL: Since(2) = %+v, want recovered [3] (the last value stays)", st)
	}
}

func TestMemoryStoreForgetsOnlyUnwatchedIdleKeys(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Unix(1000, 0)}
	watched := Key{App: "a", ID: "watched"}
	s := NewMemoryStore(MemoryStoreConfig{KeyTTL: time.Hour, Now: clock.Now,
		Watched: func(k Key) bool { return k == watched }})
	defer s.Close()
	idle := Key{App: "a", ID: "idle"}
	before, _ := s.Append(ctx, idle, Text, 0, []byte(`1`))
	s.Append(ctx, watched, Text, 0, []byte(`1`))
	clock.Add(2 * time.Hour)
	for i := range s.shards {
		s.sweepShard(&s.shards[i])
	}
	if n := s.Keys(); n != 1 {
		t.Fatalf("%d keys after the sweep, want the watched one alone", n)
	}
	after, _ := s.Append(ctx, idle, Text, 0, []byte(`1`))
	if after.Seq != 1 || after.Epoch == before.Epoch {
		t.Fatalf("a forgotten key published again = %+v, was %+v: want seq 1 and a new epoch", after, before)
	}
}

func TestMemoryStoreEpochChangesWithInstance(t *testing.T) {
	ctx := context.Background()
	k := Key{App: "a", ID: "1"}
	a, b := NewMemoryStore(MemoryStoreConfig{}), NewMemoryStore(MemoryStoreConfig{})
	defer a.Close()
	defer b.Close()
	pa, _ := a.Append(ctx, k, Text, 0, []byte(`1`))
	pb, _ := b.Append(ctx, k, Text, 0, []byte(`1`))
	if pa.Epoch == pb.Epoch || pa.Epoch == "" || len(pa.Epoch) > 64 {
		t.Fatalf("epochs %q and %q: want two different non-empty ones of at most 64 bytes", pa.Epoch, pb.Epoch)
	}
}

func TestMemoryStoreClosed(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{})
	s.Close()
	if _, err := s.Append(context.Background(), Key{App: "a", ID: "1"}, Text, 0, nil); err != ErrStoreClosed {
		t.Fatalf("Append after Close = %v, want ErrStoreClosed", err)
	}
}

// appendIfCases are the conditional appends every ConditionalStore must
// answer alike, in order on one key: what each one appends.
var appendIfCases = []struct {
	name     string
	cond     Condition
	kind     Kind
	ts       int64
	data     string
	appended bool
}{
	{"first value always", IfChanged | IfNewer, Text, 100, `1`, true},
	{"same value unchanged", IfChanged, Text, 200, `1`, false},
	{"same value as binary is a change", IfChanged, Binary, 200, `1`, true},
	{"same value, no condition", 0, Binary, 200, `1`, true},
	{"changed", IfChanged | IfNewer, Text, 300, `2`, true},
	{"older reading", IfNewer, Text, 250, `3`, false},
	{"older but no IfNewer", IfChanged, Text, 250, `3`, true},
	{"same ts, changed", IfChanged | IfNewer, Text, 250, `4`, true},
}

// checkAppendIf runs appendIfCases against append on a fresh key.
func checkAppendIf(t *testing.T, appendIf func(cond Condition, kind Kind, ts int64, data []byte) (Position, bool, error)) {
	t.Helper()
	var seq uint64
	for _, tc := range appendIfCases {
		pos, appended, err := appendIf(tc.cond, tc.kind, tc.ts, []byte(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.appended {
			seq++
		}
		if appended != tc.appended || pos.Seq != seq {
			t.Fatalf("%s: appended %v at seq %d, want %v at %d", tc.name, appended, pos.Seq, tc.appended, seq)
		}
	}
}

func TestMemoryStoreAppendIf(t *testing.T) {
	s := NewMemoryStore(MemoryStoreConfig{})
	defer s.Close()
	k := Key{App: "a", ID: "1"}
	checkAppendIf(t, func(cond Condition, kind Kind, ts int64, data []byte) (Position, bool, error) {
		return s.AppendIf(context.Background(), k, cond, kind, ts, data)
	})
}
