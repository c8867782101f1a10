package amqpbus

import (
	"os"
	"testing"

	"edgepush/hub/testsvc"
)

// broker is the rabbitmq-server TestMain started, or nil if there is none
// (then the tests that need it skip, except under CI, where they fail).
var broker *testsvc.RabbitMQ

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m, "amqpbus", testsvc.StartRabbitMQ, &broker)) }

func needBroker(t *testing.T) *testsvc.RabbitMQ {
	t.Helper()
	if broker == nil {
		t.Skip("no rabbitmq-server")
	}
	return broker
}
