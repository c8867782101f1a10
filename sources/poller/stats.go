package poller

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"edgepush/internal/metricset"
)

// The reasons the poller counts under, in edgepush_poller_total{event=...}.
const (
	reasonRequest       = "request"        // a request made
	reasonTimeout       = "timeout"        // it took longer than Timeout
	reasonStatus        = "status"         // the answer was not 200
	reasonBadJSON       = "bad_json"       // the answer was not the JSON asked for
	reasonTooLarge      = "too_large"      // the answer was over MaxBody
	reasonTransport     = "transport"      // connecting or reading failed
	reasonIndex         = "index"          // the subscriptions or the members could not be read
	reasonBadItem       = "bad_item"       // an item with an invalid id or value
	reasonNotAsked      = "not_asked"      // an item for an id not asked for
	reasonDuplicate     = "duplicate"      // a second item for one id
	reasonPublished     = "published"      // a value published
	reasonUnchanged     = "unchanged"      // a value not published: unchanged, or older than the last
	reasonPublishFailed = "publish_failed" // the pipeline refused or failed a value
	reasonStale         = "stale"          // a key went stale
	reasonFresh         = "fresh"          // a stale key got a value again
)

var reasons = []string{
	reasonRequest, reasonTimeout, reasonStatus, reasonBadJSON, reasonTooLarge, reasonTransport, reasonIndex,
	reasonBadItem, reasonNotAsked, reasonDuplicate, reasonPublished, reasonUnchanged, reasonPublishFailed,
	reasonStale, reasonFresh,
}

// stats counts by reason.
type stats struct {
	counts [16]atomic.Uint64 // by the index of the reason in reasons
}

func (s *stats) add(reason string, n uint64) {
	for i, r := range reasons {
		if r == reason {
			s.counts[i].Add(n)
			return
		}
	}
}

// Count returns how many times the poller counted reason (see the
// reason constants in stats.go: "published", "timeout", ...).
func (p *Poller) Count(reason string) uint64 {
	for i, r := range reasons {
		if r == reason {
			return p.stats.counts[i].Load()
		}
	}
	return 0
}

// Metrics returns the poller's series for a prometheus.Registry: events
// by kind, the keys it polls by app, and the keys stale now.
func (p *Poller) Metrics() prometheus.Collector {
	var set metricset.Set
	set.CounterBy("edgepush_poller_total", "Events of the data-center poller, by kind (requests, failures by reason, values published or unchanged, stale and fresh).",
		"event", reasons, func(i int) uint64 { return p.stats.counts[i].Load() })
	set.GaugeBy("edgepush_poller_keys", "Keys this node polls, by app.", "app", p.cfg.Apps, func(i int) float64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return float64(p.polled[p.cfg.Apps[i]])
	})
	set.Gauge("edgepush_poller_stale_keys", "Keys polled here without a value for longer than the staleness limit.",
		func() float64 { return float64(p.stale.count()) })
	return set
}
