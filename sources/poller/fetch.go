package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"edgepush/hub"
	"edgepush/sources/datacenter"
	"edgepush/sources/value"
)

// realtimeURL returns the data center's realtime endpoint for base.
func realtimeURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("%w: data center URL %q: want http://HOST[:PORT][/PATH]", ErrConfig, base)
	}
	return strings.TrimSuffix(base, "/") + "/realtime", nil
}

// batches splits ids into the ids lists of requests of at most maxIDs ids
// whose URLs stay within maxURL bytes (one id always goes, however long).
func batches(base, app string, ids []string, maxURL, maxIDs int) [][]string {
	endpoint, _ := realtimeURL(base)
	prefix := len(endpoint) + len("?app=") + len(url.QueryEscape(app)) + len("&ids=")
	var out [][]string
	var cur []string
	size := prefix
	for _, id := range ids {
		n := len(url.QueryEscape(id)) + 1 // and its comma
		if len(cur) > 0 && (size+n > maxURL || len(cur) == maxIDs) {
			out = append(out, cur)
			cur, size = nil, prefix
		}
		cur = append(cur, id)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// requestURL is the GET of ids of app: each id escaped on its own, so that
// a comma in an id is %2C and the list splits on the literal commas.
func requestURL(base, app string, ids []string) string {
	endpoint, _ := realtimeURL(base)
	return endpoint + "?" + datacenter.Query(app, ids)
}

// errFetch is a failed request, with the reason it is counted under.
type errFetch struct {
	reason string
	err    error
}

func (e *errFetch) Error() string { return e.reason + ": " + e.err.Error() }
func (e *errFetch) Unwrap() error { return e.err }

// fetch asks the data center for ids of app.
func (p *Poller) fetch(ctx context.Context, app string, ids []string) (datacenter.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, requestURL(p.cfg.URL, app, ids), nil)
	if err != nil {
		return datacenter.Response{}, &errFetch{reasonTransport, err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "edgepush-poller/"+p.members.Node()) // which node asks, for the data center's logs
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return datacenter.Response{}, &errFetch{reasonTimeout, err}
		}
		return datacenter.Response{}, &errFetch{reasonTransport, err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return datacenter.Response{}, &errFetch{reasonStatus, fmt.Errorf("%s", resp.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxBody+1))
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (err != nil && ctx.Err() != nil):
		return datacenter.Response{}, &errFetch{reasonTimeout, err}
	case err != nil:
		return datacenter.Response{}, &errFetch{reasonTransport, err}
	case int64(len(body)) > p.cfg.MaxBody:
		return datacenter.Response{}, &errFetch{reasonTooLarge, fmt.Errorf("answer over %d bytes", p.cfg.MaxBody)}
	}
	var a datacenter.Response
	if err := json.Unmarshal(body, &a); err != nil {
		return datacenter.Response{}, &errFetch{reasonBadJSON, err}
	}
	if a.App != app {
		return datacenter.Response{}, &errFetch{reasonBadJSON, fmt.Errorf("answer for app %q, asked %q", a.App, app)}
	}
	return a, nil
}

// fetchAndPublish polls ids of app once and publishes what changed; it
// reports whether the request succeeded.
func (p *Poller) fetchAndPublish(ctx context.Context, app string, ids []string) bool {
	p.stats.add(reasonRequest, 1)
	a, err := p.fetch(ctx, app, ids)
	if err != nil {
		var f *errFetch
		if errors.As(err, &f) {
			p.fail(app, f.reason, err)
		}
		return false
	}
	for _, it := range p.pick(app, ids, a.Items) {
		p.publish(ctx, app, it)
	}
	return true
}

// pick returns the items worth publishing: asked for, with a valid id and
// a JSON value, one per id (the latest ts of duplicates); the others are
// counted.
func (p *Poller) pick(app string, ids []string, items []datacenter.Item) []datacenter.Item {
	asked := make(map[string]int, len(ids)) // id -> index in out, or -1
	for _, id := range ids {
		asked[id] = -1
	}
	out := make([]datacenter.Item, 0, len(items))
	for _, it := range items {
		at, ok := asked[it.ID]
		switch {
		case !ok:
			p.stats.add(reasonNotAsked, 1)
		case hub.ValidatePart(it.ID) != nil || len(it.Value) == 0 || !utf8.Valid(it.Value) || !json.Valid(it.Value):
			p.stats.add(reasonBadItem, 1)
			p.logs.Warn(p.cfg.Logger, reasonBadItem, "poller: bad item", "reason", reasonBadItem, "app", app, "id", it.ID)
		case at >= 0:
			p.stats.add(reasonDuplicate, 1)
			if it.TS > out[at].TS {
				out[at] = it
			}
		default:
			asked[it.ID] = len(out)
			out = append(out, it)
		}
	}
	return out
}

// publish publishes one polled value through the pipeline: only if it
// changed (unless EveryPoll) and is not older than the last one.
func (p *Poller) publish(ctx context.Context, app string, it datacenter.Item) {
	cond := hub.IfNewer | hub.IfChanged
	if p.cfg.EveryPoll {
		cond = hub.IfNewer
	}
	ts := it.TS
	if ts <= 0 {
		ts = p.cfg.Now().UnixMilli()
	}
	k := hub.Key{App: app, ID: it.ID}
	if p.stale.fresh(k, p.cfg.Now()) {
		p.stats.add(reasonFresh, 1)
		p.notify(ctx, k, hub.Fresh, 0) // before the value
	}
	data, kind, err := p.encode(app, it.Value)
	if err != nil {
		p.stats.add(reasonBadItem, 1)
		p.logs.Warn(p.cfg.Logger, reasonBadItem, "poller: bad value", "reason", reasonBadItem, "app", app, "id", it.ID, "err", err)
		return
	}
	_, appended, err := p.pub.PublishIf(ctx, k, cond, kind, ts, data)
	switch {
	case err != nil:
		p.stats.add(reasonPublishFailed, 1)
		p.logs.Warn(p.cfg.Logger, reasonPublishFailed, "poller: publish failed", "reason", reasonPublishFailed, "app", app, "id", it.ID, "err", err)
		return
	case appended:
		p.stats.add(reasonPublished, 1)
	default:
		p.stats.add(reasonUnchanged, 1)
	}
}

// encode turns a polled JSON value into the data of app's push: the value
// in its canonical text form (the same value compares equal however the
// data center spaced or escaped it), or its binary form for the apps of
// BinaryApps (a type tag, then the value: docs/protocol.md).
func (p *Poller) encode(app string, raw json.RawMessage) ([]byte, hub.Kind, error) {
	v, err := value.FromJSON(raw)
	if err != nil {
		return nil, 0, err
	}
	mode := value.Text
	if slices.Contains(p.cfg.BinaryApps, app) {
		mode = value.Binary
	}
	return value.Encode(nil, v, mode)
}

// fail counts and logs (rate-limited) a failed poll of app.
func (p *Poller) fail(app, reason string, err error) {
	p.stats.add(reason, 1)
	p.logs.Warn(p.cfg.Logger, reason, "poller: poll failed; retrying", "reason", reason, "app", app, "err", err)
}
