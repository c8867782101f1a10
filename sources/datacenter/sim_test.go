package datacenter

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.UnixMilli(1_700_000_000_000).UTC()}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// testSim returns a sim on a fake clock with a fixed seed; cfg's own Now
// and Rand, if set, win.
func testSim(cfg SimConfig) (*Sim, *fakeClock) {
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = seeded(1)
	}
	return NewSim(cfg), clock
}

func current(t *testing.T, s *Sim, app, id string) Item {
	t.Helper()
	it, ok := s.Current(app, id)
	if !ok {
		t.Fatalf("Current(%q, %q): not held", app, id)
	}
	return it
}

func TestSimZeroConfig(t *testing.T) {
	s := NewSim(SimConfig{})
	if got := s.Apps(); !slices.Equal(got, []string{"demo"}) {
		t.Errorf("Apps = %q", got)
	}
	var want []string
	for i := 1; i <= 10; i++ {
		want = append(want, fmt.Sprintf("%03d", i))
	}
	if got := s.IDs("demo"); !slices.Equal(got, want) {
		t.Errorf("IDs = %q, want %q", got, want)
	}
	if got := s.IDs("nope"); len(got) != 0 {
		t.Errorf("IDs(nope) = %q", got)
	}
	if _, ok := s.Current("demo", "011"); ok {
		t.Error("Current(demo, 011) is held")
	}
}

func TestSimIDNames(t *testing.T) {
	tests := []struct {
		cfg  SimConfig
		want []string
	}{
		{SimConfig{IDs: 3}, []string{"001", "002", "003"}},
		{SimConfig{IDs: 1000}, nil}, // checked below: "1000" last
		{SimConfig{IDs: 5, IDList: []string{"b", "a"}}, []string{"b", "a"}},
	}
	for _, tt := range tests {
		s, _ := testSim(tt.cfg)
		got := s.IDs("demo")
		if tt.want != nil && !slices.Equal(got, tt.want) {
			t.Errorf("IDs with %+v = %q, want %q", tt.cfg, got, tt.want)
		}
		if tt.want == nil && (len(got) != 1000 || got[998] != "999" || got[999] != "1000") {
			t.Errorf("IDs with 1000: %d ids, last %q", len(got), got[len(got)-1])
		}
	}
}

// TestSimEveryJSONType checks that the default mix shows every JSON type
// among ids 001 to 010, and that one kind fills every id when asked.
func TestSimEveryJSONType(t *testing.T) {
	s, _ := testSim(SimConfig{})
	types := map[string][]string{}
	for _, id := range s.IDs("demo") {
		it := current(t, s, "demo", id)
		var v any
		if err := json.Unmarshal(it.Value, &v); err != nil {
			t.Fatalf("%s: value %s: %v", id, it.Value, err)
		}
		typ := fmt.Sprintf("%T", v)
		types[typ] = append(types[typ], id)
	}
	for _, typ := range []string{"float64", "string", "bool", "map[string]interface {}", "[]interface {}", "<nil>"} {
		if len(types[typ]) == 0 {
			t.Errorf("no id of type %s; types: %v", typ, types)
		}
	}
	if got := current(t, s, "demo", "008").Value; !strings.HasPrefix(string(got), `{"value":`) || !strings.HasSuffix(string(got), `,"unit":"°C"}`) {
		t.Errorf("object 008 = %s, want the demo's reading", got)
	}

	s, _ = testSim(SimConfig{Kinds: []Kind{Bool}})
	for _, id := range s.IDs("demo") {
		if v := string(current(t, s, "demo", id).Value); v != "true" && v != "false" {
			t.Errorf("%s = %s, want a bool", id, v)
		}
	}
}

// TestSimChanges checks that values change at each ChangeEvery of the
// sim's clock, not between, that ts is the step's time, and that ts never
// goes down.
func TestSimChanges(t *testing.T) {
	s, clock := testSim(SimConfig{ChangeEvery: time.Second, Kinds: []Kind{Bool, String, Number, Object, Array, Null}, IDs: 6})
	start := clock.Now().UnixMilli()
	before := map[string]Item{}
	for _, id := range s.IDs("demo") {
		it := current(t, s, "demo", id)
		if it.TS != start {
			t.Errorf("%s: first ts %d, want the start %d", id, it.TS, start)
		}
		before[id] = it
	}
	clock.Advance(999 * time.Millisecond)
	for _, id := range s.IDs("demo") {
		if it := current(t, s, "demo", id); it.TS != start || string(it.Value) != string(before[id].Value) {
			t.Errorf("%s changed before the step: %s at %d", id, it.Value, it.TS)
		}
	}
	for step := int64(1); step <= 20; step++ {
		clock.Advance(time.Second)
		for _, id := range s.IDs("demo") {
			it := current(t, s, "demo", id)
			if want := start + step*1000; it.TS != want {
				t.Errorf("step %d: %s ts %d, want %d", step, id, it.TS, want)
			}
			// a bool flips and a string picks another state at every change
			if (id == "001" || id == "002") && string(it.Value) == string(before[id].Value) {
				t.Errorf("step %d: %s stayed %s", step, id, it.Value)
			}
			before[id] = it
		}
	}
	// Far later: only the last steps are played, and ts is the last step.
	clock.Advance(time.Hour)
	if it, want := current(t, s, "demo", "003"), start+(clock.Now().UnixMilli()-start)/1000*1000; it.TS != want {
		t.Errorf("an hour later: ts %d, want the last step %d", it.TS, want)
	}
	// A clock that goes back changes nothing.
	last := current(t, s, "demo", "004")
	clock.Advance(-time.Hour)
	if it := current(t, s, "demo", "004"); it.TS != last.TS || string(it.Value) != string(last.Value) {
		t.Errorf("clock back: %s at %d, was %s at %d", it.Value, it.TS, last.Value, last.TS)
	}
}

// TestSimChangeChance checks that with a chance below 1 some steps leave
// a value as it was.
func TestSimChangeChance(t *testing.T) {
	s, clock := testSim(SimConfig{ChangeChance: 0.3, Kinds: []Kind{Bool}, IDs: 1})
	changes, ts := 0, current(t, s, "demo", "001").TS
	const steps = 300
	for range steps {
		clock.Advance(time.Second)
		it := current(t, s, "demo", "001")
		if it.TS < ts {
			t.Fatalf("ts went down: %d after %d", it.TS, ts)
		}
		if it.TS != ts {
			changes++
		}
		ts = it.TS
	}
	if changes < steps/10 || changes > steps/2 {
		t.Errorf("%d changes in %d steps with chance 0.3", changes, steps)
	}
}

// TestSimDeterministic checks that a seed gives the same values, and that
// an id's values do not depend on which other ids are asked for.
func TestSimDeterministic(t *testing.T) {
	a, clockA := testSim(SimConfig{Rand: seeded(42)})
	b, clockB := testSim(SimConfig{Rand: seeded(42)})
	c, _ := testSim(SimConfig{Rand: seeded(43)})
	same := true
	for _, id := range a.IDs("demo") {
		same = same && string(current(t, a, "demo", id).Value) == string(current(t, c, "demo", id).Value)
	}
	if same {
		t.Error("seeds 42 and 43 give the same values")
	}
	for range 10 {
		clockA.Advance(time.Second)
		clockB.Advance(time.Second)
		current(t, a, "demo", "002") // asked in a only
		for _, id := range []string{"001", "005", "010"} {
			if x, y := current(t, a, "demo", id), current(t, b, "demo", id); x.TS != y.TS || string(x.Value) != string(y.Value) {
				t.Errorf("%s: %s at %d and %s at %d with one seed", id, x.Value, x.TS, y.Value, y.TS)
			}
		}
	}
}

func TestSimConfigValidate(t *testing.T) {
	good := []SimConfig{{}, {Apps: []string{"a", "b"}, IDs: 3}, {IDList: oddIDs}, {Error5xx: 1, ChangeChance: 0.5}}
	for _, cfg := range good {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", cfg, err)
		}
	}
	bad := map[string]SimConfig{
		"empty app":       {Apps: []string{""}},
		"app twice":       {Apps: []string{"a", "a"}},
		"control char id": {IDList: []string{"a\x01"}},
		"long id":         {IDList: []string{strings.Repeat("x", 65)}},
		"id twice":        {IDList: []string{"1", "1"}},
		"negative ids":    {IDs: -1},
		"too many ids":    {Apps: []string{"a", "b"}, IDs: 60_000},
		"unknown kind":    {Kinds: []Kind{Null + 1}},
		"rate over 1":     {Error5xx: 1.5},
		"negative rate":   {ErrorTimeout: -0.1},
		"chance over 1":   {ChangeChance: 2},
		"negative change": {ChangeEvery: -time.Second},
		"negative jitter": {Jitter: -1},
		"negative huge":   {HugeSize: -1},
	}
	for name, cfg := range bad {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewSim with a bad config did not panic")
		}
	}()
	NewSim(SimConfig{IDs: -1})
}

func TestParseKindAndFault(t *testing.T) {
	for k := Number; k <= Null; k++ {
		if got, err := ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("float"); err == nil {
		t.Error("ParseKind(float) passed")
	}
	for _, f := range []Fault{FaultNone, Fault5xx, FaultTimeout, FaultBadJSON, FaultHuge} {
		if got, err := ParseFault(string(f)); err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v", f, got, err)
		}
	}
	if _, err := ParseFault("500"); err == nil {
		t.Error("ParseFault(500) passed")
	}
}
