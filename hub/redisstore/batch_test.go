package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"edgepush/hub"
)

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct {
	mu        sync.Mutex
	pipelines int
	commands  int
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.mu.Lock()
		r.commands++
		r.pipelines++
		r.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.mu.Lock()
		r.pipelines++
		r.commands += len(cmds)
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestConcurrentAppendsAreBatched: 2,000 appends made at once, to 200 keys,
// reach Redis in far fewer round trips than appends, and each key's seqs
// are still 1..n exactly once.
func TestConcurrentAppendsAreBatched(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{HistorySize: 100})
	var rt roundTrips
	s.client.AddHook(&rt)
	const keys, perKey = 200, 10
	app := "a" + strconv.FormatInt(time.Now().UnixNano(), 36) // new keys on every run
	var wg sync.WaitGroup
	got := make([][]uint64, keys)
	for k := range keys {
		wg.Go(func() {
			key := hub.Key{App: app, ID: strconv.Itoa(k)}
			for range perKey { // one key's appends in order, as the pipeline's key lock makes them
				pos, err := s.Append(ctx, key, hub.Text, time.Now().UnixMilli(), []byte(`1`))
				if err != nil {
					t.Error(err)
					return
				}
				got[k] = append(got[k], pos.Seq)
			}
		})
	}
	wg.Wait()
	for k, seqs := range got {
		for i, seq := range seqs {
			if seq != uint64(i+1) {
				t.Fatalf("key %d: seqs %v, want 1..%d", k, seqs, perKey)
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.commands < keys*perKey {
		t.Fatalf("%d commands for %d appends: the hook misses some", rt.commands, keys*perKey)
	}
	if rt.pipelines >= keys*perKey/2 {
		t.Errorf("%d round trips for %d appends made at once: not batched", rt.pipelines, keys*perKey)
	}
	t.Logf("%d appends in %d round trips", keys*perKey, rt.pipelines)
}

// TestBatchSurvivesAScriptFlush: after SCRIPT FLUSH (or a Redis restart)
// the batched EVALSHA fails with NOSCRIPT; the call loads the script again
// and succeeds.
func TestBatchSurvivesAScriptFlush(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	k := hub.Key{App: "a", ID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	if _, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if err := s.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	pos, err := s.Append(ctx, k, hub.Text, time.Now().UnixMilli(), []byte(`2`))
	if err != nil || pos.Seq != 2 {
		t.Fatalf("append after SCRIPT FLUSH = %+v, %v; want seq 2", pos, err)
	}
	if _, err := s.Last(ctx, k); err != nil {
		t.Fatalf("read after SCRIPT FLUSH: %v", err)
	}
}

// TestCallsAfterCloseFail: a closed store answers ErrClosed at once.
func TestCallsAfterCloseFail(t *testing.T) {
	s := newStore(t, Config{})
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Append(ctx, hub.Key{App: "a", ID: "1"}, hub.Text, 1, []byte(`1`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
}
