// Package redisstore is a hub.Store in Redis: each key's seq, epoch, last
// value and bounded history live in Redis, so every node that uses the
// same Redis pushes the same seq for the same message, and a client that
// reconnects to another node recovers from the same history.
//
//	store, err := redisstore.New(redisstore.Config{URL: "redis://127.0.0.1:6379/0"})
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, bus, h)
//
// Each key's stream is two Redis keys sharing a hash tag, so that one
// script touches one Cluster slot: PREFIX{app\x00id}:m, a hash of seq and
// epoch, and PREFIX{app\x00id}:h, a list of entries "seq:ts:kind:data",
// oldest first. Append is one script: seq, history append, trim by count
// and by age (the last value stays), TTL; no other client interleaves. A
// key whose hash is gone (Redis restarted without persistence, flushed, or
// the key expired after KeyTTL) gets a new epoch at its next touch and its
// old history, if any is left, is dropped: clients holding seqs of the old
// epoch get a gap.
//
// The URL picks the client: redis:// or rediss:// for one server;
// ?master_name=NAME&addr=HOST:PORT... for Sentinel; ?addr=HOST:PORT... (no
// master_name) for Cluster, with the URL's host as the first address.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"edgepush/hub"
)

// ErrURL reports a Redis URL that does not parse.
var ErrURL = errors.New("redisstore: bad URL")

// ErrReply reports a reply of Redis the store cannot read.
var ErrReply = errors.New("redisstore: unexpected reply")

// Config tunes a Store. URL is required; each other zero field takes the
// default written beside it.
type Config struct {
	// URL is the Redis to use (see the package doc for the forms).
	URL string
	// Prefix starts every Redis key of the store. Default "edgepush:".
	Prefix string
	// HistorySize, HistoryTTL and KeyTTL are as in hub.MemoryStoreConfig:
	// 64, 2 minutes and 1 hour. A key expires KeyTTL after its last
	// publish or read.
	HistorySize int
	HistoryTTL  time.Duration
	KeyTTL      time.Duration
	// Now is the clock for entry ages. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "edgepush:"
	}
	if c.HistorySize <= 0 {
		c.HistorySize = hub.DefaultHistorySize
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = hub.DefaultHistoryTTL
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = hub.DefaultKeyTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is a hub.Store in Redis. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client redis.UniversalClient
	batch  *batcher
	id     string        // random, per instance: the start of the epochs it gives
	epochs atomic.Uint64 // epochs given, for the next candidate
	tokens atomic.Uint64 // appends made, each one's token (appendScript)
}

var (
	_ hub.Store            = (*Store)(nil)
	_ hub.ConditionalStore = (*Store)(nil)
	_ hub.Staler           = (*Store)(nil)
)

// New returns a store on the Redis at cfg.URL. It does not connect: a Redis
// that is down makes the calls fail until it is back (see Ping).
func New(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	client, err := newClient(cfg.URL)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, client: client, batch: newBatcher(client), id: newID()}, nil
}

// CheckURL reports whether raw is a URL New takes, without connecting.
func CheckURL(raw string) error {
	client, err := newClient(raw)
	if err != nil {
		return err
	}
	return client.Close()
}

// newClient returns the client the URL asks for.
func newClient(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: want redis://HOST:PORT or rediss://HOST:PORT", ErrURL, raw)
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		opts, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrURL, err)
		}
		return redis.NewFailoverClient(opts), nil
	case q.Has("addr"):
		opts, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrURL, err)
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	return redis.NewClient(opts), nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close implements hub.Store.
func (s *Store) Close() error {
	s.batch.close()
	return s.client.Close()
}

// keys returns the names of k's hash and history list.
func (s *Store) keys(k hub.Key) []string {
	tag := s.cfg.Prefix + "{" + k.App + "\x00" + k.ID + "}"
	return []string{tag + ":m", tag + ":h"}
}

// candidate returns the epoch a key gets if it has none.
func (s *Store) candidate() string {
	return s.id + "." + strconv.FormatUint(s.epochs.Add(1), 36)
}

// cutoff returns the ts (unix ms) before which entries are past HistoryTTL.
func (s *Store) cutoff() int64 {
	return s.cfg.Now().Add(-s.cfg.HistoryTTL).UnixMilli()
}

// Append implements hub.Store.
func (s *Store) Append(ctx context.Context, k hub.Key, kind hub.Kind, ts int64, data []byte) (hub.Position, error) {
	pos, _, err := s.AppendIf(ctx, k, 0, kind, ts, data)
	return pos, err
}

// AppendIf implements hub.ConditionalStore: the comparison with the last
// entry is part of the append script.
func (s *Store) AppendIf(ctx context.Context, k hub.Key, cond hub.Condition, kind hub.Kind, ts int64, data []byte) (hub.Position, bool, error) {
	reply, err := s.run(ctx, appendScript, s.keys(k),
		s.candidate(), ts, int(kind), data, s.cfg.HistorySize, s.cutoff(), s.cfg.KeyTTL.Milliseconds(),
		s.id, s.tokens.Add(1), int(cond))
	if err != nil {
		return hub.Position{}, false, fmt.Errorf("redisstore: append: %w", err)
	}
	if len(reply) != 3 {
		return hub.Position{}, false, fmt.Errorf("%w: append answered %v", ErrReply, reply)
	}
	seq, ok1 := reply[0].(int64)
	epoch, ok2 := reply[1].(string)
	appended, ok3 := reply[2].(int64)
	if !ok1 || !ok2 || !ok3 || (appended == 1 && seq <= 0) {
		return hub.Position{}, false, fmt.Errorf("%w: append answered %v", ErrReply, reply)
	}
	return hub.Position{Seq: uint64(seq), Epoch: epoch}, appended == 1, nil
}

// SetStale implements hub.Staler.
func (s *Store) SetStale(ctx context.Context, k hub.Key, since int64) error {
	if _, err := s.batch.run(ctx, staleScript, s.keys(k), s.candidate(), since, s.cfg.KeyTTL.Milliseconds()); err != nil {
		return fmt.Errorf("redisstore: mark stale: %w", err)
	}
	return nil
}

// Last implements hub.Store.
func (s *Store) Last(ctx context.Context, k hub.Key) (hub.Stream, error) {
	return s.read(ctx, k, "last", 0)
}

// Since implements hub.Store.
func (s *Store) Since(ctx context.Context, k hub.Key, seq uint64) (hub.Stream, error) {
	return s.read(ctx, k, "since", seq)
}

func (s *Store) read(ctx context.Context, k hub.Key, mode string, since uint64) (hub.Stream, error) {
	reply, err := s.run(ctx, readScript, s.keys(k),
		s.candidate(), mode, strconv.FormatUint(since, 10), s.cutoff(), s.cfg.KeyTTL.Milliseconds())
	if err != nil {
		return hub.Stream{}, fmt.Errorf("redisstore: read: %w", err)
	}
	return parseStream(reply)
}

// run runs script in the next batch (batch.go) and returns its reply, a
// Lua table.
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) ([]any, error) {
	reply, err := s.batch.run(ctx, script, keys, args...)
	if err != nil {
		return nil, err
	}
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %T, not a table", ErrReply, reply)
	}
	return list, nil
}
