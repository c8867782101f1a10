package main

import (
	"flag"
	"fmt"
	"os"

	"edgepush/hub/testsvc"
)

// clusterFlags are the flags of a run whose servers are nodes of one
// cluster: the Redis and RabbitMQ they share.
type clusterFlags struct {
	redis string
	amqp  string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.redis, "redis", "", "the nodes' -redis; empty: start a redis-server on a free port for the run")
	fs.StringVar(&c.amqp, "amqp", "", "the nodes' -amqp; empty: start a rabbitmq-server on free ports for the run")
}

// start returns the server flags that make spawned servers nodes of one
// cluster, starting Debian's redis-server and rabbitmq-server (as the
// tests do, in temp dirs) for what the flags leave empty; stop stops what
// it started.
func (c *clusterFlags) start() (args []string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	redisURL, amqpURL := c.redis, c.amqp
	if redisURL == "" {
		r, err := testsvc.StartRedis()
		if err != nil {
			return nil, stop, fmt.Errorf("-redis not given, and starting redis-server: %w", err)
		}
		stops = append(stops, r.Stop)
		redisURL = r.URL()
		fmt.Fprintf(os.Stderr, "edgebench: started redis-server at %s\n", r.Addr())
	}
	if amqpURL == "" {
		q, err := testsvc.StartRabbitMQ()
		if err != nil {
			return nil, stop, fmt.Errorf("-amqp not given, and starting rabbitmq-server: %w", err)
		}
		stops = append(stops, q.Stop)
		amqpURL = q.URL()
		fmt.Fprintf(os.Stderr, "edgebench: started rabbitmq-server at %s\n", q.Addr())
	}
	return []string{"-redis", redisURL, "-amqp", amqpURL}, stop, nil
}
