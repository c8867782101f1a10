package hub

import (
	"context"
	"errors"
	"strings"
	"testing"

	"edgepush/internal/metricset"
)

// failingBus refuses every publish.
type failingBus struct{ LocalBus }

func (*failingBus) Publish(context.Context, Message) (int, error) { return 0, errors.New("nacked") }

// TestPipelineMetricsCountBySource: each publish is counted once, under
// its source and its outcome, and failures of the store and the bus by
// operation.
func TestPipelineMetricsCountBySource(t *testing.T) {
	ctx := context.Background()
	k := Key{App: "a", ID: "1"}
	h := New(Config{})
	good := NewPipeline(PipelineConfig{}, NewMemoryStore(MemoryStoreConfig{}), NewLocalBus(), h)
	api, poller := good.Source("api"), good.Source("poller")
	if good.Source("api") != api {
		t.Fatal("Source gave two publishers for one name")
	}
	for range 3 {
		if _, err := api.Publish(ctx, k, Text, []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	api.Publish(ctx, k, Text, []byte(`{bad`))            // invalid
	api.Publish(ctx, Key{App: "a"}, Binary, []byte(`x`)) // invalid key
	poller.PublishIf(ctx, k, IfChanged, Text, 1, []byte(`2`))
	poller.PublishIf(ctx, k, IfChanged, Text, 2, []byte(`2`)) // unchanged
	good.Publish(ctx, k, Text, []byte(`3`))                   // direct

	store := NewPipeline(PipelineConfig{}, &failingStore{NewMemoryStore(MemoryStoreConfig{})}, NewLocalBus(), New(Config{}))
	store.Source("api").Publish(ctx, k, Text, []byte(`1`))
	bus := NewPipeline(PipelineConfig{}, NewMemoryStore(MemoryStoreConfig{}), &failingBus{}, New(Config{}))
	bus.Source("amqp").Publish(ctx, k, Text, []byte(`1`))

	tests := []struct {
		pipeline *Pipeline
		want     []string
	}{
		{good, []string{
			`edgepush_publishes_total{source="api"} 3`,
			`edgepush_publishes_failed_total{reason="invalid",source="api"} 2`,
			`edgepush_publishes_total{source="poller"} 1`,
			`edgepush_publishes_unchanged_total{source="poller"} 1`,
			`edgepush_publishes_total{source="direct"} 1`,
			`edgepush_store_errors_total{op="append"} 0`,
		}},
		{store, []string{
			`edgepush_publishes_failed_total{reason="store",source="api"} 1`,
			`edgepush_publishes_total{source="api"} 0`,
			`edgepush_store_errors_total{op="append"} 1`,
		}},
		{bus, []string{
			`edgepush_publishes_failed_total{reason="bus",source="amqp"} 1`,
			`edgepush_bus_errors_total{op="publish"} 1`,
			`edgepush_store_errors_total{op="append"} 0`,
		}},
	}
	for i, tc := range tests {
		text, err := metricset.Text(tc.pipeline.Metrics())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range tc.want {
			if !strings.Contains(text, line+"\n") {
				t.Errorf("pipeline %d: no %s in\n%s", i, line, text)
			}
		}
	}
	text, err := metricset.Text(h.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"edgepush_pushes_received_total 5", "edgepush_keys 0", "edgepush_subscriptions 0"} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("hub: no %s in\n%s", line, text)
		}
	}
}
