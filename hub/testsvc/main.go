package testsvc

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// Server is what the Start functions return.
type Server interface{ Stop() }

// Main is a test package's TestMain with one server of start's for all its
// tests: it starts it and sets *server, runs the tests, stops it and
// returns the exit code. A server that is not installed leaves *server nil
// (the tests that need it skip), except under CI, where it is a failure.
//
//	var broker *testsvc.RabbitMQ
//	func TestMain(m *testing.M) { os.Exit(testsvc.Main(m, "amqpbus", testsvc.StartRabbitMQ, &broker)) }
func Main[S Server](m *testing.M, pkg string, start func() (S, error), server *S) int {
	s, err := start()
	switch {
	case err == nil:
		*server = s
		defer s.Stop()
	case errors.Is(err, ErrMissing) && os.Getenv("CI") == "":
		fmt.Fprintf(os.Stderr, "%s tests skip: %v\n", pkg, err)
	default:
		fmt.Fprintf(os.Stderr, "%s tests: %v\n", pkg, err)
		return 1 // CI installs it (scripts/deps.sh): a missing one is a failure
	}
	return m.Run()
}
