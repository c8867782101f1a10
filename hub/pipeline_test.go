package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingStore is a MemoryStore whose Append for one key waits until
// released, like a store behind a slow network.
type blockingStore struct {
	*MemoryStore
	slow    Key
	entered chan struct{} // closed when the slow Append has started
	release chan struct{}
}

func (s *blockingStore) Append(ctx context.Context, k Key, kind Kind, ts int64, data []byte) (Position, error) {
	if k == s.slow {
		close(s.entered)
		<-s.release
	}
	return s.MemoryStore.Append(ctx, k, kind, ts, data)
}

// hangGuard fails the test if done is not closed in a long time: a hang,
// not a speed check.
func hangGuard(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not finish while another key's store append was blocked", what)
	}
}

// TestSlowStoreHoldsUpOnlyItsKey: a publish whose store append blocks holds
// no hub lock and no other key: subscribes and publishes to other keys, on
// the same hub shard or not, go on.
func TestSlowStoreHoldsUpOnlyItsKey(t *testing.T) {
	slow := Key{App: "demo", ID: "slow"}
	store := &blockingStore{MemoryStore: NewMemoryStore(MemoryStoreConfig{}), slow: slow,
		entered: make(chan struct{}), release: make(chan struct{})}
	defer store.Close()
	h := newHubWith(store)
	h.Subscribe(&counter{}, slow)
	published := make(chan error, 1)
	go func() {
		_, err := h.Publish(context.Background(), slow, Text, []byte(`1`))
		published <- err
	}()
	<-store.entered
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 256 { // 256 keys cover every one of the 64 shards
			k := Key{App: "demo", ID: fmt.Sprint(i)}
			sub := &recorder{}
			h.Subscribe(sub, k)
			if r, err := h.Publish(context.Background(), k, Text, []byte(`2`)); err != nil || r.Delivered != 1 {
				t.Errorf("publish to %v = %+v, %v; want delivered 1", k, r, err)
			}
			h.Unsubscribe(sub, k)
		}
		h.Subscribe(&counter{}, slow) // the slow key's own shard and topic
	}()
	hangGuard(t, "subscribes and publishes to 256 other keys", done)
	close(store.release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// TestNoSubscribersNoEncoding: a publish to a key nobody watches is
// sequenced and stored, and never encoded.
func TestNoSubscribersNoEncoding(t *testing.T) {
	h := newHub()
	k := Key{App: "demo", ID: "nobody"}
	for i := range 10 {
		r, err := h.Publish(context.Background(), k, Text, []byte(`1`))
		if err != nil || r.Seq != uint64(i+1) || r.Delivered != 0 {
			t.Fatalf("publish %d = %+v, %v", i, r, err)
		}
	}
	if st := h.Stats(); st.Encoded != 0 || st.Deliveries != 10 {
		t.Fatalf("stats = %+v, want 10 deliveries and 0 encoded", st)
	}
	h.Subscribe(&counter{}, k)
	h.Publish(context.Background(), k, Text, []byte(`1`))
	if st := h.Stats(); st.Encoded != 1 {
		t.Fatalf("stats = %+v, want 1 encoded once a subscriber came", st)
	}
}

// TestWakeOncePerDeliver: the fan-out to many subscribers calls Wake once.
func TestWakeOncePerDeliver(t *testing.T) {
	var wakes atomic.Int64
	h := New(Config{Wake: func() { wakes.Add(1) }})
	k := Key{App: "demo", ID: "001"}
	for range 1000 {
		h.Subscribe(&counter{}, k)
	}
	h.Deliver(k, Entry{Seq: 1, Data: []byte(`1`)})
	h.Deliver(k, Entry{Seq: 2, Data: []byte(`1`)})
	h.Deliver(Key{App: "demo", ID: "none"}, Entry{Seq: 1, Data: []byte(`1`)})
	if n := wakes.Load(); n != 2 {
		t.Fatalf("%d wakes for 2 fan-outs to 1,000 subscribers and 1 to none, want 2", n)
	}
}

// TestUnsubscribeAll removes a subscriber from keys across shards.
func TestUnsubscribeAll(t *testing.T) {
	h := New(Config{})
	sub, other := &counter{}, &counter{}
	var all []Subscription
	for i := range 300 {
		k := Key{App: "a", ID: fmt.Sprint(i)}
		h.Subscribe(sub, k)
		h.Subscribe(other, k)
		all = append(all, Subscription{Key: k, Subscriber: sub})
	}
	h.UnsubscribeAll(all)
	st := h.Stats()
	if st.Subscribers != 300 || st.Topics != 300 {
		t.Fatalf("stats = %+v, want the other subscriber's 300 left", st)
	}
	for i := range 300 {
		if n := h.Subscribers(Key{App: "a", ID: fmt.Sprint(i)}); n != 1 {
			t.Fatalf("key %d has %d subscribers, want 1", i, n)
		}
	}
}

// failingStore fails every call.
type failingStore struct{ *MemoryStore }

func (failingStore) Append(context.Context, Key, Kind, int64, []byte) (Position, error) {
	return Position{}, errors.New("connection refused")
}

func TestStoreFailureIsWrappedAndNothingDelivered(t *testing.T) {
	h := newHubWith(&failingStore{NewMemoryStore(MemoryStoreConfig{})})
	k := Key{App: "a", ID: "1"}
	h.Subscribe(&counter{}, k)
	_, err := h.Publish(context.Background(), k, Text, []byte(`1`))
	if !errors.Is(err, ErrStore) {
		t.Fatalf("err = %v, want ErrStore", err)
	}
	if st := h.Stats(); st.Deliveries != 0 {
		t.Fatalf("a push whose append failed was delivered: %+v", st)
	}
}

// TestChangedIsCalledOutsideTheLock: the observer hears of every change,
// and may call back into the hub (it holds no lock then).
func TestChangedIsCalledOutsideTheLock(t *testing.T) {
	var h *Hub
	var calls []string
	h = New(Config{Changed: func(k Key) { calls = append(calls, fmt.Sprintf("%s=%d", k.ID, h.Subscribers(k))) }})
	a, b := &counter{}, &counter{}
	k1, k2 := Key{App: "a", ID: "1"}, Key{App: "a", ID: "2"}
	h.Subscribe(a, k1)
	h.Subscribe(a, k1) // already there: no change
	h.Subscribe(b, k1)
	h.Subscribe(a, k2)
	h.Unsubscribe(b, k1)
	h.Unsubscribe(b, k2) // not there: no change
	h.UnsubscribeAll([]Subscription{{Key: k1, Subscriber: a}, {Key: k2, Subscriber: a}, {Key: k2, Subscriber: b}})
	if len(calls) == 6 {
		slices.Sort(calls[4:]) // UnsubscribeAll goes shard by shard
	}
	want := "[1=1 1=2 2=1 1=1 1=0 2=0]"
	if got := fmt.Sprint(calls); got != want {
		t.Fatalf("Changed calls %s, want %s", got, want)
	}
}

// sendingBus is a LocalBus that is also a Sender whose waits block until
// released, like a broker slow to confirm; it records the order of sends.
type sendingBus struct {
	*LocalBus
	mu      sync.Mutex
	sent    []uint64
	release chan struct{}
	fail    error // what every wait returns
}

func (b *sendingBus) Send(ctx context.Context, m Message) (func(context.Context) error, error) {
	b.mu.Lock()
	b.sent = append(b.sent, m.Seq)
	b.mu.Unlock()
	return func(ctx context.Context) error {
		select {
		case <-b.release:
			return b.fail
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

func (b *sendingBus) sends() []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent)
}

// TestSenderWaitIsOutsideTheKeyLock: with a Sender bus, publishes of one
// key overlap their waits for the broker (the key's lock covers only the
// append and the send), their sends stay in seq order, and a failed wait
// is an ErrBus with the seq the store gave.
func TestSenderWaitIsOutsideTheKeyLock(t *testing.T) {
	h := New(Config{})
	bus := &sendingBus{LocalBus: NewLocalBus(), release: make(chan struct{})}
	p := NewPipeline(PipelineConfig{}, NewMemoryStore(MemoryStoreConfig{}), bus, h)
	k := Key{App: "a", ID: "hot"}
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := p.Publish(context.Background(), k, Text, []byte(`1`))
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() {
		for len(bus.sends()) < n {
			time.Sleep(time.Millisecond)
		}
		close(done)
	}()
	hangGuard(t, "8 sends of one key while every wait was blocked", done)
	if got := bus.sends(); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("sends in order %v, want seqs 1..8", got)
	}
	bus.fail = errors.New("nacked")
	close(bus.release)
	for range n {
		if err := <-errs; !errors.Is(err, ErrBus) || !strings.Contains(err.Error(), "seq ") {
			t.Fatalf("a failed wait gave %v, want an ErrBus naming the seq", err)
		}
	}
}

// TestNoticesAreNotPushes: a notice kind cannot be published as a push
// (it would enter the history); it goes through Notify, which reaches the
// subscribers and leaves the seq alone.
func TestNoticesAreNotPushes(t *testing.T) {
	h := newHub()
	k := Key{App: "a", ID: "1"}
	r := &recorder{}
	h.Subscribe(r, k)
	for _, kind := range []Kind{Stale, Fresh, Kind(9)} {
		if _, err := h.Publish(context.Background(), k, kind, []byte(`1`)); !errors.Is(err, ErrKind) {
			t.Fatalf("Publish of kind %d: %v, want ErrKind", kind, err)
		}
	}
	if err := h.Notify(context.Background(), k, Stale, 1234); err != nil {
		t.Fatal(err)
	}
	if err := h.Notify(context.Background(), k, Text, 0); err == nil {
		t.Fatal("Notify took a push kind")
	}
	if st, _ := h.store.Last(context.Background(), k); st.Seq != 0 || st.Stale != 1234 {
		t.Fatalf("after the notice: seq %d, stale %d; want 0 and 1234", st.Seq, st.Stale)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.frames) != 1 || !strings.Contains(string(r.frames[0]), `{"op":"stale","app":"a","id":"1","since":1234}`) {
		t.Fatalf("subscriber got %q, want the stale notice", r.frames)
	}
}
