package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPSourceReachesSubscribers: readings another system puts on a
// RabbitMQ queue reach a WebSocket subscriber through -amqp-source; a
// malformed one is rejected and the one behind it still arrives.
func TestAMQPSourceReachesSubscribers(t *testing.T) {
	redisURL, amqpURL := sharedRedis(t), sharedRabbitMQ(t)
	queue := fmt.Sprintf("readings-%d", time.Now().UnixNano())
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)
	s := StartServer(t, "-redis", redisURL, "-amqp", amqpURL, "-amqp-source", queue)
	waitReady(t, s)
	ws := subscribeOn(t, s, "plant", "line.3/temp")
	publish := func(headers amqp.Table, contentType, body string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{Headers: headers, ContentType: contentType, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	key := amqp.Table{"app": "plant", "id": "line.3/temp"}
	publish(key, "application/json", `{"value":21.5}`)
	readPush(t, ws, "line.3/temp", 1)
	publish(key, "application/json", `{"value":`) // not JSON: rejected
	publish(amqp.Table{"app": "plant"}, "application/json", `1`)
	publish(key, "text/plain", "ok")
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"seq":2,`) || !strings.Contains(string(msg), `"data":"ok"`) {
		t.Fatalf("after two malformed messages: %s, %v; want seq 2 with data \"ok\"", msg, err)
	}
	// The counters move once each message is acked, which may be just
	// after its push reached the client: read them until they are there.
	wants := []string{`edgepush_amqp_source_total{outcome="published"} 2`, `edgepush_amqp_source_total{outcome="rejected_json"} 1`, `edgepush_amqp_source_total{outcome="rejected_bad_key"} 1`}
	var body string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if body = metricsOf(t, s); containsAll(body, wants) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
