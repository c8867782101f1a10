package amqpsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
	"edgepush/hub/hubtest"
)

func TestNewChecksTheConfig(t *testing.T) {
	pub := &fakePublisher{}
	ok := Config{URLs: []string{"amqp://guest:guest@127.0.0.1:5672/"}, Queue: "readings"}
	for _, c := range []struct {
		name string
		edit func(*Config)
		err  error
	}{
		{"no URL", func(c *Config) { c.URLs = nil }, ErrURL},
		{"not amqp", func(c *Config) { c.URLs = []string{"http://127.0.0.1/"} }, ErrURL},
		{"second URL bad", func(c *Config) { c.URLs = append(c.URLs, "amqp://:bad:port") }, ErrURL},
		{"no queue", func(c *Config) { c.Queue = "" }, ErrConfig},
		{"long queue", func(c *Config) { c.Queue = strings.Repeat("q", 256) }, ErrConfig},
		{"prefetch too large", func(c *Config) { c.Prefetch = MaxPrefetch + 1 }, ErrConfig},
		{"negative prefetch", func(c *Config) { c.Prefetch = -1 }, ErrConfig},
		{"negative max body", func(c *Config) { c.MaxBody = -1 }, ErrConfig},
		{"negative timeout", func(c *Config) { c.PublishTimeout = -time.Second }, ErrConfig},
		{"max below min", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }, ErrConfig},
		{"bad app", func(c *Config) { c.App = "a\x00" }, ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			cfg.URLs = append([]string(nil), ok.URLs...)
			c.edit(&cfg)
			if _, err := New(cfg, pub, discard); !errors.Is(err, c.err) {
				t.Fatalf("New: %v, want %v", err, c.err)
			}
		})
	}
	if _, err := New(ok, nil, discard); !errors.Is(err, ErrConfig) {
		t.Fatalf("New without a publisher: %v", err)
	}
	if _, err := New(Config{URLs: []string{"amqp://u:secret@h/"}}, pub, discard); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("New: %v", err)
	}
	src, err := New(Config{URLs: ok.URLs, Queue: "q", BackoffMin: 10 * time.Second}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := src.cfg
	if c.Prefetch != DefaultPrefetch || c.MaxBody != DefaultMaxBody || c.PublishTimeout != DefaultPublishTimeout ||
		c.BackoffMax != 10*time.Second || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if st := src.State(); st.Connected || !errors.Is(st.Err, ErrNotRunning) {
		t.Fatalf("state before Run: %+v", st)
	}
}

// TestPublishesAndAcks: a message reaches the publisher with its key, kind
// and data, and is acked: the queue holds nothing, not even unacked.
func TestPublishesAndAcks(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, queue+".x", nil)
	src := start(t, Config{Queue: queue}, nil, true)
	send(t, ch, queue+".x", "plant.line.1", amqp.Publishing{ContentType: "application/json", Body: []byte(`{"t":21.5}`)})
	send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"app": "plant", "id": "line 2"}, Body: []byte{1, 2, 3}})
	waitUntil(t, "two pushes", func() bool { return len(src.pub.taken()) == 2 })
	want := []record{
		{key: hub.Key{App: "plant", ID: "line.1"}, kind: hub.Text, data: `{"t":21.5}`},
		{key: hub.Key{App: "plant", ID: "line 2"}, kind: hub.Binary, data: "\x01\x02\x03"},
	}
	if got := src.pub.taken(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pushes %v, want %v", got, want)
	}
	waitUntil(t, "the queue to hold no message, unacked included", func() bool {
		out, err := broker.Ctl("list_queues", "name", "messages")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == queue {
				return f[1] == "0"
			}
		}
		t.Fatalf("queue %s not in %q", queue, out)
		return false
	})
	src.stop()
	if n := ready(t, queue); n != 0 {
		t.Fatalf("%d messages back in the queue after the source stopped", n)
	}
	st := src.Stats()
	if st.Received != 2 || st.Published != 2 || st.Requeued != 0 || st.Rejected.Total() != 0 || st.Redelivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s := src.State(); s.Connected || !errors.Is(s.Err, ErrNotRunning) {
		t.Fatalf("state after Run: %+v", s)
	}
}

// TestMalformedIsDeadLettered: a malformed message is rejected without
// requeue, lands in the queue's dead-letter queue, and the message behind
// it still arrives.
func TestMalformedIsDeadLettered(t *testing.T) {
	ch := dial(t)
	queue, dlx, dlq := queueName(t, ""), queueName(t, ".dlx"), queueName(t, ".dlq")
	if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, ch, dlq, "", nil)
	if err := ch.QueueBind(dlq, "", dlx, false, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, ch, queue, "", amqp.Table{"x-dead-letter-exchange": dlx})
	src := start(t, Config{Queue: queue, App: "demo"}, nil, true)
	bad := amqp.Publishing{Headers: amqp.Table{"id": "001"}, ContentType: "application/json", Body: []byte(`{"t":`)}
	good := amqp.Publishing{Headers: amqp.Table{"id": "001"}, ContentType: "application/json", Body: []byte(`{"t":2}`)}
	send(t, ch, "", queue, bad)
	send(t, ch, "", queue, good)
	waitUntil(t, "the good message", func() bool { return len(src.pub.taken()) == 1 })
	if got := src.pub.taken()[0]; got.data != `{"t":2}` || got.key != (hub.Key{App: "demo", ID: "001"}) {
		t.Fatalf("push %v", got)
	}
	waitUntil(t, "the bad message in the dead-letter queue", func() bool { return ready(t, dlq) == 1 })
	d, ok, err := ch.Get(dlq, true)
	if err != nil || !ok || string(d.Body) != `{"t":` {
		t.Fatalf("dead letter %q, %v, %v", d.Body, ok, err)
	}
	src.stop()
	if n := ready(t, queue); n != 0 {
		t.Fatalf("%d messages back in the queue", n)
	}
	if st := src.Stats(); st.Rejected.JSON != 1 || st.Rejected.Total() != 1 || st.Published != 1 || st.Requeued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRefusedIsRejected: a push the publisher refuses as invalid is
// rejected, not retried.
func TestRefusedIsRejected(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, "", nil)
	pub := &fakePublisher{mode: publishRefuse}
	src := start(t, Config{Queue: queue, App: "demo"}, pub, true)
	send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("x")})
	waitUntil(t, "the rejection", func() bool { return src.Stats().Rejected.Refused == 1 })
	src.stop()
	if st := src.Stats(); st.Requeued != 0 || pub.tries() != 1 || ready(t, queue) != 0 {
		t.Fatalf("stats %+v, %d tries, %d ready", st, pub.tries(), ready(t, queue))
	}
}

// TestFailedPublishIsRedelivered: while the pipeline fails (a store that is
// down, a publish that times out), nothing is acked: the message comes
// again and is published once the pipeline works, the messages behind it
// after it, in order, each once.
func TestFailedPublishIsRedelivered(t *testing.T) {
	for _, c := range []struct {
		name string
		mode int
	}{{"store down", publishDown}, {"timeout", publishHang}} {
		t.Run(c.name, func(t *testing.T) {
			ch := dial(t)
			queue := queueName(t, "")
			declare(t, ch, queue, "", nil)
			pub := &fakePublisher{mode: c.mode}
			src := start(t, Config{Queue: queue, App: "demo", PublishTimeout: 50 * time.Millisecond}, pub, true)
			for i := 1; i <= 3; i++ {
				send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"id": "k"}, ContentType: "application/json", Body: fmt.Appendf(nil, "%d", i)})
			}
			waitUntil(t, "a redelivery", func() bool { st := src.Stats(); return st.Redelivered >= 1 && st.Requeued >= 2 })
			waitUntil(t, "the pause in the state", func() bool {
				s := src.State()
				return s.Connected && !s.Consuming && errors.Is(s.Err, hub.ErrStore)
			})
			if got := src.pub.taken(); len(got) != 0 {
				t.Fatalf("published while failing: %v", got)
			}
			pub.setMode(publishOK)
			waitUntil(t, "three pushes", func() bool { return len(src.pub.taken()) == 3 })
			for i, r := range src.pub.taken() {
				if r.data != fmt.Sprint(i+1) {
					t.Fatalf("pushes %v, want 1, 2, 3 in order", src.pub.taken())
				}
			}
			src.stop()
			if n := ready(t, queue); n != 0 {
				t.Fatalf("%d messages back in the queue", n)
			}
			if st := src.Stats(); st.Published != 3 || st.Rejected.Total() != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestMissingQueue: without Declare, a missing queue is ErrNoQueue in the
// state, and is found once someone declares it; with Declare the source
// declares it.
func TestMissingQueue(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	src := start(t, Config{Queue: queue}, nil, false)
	waitUntil(t, "ErrNoQueue", func() bool { return errors.Is(src.State().Err, ErrNoQueue) })
	if src.Connected() {
		t.Fatal("connected without the queue")
	}
	declare(t, ch, queue, "", nil)
	waitUntil(t, "the queue to be found", src.Connected)
	src.stop()

	declared := queueName(t, ".declared")
	t.Cleanup(func() { deleteQueue(declared) })
	src = start(t, Config{Queue: declared, Declare: true, App: "demo"}, nil, true)
	send(t, ch, "", declared, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("x")})
	waitUntil(t, "the push", func() bool { return len(src.pub.taken()) == 1 })
	q, err := dial(t).QueueDeclarePassive(declared, true, false, false, false, nil)
	if err != nil || q.Consumers != 1 {
		t.Fatalf("declared queue: %+v, %v", q, err)
	}
}

// TestExclusive: of two exclusive sources on one queue one consumes; the
// other takes over when it goes.
func TestExclusive(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, "", nil)
	first := start(t, Config{Queue: queue, Exclusive: true, App: "demo"}, nil, true)
	second := start(t, Config{Queue: queue, Exclusive: true, App: "demo"}, nil, false)
	waitUntil(t, "the second to be refused", func() bool {
		s := second.State()
		return s.Err != nil && !errors.Is(s.Err, ErrNotRunning)
	})
	if second.Connected() {
		t.Fatal("two exclusive consumers")
	}
	first.stop()
	waitUntil(t, "the second to take over", second.Connected)
	send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("x")})
	waitUntil(t, "the push", func() bool { return len(second.pub.taken()) == 1 })
}

// TestTriesTheURLsInTurn: a URL where nothing listens is passed over for
// the next.
func TestTriesTheURLsInTurn(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, "", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "amqp://guest:guest@" + ln.Addr().String() + "/"
	ln.Close()
	src := start(t, Config{URLs: []string{dead, needBroker(t).URL()}, Queue: queue, App: "demo"}, nil, true)
	send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("x")})
	waitUntil(t, "the push", func() bool { return len(src.pub.taken()) == 1 })
}

// TestBrokerRestart: the source reconnects after the broker restarted,
// declares its queue again and consumes.
func TestBrokerRestart(t *testing.T) {
	q := needBroker(t)
	queue := queueName(t, "")
	t.Cleanup(func() { deleteQueue(queue) })
	src := start(t, Config{Queue: queue, Declare: true, App: "demo"}, nil, true)
	send(t, dial(t), "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("before")})
	waitUntil(t, "the push before", func() bool { return len(src.pub.taken()) == 1 })
	if err := q.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reconnect", func() bool { return src.Stats().Reconnects >= 1 && src.Connected() })
	send(t, dial(t), "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("after")})
	waitUntil(t, "the push after", func() bool { return len(src.pub.taken()) == 2 })
	if got := src.pub.taken()[1]; got.data != "after" {
		t.Fatalf("push %v", got)
	}
}

// TestStopsWithItsContext: Run returns once its context is done, even in
// the middle of a publish, and the message goes back to the queue.
func TestStopsWithItsContext(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, "", nil)
	pub := &fakePublisher{mode: publishHang}
	src := start(t, Config{Queue: queue, App: "demo", PublishTimeout: time.Hour}, pub, true)
	send(t, ch, "", queue, amqp.Publishing{Headers: amqp.Table{"id": "1"}, Body: []byte("x")})
	waitUntil(t, "the publish to start", func() bool { return pub.tries() == 1 })
	src.stop()
	waitUntil(t, "the message back in the queue", func() bool { return ready(t, queue) == 1 })
}

// TestEndToEnd: a message on the queue reaches a subscriber through the
// real pipeline.
func TestEndToEnd(t *testing.T) {
	ch := dial(t)
	queue := queueName(t, "")
	declare(t, ch, queue, queue+".x", nil)
	h := hub.New(hub.Config{})
	store := hub.NewMemoryStore(hub.MemoryStoreConfig{})
	defer store.Close()
	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
	sub := &hubtest.Recorder{}
	k := hub.Key{App: "plant", ID: "line.3"}
	h.Subscribe(sub, k)
	startWith(t, Config{Queue: queue}, p, nil, true)
	send(t, ch, queue+".x", "plant.line.3", amqp.Publishing{ContentType: "application/json", Body: []byte(`{"t":21.5}`)})
	waitUntil(t, "the push at the subscriber", func() bool { return len(sub.Taken()) == 1 })
	op, payload := hubtest.DecodeFrame(t, sub.Taken()[0])
	if op != 0x81 {
		t.Fatalf("frame byte 0 %#x, want a final text frame", op)
	}
	var push struct {
		Op, App, ID string
		Seq         uint64
		Data        json.RawMessage
	}
	if err := json.Unmarshal(payload, &push); err != nil {
		t.Fatalf("%v: %s", err, payload)
	}
	if push.Op != "data" || push.App != k.App || push.ID != k.ID || push.Seq != 1 || string(push.Data) != `{"t":21.5}` {
		t.Fatalf("push %s", payload)
	}
	if st, err := p.Last(context.Background(), k); err != nil || len(st.Entries) != 1 {
		t.Fatalf("history %+v, %v", st, err)
	}
}
