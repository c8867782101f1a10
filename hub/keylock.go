package hub

import "sync"

const keyLockShards = 64

// keyLocks hands out one mutex per key, held by whoever publishes to the
// key, so that publishes to one key are sequenced and delivered in order
// while publishes to other keys go on. A key's mutex exists only while
// someone holds or waits for it; the mutexes are pooled.
type keyLocks struct {
	shards [keyLockShards]keyLockShard
	pool   sync.Pool
}

type keyLockShard struct {
	mu    sync.Mutex // guards locks and the refs of its entries
	locks map[Key]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by the shard's mu
}

func (l *keyLocks) init() {
	for i := range l.shards {
		l.shards[i].locks = make(map[Key]*keyLock)
	}
	l.pool.New = func() any { return new(keyLock) }
}

// lock locks k's mutex and returns it for unlock.
func (l *keyLocks) lock(k Key) *keyLock {
	sh := &l.shards[k.hash()%keyLockShards]
	sh.mu.Lock()
	kl := sh.locks[k]
	if kl == nil {
		kl = l.pool.Get().(*keyLock)
		sh.locks[k] = kl
	}
	kl.refs++
	sh.mu.Unlock()
	kl.mu.Lock()
	return kl
}

// unlock unlocks k's mutex kl, from lock.
func (l *keyLocks) unlock(k Key, kl *keyLock) {
	kl.mu.Unlock()
	sh := &l.shards[k.hash()%keyLockShards]
	sh.mu.Lock()
	kl.refs--
	if kl.refs == 0 {
		delete(sh.locks, k)
		l.pool.Put(kl)
	}
	sh.mu.Unlock()
}
