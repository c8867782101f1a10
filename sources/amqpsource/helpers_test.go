package amqpsource

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"edgepush/hub"
)

// record is one push a fakePublisher took.
type record struct {
	key  hub.Key
	kind hub.Kind
	data string
}

// Modes of a fakePublisher.
const (
	publishOK     = iota
	publishDown   // fail as a store that is down
	publishHang   // block until the context is done
	publishRefuse // refuse the push as invalid JSON
)

// fakePublisher records the pushes it took and can be told to fail.
type fakePublisher struct {
	mu       sync.Mutex // guards the following fields
	mode     int
	attempts int
	pushes   []record
}

func (f *fakePublisher) Publish(ctx context.Context, k hub.Key, kind hub.Kind, data []byte) (hub.Result, error) {
	f.mu.Lock()
	f.attempts++
	mode := f.mode
	f.mu.Unlock()
	switch mode {
	case publishDown:
		return hub.Result{}, fmt.Errorf("%w: append to %s/%s: connection refused", hub.ErrStore, k.App, k.ID)
	case publishHang:
		<-ctx.Done()
		return hub.Result{}, fmt.Errorf("%w: append to %s/%s: %w", hub.ErrStore, k.App, k.ID, ctx.Err())
	case publishRefuse:
		return hub.Result{}, hub.ErrInvalidJSON
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, record{key: k, kind: kind, data: string(data)})
	return hub.Result{Seq: uint64(len(f.pushes)), Epoch: "e"}, nil
}

func (f *fakePublisher) setMode(m int) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *fakePublisher) taken() []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]record(nil), f.pushes...)
}

func (f *fakePublisher) tries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// waitUntil polls cond until it holds; a bound against hangs, not a
// speed check.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// queueName is a name of the test's own, with dots, as real queue names
// have (and as a routing key the source must not take for APP.ID).
func queueName(t *testing.T, suffix string) string {
	return "amqpsource." + strings.ReplaceAll(t.Name(), "/", ".") + suffix
}

// dial opens a channel of the test's own on the broker.
func dial(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(needBroker(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// declare declares queue with args and, unless exchange is "", a topic
// exchange bound to it with "#"; cleanup deletes both.
func declare(t *testing.T, ch *amqp.Channel, queue, exchange string, args amqp.Table) {
	t.Helper()
	if _, err := ch.QueueDeclare(queue, false, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQueue(queue) })
	if exchange == "" {
		return
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
}

// deleteQueue deletes queue on a connection of its own (the test's may be
// gone after a broker restart).
func deleteQueue(queue string) {
	if broker == nil {
		return
	}
	conn, err := amqp.Dial(broker.URL())
	if err != nil {
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		ch.QueueDelete(queue, false, false, false)
	}
}

// send publishes one message.
func send(t *testing.T, ch *amqp.Channel, exchange, routingKey string, p amqp.Publishing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, exchange, routingKey, false, false, p); err != nil {
		t.Fatal(err)
	}
}

// ready is the number of messages ready in queue (not counting those
// delivered and unacked).
func ready(t *testing.T, queue string) int {
	t.Helper()
	q, err := dial(t).QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

// running is a source running in the background.
type running struct {
	*Source
	pub  *fakePublisher
	stop func() // cancels Run and waits until it returned
}

// start runs a source with cfg (URLs filled in) and waits until it
// consumes, unless cfg.Queue is missing on purpose (wait false).
func start(t *testing.T, cfg Config, pub *fakePublisher, wait bool) *running {
	t.Helper()
	if pub == nil {
		pub = &fakePublisher{}
	}
	return startWith(t, cfg, pub, pub, wait)
}

func startWith(t *testing.T, cfg Config, p interface {
	Publish(context.Context, hub.Key, hub.Kind, []byte) (hub.Result, error)
}, fake *fakePublisher, wait bool) *running {
	t.Helper()
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{needBroker(t).URL()}
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	}
	src, err := New(cfg, p, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	if wait {
		waitUntil(t, "the source to consume "+cfg.Queue, src.Connected)
	}
	return &running{Source: src, pub: fake, stop: stop}
}

// handled is how many deliveries the source has settled: published or
// rejected.
func (r *running) handled() uint64 {
	st := r.Stats()
	return st.Published + st.Rejected.Total()
}
