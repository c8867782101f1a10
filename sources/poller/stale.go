package poller

import (
	"sync"
	"time"

	"edgepush/hub"
)

// staleness follows, for each key this node polls, when its last value
// came: a key past StaleAfter without one is stale until its next value.
type staleness struct {
	mu    sync.Mutex // guards the following fields
	keys  map[hub.Key]*keyState
	stale int
}

// keyState is one key's.
type keyState struct {
	good   time.Time // the last value, or when polling it began
	since  time.Time // when it went stale; zero: it is not
	polled bool      // polled at the current interval
}

func (s *staleness) init() { s.keys = map[hub.Key]*keyState{} }

// keep starts following the ids of app polled now and forgets those no
// longer polled.
func (s *staleness) keep(app string, ids []string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.keys {
		if k.App == app {
			st.polled = false
		}
	}
	for _, id := range ids {
		k := hub.Key{App: app, ID: id}
		st := s.keys[k]
		if st == nil {
			st = &keyState{good: now}
			s.keys[k] = st
		}
		st.polled = true
	}
	for k, st := range s.keys {
		if k.App == app && !st.polled {
			if !st.since.IsZero() {
				s.stale--
			}
			delete(s.keys, k)
		}
	}
}

// fresh notes a value of k at now, and reports whether k was stale.
func (s *staleness) fresh(k hub.Key, now time.Time) bool {
	s.mu.Lock()
	st := s.keys[k]
	wasStale := st != nil && !st.since.IsZero()
	if st != nil {
		st.good, st.since = now, time.Time{}
	}
	if wasStale {
		s.stale--
	}
	s.mu.Unlock()
	return wasStale
}

// wentStale is a key that went stale, and since when.
type wentStale struct {
	key   hub.Key
	since time.Time
}

// check marks stale the keys of app without a value for longer than
// after, and returns them.
func (s *staleness) check(app string, now time.Time, after time.Duration) []wentStale {
	s.mu.Lock()
	defer s.mu.Unlock()
	var went []wentStale
	for k, st := range s.keys {
		if k.App == app && st.since.IsZero() && now.Sub(st.good) > after {
			st.since = st.good
			s.stale++
			went = append(went, wentStale{k, st.since})
		}
	}
	return went
}

func (s *staleness) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}
