package sources

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"edgepush/hub"
)

// DemoConfig tunes a Demo. The zero value works: each zero field takes the
// default written beside it.
type DemoConfig struct {
	// App is the application the readings are published under.
	// Default "demo".
	App string
	// IDs are the sensors, one key each. Default "001" to "010".
	IDs []string
	// Interval is the time between two readings of a sensor. Default 1 s.
	Interval time.Duration
	// Now is the clock that seeds the default Rand. Default time.Now.
	Now func() time.Time
	// Rand drives the random walks; give one with a fixed seed for readings
	// that repeat. Default a generator seeded from Now.
	Rand *rand.Rand
}

func (c DemoConfig) withDefaults() DemoConfig {
	if c.App == "" {
		c.App = "demo"
	}
	if len(c.IDs) == 0 {
		c.IDs = make([]string, 10)
		for i := range c.IDs {
			c.IDs[i] = fmt.Sprintf("%03d", i+1)
		}
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		seed := uint64(c.Now().UnixNano())
		c.Rand = rand.New(rand.NewPCG(seed, seed>>32|1))
	}
	return c
}

// Demo publishes made-up temperature readings for a set of sensors, the data
// behind the paper's demo page. Each sensor's value is a random walk that
// drifts back towards the value it started at.
type Demo struct {
	cfg     DemoConfig
	pub     Publisher
	logger  *slog.Logger
	sensors []sensor
	failing bool // the last publish failed; logged once per run of failures
}

// sensor is one random walk.
type sensor struct {
	key   hub.Key
	base  float64 // the value the walk drifts back to
	value float64
}

// The shape of the walk, in °C.
const (
	demoLowest  = 18.0 // the lowest starting value
	demoSpread  = 6.0  // starting values lie in [demoLowest, demoLowest+demoSpread)
	demoStep    = 0.15 // standard deviation of one step
	demoRestore = 0.05 // share of the distance to base won back each step
)

// NewDemo returns a demo source that publishes to pub. A nil logger means
// slog.Default().
func NewDemo(cfg DemoConfig, pub Publisher, logger *slog.Logger) *Demo {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	d := &Demo{cfg: cfg, pub: pub, logger: logger, sensors: make([]sensor, len(cfg.IDs))}
	for i, id := range cfg.IDs {
		start := demoLowest + demoSpread*cfg.Rand.Float64()
		d.sensors[i] = sensor{key: hub.Key{App: cfg.App, ID: id}, base: start, value: start}
	}
	return d
}

// Run publishes one reading per sensor at once and then every Interval,
// until ctx is done. A failed publish is logged and the next tick tries
// again. Run must not be called twice at the same time.
func (d *Demo) Run(ctx context.Context) {
	d.logger.Info("demo source started", "app", d.cfg.App, "sensors", len(d.sensors), "interval", d.cfg.Interval)
	ticker := time.NewTicker(d.cfg.Interval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		d.publishAll(ctx)
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
	}
	d.logger.Info("demo source stopped", "app", d.cfg.App)
}

// publishAll moves every sensor one step and publishes its new value.
func (d *Demo) publishAll(ctx context.Context) {
	for i := range d.sensors {
		if ctx.Err() != nil {
			return
		}
		s := &d.sensors[i]
		s.step(d.cfg.Rand)
		_, err := d.pub.Publish(ctx, s.key, hub.Text, s.reading())
		d.noteOutcome(s.key, err)
	}
}

// noteOutcome logs the first failure of a run of failures and the recovery
// after it, so that a broken store does not flood the log.
func (d *Demo) noteOutcome(k hub.Key, err error) {
	switch {
	case err != nil && !d.failing:
		d.failing = true
		d.logger.Error("demo publish failed", "app", k.App, "id", k.ID, "err", err)
	case err == nil && d.failing:
		d.failing = false
		d.logger.Info("demo publish recovered", "app", k.App, "id", k.ID)
	}
}

// step moves the walk one step.
func (s *sensor) step(r *rand.Rand) {
	s.value += r.NormFloat64()*demoStep + (s.base-s.value)*demoRestore
}

// reading is the JSON value of the sensor's current value:
// {"value":21.53,"unit":"°C"}.
func (s *sensor) reading() []byte {
	b := make([]byte, 0, 40)
	b = append(b, `{"value":`...)
	b = strconv.AppendFloat(b, math.Round(s.value*100)/100, 'f', -1, 64)
	b = append(b, `,"unit":"°C"}`...)
	return b
}
