package metricset

import (
	"strings"
	"sync/atomic"
	"testing"
)

// TestSetReadsAtScrape: the series of a Set carry their HELP and TYPE and
// read their values when gathered, not when added.
func TestSetReadsAtScrape(t *testing.T) {
	var pings atomic.Uint64
	closes := [2]atomic.Uint64{}
	var set Set
	set.Counter("x_pings_total", "Pings sent.", pings.Load)
	set.CounterBy("x_closes_total", "Closes, by reason.", "reason", []string{"a", "b"},
		func(i int) uint64 { return closes[i].Load() })
	set.Gauge("x_up", "Up.", func() float64 { return Bool(true) })
	set.GaugeBy("x_keys", "Keys, by app.", "app", []string{"demo"}, func(int) float64 { return 7 })
	pings.Add(3)
	closes[1].Add(2)
	text, err := Text(set)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# HELP x_pings_total Pings sent.\n# TYPE x_pings_total counter\nx_pings_total 3\n",
		"# HELP x_closes_total Closes, by reason.\n# TYPE x_closes_total counter\n" +
			`x_closes_total{reason="a"} 0` + "\n" + `x_closes_total{reason="b"} 2` + "\n",
		"# TYPE x_up gauge\nx_up 1\n",
		`x_keys{app="demo"} 7` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
}

// TestTextRefusesADuplicate: two series of one name and labels are an
// error, not a silent overwrite.
func TestTextRefusesADuplicate(t *testing.T) {
	var set Set
	set.Counter("x_total", "X.", func() uint64 { return 1 })
	set.Counter("x_total", "X.", func() uint64 { return 2 })
	if _, err := Text(set); err == nil {
		t.Fatal("two x_total series gathered without an error")
	}
}
