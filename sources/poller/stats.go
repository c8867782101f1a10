package poller

import (
	"fmt"
	"io"
	"sync/atomic"
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

// WriteMetrics writes the poller's series in the Prometheus text format.
func (p *Poller) WriteMetrics(w io.Writer) {
	fmt.Fprintln(w, "# HELP edgepush_poller_total Events of the data-center poller, by kind.")
	fmt.Fprintln(w, "# TYPE edgepush_poller_total counter")
	for i, r := range reasons {
		fmt.Fprintf(w, "edgepush_poller_total{event=%q} %d\n", r, p.stats.counts[i].Load())
	}
	fmt.Fprintln(w, "# HELP edgepush_poller_keys Keys this node polls, by app.")
	fmt.Fprintln(w, "# TYPE edgepush_poller_keys gauge")
	p.mu.Lock()
	for _, app := range p.cfg.Apps {
		fmt.Fprintf(w, "edgepush_poller_keys{app=%q} %d\n", app, p.polled[app])
	}
	p.mu.Unlock()
	fmt.Fprintln(w, "# HELP edgepush_poller_stale_keys Keys polled here without a value for longer than the staleness limit.")
	fmt.Fprintln(w, "# TYPE edgepush_poller_stale_keys gauge")
	fmt.Fprintf(w, "edgepush_poller_stale_keys %d\n", p.stale.count())
}
