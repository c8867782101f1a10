package redisstore

import (
	"os"
	"testing"

	"edgepush/hub/testsvc"
)

// redisServer is the redis-server TestMain started, or nil if there is
// none (then the tests skip, except under CI, where they fail).
var redisServer *testsvc.Redis

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m, "redisstore", testsvc.StartRedis, &redisServer)) }

// newStore returns a store on the test Redis under a prefix of the test's
// own, so that tests do not see each other's keys.
func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if redisServer == nil {
		t.Skip("no redis-server")
	}
	cfg.URL = redisServer.URL()
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
