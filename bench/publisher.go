package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Publisher publishes binary pushes through edgepush's API; each payload
// starts with its send time, which the client turns into latency.
type Publisher struct {
	API    string       // host:port of the publish API
	Size   int          // payload bytes, at least 8; default 16
	Client *http.Client // default: one with keep-alive and a 10 s timeout
}

// PublishResult is the API's answer.
type PublishResult struct {
	Seq       uint64 `json:"seq"`
	Delivered int    `json:"delivered"`
}

// Publish sends one push to app/id, stamped now.
func (p *Publisher) Publish(ctx context.Context, app, id string) (PublishResult, error) {
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 10 * time.Second}
	}
	payload := make([]byte, max(p.Size, 16))
	u := "http://" + p.API + "/v1/publish?app=" + url.QueryEscape(app) + "&id=" + url.QueryEscape(id)
	putSendTime(payload, time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return PublishResult{}, fmt.Errorf("bench: publish: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.Client.Do(req)
	if err != nil {
		return PublishResult{}, fmt.Errorf("bench: publish: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return PublishResult{}, fmt.Errorf("bench: publish: %s: %s", resp.Status, body)
	}
	var r PublishResult
	if err := json.Unmarshal(body, &r); err != nil {
		return PublishResult{}, fmt.Errorf("bench: publish answer %q: %w", body, err)
	}
	return r, nil
}
