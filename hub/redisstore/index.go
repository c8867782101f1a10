package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"edgepush/hub"
)

// The write-through subscription index, in the same Redis as the store:
//
//	PREFIX{APP}:subs       hash  "ID\x00NODE" -> that node's local subscribers of APP/ID
//	PREFIX{NODE}:alive     string, with a TTL: the node's heartbeat
//	PREFIX{NODE}:keys      set   "APP\x00ID" the node has counted, for its clean-up
//	PREFIX nodes           zset  NODE -> unix ms of its last heartbeat
//
// The hub marks a key dirty on every change (hub.Config.Changed); a flusher
// writes the dirty keys' current local counts in one pipelined round trip
// every FlushEvery or MaxBatch keys, so a burst of subscribes costs a few
// round trips, not one each, and pushes never touch Redis. A node whose
// heartbeat has expired is cleaned up by any live node (one at a time,
// under a lock key), and by itself when it starts again with the same id.

// IndexConfig tunes an Index. Node is required; each other zero field
// takes the default written beside it.
type IndexConfig struct {
	Node       string        // this node's id, unique in the cluster
	Heartbeat  time.Duration // how often the node says it is alive; default 2 s
	TTL        time.Duration // a node silent this long is dead; default 10 s
	FlushEvery time.Duration // the longest a change waits; default 20 ms
	MaxBatch   int           // keys written per round trip at most; default 1024
	Logger     *slog.Logger  // errors, at most one line per flush; default slog.Default()
}

func (c IndexConfig) withDefaults() IndexConfig {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.TTL <= 0 {
		c.TTL = 10 * time.Second
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = 20 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrNode reports an index configured without a node id, or one with a
// character the key schema reserves.
var ErrNode = errors.New("redisstore: node id must be 1 to 64 bytes without NUL, '{' or '}'")

// Index writes this node's local subscriber counts through to Redis and
// reads everyone's. It is safe for concurrent use.
type Index struct {
	cfg    IndexConfig
	client redis.UniversalClient
	prefix string
	count  func(hub.Key) int // this node's local subscribers of a key: Hub.Subscribers
	store  *Store            // whose streams of watched keys the index keeps alive
	wake   chan struct{}

	mu      sync.Mutex // guards the following fields
	dirty   map[hub.Key]struct{}
	written map[hub.Key]struct{} // keys with a count in Redis, to write again if Redis loses them
	beaten  bool                 // a heartbeat was written once
}

// NewIndex returns the index of node cfg.Node on s's Redis; count gives the
// node's local subscribers of a key (Hub.Subscribers). Call Run.
func (s *Store) NewIndex(cfg IndexConfig, count func(hub.Key) int) (*Index, error) {
	cfg = cfg.withDefaults()
	if cfg.Node == "" || len(cfg.Node) > 64 || strings.ContainsAny(cfg.Node, "\x00{}") {
		return nil, ErrNode
	}
	return &Index{cfg: cfg, client: s.client, prefix: s.cfg.Prefix, count: count, store: s,
		wake: make(chan struct{}, 1), dirty: make(map[hub.Key]struct{}), written: make(map[hub.Key]struct{})}, nil
}

// Changed marks k dirty: the hub's Changed observer.
func (ix *Index) Changed(k hub.Key) {
	ix.mu.Lock()
	ix.dirty[k] = struct{}{}
	n := len(ix.dirty)
	ix.mu.Unlock()
	if n >= ix.cfg.MaxBatch {
		select {
		case ix.wake <- struct{}{}:
		default:
		}
	}
}

func (ix *Index) appKey(app string) string    { return ix.prefix + "{" + app + "}:subs" }
func (ix *Index) aliveKey(node string) string { return ix.prefix + "{" + node + "}:alive" }
func (ix *Index) keysKey(node string) string  { return ix.prefix + "{" + node + "}:keys" }
func (ix *Index) nodesKey() string            { return ix.prefix + "nodes" }

// Run flushes, beats and reaps until ctx is done, then removes this node's
// entries (a clean shutdown) within a few seconds.
func (ix *Index) Run(ctx context.Context) {
	ix.reap(ctx, ix.cfg.Node) // what a previous run of this node left
	ix.beat(ctx)
	flush := time.NewTicker(ix.cfg.FlushEvery)
	defer flush.Stop()
	beat := time.NewTicker(ix.cfg.Heartbeat)
	defer beat.Stop()
	keep := time.NewTicker(max(ix.store.cfg.KeyTTL/4, time.Millisecond))
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			ix.leave()
			return
		case <-flush.C:
			ix.flush(ctx)
		case <-ix.wake:
			ix.flush(ctx)
		case <-beat.C:
			ix.beat(ctx)
			ix.reapDead(ctx)
		case <-keep.C:
			ix.keepStreams(ctx)
		}
	}
}

// keepStreams pushes back the expiry of the streams (seq, epoch, history)
// of every key watched here, so that a key clients watch keeps its epoch
// however long it goes without a publish: a stream expires KeyTTL after
// the last publish, read or keep-alive, so only unwatched keys expire.
// A stream Redis no longer has is not made again (PEXPIRE of a missing
// key does nothing).
func (ix *Index) keepStreams(ctx context.Context) {
	ix.mu.Lock()
	keys := make([]hub.Key, 0, len(ix.written))
	for k := range ix.written {
		keys = append(keys, k)
	}
	ix.mu.Unlock()
	ttl := ix.store.cfg.KeyTTL
	for batch := range slices.Chunk(keys, ix.cfg.MaxBatch) {
		_, err := ix.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				for _, name := range ix.store.keys(k) {
					p.PExpire(ctx, name, ttl)
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				ix.cfg.Logger.Warn("subscription index: keeping watched streams alive failed", "keys", len(keys), "err", err)
			}
			return
		}
	}
}

// take returns up to MaxBatch dirty keys and forgets them.
func (ix *Index) take() []hub.Key {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keys := make([]hub.Key, 0, min(len(ix.dirty), ix.cfg.MaxBatch))
	for k := range ix.dirty {
		if len(keys) == ix.cfg.MaxBatch {
			break
		}
		keys = append(keys, k)
		delete(ix.dirty, k)
	}
	return keys
}

// flush writes the current counts of the dirty keys, a batch per round
// trip. Keys of a failed batch are marked dirty again.
func (ix *Index) flush(ctx context.Context) {
	for {
		keys := ix.take()
		if len(keys) == 0 {
			return
		}
		if err := ix.write(ctx, keys); err != nil {
			for _, k := range keys {
				ix.Changed(k)
			}
			if ctx.Err() == nil { // not the node's own stop, which leave() finishes
				ix.cfg.Logger.Warn("subscription index: write to redis failed", "keys", len(keys), "err", err)
			}
			return
		}
	}
}

func (ix *Index) write(ctx context.Context, keys []hub.Key) error {
	node := ix.cfg.Node
	counts := make([]int, len(keys))
	for i, k := range keys {
		counts[i] = ix.count(k)
	}
	_, err := ix.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			field := k.ID + "\x00" + node
			member := k.App + "\x00" + k.ID
			if counts[i] > 0 {
				p.HSet(ctx, ix.appKey(k.App), field, counts[i])
				p.SAdd(ctx, ix.keysKey(node), member)
			} else {
				p.HDel(ctx, ix.appKey(k.App), field)
				p.SRem(ctx, ix.keysKey(node), member)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ix.mu.Lock()
	for i, k := range keys {
		if counts[i] > 0 {
			ix.written[k] = struct{}{}
		} else {
			delete(ix.written, k)
		}
	}
	ix.mu.Unlock()
	return nil
}

// beat says this node is alive. A heartbeat found missing after the first
// means Redis lost the index (a restart without persistence, a flush, or
// an outage longer than the TTL, after which a survivor reaped this node):
// every local count is written again.
func (ix *Index) beat(ctx context.Context) {
	now := time.Now().UnixMilli()
	var prev *redis.StatusCmd
	_, err := ix.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		prev = p.SetArgs(ctx, ix.aliveKey(ix.cfg.Node), now, redis.SetArgs{TTL: ix.cfg.TTL, Get: true})
		p.ZAdd(ctx, ix.nodesKey(), redis.Z{Score: float64(now), Member: ix.cfg.Node})
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		ix.cfg.Logger.Warn("subscription index: heartbeat failed", "err", err)
		return
	}
	lost := errors.Is(prev.Err(), redis.Nil)
	ix.mu.Lock()
	resync := lost && ix.beaten
	ix.beaten = true
	var again []hub.Key
	if resync {
		for k := range ix.written {
			again = append(again, k)
		}
	}
	ix.mu.Unlock()
	if resync {
		ix.cfg.Logger.Warn("subscription index: redis lost this node's entries; writing them again", "keys", len(again))
		for _, k := range again {
			ix.Changed(k)
		}
	}
}

// reapDead removes the entries of every node whose heartbeat expired.
func (ix *Index) reapDead(ctx context.Context) {
	cutoff := time.Now().Add(-ix.cfg.TTL).UnixMilli()
	dead, err := ix.client.ZRangeByScore(ctx, ix.nodesKey(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(cutoff, 10)}).Result()
	if err != nil {
		return
	}
	for _, node := range dead {
		if node == ix.cfg.Node || ix.client.Exists(ctx, ix.aliveKey(node)).Val() > 0 {
			continue
		}
		// One reaper at a time per dead node.
		if ok, err := ix.client.SetNX(ctx, ix.prefix+"{"+node+"}:reaping", ix.cfg.Node, ix.cfg.TTL).Result(); err != nil || !ok {
			continue
		}
		ix.reap(ctx, node)
	}
}

// reap removes every entry of node.
func (ix *Index) reap(ctx context.Context, node string) {
	members, err := ix.client.SMembers(ctx, ix.keysKey(node)).Result()
	if err != nil {
		return
	}
	_, err = ix.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range members {
			app, id, ok := strings.Cut(m, "\x00")
			if ok {
				p.HDel(ctx, ix.appKey(app), id+"\x00"+node)
			}
		}
		p.Del(ctx, ix.keysKey(node))
		p.ZRem(ctx, ix.nodesKey(), node)
		return nil
	})
	if err != nil {
		ix.cfg.Logger.Warn("subscription index: clean-up failed", "node", node, "err", err)
	}
}

// leave removes this node's entries and heartbeat: a clean shutdown.
func (ix *Index) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ix.reap(ctx, ix.cfg.Node)
	ix.client.Del(ctx, ix.aliveKey(ix.cfg.Node))
}

// App returns the ids of app that have subscribers anywhere, with their
// counts per node, sorted by id.
func (ix *Index) App(ctx context.Context, app string) ([]hub.KeyCount, error) {
	fields, err := ix.client.HGetAll(ctx, ix.appKey(app)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: index of %s: %w", app, err)
	}
	byID := map[string]*hub.KeyCount{}
	for field, value := range fields {
		id, node, ok := strings.Cut(field, "\x00")
		n, err := strconv.Atoi(value)
		if !ok || err != nil {
			continue
		}
		kc := byID[id]
		if kc == nil {
			kc = &hub.KeyCount{ID: id, Nodes: map[string]int{}}
			byID[id] = kc
		}
		kc.Subscribers += n
		kc.Nodes[node] = n
	}
	out := make([]hub.KeyCount, 0, len(byID))
	for _, kc := range byID {
		out = append(out, *kc)
	}
	hub.SortKeyCounts(out)
	return out, nil
}

// Live returns the nodes whose last heartbeat is at most within old, this
// one always among them: the members that share work such as polling.
func (ix *Index) Live(ctx context.Context, within time.Duration) ([]string, error) {
	min := strconv.FormatInt(time.Now().Add(-within).UnixMilli(), 10)
	nodes, err := ix.client.ZRangeByScore(ctx, ix.nodesKey(), &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: live nodes: %w", err)
	}
	if !slices.Contains(nodes, ix.cfg.Node) {
		nodes = append(nodes, ix.cfg.Node)
	}
	slices.Sort(nodes)
	return nodes, nil
}

// Node returns this node's id.
func (ix *Index) Node() string { return ix.cfg.Node }
