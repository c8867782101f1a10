package hub

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Source is the pipeline as one source of publishes uses it: the same
// Publish, PublishIf and Notify, with its publishes counted under its name
// in the pipeline's metrics (edgepush_publishes_total{source=...}). It is
// safe for concurrent use.
//
//	api := sources.NewAPI(cfg, sources.Deps{Publisher: pipeline.Source("api")})
type Source struct {
	name string
	p    *Pipeline

	published atomic.Uint64               // publishes appended and sent
	unchanged atomic.Uint64               // conditional publishes the store did not make
	failed    [failureCount]atomic.Uint64 // by failure
}

// failure is why a publish failed, for the metrics.
type failure int

const (
	failureInvalid failure = iota // the key, the kind or the data (Validate), or ErrNotConditional
	failureStore                  // ErrStore
	failureBus                    // ErrBus
	failureCount
)

var failureNames = [failureCount]string{failureInvalid: "invalid", failureStore: "store", failureBus: "bus"}

// Source returns the publisher of the source called name; the same one
// for the same name.
func (p *Pipeline) Source(name string) *Source {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sources {
		if s.name == name {
			return s
		}
	}
	s := &Source{name: name, p: p}
	p.sources = append(p.sources, s)
	return s
}

// Publish is Pipeline.Publish, counted as this source's.
func (s *Source) Publish(ctx context.Context, k Key, kind Kind, data []byte) (Result, error) {
	pub := publication{key: k, kind: kind, ts: s.p.now().UnixMilli(), data: data, published: time.Now().UnixNano()}
	r, _, err := s.publish(ctx, pub)
	return r, err
}

// PublishIf is Pipeline.PublishIf, counted as this source's.
func (s *Source) PublishIf(ctx context.Context, k Key, cond Condition, kind Kind, ts int64, data []byte) (Result, bool, error) {
	if _, ok := s.p.store.(ConditionalStore); !ok {
		s.failed[failureInvalid].Add(1)
		return Result{}, false, ErrNotConditional
	}
	pub := publication{key: k, cond: cond, kind: kind, ts: ts, data: data, published: time.Now().UnixNano()}
	return s.publish(ctx, pub)
}

// Notify is Pipeline.Notify: a source that notices staleness tells
// through its Source what it publishes through.
func (s *Source) Notify(ctx context.Context, k Key, kind Kind, since int64) error {
	return s.p.Notify(ctx, k, kind, since)
}

func (s *Source) publish(ctx context.Context, pub publication) (Result, bool, error) {
	r, appended, err := s.p.publish(ctx, pub)
	switch {
	case errors.Is(err, ErrBus):
		s.p.counts.busErrors[busPublish].Add(1)
		s.failed[failureBus].Add(1)
	case errors.Is(err, ErrStore):
		s.failed[failureStore].Add(1)
	case err != nil:
		s.failed[failureInvalid].Add(1)
	case appended:
		s.published.Add(1)
	default:
		s.unchanged.Add(1)
	}
	return r, appended, err
}
