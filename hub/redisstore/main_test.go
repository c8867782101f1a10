package redisstore

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"edgepush/hub/testsvc"
)

// redisURL is the URL of the redis-server TestMain started, or "" if there
// is none (then the tests skip, except under CI, where they fail).
var redisURL string

// TestMain starts one real redis-server for the package and stops it after
// the tests.
func TestMain(m *testing.M) {
	r, err := testsvc.StartRedis()
	switch {
	case err == nil:
		redisURL = r.URL()
	case errors.Is(err, testsvc.ErrMissing) && os.Getenv("CI") == "":
		fmt.Fprintf(os.Stderr, "redisstore tests skip: %v\n", err)
	default:
		fmt.Fprintf(os.Stderr, "redisstore tests: %v\n", err)
		os.Exit(1) // CI installs it (scripts/deps.sh): a missing one is a failure
	}
	code := m.Run()
	if r != nil {
		r.Stop()
	}
	os.Exit(code)
}

// newStore returns a store on the test Redis under a prefix of the test's
// own, so that tests do not see each other's keys.
func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if redisURL == "" {
		t.Skip("no redis-server")
	}
	cfg.URL = redisURL
	if cfg.Prefix == "" {
		cfg.Prefix = "test:" + t.Name() + ":"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
