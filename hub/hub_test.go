package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgepush/frame"
)

// recorder is a Subscriber that keeps a copy of every frame it is sent.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
	refuse bool
}

func (r *recorder) Send(_ uint64, _ string, f *frame.Frame) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.frames = append(r.frames, append([]byte(nil), f.Bytes()...))
	return true
}

// counter is a Subscriber that only counts, for benchmarks.
type counter struct{ n atomic.Int64 }

func (c *counter) Send(uint64, string, *frame.Frame) bool { c.n.Add(1); return true }

// testHub is a hub with its pipeline over the in-memory store and the
// local bus, with a fixed clock.
type testHub struct {
	*Hub
	*Pipeline
	store *MemoryStore
}

func newHub() testHub { return newHubWith(nil) }

// newHubWith returns a test hub over store, or a new memory store if nil.
func newHubWith(store Store) testHub {
	fixed := time.UnixMilli(1_700_000_000_000)
	h := New(Config{})
	th := testHub{Hub: h}
	if store == nil {
		th.store = NewMemoryStore(MemoryStoreConfig{Watched: h.Watched})
		store = th.store
	}
	th.Pipeline = NewPipeline(PipelineConfig{Now: func() time.Time { return fixed }}, store, NewLocalBus(), h)
	return th
}

func TestSubscribeUnsubscribe(t *testing.T) {
	h := newHub()
	a, b := &recorder{}, &recorder{}
	k := Key{App: "demo", ID: "001"}
	steps := []struct {
		name string
		op   func() bool
		want bool
		subs int
	}{
		{name: "a subscribes", op: func() bool { return h.Subscribe(a, k) }, want: true, subs: 1},
		{name: "a again", op: func() bool { return h.Subscribe(a, k) }, want: false, subs: 1},
		{name: "b subscribes", op: func() bool { return h.Subscribe(b, k) }, want: true, subs: 2},
		{name: "a leaves", op: func() bool { return h.Unsubscribe(a, k) }, want: true, subs: 1},
		{name: "a leaves again", op: func() bool { return h.Unsubscribe(a, k) }, want: false, subs: 1},
		{name: "b leaves", op: func() bool { return h.Unsubscribe(b, k) }, want: true, subs: 0},
		{name: "b on unknown key", op: func() bool { return h.Unsubscribe(b, Key{App: "x", ID: "y"}) }, want: false, subs: 0},
	}
	for _, s := range steps {
		if got := s.op(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
		if n := h.Subscribers(k); n != s.subs {
			t.Fatalf("%s: %d subscribers, want %d", s.name, n, s.subs)
		}
	}
	if st := h.Stats(); st.Topics != 0 || st.Subscribers != 0 {
		t.Fatalf("stats after all left = %+v, want no topics", st)
	}
}

func TestPublishEncodesOnceAndCountsSeq(t *testing.T) {
	h := newHub()
	subs := []*recorder{{}, {}, {refuse: true}}
	k := Key{App: "demo", ID: "001"}
	for _, s := range subs {
		h.Subscribe(s, k)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		r, err := h.Publish(context.Background(), k, Text, []byte(`{"v":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != seq || r.Delivered != 2 {
			t.Fatalf("publish %d = %+v, want seq %d delivered 2", seq, r, seq)
		}
	}
	want := `{"op":"data","app":"demo","id":"001","seq":3,"ts":1700000000000,"data":{"v":1}}`
	got := subs[0].frames[2]
	if string(got[2:]) != want || got[0] != 0x81 || int(got[1]) != len(want) {
		t.Fatalf("third frame = %q, want header 81 %02x and %s", got, len(want), want)
	}
	if string(subs[1].frames[2]) != string(got) {
		t.Fatal("subscribers got different bytes for one push")
	}
	st := h.Stats()
	if st.Encoded != 3 || st.Delivered != 6 || st.Dropped != 3 {
		t.Fatalf("stats = %+v, want 3 encoded, 6 delivered, 3 dropped", st)
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	h := newHub()
	cases := []struct {
		name string
		key  Key
		kind Kind
		data string
		err  error
	}{
		{name: "empty app", key: Key{ID: "1"}, kind: Text, data: `1`, err: ErrEmptyKey},
		{name: "empty id", key: Key{App: "a"}, kind: Binary, data: `x`, err: ErrEmptyKey},
		{name: "long id", key: Key{App: "a", ID: strings.Repeat("x", 65)}, kind: Text, data: `1`, err: ErrKeyTooLong},
		{name: "control", key: Key{App: "a\n", ID: "1"}, kind: Text, data: `1`, err: ErrKeyControl},
		{name: "C1 control", key: Key{App: "a", ID: "1\u0085"}, kind: Text, data: `1`, err: ErrKeyControl},
		{name: "bad utf8", key: Key{App: "a", ID: "\xff"}, kind: Text, data: `1`, err: ErrKeyUTF8},
		{name: "bad json", key: Key{App: "a", ID: "1"}, kind: Text, data: `{`, err: ErrInvalidJSON},
		{name: "json with bad utf8", key: Key{App: "a", ID: "1"}, kind: Text, data: "\"\xff\"", err: ErrInvalidJSON},
		{name: "empty json", key: Key{App: "a", ID: "1"}, kind: Text, data: ``, err: ErrInvalidJSON},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Publish(context.Background(), tc.key, tc.kind, []byte(tc.data))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
	if st := h.Stats(); st.Deliveries != 0 {
		t.Fatalf("%d publishes delivered for rejected input", st.Deliveries)
	}
}

func TestSendTextAndBinaryCallbacks(t *testing.T) {
	h := newHub()
	r := &recorder{}
	h.Subscribe(r, Key{App: "demo", ID: "002"})
	var got []string
	record := func(res Result, err error) { got = append(got, fmt.Sprintf("%d/%d/%v", res.Seq, res.Delivered, err)) }
	h.SendText("demo", "002", []byte(`"hot"`), record)
	h.SendBinary("demo", "002", []byte{1, 2, 3}, record)
	h.SendText("demo", "", []byte(`1`), func(_ Result, err error) {
		got = append(got, fmt.Sprintf("err=%v", errors.Is(err, ErrEmptyKey)))
	})
	want := []string{"1/1/<nil>", "2/1/<nil>", "err=true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("callbacks = %v, want %v", got, want)
	}
	bin := r.frames[1]
	if bin[0] != 0x82 || bin[2] != frame.BinaryVersion || string(bin[4:8]) != "demo" {
		t.Fatalf("binary frame = %x", bin)
	}
}

// TestConcurrentUse runs subscribes, unsubscribes and publishes on many
// keys at once; -race checks the locking.
func TestConcurrentUse(t *testing.T) {
	h := newHub()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := &counter{}
			for i := 0; i < 500; i++ {
				k := Key{App: "app", ID: fmt.Sprint(i % 17)}
				h.Subscribe(sub, k)
				h.Publish(context.Background(), k, Text, []byte(`1`))
				h.Unsubscribe(sub, k)
			}
		}()
	}
	wg.Wait()
	if st := h.Stats(); st.Subscribers != 0 || st.Deliveries != 4000 {
		t.Fatalf("stats = %+v, want 0 subscribers, 4000 publishes", st)
	}
	var seqs uint64
	for i := 0; i < 17; i++ {
		r, _ := h.Publish(context.Background(), Key{App: "app", ID: fmt.Sprint(i)}, Text, []byte(`1`))
		seqs += r.Seq - 1
	}
	if seqs != 4000 {
		t.Fatalf("sequence numbers add up to %d, want 4000: some were lost or repeated", seqs)
	}
}

// TestConcurrentPublishesArriveInOrder: publishes to one key from many
// goroutines reach a subscriber in sequence order.
func TestConcurrentPublishesArriveInOrder(t *testing.T) {
	h := newHub()
	r := &recorder{}
	k := Key{App: "demo", ID: "001"}
	h.Subscribe(r, k)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				h.Publish(context.Background(), k, Binary, []byte{1})
			}
		}()
	}
	wg.Wait()
	if len(r.frames) != 1600 {
		t.Fatalf("%d frames, want 1600", len(r.frames))
	}
	for i, f := range r.frames {
		// binary push: 2-byte header, version, len(app), app, len(id), id, seq
		at := 2 + 2 + len(k.App) + 1 + len(k.ID)
		if seq := binary.BigEndian.Uint64(f[at:]); seq != uint64(i+1) {
			t.Fatalf("frame %d carries seq %d, want %d", i, seq, i+1)
		}
	}
}
