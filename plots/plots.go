package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"flowstat/report"
	"flowstat/tables"
)

// Sizes at the 96 dpi the PNGs are written at: 960 pixels wide, a panel of
// lines 400 pixels high, a bar 24 pixels.
const (
	width         = 10 * vg.Inch
	panelHeight   = 4.2 * vg.Inch
	barHeight     = 0.25 * vg.Inch
	barPadding    = 1.3 * vg.Inch
	minBarsHeight = 2.2 * vg.Inch
	dpi           = 96
)

var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// palette is Okabe and Ito's, distinguishable with any colour vision.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{0, 0, 0, 255},       // black
}

// Write draws every figure into dir (each figure's File is relative to
// it), atomically, and removes figures of an earlier run that this one
// does not have.
func Write(dir string, figs []report.Figure) error {
	if len(figs) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, report.PlotsDir), 0o755); err != nil {
			return fmt.Errorf("cannot create plots directory: %w", err)
		}
	}
	keep := map[string]bool{}
	for _, f := range figs {
		data, err := Render(f)
		if err != nil {
			return err
		}
		if err := tables.WriteFileAtomic(filepath.Join(dir, f.File), data); err != nil {
			return err
		}
		keep[filepath.Base(f.File)] = true
	}
	return removeStale(filepath.Join(dir, report.PlotsDir), keep)
}

// removeStale removes the PNGs flowstat names that are not in keep, so a
// re-rendered report never sits beside plots of an earlier one.
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list plots: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if keep[name] || !strings.HasSuffix(name, ".png") || !ours(name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("cannot remove old plot: %w", err)
		}
	}
	return nil
}

func ours(name string) bool {
	switch name {
	case "throughput.png", "states.png", "top-destinations.png", "durations.png":
		return true
	}
	return strings.HasPrefix(name, "handshake-") || strings.HasPrefix(name, "finding-")
}

// Render draws one figure as PNG.
func Render(f report.Figure) ([]byte, error) {
	if len(f.Panels) == 0 {
		return nil, fmt.Errorf("cannot draw %s: no panel", f.File)
	}
	var ps [][]*plot.Plot
	height := vg.Length(0)
	for i, pn := range f.Panels {
		p, h, err := panel(pn)
		if err != nil {
			return nil, fmt.Errorf("cannot draw %s: %w", f.File, err)
		}
		if i == 0 {
			p.Title.Text = f.Title
		}
		ps = append(ps, []*plot.Plot{p})
		height += h
	}
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	if len(ps) == 1 {
		ps[0][0].Draw(dc)
	} else {
		tiles := draw.Tiles{Rows: len(ps), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
		canvases := plot.Align(ps, tiles, dc)
		for i := range ps {
			ps[i][0].Draw(canvases[i][0])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("cannot encode %s: %w", f.File, err)
	}
	return buf.Bytes(), nil
}

// newPlot returns a plot with legible sans-serif text.
func newPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = font.From(sans, 15)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 12)
		a.Tick.Label.Font = font.From(sans, 11)
	}
	p.Legend.TextStyle.Font = font.From(sans, 11)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(4)
	return p
}

// panel draws one panel and returns its height.
func panel(pn report.Panel) (*plot.Plot, vg.Length, error) {
	p := newPlot()
	p.X.Label.Text, p.Y.Label.Text = pn.XLabel, pn.YLabel
	if len(pn.Bars) > 0 {
		return bars(p, pn)
	}
	if len(pn.Lines) == 0 {
		return nil, 0, fmt.Errorf("panel %q has nothing to draw", pn.YLabel)
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	for _, l := range pn.Lines {
		if len(l.X) != len(l.Y) || !slices.ContainsFunc(l.Y, func(y float64) bool { return !math.IsNaN(y) }) {
			return nil, 0, fmt.Errorf("line %q has %d x and %d y values, none a number", l.Name, len(l.X), len(l.Y))
		}
	}
	lo, hi := xRange(pn.Lines)
	for i, l := range pn.Lines {
		line := &plotter.Line{LineStyle: plotter.DefaultLineStyle}
		if l.Step {
			line.StepStyle = plotter.PostStep
		}
		line.Color = palette[i%len(palette)]
		// Each line thinner than the one before, so that lines that
		// coincide still show as nested stripes.
		line.Width = vg.Points(2)
		if len(pn.Lines) > 1 {
			line.Width = vg.Points(max(4.5-1.5*float64(i), 1.2))
		}
		if i >= len(palette) {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		for _, part := range parts(l) {
			xys := points(part, pn.XAxis == report.TimeAxis, lo, hi)
			if err := plotter.CheckFloats(xyFloats(xys)...); err != nil {
				return nil, 0, fmt.Errorf("line %q: %w", l.Name, err)
			}
			// Stroked in pieces: the rasterizer's cost grows with the
			// square of the points of one path that cross a row of pixels.
			for start := 0; start == 0 || start < len(xys)-1; start += strokePoints {
				piece := *line
				piece.XYs = xys[start:min(start+strokePoints+1, len(xys))]
				p.Add(&piece)
			}
		}
		if l.Name != "" {
			p.Legend.Add(l.Name, line)
		}
	}
	switch pn.XAxis {
	case report.LogAxis:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = durationTicks{}
		// Whole decades, so that at least two ticks are labelled.
		p.X.Min = math.Pow(10, math.Floor(math.Log10(p.X.Min)))
		p.X.Max = math.Pow(10, math.Ceil(math.Log10(p.X.Max)))
		if p.X.Max <= p.X.Min {
			p.X.Max = p.X.Min * 10
		}
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Tick.Marker = fractionTicks{}
		// Room above the highest curve for the legend.
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	default:
		p.X.Tick.Marker = timeTicks{}
		p.Y.Min = 0
		p.Y.Max *= 1.25 // room for the legend
		if p.Y.Max <= 0 {
			p.Y.Max = 1
		}
		p.Y.Tick.Marker = countTicks{}
	}
	return p, panelHeight, nil
}

// parts splits a line where it breaks (a Y that is NaN; see report.Line):
// a step line's last value holds until the break.
func parts(l report.Line) []report.Line {
	var out []report.Line
	from := 0
	for j := 0; j <= len(l.Y); j++ {
		if j < len(l.Y) && !math.IsNaN(l.Y[j]) {
			continue
		}
		if j > from {
			part := report.Line{X: l.X[from:j:j], Y: l.Y[from:j:j], Step: l.Step}
			if l.Step && j < len(l.Y) {
				part.X, part.Y = append(part.X, l.X[j]), append(part.Y, l.Y[j-1])
			}
			out = append(out, part)
		}
		from = j + 1
	}
	return out
}

func xyFloats(xys plotter.XYs) []float64 {
	fs := make([]float64, 0, 2*len(xys))
	for _, xy := range xys {
		fs = append(fs, xy.X, xy.Y)
	}
	return fs
}

// strokePoints is how many segments of a line are stroked at once.
var strokePoints = 64

// timeColumns is how many spans of a time axis a line keeps at most four
// points of (see points): twice the pixels of the figure's width.
var timeColumns = 2 * int(width/vg.Inch*dpi)

// points returns the points of l to draw. A line over time with more than
// four points per span of timeColumns equal spans of [lo, hi] keeps, of
// each span, its first, lowest, highest and last points (M4: Jugel et
// al., VLDB 2014), which draw the same line, peaks included, at this
// width: the rasterizer's cost grows faster than the points, and a week
// in minutes is ten thousand points a line.
func points(l report.Line, overTime bool, lo, hi float64) plotter.XYs {
	n := len(l.X)
	if !overTime || n <= 4*timeColumns || hi <= lo || !slices.IsSorted(l.X) {
		xys := make(plotter.XYs, n)
		for j := range l.X {
			xys[j] = plotter.XY{X: l.X[j], Y: l.Y[j]}
		}
		return xys
	}
	column := func(x float64) int { return min(int((x-lo)/(hi-lo)*float64(timeColumns)), timeColumns-1) }
	xys := make(plotter.XYs, 0, 4*timeColumns)
	keep := func(first, low, high, last int) {
		kept := [4]int{first, low, high, last}
		slices.Sort(kept[:])
		for k, j := range kept {
			if k == 0 || j != kept[k-1] {
				xys = append(xys, plotter.XY{X: l.X[j], Y: l.Y[j]})
			}
		}
	}
	first, low, high, c := 0, 0, 0, column(l.X[0])
	for j := 1; j < n; j++ {
		if cj := column(l.X[j]); cj != c {
			keep(first, low, high, j-1)
			first, low, high, c = j, j, j, cj
			continue
		}
		if l.Y[j] < l.Y[low] {
			low = j
		}
		if l.Y[j] > l.Y[high] {
			high = j
		}
	}
	keep(first, low, high, n-1)
	return xys
}

// xRange returns the lowest and highest x of lines, so that every line of
// a panel is cut into the same spans.
func xRange(lines []report.Line) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		lo, hi = min(lo, slices.Min(l.X)), max(hi, slices.Max(l.X))
	}
	return lo, hi
}

// bars draws a horizontal bar chart, first bar on top, each with its note.
func bars(p *plot.Plot, pn report.Panel) (*plot.Plot, vg.Length, error) {
	n := len(pn.Bars)
	vals := make(plotter.Values, n)
	labels := make([]string, n)
	notes := make(plotter.XYs, n)
	texts := make([]string, n)
	maxV := 0.0
	for i, b := range pn.Bars {
		j := n - 1 - i // the first bar is drawn at the top
		vals[j], labels[j] = b.Value, b.Label
		notes[j] = plotter.XY{X: b.Value, Y: float64(j)}
		texts[j] = " " + b.Note
		maxV = max(maxV, b.Value)
	}
	height := max(minBarsHeight, barPadding+vg.Length(n)*barHeight)
	// Bars fill most of their share of the height, up to a limit.
	chart, err := plotter.NewBarChart(vals, min(0.7*(height-barPadding)/vg.Length(n), 0.35*vg.Inch))
	if err != nil {
		return nil, 0, err
	}
	chart.Horizontal = true
	chart.Color = palette[0]
	chart.LineStyle.Width = 0
	p.Add(chart)
	lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: notes, Labels: texts})
	if err != nil {
		return nil, 0, err
	}
	for i := range lbl.TextStyle {
		lbl.TextStyle[i].Font = font.From(sans, 10)
		lbl.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(lbl)
	p.NominalY(labels...)
	p.Y.Label.Text = ""
	p.X.Min = 0
	p.X.Max = maxV * 1.15 // room for the notes
	p.X.Tick.Marker = countTicks{}
	p.Legend = plot.NewLegend()
	return p, height, nil
}

// timeTicks marks a time axis in Unix seconds at round UTC times, spaced
// so that their labels never overprint on a panel of the figure's width:
// milliseconds over spans under a few seconds, dates over spans of days,
// months over spans of a year.
type timeTicks struct{}

// timeStep is a step of the ladder of time ticks: a fixed number of
// milliseconds, or of calendar months.
type timeStep struct {
	ms     int64
	months int
}

var timeStepLadder = func() []timeStep {
	var l []timeStep
	for _, ms := range []int64{
		1, 2, 5, 10, 20, 50, 100, 200, 500,
		1e3, 2e3, 5e3, 10e3, 15e3, 30e3,
		60e3, 2 * 60e3, 5 * 60e3, 10 * 60e3, 15 * 60e3, 30 * 60e3,
		3600e3, 2 * 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3,
		86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3,
	} {
		l = append(l, timeStep{ms: ms})
	}
	for _, m := range []int{1, 2, 3, 6, 12, 24, 60, 120} {
		l = append(l, timeStep{months: m})
	}
	return l
}()

// Space for time labels: the plotting area of a panel is about 860 of the
// figure's 960 pixels, a label's character at most 8.2 pixels (a digit
// at 11 points and 96 dpi), and labels are kept 2 characters apart; at
// most maxTimeLabels of them, which is plenty to read a time from.
const (
	timeAxisPixels = 860
	labelCharPx    = 8.2
	maxTimeLabels  = 8
)

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	span := hi - lo
	var step timeStep
	var layout string
	for _, step = range timeStepLadder {
		layout = timeLayout(step, lo, hi)
		n := span / step.seconds()
		spacing := timeAxisPixels / max(n, 1)
		if n <= maxTimeLabels && spacing >= labelCharPx*float64(len(layout)+2) {
			break
		}
	}
	var ticks []plot.Tick
	for _, t := range step.times(lo, hi) {
		v := float64(t.UnixNano()) / 1e9
		ticks = append(ticks, plot.Tick{Value: v, Label: t.Format(layout)})
	}
	// A minor tick halfway between labels.
	if step.months == 0 && len(ticks) > 0 {
		half := float64(step.ms) / 2e3
		for i := range len(ticks) {
			if v := ticks[i].Value + half; v <= hi {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
		if v := ticks[0].Value - half; v >= lo {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// seconds is the step's length, a month taken as 30 days.
func (s timeStep) seconds() float64 {
	if s.months > 0 {
		return float64(s.months) * 30 * 86400
	}
	return float64(s.ms) / 1e3
}

// times returns the multiples of the step from lo to hi (Unix seconds):
// of milliseconds since the epoch, of days since a Monday for weeks, and
// of months since year 0 for months.
func (s timeStep) times(lo, hi float64) []time.Time {
	var out []time.Time
	switch {
	case s.months > 0:
		t := time.Unix(int64(math.Floor(lo)), 0).UTC()
		m := (t.Year()*12 + int(t.Month()) - 1) / s.months * s.months
		for ; ; m += s.months {
			tm := time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC)
			v := float64(tm.Unix())
			if v > hi {
				break
			}
			if v >= lo {
				out = append(out, tm)
			}
		}
	default:
		// Weeks start on Mondays: the epoch was a Thursday.
		offset := int64(0)
		if s.ms%(7*86400e3) == 0 {
			offset = 4 * 86400e3
		}
		loMs, hiMs := int64(math.Ceil(lo*1e3)), int64(math.Floor(hi*1e3))
		k := floorDiv(loMs-offset, s.ms)
		for ; ; k++ {
			ms := k*s.ms + offset
			if ms > hiMs {
				break
			}
			if ms >= loMs {
				out = append(out, time.UnixMilli(ms).UTC())
			}
		}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// timeLayout is how the ticks of step label times from lo to hi: the
// shortest layout that tells them apart, the date in it when the span
// crosses midnight (the axis label gives the day otherwise).
func timeLayout(s timeStep, lo, hi float64) string {
	day := func(v float64) string { return time.Unix(int64(math.Floor(v)), 0).UTC().Format("2006-01-02") }
	switch {
	case s.months > 0:
		return "2006-01"
	case s.ms >= 86400e3:
		return "2006-01-02"
	case day(lo) != day(hi):
		if s.ms < 1e3 {
			return "01-02 15:04:05.000"
		}
		if s.ms < 60e3 {
			return "01-02 15:04:05"
		}
		return "01-02 15:04"
	case s.ms < 1e3:
		return "15:04:05.000"
	case s.ms < 60e3:
		return "15:04:05"
	}
	return "15:04"
}

// countTicks marks a count or rate axis with short labels: 0, 500, 1.5k.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi-lo <= 6 {
		// Small counts: whole numbers only.
		var ticks []plot.Tick
		for v := math.Ceil(lo); v <= hi; v++ {
			ticks = append(ticks, plot.Tick{Value: v, Label: trim(v)})
		}
		return ticks
	}
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = shortNumber(ticks[i].Value)
		}
	}
	return ticks
}

func shortNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e4:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }

// fractionTicks marks a 0..1 axis in tenths, labelled every fifth.
type fractionTicks struct{}

func (fractionTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for i := 0; i <= 10; i++ {
		t := plot.Tick{Value: float64(i) / 10}
		if i%2 == 0 {
			t.Label = trim(t.Value)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// durationTicks marks a logarithmic axis of seconds at powers of ten,
// labelled with units: 1 µs, 10 ms, 1 s, 1 min 40 s is written 100 s.
type durationTicks struct{}

func (durationTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: v, Label: durationLabel(e)})
		for k := 2.0; k < 10; k++ {
			ticks = append(ticks, plot.Tick{Value: k * v})
		}
	}
	return slices.DeleteFunc(ticks, func(t plot.Tick) bool { return t.Value < lo*0.999 || t.Value > hi*1.001 })
}

// durationLabel names 10^e seconds.
func durationLabel(e float64) string {
	units := []struct {
		exp  float64
		name string
	}{{-9, "ns"}, {-6, "µs"}, {-3, "ms"}, {0, "s"}}
	for i := len(units) - 1; i >= 0; i-- {
		if e >= units[i].exp || i == 0 {
			return trim(math.Pow(10, e-units[i].exp)) + " " + units[i].name
		}
	}
	return ""
}
