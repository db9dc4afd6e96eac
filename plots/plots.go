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
		if len(l.X) != len(l.Y) || len(l.X) == 0 {
			return nil, 0, fmt.Errorf("line %q has %d x and %d y values", l.Name, len(l.X), len(l.Y))
		}
	}
	lo, hi := xRange(pn.Lines)
	for i, l := range pn.Lines {
		xys := points(l, pn.XAxis == report.TimeAxis, lo, hi)
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, 0, fmt.Errorf("line %q: %w", l.Name, err)
		}
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
		// Stroked in pieces: the rasterizer's cost grows with the square
		// of the points of one path that cross a row of pixels.
		for start := 0; start == 0 || start < len(xys)-1; start += strokePoints {
			piece := *line
			piece.XYs = xys[start:min(start+strokePoints+1, len(xys))]
			p.Add(&piece)
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

// timeTicks marks a time axis in Unix seconds at round UTC times.
type timeTicks struct{}

var timeSteps = []float64{
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
	1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
	86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
}

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		// Whole seconds read better, unless the span is a few seconds.
		if s < 1 && hi-lo >= 3 {
			continue
		}
		if (hi-lo)/s <= 6 {
			step = s
			break
		}
	}
	layout := "15:04:05"
	switch {
	case step < 1:
		layout = "15:04:05.000"
	case hi-lo > 86400:
		layout = "01-02 15:04"
	case step >= 60:
		layout = "15:04"
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		t := time.Unix(0, int64(math.Round(v*1e9))).UTC()
		ticks = append(ticks, plot.Tick{Value: v, Label: t.Format(layout)})
		minor := v + step/2
		if minor < hi {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	return ticks
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
