package testsvc

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// need skips the test when a server is not installed, except under CI.
func need(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrMissing) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestRedis(t *testing.T) {
	r, err := StartRedis()
	need(t, err)
	defer r.Stop()
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k = %q, %v", v, err)
	}
	r.Stop()
	if err := client.Ping(ctx).Err(); err == nil {
		t.Fatal("the server still answers after Stop")
	}
}

// TestRabbitMQ starts a node, moves one message through a queue with
// amqp091-go, and reads the queue back with rabbitmqctl.
func TestRabbitMQ(t *testing.T) {
	q, err := StartRabbitMQ()
	need(t, err)
	defer q.Stop()
	conn, err := amqp.Dial(q.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("testsvc-q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("testsvc-q", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, "", "testsvc-q", false, false, amqp.Publishing{Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-deliveries:
		if string(d.Body) != "hello" {
			t.Fatalf("got %q", d.Body)
		}
	case <-ctx.Done():
		t.Fatal("the message did not come back")
	}
	out, err := q.Ctl("list_queues", "name", "consumers")
	if err != nil || !strings.Contains(out, "testsvc-q") {
		t.Fatalf("list_queues: %q, %v", out, err)
	}
}
