package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgNode is any element of a parsed SVG document.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

// attr returns the value of the attribute name, or "".
func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// walk calls f for n and every element below it, in document order.
func (n svgNode) walk(f func(svgNode)) {
	f(n)
	for _, c := range n.Children {
		c.walk(f)
	}
}

// byID returns the element with the id, or false.
func (n svgNode) byID(id string) (found svgNode, ok bool) {
	n.walk(func(e svgNode) {
		if e.attr("id") == id {
			found, ok = e, true
		}
	})
	return found, ok
}

// elements returns the elements named name below n.
func (n svgNode) elements(name string) []svgNode {
	var found []svgNode
	n.walk(func(e svgNode) {
		if e.XMLName.Local == name {
			found = append(found, e)
		}
	})
	return found
}

// texts returns the content of the text elements of the class.
func (n svgNode) texts(class string) []string {
	var found []string
	for _, e := range n.elements("text") {
		if e.attr("class") == class {
			found = append(found, e.Text)
		}
	}
	return found
}

// number parses the attribute name of n as a float.
func (n svgNode) number(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("%s %s: %v", n.XMLName.Local, name, err)
	}
	return v
}

// renderSVG writes table as SVG and parses it back.
func renderSVG(t *testing.T, table Table) (svgNode, string) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSVG(&b, table); err != nil {
		t.Fatal(err)
	}
	var root svgNode
	if err := xml.Unmarshal(b.Bytes(), &root); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, b.String())
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	return root, b.String()
}

// seriesIDs are the ids of the groups that hold one mark per row.
var seriesIDs = []string{"series-p50", "series-p99", "series-max", "series-avg", "series-errors"}

func TestChartOnePointPerRowPerSeries(t *testing.T) {
	cases := []struct {
		name  string
		table Table
	}{
		{
			name:  "sample",
			table: sampleTable(),
		},
		{
			name: "single row",
			table: Table{
				Machine: "m",
				Rows:    []Row{{Conns: 500, AvgMS: 19, P50MS: 18, P99MS: 40, MaxMS: 55}},
			},
		},
		{
			name: "zero latencies and errors",
			table: Table{
				Machine: "m",
				Rows:    []Row{{Conns: 500}, {Conns: 1000}},
			},
		},
		{
			name: "unsorted, not finite, no connections",
			table: Table{
				Machine: `<a & "b">`,
				Command: "edgebench table -conns 0,750,90",
				Rows: []Row{
					{Conns: 750, AvgMS: 2, P50MS: 1, P99MS: 5, MaxMS: 9, ErrorRate: 0.5},
					{Conns: 0, AvgMS: -1, P50MS: 1e-9},
					{Conns: 90, AvgMS: 3, P99MS: -0.5, MaxMS: 1e6},
				},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, out := renderSVG(t, tc.table)
			for _, id := range seriesIDs {
				group, ok := root.byID(id)
				if !ok {
					t.Fatalf("no %s", id)
				}
				marks := len(group.elements("circle")) + len(group.elements("rect"))
				if marks != len(tc.table.Rows) {
					t.Errorf("%s has %d marks, want %d", id, marks, len(tc.table.Rows))
				}
			}
			if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
				t.Errorf("output has a value that is not a number:\n%s", out)
			}
			if titles := root.texts("title"); len(titles) != 1 || !strings.HasSuffix(titles[0], " — "+tc.table.Machine) {
				t.Errorf("title %q, want one ending in the machine %q", titles, tc.table.Machine)
			}
		})
	}
}

func TestChartLabels(t *testing.T) {
	root, _ := renderSVG(t, sampleTable())
	cases := []struct {
		class string
		want  []string
	}{
		{
			class: "title",
			want:  []string{"edgebench: push latency and error rate — 2 cores, 24 GiB, Linux 6.1"},
		},
		{
			class: "subtitle",
			want:  []string{"edgebench table -conns 500,1500,200000"},
		},
		{
			class: "tick-x",
			want:  []string{"500", "1k", "2k", "5k", "10k", "20k", "50k", "100k", "200k"},
		},
		{
			class: "tick-latency",
			want:  []string{"1", "10", "100", "1000", "10000"},
		},
		{
			class: "tick-errors",
			want:  []string{"0", "0.01", "0.02", "0.03", "0.04", "0.05"},
		},
		{
			class: "axis-title",
			want:  []string{"concurrent connections (log scale)", "latency, ms (log scale)", "error rate, % (bars)"},
		},
		{
			class: "legend-label",
			want:  []string{"p50", "p99", "max", "avg", "error rate % (right axis)"},
		},
	}
	for _, tc := range cases {
		if got := root.texts(tc.class); !slices.Equal(got, tc.want) {
			t.Errorf("%s labels %q, want %q", tc.class, got, tc.want)
		}
	}
}

func TestChartPointsFollowTheData(t *testing.T) {
	table := sampleTable()
	slices.Reverse(table.Rows)
	root, _ := renderSVG(t, table)
	p50, _ := root.byID("series-p50")
	p99, _ := root.byID("series-p99")
	low, high := p50.elements("circle"), p99.elements("circle")
	for i := range low {
		if i > 0 && low[i].number(t, "cx") <= low[i-1].number(t, "cx") {
			t.Errorf("point %d of p50 is not right of the one before", i)
		}
		if high[i].number(t, "cy") >= low[i].number(t, "cy") {
			t.Errorf("p99 of point %d is not above its p50", i)
		}
	}
	if got, want := high[2].elements("title")[0].Text, "p99: 900.50 ms at 200000 connections"; got != want {
		t.Errorf("tooltip %q, want %q", got, want)
	}
}

func TestChartErrorBars(t *testing.T) {
	root, _ := renderSVG(t, sampleTable())
	group, _ := root.byID("series-errors")
	var heights []float64
	for _, bar := range group.elements("rect") {
		heights = append(heights, bar.number(t, "height"))
	}
	// The axis goes from 0 to 0.05% over 380 pixels.
	want := []float64{0, 380, 7.6}
	if !slices.Equal(heights, want) {
		t.Errorf("bar heights %v, want %v", heights, want)
	}
}

func TestChartZeroLatenciesAtTheFloor(t *testing.T) {
	table := Table{
		Machine: "m",
		Rows:    []Row{{Conns: 500}, {Conns: 1000, P99MS: 3, MaxMS: 7}},
	}
	root, _ := renderSVG(t, table)
	group, _ := root.byID("series-p50")
	for _, point := range group.elements("circle") {
		if y := point.number(t, "cy"); y != plotBottom {
			t.Errorf("zero latency at y %v, want the bottom %v", y, plotBottom)
		}
	}
	if got, want := root.texts("tick-latency"), []string{"≤0.1", "0.2", "0.5", "1", "2", "5", "10"}; !slices.Equal(got, want) {
		t.Errorf("latency ticks %q, want %q", got, want)
	}
	if got := root.texts("legend-label"); got[len(got)-1] != "error rate % (right axis): none" {
		t.Errorf("legend %q does not say there were no errors", got)
	}
}

func TestChartEmptyTable(t *testing.T) {
	root, _ := renderSVG(t, Table{Machine: "m"})
	if got := root.texts("no-data"); !slices.Equal(got, []string{"no data"}) {
		t.Errorf("message %q, want no data", got)
	}
	if len(root.elements("circle")) != 0 || len(root.elements("polyline")) != 0 {
		t.Error("an empty table has points")
	}
}

func TestChartSelfContained(t *testing.T) {
	root, _ := renderSVG(t, sampleTable())
	root.walk(func(e svgNode) {
		switch e.XMLName.Local {
		case "image", "script", "style", "use", "a", "foreignObject":
			t.Errorf("element %s", e.XMLName.Local)
		}
		for _, a := range e.Attrs {
			if a.Name.Local != "xmlns" && (strings.Contains(a.Value, "url(") || strings.Contains(a.Value, "://")) {
				t.Errorf("%s %s=%q refers to something outside", e.XMLName.Local, a.Name.Local, a.Value)
			}
		}
	})
}

func TestChartWriteError(t *testing.T) {
	if err := WriteSVG(failingWriter{}, sampleTable()); !errors.Is(err, errWrite) {
		t.Errorf("error %v, want %v", err, errWrite)
	}
}

func TestChartNiceValues(t *testing.T) {
	cases := []struct {
		v      float64
		decade float64
		below  float64
		above  float64
	}{
		{
			v:      500,
			decade: 100,
			below:  500,
			above:  500,
		},
		{
			v:      750,
			decade: 100,
			below:  500,
			above:  1000,
		},
		{
			v:      1000,
			decade: 1000,
			below:  1000,
			above:  1000,
		},
		{
			v:      200001,
			decade: 100000,
			below:  200000,
			above:  500000,
		},
		{
			v:      0.03,
			decade: 0.01,
			below:  0.02,
			above:  0.05,
		},
		{
			v:      0.001,
			decade: 0.001,
			below:  0.001,
			above:  0.001,
		},
	}
	for _, tc := range cases {
		if got := decadeBelow(tc.v); got != tc.decade {
			t.Errorf("decadeBelow(%v) = %v, want %v", tc.v, got, tc.decade)
		}
		if got := niceBelow(tc.v); got != tc.below {
			t.Errorf("niceBelow(%v) = %v, want %v", tc.v, got, tc.below)
		}
		if got := niceAbove(tc.v); got != tc.above {
			t.Errorf("niceAbove(%v) = %v, want %v", tc.v, got, tc.above)
		}
	}
}

func TestChartFormatCount(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{
			v:    200,
			want: "200",
		},
		{
			v:    1500,
			want: "1.5k",
		},
		{
			v:    200000,
			want: "200k",
		},
		{
			v:    2e6,
			want: "2M",
		},
	}
	for _, tc := range cases {
		if got := formatCount(tc.v); got != tc.want {
			t.Errorf("formatCount(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestChartFittedText(t *testing.T) {
	cases := []struct {
		name     string
		s        string
		wantText string
		wantSize float64
	}{
		{
			name:     "fits",
			s:        "edgebench",
			wantText: "edgebench",
			wantSize: 18,
		},
		{
			name:     "shrinks",
			s:        strings.Repeat("x", 80),
			wantText: strings.Repeat("x", 80),
			wantSize: 780 / (0.65 * 80),
		},
		{
			name:     "cut short",
			s:        strings.Repeat("é", 120),
			wantText: strings.Repeat("é", 99) + "…",
			wantSize: 12,
		},
	}
	for _, tc := range cases {
		text, size := fitted(tc.s, 780, 18, 12)
		if text != tc.wantText || size != tc.wantSize {
			t.Errorf("%s: got %q at %v, want %q at %v", tc.name, text, size, tc.wantText, tc.wantSize)
		}
	}
}

func TestChartLongTitleFits(t *testing.T) {
	table := sampleTable()
	table.Machine = strings.Repeat("a very long machine description, ", 10)
	table.Command = strings.Repeat("edgebench table -rows 500 ", 10)
	root, _ := renderSVG(t, table)
	for _, class := range []string{"title", "subtitle"} {
		text := root.texts(class)[0]
		if !strings.HasSuffix(text, "…") {
			t.Errorf("%s %q is not cut short", class, text)
		}
	}
	if got := root.elements("title")[0].Text; !strings.HasSuffix(got, table.Machine) {
		t.Errorf("document title %q does not hold the whole machine", got)
	}
}
