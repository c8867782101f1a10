package amqpsource

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"edgepush/hub/testsvc"
)

// broker is the rabbitmq-server TestMain started, or nil if there is none
// (then the tests that need it skip, except under CI, where they fail).
var broker *testsvc.RabbitMQ

func TestMain(m *testing.M) {
	q, err := testsvc.StartRabbitMQ()
	switch {
	case err == nil:
		broker = q
	case errors.Is(err, testsvc.ErrMissing) && os.Getenv("CI") == "":
		fmt.Fprintf(os.Stderr, "amqpsource tests skip: %v\n", err)
	default:
		fmt.Fprintf(os.Stderr, "amqpsource tests: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if broker != nil {
		broker.Stop()
	}
	os.Exit(code)
}

func needBroker(t *testing.T) *testsvc.RabbitMQ {
	t.Helper()
	if broker == nil {
		t.Skip("no rabbitmq-server")
	}
	return broker
}
