// Package sources is the data service layer: what feeds publishes into the
// hub. It holds the demo sensor source (the paper's sensor readings) and the
// internal HTTP publish API, through which any other system pushes values.
//
// A source needs only something that publishes, the Publisher interface,
// which the publish pipeline (*hub.Pipeline) satisfies; it never sees
// connections or sockets.
//
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
//	go sources.NewDemo(sources.DemoConfig{}, p, logger).Run(ctx)
//	api := sources.NewAPI(sources.APIConfig{}, sources.Deps{Publisher: p, Metrics: server.WriteMetrics})
//	http.ListenAndServe("127.0.0.1:8081", api)
package sources

import (
	"context"

	"edgepush/hub"
)

// Publisher publishes one value to the subscribers of a key.
// *hub.Pipeline implements it.
type Publisher interface {
	// Publish assigns k its next sequence number and queues data to every
	// subscriber of k as a push of the given kind. For hub.Text, data must be
	// a JSON value.
	Publish(ctx context.Context, k hub.Key, kind hub.Kind, data []byte) (hub.Result, error)
}

// The pipeline is the publisher the server wires in.
var _ Publisher = (*hub.Pipeline)(nil)
