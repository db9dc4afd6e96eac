package plots

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/plot/plotter"

	"flowstat/report"
)

// denseFigure is n windows of made-up traffic a minute apart, noisy, with
// a few one-window spikes and a dip to zero: two lines, one of them
// drawn in steps, as the throughput and handshake figures are.
func denseFigure(n int) report.Figure {
	r := rand.New(rand.NewPCG(1, 2))
	rate := report.Line{Name: "packets"}
	syns := report.Line{Name: "SYNs", Step: true}
	for i := range n {
		x := 1.7e9 + 60*float64(i)
		y := 500 + 200*math.Sin(float64(i)/300) + 80*r.NormFloat64()
		switch {
		case i%(n/5) == n/7:
			y *= 6
		case i == n/2:
			y = 0
		}
		rate.X, rate.Y = append(rate.X, x), append(rate.Y, y)
		syns.X, syns.Y = append(syns.X, x), append(syns.Y, y/3+40*r.Float64())
	}
	return report.Figure{File: "plots/dense.png", Title: "dense", Panels: []report.Panel{
		{XLabel: "time", YLabel: "packets/s", XAxis: report.TimeAxis, Lines: []report.Line{rate, syns}},
	}}
}

// A long series keeps, of each span of the time axis, the points that
// draw it: its first, last, lowest and highest, so no spike is lost.
func TestPointsKeepEachSpansExtremes(t *testing.T) {
	l := denseFigure(100_000).Panels[0].Lines[0]
	lo, hi := l.X[0], l.X[len(l.X)-1]
	kept := points(l, true, lo, hi)
	if len(kept) > 4*timeColumns || len(kept) < timeColumns {
		t.Fatalf("kept %d points of %d, want between %d and %d", len(kept), len(l.X), timeColumns, 4*timeColumns)
	}
	if !slices.IsSortedFunc(kept, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) }) {
		t.Fatal("kept points are out of order")
	}
	if first, last := kept[0], kept[len(kept)-1]; first.X != lo || first.Y != l.Y[0] || last.X != hi || last.Y != l.Y[len(l.Y)-1] {
		t.Errorf("first and last points not kept: %v %v", first, last)
	}
	// Span by span, the extremes kept are the series'.
	span := func(x float64) int { return min(int((x-lo)/(hi-lo)*float64(timeColumns)), timeColumns-1) }
	type extremes struct{ low, high float64 }
	of := func(xs, ys []float64) map[int]extremes {
		m := map[int]extremes{}
		for i, x := range xs {
			e, ok := m[span(x)]
			if !ok {
				e = extremes{ys[i], ys[i]}
			}
			m[span(x)] = extremes{min(e.low, ys[i]), max(e.high, ys[i])}
		}
		return m
	}
	var kx, ky []float64
	for _, p := range kept {
		kx, ky = append(kx, p.X), append(ky, p.Y)
	}
	want, got := of(l.X, l.Y), of(kx, ky)
	if len(got) != len(want) {
		t.Fatalf("%d spans kept, want %d", len(got), len(want))
	}
	for s, w := range want {
		if got[s] != w {
			t.Fatalf("span %d: kept extremes %v, want %v", s, got[s], w)
		}
	}
	if !slices.Contains(ky, slices.Max(l.Y)) || !slices.Contains(ky, 0) {
		t.Error("the highest spike or the dip to zero was dropped")
	}
	// Short series, and lines not over time, are drawn whole.
	if short := denseFigure(4 * timeColumns).Panels[0].Lines[0]; len(points(short, true, short.X[0], short.X[len(short.X)-1])) != len(short.X) {
		t.Error("a short line lost points")
	}
	if n := len(points(l, false, lo, hi)); n != len(l.X) {
		t.Errorf("a line on a log axis kept %d points of %d", n, len(l.X))
	}
}

// A dense line drawn in pieces, or from the points that points keeps,
// looks the same as every point drawn in one stroke (which takes seconds).
func TestDenseLinesDrawTheSame(t *testing.T) {
	fig := denseFigure(3000)
	got, err := Render(fig)
	if err != nil {
		t.Fatal(err)
	}
	fewer := func(columns int) []byte {
		defer func(c int) { timeColumns = c }(timeColumns)
		timeColumns = columns
		png, err := Render(fig)
		if err != nil {
			t.Fatal(err)
		}
		return png
	}
	// The reference: every point, one stroke a line.
	defer func(n int) { strokePoints = n }(strokePoints)
	strokePoints = math.MaxInt32
	want := fewer(math.MaxInt32)
	// Pieces miss only the joins between them (0.03 % of the pixels);
	// pieces that do not share their ends leave gaps (0.06 %).
	if d := pixelDiff(t, got, want); d > 0.0004 {
		t.Errorf("drawn in pieces: %.3f %% of the pixels differ", 100*d)
	}
	// 700 spans of 3000 points, about 1.3 pixels each: their extremes draw
	// nearly the same line (0.16 %; their first and last points alone, 2 %).
	if d := pixelDiff(t, fewer(700), want); d > 0.005 {
		t.Errorf("drawn from the extremes of 700 spans: %.2f %% of the pixels differ", 100*d)
	}
}

// BenchmarkRenderDense draws a week in 60 s windows: 10,080 points a line.
func BenchmarkRenderDense(b *testing.B) {
	fig := denseFigure(7 * 24 * 60)
	for b.Loop() {
		if _, err := Render(fig); err != nil {
			b.Fatal(err)
		}
	}
}
