package datacenter

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"edgepush/frame"
	"edgepush/hub"
)

// Kind is the kind of value one id holds.
type Kind uint8

// The kinds of value. Each changes by a step of its own when the id's value
// changes.
const (
	// Number is a temperature in °C as a JSON number (21.53): a random walk
	// that drifts back to where it started, as sources.Demo's sensors.
	Number Kind = iota
	// String is a machine state as a JSON string ("running"; one state is
	// not ASCII): each change picks another state.
	String
	// Bool is a switch, true or false: each change flips it.
	Bool
	// Object is a reading {"value":21.53,"unit":"°C"}, the shape
	// sources.Demo publishes, with a Number's walk.
	Object
	// Array is an accelerometer [x,y,z] in m/s²: three walks.
	Array
	// Null is a sensor that has no reading at times: null at the start and
	// after about one change in three, else a Number's walk.
	Null
)

// kinds is the number of kinds.
const kinds = int(Null) + 1

func (k Kind) String() string {
	switch k {
	case Number:
		return "number"
	case String:
		return "string"
	case Bool:
		return "bool"
	case Object:
		return "object"
	case Array:
		return "array"
	case Null:
		return "null"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// ParseKind reads a kind by its name: number, string, bool, object, array
// or null.
func ParseKind(s string) (Kind, error) {
	for k := range Kind(kinds) {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown value kind %q (want number, string, bool, object, array or null)", s)
}

// DefaultKinds is the mix of kinds when SimConfig.Kinds is empty: out of
// every ten ids, five numbers, then a string, a bool, an object, an array
// and a null, so that the default ids 001 to 010 show every JSON type.
func DefaultKinds() []Kind {
	return []Kind{Number, Number, Number, Number, Number, String, Bool, Object, Array, Null}
}

// Limits of a SimConfig.
const (
	maxPoints  = 100_000 // ids over all apps
	maxCatchUp = 64      // steps replayed for an id not asked for a long time
)

// SimConfig tunes a Sim. The zero value works: each zero field takes the
// default written beside it. Rates are chances per GET /realtime, from 0
// to 1; durations of latency and hangs are real time, while value changes
// and the end of a control injection follow Now.
type SimConfig struct {
	// Apps are the applications the data center holds. Default ["demo"].
	Apps []string
	// IDs is how many ids each app holds: "001", "002", ... (zero-padded to
	// three digits, more past 999). Default 10. IDList, if given, wins.
	IDs int
	// IDList is the ids of every app, instead of IDs.
	IDList []string
	// Kinds is the mix of value kinds: the i-th id of an app (from 0) holds
	// Kinds[i%len(Kinds)]. Default DefaultKinds(); []Kind{Number} makes
	// every id a number.
	Kinds []Kind

	// ChangeEvery is the time between two chances of an id's value to
	// change, on the clock Now; a change's ts is the time of its step.
	// Default 1 s.
	ChangeEvery time.Duration
	// ChangeChance is the chance that an id's value changes at one step.
	// 0 means the default, 1: every id changes at every step.
	ChangeChance float64

	// Latency is added to every answer of GET /realtime, plus a uniform
	// random share of Jitter. Default none.
	Latency time.Duration
	Jitter  time.Duration

	// Error rates: the chance that a GET /realtime fails with 503
	// (Error5xx), hangs for Hang and then answers 504 (ErrorTimeout),
	// answers 200 with a truncated JSON body (ErrorBadJSON) or with a valid
	// body of HugeSize bytes (ErrorHuge). One uniform draw per request picks
	// at most one, in this order. Default 0 each.
	Error5xx     float64
	ErrorTimeout float64
	ErrorBadJSON float64
	ErrorHuge    float64
	// Hang is how long a timeout failure holds a request before its 504,
	// unless the request's context ends first. Default 30 s.
	Hang time.Duration
	// HugeSize is the size of a huge body, in bytes. Default 16 MiB.
	HugeSize int

	// MaxIDs is the most ids one GET /realtime may ask for; more is 400.
	// Default DefaultMaxIDs.
	MaxIDs int

	// Now is the sim's clock: value changes, ts and the end of injections.
	// Default time.Now.
	Now func() time.Time
	// Logger gets a line for each injection set or cleared. Default
	// slog.Default().
	Logger *slog.Logger
	// Rand seeds the ids' walks and draws errors and jitter; give one with
	// a fixed seed for values that repeat. The Sim owns it once NewSim
	// returns. Default a generator seeded from Now.
	Rand *rand.Rand
}

func (c SimConfig) withDefaults() SimConfig {
	if len(c.Apps) == 0 {
		c.Apps = []string{"demo"}
	}
	c.Apps = slices.Clone(c.Apps)
	if len(c.IDList) == 0 {
		n := c.IDs
		if n == 0 {
			n = 10
		}
		c.IDList = make([]string, n)
		for i := range c.IDList {
			c.IDList[i] = fmt.Sprintf("%03d", i+1)
		}
	} else {
		c.IDList = slices.Clone(c.IDList)
	}
	c.IDs = len(c.IDList)
	if len(c.Kinds) == 0 {
		c.Kinds = DefaultKinds()
	} else {
		c.Kinds = slices.Clone(c.Kinds)
	}
	if c.ChangeEvery <= 0 {
		c.ChangeEvery = time.Second
	}
	if c.ChangeChance == 0 {
		c.ChangeChance = 1
	}
	if c.Hang <= 0 {
		c.Hang = 30 * time.Second
	}
	if c.HugeSize <= 0 {
		c.HugeSize = 16 << 20
	}
	if c.MaxIDs <= 0 {
		c.MaxIDs = DefaultMaxIDs
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Rand == nil {
		seed := uint64(c.Now().UnixNano())
		c.Rand = rand.New(rand.NewPCG(seed, seed>>32|1))
	}
	return c
}

// Validate reports a setting NewSim cannot take: an app or id that is not
// a valid key part (hub.ValidatePart) or given twice, more than 100,000
// ids over all apps, an unknown kind, a rate or chance outside 0..1, or a
// negative count or duration.
func (c SimConfig) Validate() error {
	var errs []error
	if err := checkNames("app", c.Apps); err != nil {
		errs = append(errs, err)
	}
	if err := checkNames("id", c.IDList); err != nil {
		errs = append(errs, err)
	}
	ids := len(c.IDList)
	if ids == 0 {
		ids = c.IDs
		if ids == 0 {
			ids = 10
		}
	}
	if c.IDs < 0 {
		errs = append(errs, fmt.Errorf("IDs is %d, negative", c.IDs))
	} else if apps := max(len(c.Apps), 1); ids > maxPoints/apps {
		errs = append(errs, fmt.Errorf("%d apps of %d ids: more than %d ids in all", apps, ids, maxPoints))
	}
	for _, k := range c.Kinds {
		if int(k) >= kinds {
			errs = append(errs, fmt.Errorf("unknown value kind %d", k))
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"ChangeChance", c.ChangeChance}, {"Error5xx", c.Error5xx}, {"ErrorTimeout", c.ErrorTimeout},
		{"ErrorBadJSON", c.ErrorBadJSON}, {"ErrorHuge", c.ErrorHuge},
	} {
		if !(r.v >= 0 && r.v <= 1) { // also NaN
			errs = append(errs, fmt.Errorf("%s is %v, not in 0..1", r.name, r.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ChangeEvery", c.ChangeEvery}, {"Latency", c.Latency}, {"Jitter", c.Jitter}, {"Hang", c.Hang}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %v, negative", d.name, d.v))
		}
	}
	if c.HugeSize < 0 || c.MaxIDs < 0 {
		errs = append(errs, fmt.Errorf("HugeSize %d or MaxIDs %d is negative", c.HugeSize, c.MaxIDs))
	}
	return errors.Join(errs...)
}

// checkNames checks that each name is a valid key part, given once.
func checkNames(what string, names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := hub.ValidatePart(n); err != nil {
			return fmt.Errorf("%s %q: %w", what, n, err)
		}
		if seen[n] {
			return fmt.Errorf("%s %q is given twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

// Sim is a simulated data center: it holds a value for each (app, id), lets
// the values change as its clock goes, and serves them over HTTP (Handler),
// failing on demand. It is safe for concurrent use.
type Sim struct {
	cfg      SimConfig
	start    time.Time
	handler  http.Handler
	requests atomic.Int64

	mu       sync.Mutex // guards what follows
	points   map[hub.Key]*point
	apps     map[string][]string // ids of each app, in order
	rng      *rand.Rand          // cfg.Rand: errors and jitter
	injected injection
}

// NewSim returns a data center holding cfg's apps and ids, each with a
// first value whose ts is the time NewSim was called. It panics if
// cfg.Validate fails: check a configuration from users with Validate
// first.
func NewSim(cfg SimConfig) *Sim {
	if err := cfg.Validate(); err != nil {
		panic("datacenter: NewSim: " + err.Error())
	}
	cfg = cfg.withDefaults()
	s := &Sim{
		cfg:    cfg,
		start:  cfg.Now(),
		points: make(map[hub.Key]*point, len(cfg.Apps)*len(cfg.IDList)),
		apps:   make(map[string][]string, len(cfg.Apps)),
		rng:    cfg.Rand,
	}
	ts := s.start.UnixMilli()
	for _, app := range cfg.Apps {
		s.apps[app] = cfg.IDList
		for i, id := range cfg.IDList {
			s.points[hub.Key{App: app, ID: id}] = newPoint(cfg.Kinds[i%len(cfg.Kinds)], cfg.Rand, ts)
		}
	}
	s.handler = s.newHandler()
	return s
}

// Handler serves the data center's HTTP API: GET /realtime, GET /healthz,
// GET and POST /control (see the package documentation). It returns the
// same handler at every call.
func (s *Sim) Handler() http.Handler { return s.handler }

// Apps returns the apps the data center holds, in the order of SimConfig.
func (s *Sim) Apps() []string { return slices.Clone(s.cfg.Apps) }

// IDs returns the ids app holds, in order; none for an unknown app.
func (s *Sim) IDs(app string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.apps[app])
}

// Requests is the number of GET /realtime requests the handler has taken,
// whatever their answer (a 400 and an injected failure count too).
func (s *Sim) Requests() int { return int(s.requests.Load()) }

// Asked is the number of times id of app was asked for by a well-formed
// GET /realtime, failed on purpose or not; an id asked twice in one
// request counts twice. It is 0 for an id the data center does not hold.
func (s *Sim) Asked(app, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.points[hub.Key{App: app, ID: id}]; p != nil {
		return p.asked
	}
	return 0
}

// Current returns id of app's value at the sim's time now, as GET
// /realtime would; false if the data center does not hold it. It does not
// count as asked.
func (s *Sim) Current(app, id string) (Item, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.points[hub.Key{App: app, ID: id}]
	if p == nil {
		return Item{}, false
	}
	p.advance(s.stepAt(now), s)
	return Item{ID: id, TS: p.ts, Value: slices.Clone(p.value)}, true
}

// stepAt is the number of whole ChangeEvery steps from the start to now,
// 0 before the start.
func (s *Sim) stepAt(now time.Time) int64 {
	d := now.Sub(s.start)
	if d <= 0 {
		return 0
	}
	return int64(d / s.cfg.ChangeEvery)
}

// stepTime is the time of step n in Unix milliseconds.
func (s *Sim) stepTime(n int64) int64 {
	return s.start.Add(time.Duration(n) * s.cfg.ChangeEvery).UnixMilli()
}

// items returns the values of ids of app at now, each id once, in the
// order first asked; s.mu must be held.
func (s *Sim) items(app string, ids []string, now time.Time) []Item {
	out := make([]Item, 0, len(ids))
	step := s.stepAt(now)
	var seen map[string]bool
	if len(ids) > 1 {
		seen = make(map[string]bool, len(ids))
	}
	for _, id := range ids {
		p := s.points[hub.Key{App: app, ID: id}]
		if p == nil || seen[id] {
			continue
		}
		if seen != nil {
			seen[id] = true
		}
		p.advance(step, s)
		out = append(out, Item{ID: id, TS: p.ts, Value: p.value})
	}
	return out
}

// count adds one asked to each known id of app in ids; s.mu must be held.
func (s *Sim) count(app string, ids []string) {
	for _, id := range ids {
		if p := s.points[hub.Key{App: app, ID: id}]; p != nil {
			p.asked++
		}
	}
}

// String states of a String id; one is not ASCII and one needs escaping
// in JSON.
func stringStates() []string {
	return []string{"idle", "running", "paused", "stopped", "fault", "température élevée", `"manual"`}
}

// The walks' shapes.
const (
	tempLowest  = 18.0 // the lowest starting temperature, °C
	tempSpread  = 6.0  // starting temperatures lie in [tempLowest, tempLowest+tempSpread)
	tempStep    = 0.15 // standard deviation of one step
	tempRestore = 0.05 // share of the distance to base won back each step
	accelStep   = 0.05 // an Array axis's step, m/s²
	accelRest   = 0.2  // an Array axis's restore share
)

// walk is a random walk that drifts back to base.
type walk struct {
	base, value, step, restore float64
}

func (w *walk) move(r *rand.Rand) {
	w.value += r.NormFloat64()*w.step + (w.base-w.value)*w.restore
}

// point is one id: its value, the state behind it and its counters.
type point struct {
	kind  Kind
	rng   *rand.Rand // its own stream, so its values do not depend on other ids' requests
	step  int64      // the last step played
	ts    int64      // Unix ms of the last change
	value []byte     // the JSON value; replaced, never changed in place
	asked int

	walks [3]walk // Number, Object, Null: walks[0]; Array: all three
	state int     // String: index into stringStates; Bool, Null: 1 for true, null
}

func newPoint(kind Kind, seeder *rand.Rand, ts int64) *point {
	r := rand.New(rand.NewPCG(seeder.Uint64(), seeder.Uint64()))
	p := &point{kind: kind, rng: r, ts: ts}
	start := tempLowest + tempSpread*r.Float64()
	p.walks[0] = walk{base: start, value: start, step: tempStep, restore: tempRestore}
	switch kind {
	case String:
		p.state = r.IntN(len(stringStates()))
	case Bool:
		p.state = r.IntN(2)
	case Array:
		for i, base := range [3]float64{0, 0, 9.81} {
			p.walks[i] = walk{base: base, value: base, step: accelStep, restore: accelRest}
		}
	case Null:
		p.state = 1
	}
	p.value = p.encode()
	return p
}

// advance plays the steps after p.step up to step: at each, the value
// changes with the chance ChangeChance. Only the last maxCatchUp steps are
// played after a long time without a request.
func (p *point) advance(step int64, s *Sim) {
	if step <= p.step {
		return
	}
	first := max(p.step+1, step-maxCatchUp+1)
	changed := false
	for n := first; n <= step; n++ {
		if s.cfg.ChangeChance >= 1 || p.rng.Float64() < s.cfg.ChangeChance {
			p.change()
			p.ts = max(p.ts, s.stepTime(n))
			changed = true
		}
	}
	p.step = step
	if changed {
		p.value = p.encode()
	}
}

// change moves the value one step of its kind.
func (p *point) change() {
	r := p.rng
	switch p.kind {
	case Number, Object:
		p.walks[0].move(r)
	case String:
		n := len(stringStates())
		p.state = (p.state + 1 + r.IntN(n-1)) % n
	case Bool:
		p.state ^= 1
	case Array:
		for i := range p.walks {
			p.walks[i].move(r)
		}
	case Null:
		p.walks[0].move(r)
		p.state = 0
		if r.IntN(3) == 0 {
			p.state = 1
		}
	}
}

// encode writes the current value as JSON.
func (p *point) encode() []byte {
	b := make([]byte, 0, 48)
	switch p.kind {
	case Number:
		b = appendNumber(b, p.walks[0].value)
	case String:
		b = frame.AppendJSONString(b, stringStates()[p.state])
	case Bool:
		if p.state == 1 {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
	case Object:
		b = append(b, `{"value":`...)
		b = appendNumber(b, p.walks[0].value)
		b = append(b, `,"unit":"°C"}`...)
	case Array:
		b = append(b, '[')
		for i := range p.walks {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNumber(b, p.walks[i].value)
		}
		b = append(b, ']')
	case Null:
		if p.state == 1 {
			b = append(b, "null"...)
		} else {
			b = appendNumber(b, p.walks[0].value)
		}
	}
	return b
}

// appendNumber appends v rounded to two decimals as a JSON number.
func appendNumber(b []byte, v float64) []byte {
	v = math.Round(v*100) / 100
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
