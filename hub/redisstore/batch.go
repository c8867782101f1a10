package redisstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// ErrClosed reports a call made after Close.
var ErrClosed = errors.New("redisstore: closed")

// Batching: the scripts of concurrent calls (publishes, subscribes) go to
// Redis together, one pipeline a batch, so that a burst of 50,000
// publishes costs a few hundred round trips, not 50,000. A lone call goes
// at once, as a batch of one; calls queue only while every sender has a
// batch in flight. Order within a batch is the callers' order of arrival;
// callers that need an order between two calls (the pipeline's per-key
// lock) make the second only after the first returned.
const (
	batchSenders = 4   // batches in flight at once
	batchMax     = 256 // calls in one batch at most
)

// call is one script waiting for its batch.
type call struct {
	script *redis.Script
	keys   []string
	args   []any
	reply  any
	err    error
	done   chan struct{}
}

// batcher runs batchSenders senders, each taking what has queued.
type batcher struct {
	client   redis.UniversalClient
	calls    chan *call
	stop     chan struct{}
	stopOnce sync.Once
	sent     atomic.Uint64 // pipelines sent
	scripts  atomic.Uint64 // scripts in them
}

func newBatcher(client redis.UniversalClient) *batcher {
	b := &batcher{client: client, calls: make(chan *call, batchMax), stop: make(chan struct{})}
	for range batchSenders {
		go b.send()
	}
	return b
}

// close stops the senders; calls made after it fail with ErrClosed.
func (b *batcher) close() { b.stopOnce.Do(func() { close(b.stop) }) }

// run runs script in the next batch and returns its reply.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) (any, error) {
	select {
	case <-b.stop:
		return nil, ErrClosed
	default:
	}
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-b.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-c.done:
		return c.reply, c.err
	case <-b.stop:
		return nil, ErrClosed // queued behind the close, or in a batch cut short by it
	case <-ctx.Done():
		return nil, ctx.Err() // the script may still run; its reply is dropped
	}
}

// send takes a call, then every call queued behind it up to batchMax,
// and sends them as one pipeline, until close.
func (b *batcher) send() {
	batch := make([]*call, 0, batchMax)
	for {
		select {
		case c := <-b.calls:
			batch = append(batch[:0], c)
		case <-b.stop:
			return
		}
	gather:
		for len(batch) < batchMax {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		b.exec(batch)
		clear(batch)
	}
}

// exec sends batch as one pipeline of EVALSHA; a script Redis does not
// know yet (first use, or Redis restarted) is sent again on its own with
// Run, which loads it.
func (b *batcher) exec(batch []*call) {
	ctx := context.Background() // bounded by the client's read and write timeouts
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	pipe.Exec(ctx) // each command carries its own error
	b.sent.Add(1)
	b.scripts.Add(uint64(len(batch)))
	for i, c := range batch {
		cmd := cmds[i]
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmd = c.script.Run(ctx, b.client, c.keys, c.args...)
		}
		c.reply, c.err = cmd.Result()
		close(c.done)
	}
}
