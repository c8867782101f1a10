package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"edgepush/hub"
)

func seqsOf(entries []hub.Entry) string {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return fmt.Sprint(out)
}

func TestAppendAndSince(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{HistorySize: 5})
	k := hub.Key{App: "a", ID: "1"}
	ms := time.Now().UnixMilli()
	var epoch string
	for i := 1; i <= 8; i++ { // holds 4..8
		pos, err := s.Append(ctx, k, hub.Text, ms+int64(i), fmt.Appendf(nil, "%d", i))
		if err != nil || pos.Seq != uint64(i) || pos.Epoch == "" || (epoch != "" && pos.Epoch != epoch) {
			t.Fatalf("append %d = %+v, %v", i, pos, err)
		}
		epoch = pos.Epoch
	}
	cases := []struct {
		since     uint64
		recovered bool
		seqs      string
	}{
		{since: 8, recovered: true, seqs: "[]"},
		{since: 5, recovered: true, seqs: "[6 7 8]"},
		{since: 3, recovered: true, seqs: "[4 5 6 7 8]"},
		{since: 2, recovered: false, seqs: "[8]"},
		{since: 0, recovered: false, seqs: "[8]"},
		{since: 9, recovered: false, seqs: "[8]"},
		{since: 1<<64 - 1, recovered: false, seqs: "[8]"},
	}
	for _, tc := range cases {
		st, err := s.Since(ctx, k, tc.since)
		if err != nil || st.Recovered != tc.recovered || seqsOf(st.Entries) != tc.seqs || st.Seq != 8 || st.Epoch != epoch {
			t.Errorf("Since(%d) = recovered %v %v at %+v, %v; want %v %s at seq 8", tc.since, st.Recovered, seqsOf(st.Entries), st.Position, err, tc.recovered, tc.seqs)
		}
	}
	st, _ := s.Since(ctx, k, 6)
	if string(st.Entries[0].Data) != "7" || st.Entries[0].TS != ms+7 || st.Entries[0].Kind != hub.Text {
		t.Fatalf("entry 7 = %+v", st.Entries[0])
	}
	last, err := s.Last(ctx, k)
	if err != nil || seqsOf(last.Entries) != "[8]" || last.Recovered || last.Epoch != epoch {
		t.Fatalf("Last = %+v, %v", last, err)
	}
}

func TestUnknownKeyGetsItsEpochOnRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	k := hub.Key{App: "a", ID: "never"}
	st, err := s.Since(ctx, k, 0)
	if err != nil || !st.Recovered || st.Seq != 0 || st.Epoch == "" || len(st.Entries) != 0 {
		t.Fatalf("Since(0) of an unknown key = %+v, %v", st, err)
	}
	if ahead, _ := s.Since(ctx, k, 3); ahead.Recovered || len(ahead.Entries) != 0 {
		t.Fatalf("Since(3) of a key at seq 0 = %+v", ahead)
	}
	pos, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`1`))
	if err != nil || pos.Seq != 1 || pos.Epoch != st.Epoch {
		t.Fatalf("first append = %+v, %v; want seq 1 in epoch %q", pos, err, st.Epoch)
	}
}

// TestBinaryDataRoundTrips: any bytes, colons and NULs included.
func TestBinaryDataRoundTrips(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	k := hub.Key{App: "bin:ary", ID: "x}{y"}
	data := []byte{0, ':', 0xff, '\n', ':', 1}
	s.Append(ctx, k, hub.Binary, time.Now().UnixMilli(), data)
	st, err := s.Last(ctx, k)
	if err != nil || len(st.Entries) != 1 || !bytes.Equal(st.Entries[0].Data, data) || st.Entries[0].Kind != hub.Binary {
		t.Fatalf("Last = %+v, %v; want the bytes %x as binary", st, err, data)
	}
}

// TestTwoNodesShareOneSequence: two stores (two nodes) appending to one
// key at once get every seq exactly once, in one epoch.
func TestTwoNodesShareOneSequence(t *testing.T) {
	ctx := context.Background()
	a := newStore(t, Config{Prefix: "shared:", HistorySize: 1000})
	b := newStore(t, Config{Prefix: "shared:", HistorySize: 1000})
	k := hub.Key{App: "a", ID: t.Name()}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	epochs := map[string]bool{}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				pos, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`1`))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[pos.Seq] {
					t.Errorf("seq %d given twice", pos.Seq)
				}
				seen[pos.Seq] = true
				epochs[pos.Epoch] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 400 || len(epochs) != 1 {
		t.Fatalf("%d seqs in %d epochs, want 400 in 1", len(seen), len(epochs))
	}
	st, err := b.Since(ctx, k, 0)
	if err != nil || !st.Recovered || len(st.Entries) != 400 {
		t.Fatalf("Since(0) from the other node = %d entries, recovered %v, %v", len(st.Entries), st.Recovered, err)
	}
	for i, e := range st.Entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("history entry %d has seq %d", i, e.Seq)
		}
	}
}

// TestEpochChangesWhenRedisLosesTheKey: a flushed Redis (or an expired key)
// starts the key over under a new epoch, without its old history.
func TestEpochChangesWhenRedisLosesTheKey(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	k := hub.Key{App: "a", ID: "1"}
	before, _ := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`1`))
	s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`2`))
	if err := s.client.Del(ctx, s.keys(k)[0]).Err(); err != nil { // the hash alone, as a partial loss
		t.Fatal(err)
	}
	after, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`3`))
	if err != nil || after.Seq != 1 || after.Epoch == before.Epoch {
		t.Fatalf("after the loss: %+v, %v; before %+v: want seq 1 in a new epoch", after, err, before)
	}
	if st, _ := s.Since(ctx, k, 0); !st.Recovered || seqsOf(st.Entries) != "[1]" || string(st.Entries[0].Data) != "3" {
		t.Fatalf("history after the loss = %+v: the old epoch's entries must be gone", st)
	}
}

func TestHistoryTTLKeepsLastValueAndKeysExpire(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{HistoryTTL: time.Minute, KeyTTL: 500 * time.Millisecond})
	k := hub.Key{App: "a", ID: "1"}
	old := time.Now().Add(-2 * time.Minute).UnixMilli()
	s.Append(ctx, k, hub.Text, old, []byte(`1`))
	s.Append(ctx, k, hub.Text, old, []byte(`2`))
	if st, _ := s.Since(ctx, k, 0); st.Recovered || seqsOf(st.Entries) != "[2]" {
		t.Fatalf("entries past the TTL: Since(0) = %+v, want the last value alone", st)
	}
	ttl, err := s.client.PTTL(ctx, s.keys(k)[0]).Result()
	if err != nil || ttl <= 0 || ttl > 500*time.Millisecond {
		t.Fatalf("the key's TTL is %v, %v; want at most KeyTTL", ttl, err)
	}
}

func TestBadURL(t *testing.T) {
	for _, raw := range []string{"", "localhost:6379", "http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:6379/notadb", "redis://127.0.0.1:6379/0?bogus=1"} {
		if _, err := New(Config{URL: raw}); !errors.Is(err, ErrURL) {
			t.Errorf("New(%q) = %v, want ErrURL", raw, err)
		}
	}
}

// TestRedisDown: calls fail with an error, never hang past the context.
func TestRedisDown(t *testing.T) {
	s, err := New(Config{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Append(ctx, hub.Key{App: "a", ID: "1"}, hub.Text, 0, []byte(`1`)); err == nil {
		t.Fatal("Append to a Redis that is down succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping of a Redis that is down succeeded")
	}
}

// TestAppendSentTwiceIsAppendedOnce: go-redis sends a script again when the
// connection broke before the reply (its retries, a pipeline's); an append
// that arrives twice with the same token gets the seq it already has, and
// the history holds it once. Another instance's append in between does not
// confuse it.
func TestAppendSentTwiceIsAppendedOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	other := newStore(t, Config{Prefix: s.cfg.Prefix})
	k := hub.Key{App: "a", ID: fmt.Sprint(time.Now().UnixNano())}
	send := func(st *Store, token uint64, data string) []any {
		reply, err := appendScript.Run(ctx, st.client, st.keys(k), st.candidate(), time.Now().UnixMilli(), int(hub.Text), data,
			st.cfg.HistorySize, st.cutoff(), st.cfg.KeyTTL.Milliseconds(), st.id, token, 0).Slice()
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	first := send(s, 7, `1`)
	send(other, 7, `2`) // the same token from another instance is another append
	again := send(s, 7, `1`)
	if first[0] != int64(1) || again[0] != int64(1) || again[1] != first[1] {
		t.Fatalf("first %v, sent again %v: want seq 1 both times", first, again)
	}
	if next := send(s, 8, `3`); next[0] != int64(3) {
		t.Fatalf("the next token got %v, want seq 3", next)
	}
	st, err := s.Since(ctx, k, 0)
	if err != nil || seqsOf(st.Entries) != "[1 2 3]" || string(st.Entries[0].Data) != "1" || string(st.Entries[1].Data) != "2" {
		t.Fatalf("history = %+v, %v: want 1, 2, 3 each once", st, err)
	}
}

// TestAppendIf: the conditional append compares with the last entry in
// the script, as the memory store does (the same cases as hub's test).
func TestAppendIf(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	k := hub.Key{App: "a", ID: fmt.Sprint(time.Now().UnixNano())}
	cases := []struct {
		cond     hub.Condition
		kind     hub.Kind
		ts       int64
		data     string
		appended bool
	}{
		{hub.IfChanged | hub.IfNewer, hub.Text, 100, `1`, true},
		{hub.IfChanged, hub.Text, 200, `1`, false},
		{hub.IfChanged, hub.Binary, 200, `1`, true},
		{0, hub.Binary, 200, `1`, true},
		{hub.IfChanged | hub.IfNewer, hub.Text, 300, `2`, true},
		{hub.IfNewer, hub.Text, 250, `3`, false},
		{hub.IfChanged, hub.Text, 250, `3`, true},
		{hub.IfChanged | hub.IfNewer, hub.Text, 250, "4:with:colons", true},
		{hub.IfChanged, hub.Text, 260, "4:with:colons", false},
	}
	var seq uint64
	for i, tc := range cases {
		pos, appended, err := s.AppendIf(ctx, k, tc.cond, tc.kind, tc.ts, []byte(tc.data))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if tc.appended {
			seq++
		}
		if appended != tc.appended || pos.Seq != seq {
			t.Fatalf("case %d (%+v): appended %v at seq %d, want %v at %d", i, tc, appended, pos.Seq, tc.appended, seq)
		}
	}
}
