package bench

import (
	"context"
	"fmt"
	"time"
)

// ChurnConfig describes connect-and-disconnect storms against one server.
type ChurnConfig struct {
	Target  string // WebSocket host:port
	API     string // the server's API host:port, for its /metrics
	Conns   int    // connections per round
	Rounds  int    // storms; default 5
	Sources []string
}

// ChurnResult says whether the server returned to its baseline.
type ChurnResult struct {
	Rounds              int               `json:"rounds"`
	Conns               int               `json:"conns"`
	Errors              map[string]uint64 `json:"errors"`
	ConnectionsBefore   float64           `json:"connections_before"`
	ConnectionsAfter    float64           `json:"connections_after"`
	SubscriptionsBefore float64           `json:"subscriptions_before"`
	SubscriptionsAfter  float64           `json:"subscriptions_after"`
	RSSBeforeMiB        float64           `json:"rss_before_mib"`
	RSSPeakMiB          float64           `json:"rss_peak_mib"` // with a round's connections open
	RSSAfterMiB         float64           `json:"rss_after_mib"`
	Leaked              bool              `json:"leaked"` // connections or subscriptions above the baseline at the end
}

// Churn opens Conns subscribed connections and closes them, Rounds times,
// then waits (up to 30 s) for the server's connection and subscription
// gauges to come back to where they started.
func Churn(ctx context.Context, cfg ChurnConfig) (ChurnResult, error) {
	cfg.Rounds = max(cfg.Rounds, 1)
	r := ChurnResult{Rounds: cfg.Rounds, Conns: cfg.Conns, Errors: map[string]uint64{}}
	var err error
	if r.ConnectionsBefore, r.SubscriptionsBefore, r.RSSBeforeMiB, err = gauges(ctx, cfg.API); err != nil {
		return r, err
	}
	for round := 0; round < cfg.Rounds; round++ {
		c, err := Open(ctx, ClientConfig{Target: cfg.Target, Conns: cfg.Conns, Sources: cfg.Sources})
		if c == nil {
			return r, err
		}
		s := c.Snapshot()
		for k, v := range s.Errors {
			r.Errors[k] += v
		}
		if _, _, rss, err := gauges(ctx, cfg.API); err == nil {
			r.RSSPeakMiB = max(r.RSSPeakMiB, rss)
		}
		c.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r.ConnectionsAfter, r.SubscriptionsAfter, r.RSSAfterMiB, err = gauges(ctx, cfg.API); err != nil {
			return r, err
		}
		settled := r.ConnectionsAfter <= r.ConnectionsBefore && r.SubscriptionsAfter <= r.SubscriptionsBefore
		if settled || time.Now().After(deadline) {
			r.Leaked = !settled
			return r, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gauges reads a server's connections, subscriptions and RSS (MiB).
func gauges(ctx context.Context, api string) (conns, subs, rssMiB float64, err error) {
	if conns, err = ServerMetric(ctx, api, "edgepush_connections"); err != nil {
		return
	}
	if subs, err = ServerMetric(ctx, api, "edgepush_subscriptions"); err != nil {
		return
	}
	var rss float64
	if rss, err = ServerMetric(ctx, api, "edgepush_process_resident_bytes"); err != nil {
		return
	}
	return conns, subs, rss / (1 << 20), nil
}

// String is a one-line summary.
func (r ChurnResult) String() string {
	return fmt.Sprintf("%d rounds of %d: connections %v -> %v, subscriptions %v -> %v, RSS %.1f -> %.1f (peak %.1f) MiB, leaked %v, errors %v",
		r.Rounds, r.Conns, r.ConnectionsBefore, r.ConnectionsAfter, r.SubscriptionsBefore, r.SubscriptionsAfter,
		r.RSSBeforeMiB, r.RSSAfterMiB, r.RSSPeakMiB, r.Leaked, r.Errors)
}
