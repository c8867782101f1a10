// Package sources is the data service layer: what feeds publishes into the
// hub. This package holds the interface every source publishes through and
// the internal HTTP publish API, through which any other system pushes
// values; each other source is a package of its own:
//
//	sources/poller      polls a data center for the ids someone subscribes to
//	sources/amqpsource  publishes the readings other systems put on a RabbitMQ queue
//	sources/datacenter  a simulated data center (edgepush -demo, cmd/datacenter-sim)
//	sources/value       typed values: how a reading becomes a text or a binary push
//
// A source needs only something that publishes, the Publisher interface,
// which the publish pipeline (*hub.Pipeline) satisfies; it never sees
// connections or sockets.
//
//	p := hub.NewPipeline(hub.PipelineConfig{}, store, hub.NewLocalBus(), h)
//	api := sources.NewAPI(sources.APIConfig{}, sources.Deps{Publisher: p.Source("api"), Metrics: registry})
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
	// a JSON value. Publish does not keep data after it returns: the caller
	// may reuse it.
	Publish(ctx context.Context, k hub.Key, kind hub.Kind, data []byte) (hub.Result, error)
}

// The pipeline is the publisher the server wires in.
var _ Publisher = (*hub.Pipeline)(nil)
