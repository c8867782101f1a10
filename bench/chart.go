package bench

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// The chart's size and plot area, in pixels.
const (
	chartWidth  = 900
	chartHeight = 560
	plotLeft    = 80
	plotRight   = 820
	plotTop     = 100
	plotBottom  = 480
	plotInset   = 24 // between the frame and the first and last points
)

// minLatencyMS is the lowest latency the log scale reaches down to; lower
// latencies, zero among them, are drawn at the bottom of the axis.
const minLatencyMS = 0.001

// Colours of the chart.
const (
	colourText    = "#222222"
	colourMuted   = "#666666"
	colourGrid    = "#e4e4e4"
	colourFrame   = "#999999"
	colourErrors  = "#d62728"
	colourErrAxis = "#b22222"
)

// latencySeries is a line of the chart: a latency of each row.
type latencySeries struct {
	Name   string
	Colour string
	Dashed bool
	Value  func(Row) float64
}

// latencyLines are the latency series, in the order of the legend.
var latencyLines = []latencySeries{
	{Name: "p50", Colour: "#1f77b4", Value: func(r Row) float64 { return r.P50MS }},
	{Name: "p99", Colour: "#ff7f0e", Value: func(r Row) float64 { return r.P99MS }},
	{Name: "max", Colour: "#9467bd", Value: func(r Row) float64 { return r.MaxMS }},
	{Name: "avg", Colour: "#2ca02c", Dashed: true, Value: func(r Row) float64 { return r.AvgMS }},
}

// WriteSVG draws t as a self-contained SVG chart: concurrent connections
// on a log x axis; p50, p99, max and (dashed) average latency on a log
// left axis; error rate as bars on a linear right axis. An empty table
// gives a chart that says "no data".
func WriteSVG(w io.Writer, t Table) error {
	var c chart
	c.begin(t)
	if len(t.Rows) == 0 {
		c.noData()
	} else {
		c.plot(t.Rows)
	}
	c.printf("</svg>\n")
	_, err := w.Write(c.buf.Bytes())
	return err
}

// chart accumulates the SVG document.
type chart struct {
	buf     bytes.Buffer
	rows    []Row // sorted by connections
	x       logScale
	latency logScale
	clamped bool // latencies below the latency axis are drawn at its bottom
	errors  linearScale
}

// printf appends formatted markup.
func (c *chart) printf(format string, args ...any) {
	fmt.Fprintf(&c.buf, format, args...)
}

// escaped appends s as XML character data.
func (c *chart) escaped(s string) {
	xml.EscapeText(&c.buf, []byte(s))
}

// text appends a text element at (x, y) with the given extra attributes.
func (c *chart) text(x, y float64, attributes, s string) {
	c.printf(`<text x="%.1f" y="%.1f" %s>`, x, y, attributes)
	c.escaped(s)
	c.printf("</text>\n")
}

// begin opens the document and writes the background, title and subtitle.
func (c *chart) begin(t Table) {
	title := "edgebench: push latency and error rate"
	if t.Machine != "" {
		title += " — " + t.Machine
	}
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" fill="%s">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight, colourText)
	c.printf("<title>")
	c.escaped(title)
	c.printf("</title>\n")
	c.printf(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartWidth, chartHeight)
	const width = chartWidth - plotLeft - 20
	title, size := fitted(title, width, 18, 12)
	c.text(plotLeft, 32, fmt.Sprintf(`class="title" font-size="%.1f" font-weight="bold"`, size), title)
	if t.Command != "" {
		command, _ := fitted(t.Command, width, 12, 12)
		c.text(plotLeft, 52, `class="subtitle" fill="`+colourMuted+`"`, command)
	}
}

// fitted returns s and a font size, at most size, at which s fits in width
// pixels; below minSize it keeps minSize and cuts s short with "…".
func fitted(s string, width, size, minSize float64) (string, float64) {
	const em = 0.65 // the average width of a bold character, in font sizes
	runes := []rune(s)
	size = min(size, max(minSize, width/(em*float64(len(runes)))))
	if most := int(width/(em*size) + 1e-9); len(runes) > most {
		s = string(runes[:most-1]) + "…"
	}
	return s, size
}

// noData writes a message in place of the plot.
func (c *chart) noData() {
	c.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n",
		plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop, colourFrame)
	c.text((plotLeft+plotRight)/2, (plotTop+plotBottom)/2,
		`class="no-data" text-anchor="middle" font-size="20" fill="`+colourMuted+`"`, "no data")
}

// plot draws the axes, grid, bars, lines and legend for rows.
func (c *chart) plot(rows []Row) {
	c.rows = slices.SortedStableFunc(slices.Values(rows), func(a, b Row) int { return cmp.Compare(a.Conns, b.Conns) })
	c.setScales()
	c.grid()
	c.errorBars()
	c.frame()
	for _, s := range latencyLines {
		c.line(s)
	}
	c.xAxis()
	c.latencyAxis()
	c.errorAxis()
	c.legend()
}

// setScales fits the three axes to the rows.
func (c *chart) setScales() {
	lo, hi := niceBelow(float64(max(c.rows[0].Conns, 1))), niceAbove(float64(max(c.rows[len(c.rows)-1].Conns, 1)))
	if lo == hi {
		lo, hi = niceBelow(lo*0.99), niceAbove(hi*1.01)
	}
	c.x = logScale{Low: lo, High: hi, From: plotLeft + plotInset, To: plotRight - plotInset, Steps: 5}
	lo, hi, c.clamped = latencyRange(c.rows)
	c.latency = logScale{Low: lo, High: hi, From: plotBottom, To: plotTop, Steps: 3}
	c.errors = linearScale{High: errorTop(c.rows), From: plotBottom, To: plotTop}
}

// latencyRange returns whole decades around every positive latency of
// rows, and whether some latencies lie below them: zero ones, or ones
// below minLatencyMS. Those are drawn at the bottom, a decade below the
// lowest other latency.
func latencyRange(rows []Row) (low, high float64, clamped bool) {
	low, high = math.Inf(1), minLatencyMS
	for _, r := range rows {
		for _, s := range latencyLines {
			v := finite(s.Value(r))
			clamped = clamped || v < minLatencyMS
			if v > 0 {
				low, high = min(low, max(v, minLatencyMS)), max(high, v)
			}
		}
	}
	if math.IsInf(low, 1) {
		return 0.1, 10, true
	}
	low, top := decadeBelow(low), decadeBelow(high)
	if top < high {
		top = roundSignificant(top * 10)
	}
	if clamped {
		low = roundSignificant(low / 10)
	}
	if top <= low {
		top = roundSignificant(low * 10)
	}
	return low, top, clamped
}

// errorTop returns the top of the error axis: a 1-2-5 value at or above
// every error rate, 1% when there are no errors.
func errorTop(rows []Row) float64 {
	top := 0.0
	for _, r := range rows {
		top = max(top, finite(r.ErrorRate))
	}
	if top <= 0 {
		return 1
	}
	return niceAbove(top)
}

// finite returns v, or 0 when v is NaN or infinite.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// grid draws the light lines behind the data, at the ticks of x and latency.
func (c *chart) grid() {
	c.printf(`<g class="grid" stroke="%s" stroke-width="1">`+"\n", colourGrid)
	for _, v := range c.x.ticks() {
		x := c.x.position(v)
		c.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", x, plotTop, x, plotBottom)
	}
	for _, v := range c.latency.ticks() {
		y := c.latency.position(v)
		c.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", plotLeft, y, plotRight, y)
	}
	c.printf("</g>\n")
}

// errorBars draws one bar per row against the right axis.
func (c *chart) errorBars() {
	width := c.barWidth()
	c.printf(`<g id="series-errors" class="series" fill="%s" fill-opacity="0.35" stroke="%s" stroke-width="1">`+"\n",
		colourErrors, colourErrors)
	for _, r := range c.rows {
		rate := finite(r.ErrorRate)
		x, y := c.xOf(r), c.errors.position(rate)
		c.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f">`, x-width/2, y, width, plotBottom-y)
		c.printf("<title>")
		c.escaped(fmt.Sprintf("errors: %s%% at %d connections", formatPercent(rate), r.Conns))
		c.printf("</title></rect>\n")
	}
	c.printf("</g>\n")
}

// barWidth returns a width for the error bars that keeps neighbours apart.
func (c *chart) barWidth() float64 {
	width := 14.0
	for i := 1; i < len(c.rows); i++ {
		gap := c.xOf(c.rows[i]) - c.xOf(c.rows[i-1])
		if gap > 0 {
			width = min(width, gap*0.6)
		}
	}
	return max(width, 3)
}

// line draws one latency series: a polyline through a marker per row.
func (c *chart) line(s latencySeries) {
	dash := ""
	if s.Dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	c.printf(`<g id="series-%s" class="series">`+"\n", s.Name)
	c.printf(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="`, s.Colour, dash)
	for i, r := range c.rows {
		if i > 0 {
			c.printf(" ")
		}
		c.printf("%.1f,%.1f", c.xOf(r), c.latencyY(s.Value(r)))
	}
	c.printf(`"/>` + "\n")
	for _, r := range c.rows {
		c.printf(`<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="#ffffff" stroke-width="1">`,
			c.xOf(r), c.latencyY(s.Value(r)), s.Colour)
		c.printf("<title>")
		c.escaped(fmt.Sprintf("%s: %s ms at %d connections", s.Name, formatMS(s.Value(r)), r.Conns))
		c.printf("</title></circle>\n")
	}
	c.printf("</g>\n")
}

// xOf returns the horizontal position of r.
func (c *chart) xOf(r Row) float64 {
	return c.x.position(float64(max(r.Conns, 1)))
}

// latencyY returns the height of a latency, clamped to the axis.
func (c *chart) latencyY(ms float64) float64 {
	return c.latency.position(min(max(finite(ms), c.latency.Low), c.latency.High))
}

// tickMark draws a short line from (x1, y1) to (x2, y2).
func (c *chart) tickMark(x1, y1, x2, y2 float64, colour string) {
	c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x1, y1, x2, y2, colour)
}

// frame draws the plot's border.
func (c *chart) frame() {
	c.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n",
		plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop, colourFrame)
}

// xAxis labels the ticks of connections below the plot.
func (c *chart) xAxis() {
	for _, v := range c.x.ticks() {
		x := c.x.position(v)
		c.tickMark(x, plotBottom, x, plotBottom+5, colourFrame)
		c.text(x, plotBottom+18, `class="tick-x" text-anchor="middle"`, formatCount(v))
	}
	c.text((plotLeft+plotRight)/2, plotBottom+46, `class="axis-title" text-anchor="middle" font-size="13"`,
		"concurrent connections (log scale)")
}

// latencyAxis labels the ticks of latency left of the plot.
func (c *chart) latencyAxis() {
	for _, v := range c.latency.ticks() {
		label := tickLabel(v)
		if c.clamped && v == c.latency.Low {
			label = "≤" + label
		}
		y := c.latency.position(v)
		c.tickMark(plotLeft-5, y, plotLeft, y, colourFrame)
		c.text(plotLeft-8, y+4, `class="tick-latency" text-anchor="end"`, label)
	}
	y := (plotTop + plotBottom) / 2.0
	c.text(22, y, fmt.Sprintf(`class="axis-title" text-anchor="middle" font-size="13" transform="rotate(-90 22 %.1f)"`, y),
		"latency, ms (log scale)")
}

// errorAxis labels the ticks of error rate right of the plot.
func (c *chart) errorAxis() {
	for _, v := range c.errors.ticks() {
		y := c.errors.position(v)
		c.tickMark(plotRight, y, plotRight+5, y, colourErrAxis)
		c.text(plotRight+8, y+4, `class="tick-errors" fill="`+colourErrAxis+`"`, tickLabel(v))
	}
	x, y := chartWidth-22.0, (plotTop+plotBottom)/2.0
	c.text(x, y, fmt.Sprintf(`class="axis-title" text-anchor="middle" font-size="13" fill="%s" transform="rotate(90 %.1f %.1f)"`, colourErrAxis, x, y),
		"error rate, % (bars)")
}

// legend draws a key to the series above the plot.
func (c *chart) legend() {
	const y = 78
	x := float64(plotLeft)
	c.printf(`<g class="legend">` + "\n")
	for _, s := range latencyLines {
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		c.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y, x+28, y, s.Colour, dash)
		c.printf(`<circle cx="%.1f" cy="%d" r="3.5" fill="%s"/>`+"\n", x+14, y, s.Colour)
		c.text(x+34, y+4, `class="legend-label"`, s.Name)
		x += 80
	}
	c.printf(`<rect x="%.1f" y="%d" width="12" height="12" fill="%s" fill-opacity="0.35" stroke="%s"/>`+"\n",
		x+8, y-6, colourErrors, colourErrors)
	label := "error rate % (right axis)"
	if !c.anyErrors() {
		label += ": none"
	}
	c.text(x+26, y+4, `class="legend-label"`, label)
	c.printf("</g>\n")
}

// anyErrors reports whether a row has a nonzero error rate.
func (c *chart) anyErrors() bool {
	return slices.ContainsFunc(c.rows, func(r Row) bool { return finite(r.ErrorRate) > 0 })
}

// logScale maps values between Low and High to pixels between From and To
// on a logarithmic scale.
type logScale struct {
	Low, High float64
	From, To  float64
	Steps     int // the most decades for which ticks go 1, 2, 5
}

// position returns the pixel of v (v > 0).
func (s logScale) position(v float64) float64 {
	f := math.Log(v/s.Low) / math.Log(s.High/s.Low)
	return s.From + f*(s.To-s.From)
}

// ticks returns 1-2-5 values between Low and High, or only the powers of
// ten when the scale spans more than Steps decades.
func (s logScale) ticks() []float64 {
	mantissas := []float64{1, 2, 5}
	if math.Log10(s.High/s.Low) > float64(s.Steps) {
		mantissas = []float64{1}
	}
	var ticks []float64
	for decade := decadeBelow(s.Low); decade <= s.High*1.000001; decade *= 10 {
		for _, m := range mantissas {
			if v := roundSignificant(m * decade); v >= s.Low*0.999999 && v <= s.High*1.000001 {
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

// linearScale maps values between 0 and High to pixels between From and To.
type linearScale struct {
	High     float64
	From, To float64
}

// position returns the pixel of v.
func (s linearScale) position(v float64) float64 {
	return s.From + v/s.High*(s.To-s.From)
}

// ticks returns evenly spaced round values from 0 to High, a 1-2-5 value.
func (s linearScale) ticks() []float64 {
	divisions := 5
	if m := s.High / decadeBelow(s.High); math.Abs(m-2) < 0.01 {
		divisions = 4
	}
	ticks := make([]float64, 0, divisions+1)
	for i := 0; i <= divisions; i++ {
		ticks = append(ticks, roundSignificant(s.High*float64(i)/float64(divisions)))
	}
	return ticks
}

// decadeBelow returns the largest power of ten at or below v (v > 0).
func decadeBelow(v float64) float64 {
	d := roundSignificant(math.Pow(10, math.Floor(math.Log10(v))))
	switch {
	case d > v:
		return roundSignificant(d / 10)
	case d*10 <= v:
		return roundSignificant(d * 10)
	}
	return d
}

// niceBelow returns the largest 1-2-5 value at or below v (v > 0).
func niceBelow(v float64) float64 {
	d := decadeBelow(v)
	for _, m := range []float64{5, 2} {
		if n := roundSignificant(m * d); n <= v {
			return n
		}
	}
	return d
}

// niceAbove returns the smallest 1-2-5 value at or above v (v > 0).
func niceAbove(v float64) float64 {
	d := decadeBelow(v)
	for _, m := range []float64{1, 2, 5} {
		if n := roundSignificant(m * d); n >= v {
			return n
		}
	}
	return roundSignificant(10 * d)
}

// roundSignificant rounds v to 9 significant digits, to drop the noise of
// float arithmetic on powers of ten.
func roundSignificant(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 9, 64), 64)
	return r
}

// tickLabel formats an axis value in its shortest form.
func tickLabel(v float64) string {
	return strconv.FormatFloat(roundSignificant(v), 'f', -1, 64)
}

// formatCount formats a number of connections: 500, 1k, 1.5k, 200k, 1M.
func formatCount(v float64) string {
	switch {
	case v >= 1e6:
		return tickLabel(v/1e6) + "M"
	case v >= 1e3:
		return tickLabel(v/1e3) + "k"
	}
	return tickLabel(v)
}
