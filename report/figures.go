package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"flowstat/tables"
)

// Figure is one plot of the report. Package report decides what a figure
// shows and whether it has anything to show; package plots only draws it.
type Figure struct {
	File   string // path relative to the output directory: plots/NAME.png
	Title  string
	Panels []Panel // stacked top to bottom, sharing the x axis
}

// Panel is one plotting area of a figure: lines over a time or log axis,
// or horizontal bars.
type Panel struct {
	XLabel, YLabel string
	XAxis          AxisKind
	Lines          []Line
	Bars           []Bar // top to bottom
}

// AxisKind says how a panel's x values are read.
type AxisKind uint8

// Axis kinds.
const (
	TimeAxis AxisKind = iota // Unix seconds, shown as UTC times
	LogAxis                  // positive values, logarithmic
)

// Line is one series, named in the legend unless Name is empty; with Step
// it is drawn as steps, each value holding until the next x.
type Line struct {
	Name string
	X, Y []float64
	Step bool
}

// Bar is one bar of a bar chart; Note is its value written for people.
type Bar struct {
	Label string
	Value float64
	Note  string
}

// PlotsDir is where figures go, relative to the output directory.
const PlotsDir = "plots"

// figures decides the report's plots. A plot with nothing to show (one
// window, one bar or bars all alike, hardly any flow lasting) is left out.
func figures(st *Stats) []Figure {
	var out []Figure
	secs := float64(st.Interval) / 1e9
	per := "per " + FormatDuration(secs) + " window"
	if len(st.Rates) >= minSeriesWindows {
		var maxPkts, maxBits float64
		for _, r := range st.Rates {
			maxPkts = max(maxPkts, float64(r.Packets)/secs)
			maxBits = max(maxBits, float64(r.Bytes)*8/secs)
		}
		pScale, pUnit := siScale(maxPkts)
		bScale, bUnit := siScale(maxBits)
		// One line a panel, named by the panel's axis: no legend.
		pkts, bits := Line{Step: true}, Line{Step: true}
		for _, r := range st.Rates {
			x := float64(r.Start) / 1e9
			pkts.X, pkts.Y = append(pkts.X, x), append(pkts.Y, float64(r.Packets)/secs/pScale)
			bits.X, bits.Y = append(bits.X, x), append(bits.Y, float64(r.Bytes)*8/secs/bScale)
		}
		end := float64(st.Rates[len(st.Rates)-1].Start+st.Interval) / 1e9
		closeSteps(&pkts, end)
		closeSteps(&bits, end)
		xl := timeLabel(st.Rates[0].Start)
		out = append(out, Figure{File: PlotsDir + "/throughput.png", Title: "Traffic, " + per,
			Panels: []Panel{
				{XLabel: xl, YLabel: strings.TrimSpace(pUnit + " packets/s"), Lines: []Line{pkts}},
				{XLabel: xl, YLabel: bUnit + "bit/s", Lines: []Line{bits}},
			}})
	}
	if len(st.States) >= 2 {
		p := Panel{XLabel: "flows", YLabel: "protocol and state"}
		for _, s := range st.States {
			p.Bars = append(p.Bars, Bar{Label: tables.ProtoName(s.Proto) + " " + s.State.String(), Value: float64(s.Flows), Note: FormatCount(s.Flows)})
		}
		out = append(out, Figure{File: PlotsDir + "/states.png", Title: "Flows by protocol and state", Panels: []Panel{p}})
	}
	if len(st.TopByFlows) >= 2 && st.Destinations[st.TopByFlows[0]].Flows > st.Destinations[st.TopByFlows[len(st.TopByFlows)-1]].Flows {
		// Bars of equal length rank nothing.
		p := Panel{XLabel: "flows", YLabel: "destination"}
		for _, i := range st.TopByFlows {
			d := &st.Destinations[i]
			p.Bars = append(p.Bars, Bar{Label: d.Dest.String(), Value: float64(d.Flows), Note: FormatCount(d.Flows)})
		}
		out = append(out, Figure{File: PlotsDir + "/top-destinations.png",
			Title: fmt.Sprintf("Top %d destinations by flows", len(p.Bars)), Panels: []Panel{p}})
	}
	if f, ok := cdfFigure(st); ok {
		out = append(out, f)
	}
	seen := map[string]bool{}
	add := func(f Figure) string {
		if !seen[f.File] {
			seen[f.File] = true
			out = append(out, f)
		}
		return f.File
	}
	for i := range st.Findings {
		fd := &st.Findings[i]
		var f Figure
		var ok bool
		if fd.Kind == SYNFlood {
			f, ok = handshakeFigure(st, fd.Dest.String(), &fd.Series)
		} else {
			f, ok = activityFigure(st, i+1, fd)
		}
		if ok {
			fd.Figure = add(f)
		}
	}
	for i := range st.Timelines {
		tl := &st.Timelines[i]
		if f, ok := handshakeFigure(st, tl.Name, &tl.Series); ok {
			tl.Figure = add(f)
		}
	}
	return out
}

// closeSteps ends a step line at x, holding its last value.
func closeSteps(l *Line, x float64) {
	if len(l.Y) > 0 {
		l.X, l.Y = append(l.X, x), append(l.Y, l.Y[len(l.Y)-1])
	}
}

// handshakeFigure plots SYNs, SYN-ACKs and half-open flows of one target.
func handshakeFigure(st *Stats, name string, s *Series) (Figure, bool) {
	if s.Windows < minSeriesWindows {
		return Figure{}, false
	}
	lines := []Line{
		{Name: "SYN packets to it", Step: true},
		{Name: "SYN-ACK packets from it", Step: true},
		{Name: "half-open flows at window end", Step: true},
		{Name: "SYN-only (S0) flows at window end", Step: true},
	}
	for _, p := range s.Handshake {
		x := float64(p.Start) / 1e9
		for i, v := range []uint64{p.SYNs, p.SYNACKs, p.HalfOpen, p.SYNOnly} {
			lines[i].X, lines[i].Y = append(lines[i].X, x), append(lines[i].Y, float64(v))
		}
	}
	// The figure tells of handshakes left unfinished: without any, there
	// is nothing to show (an ordinary session); with some, every line is
	// drawn, a SYN-ACK line at zero being the evidence of a flood.
	nonzero := func(l Line) bool { return slices.ContainsFunc(l.Y, func(v float64) bool { return v != 0 }) }
	if !nonzero(lines[2]) && !nonzero(lines[3]) {
		return Figure{}, false
	}
	kept := lines
	for i := range kept {
		closeSteps(&kept[i], float64(s.End)/1e9)
	}
	return Figure{
		File:  PlotsDir + "/handshake-" + slug(name) + ".png",
		Title: "SYN, SYN-ACK and half-open: " + name,
		Panels: []Panel{{XLabel: pointsLabel(s.Handshake[0].Start, s.PerPoint),
			YLabel: "packets or flows per " + FormatDuration(float64(st.Interval)/1e9) + " window", Lines: kept}},
	}, true
}

// pointsLabel is the time axis of a figure from start, whose points are
// the highest of perPoint windows each.
func pointsLabel(start int64, perPoint int) string {
	if perPoint > 1 {
		return timeLabel(start) + fmt.Sprintf("; a point is the highest of %d windows", perPoint)
	}
	return timeLabel(start)
}

// activityFigure plots a reflection's or a scan's flows per window.
func activityFigure(st *Stats, n int, f *Finding) (Figure, bool) {
	a := &f.Activity
	if a.Windows < minSeriesWindows {
		return Figure{}, false
	}
	peers := "reflectors active"
	if f.Kind == PortScan || f.Kind == HostScan {
		peers = "host:port pairs probed"
	}
	lines := []Line{{Name: "flows started", Step: true}, {Name: "flows active", Step: true}, {Name: peers, Step: true}}
	for _, p := range a.Points {
		x := float64(p.Start) / 1e9
		for i, v := range []uint64{p.New, p.Active, p.Peers} {
			lines[i].X, lines[i].Y = append(lines[i].X, x), append(lines[i].Y, float64(v))
		}
	}
	for i := range lines {
		closeSteps(&lines[i], float64(a.End)/1e9)
	}
	return Figure{
		File:  fmt.Sprintf("%s/finding-%d.png", PlotsDir, n),
		Title: fmt.Sprintf("Finding %d, %s: %s", n, f.Kind, f.Where()),
		Panels: []Panel{{XLabel: pointsLabel(a.Points[0].Start, a.PerPoint),
			YLabel: "flows or peers per " + FormatDuration(float64(st.Interval)/1e9) + " window", Lines: lines}},
	}, true
}

// cdfFigure plots the distribution of durations on a log axis: the flows
// of no duration (one packet) are where each curve starts.
func cdfFigure(st *Stats) (Figure, bool) {
	var lines []Line
	var zeros []float64 // share of each line's flows that lasted 0 s
	var scope string
	var cur *Line
	for _, p := range st.CDF {
		if p.Scope != scope || cur == nil {
			scope = p.Scope
			name := "all flows"
			if scope != "all" {
				name = scope
			}
			lines = append(lines, Line{Name: name, Step: true})
			zeros = append(zeros, 0)
			cur = &lines[len(lines)-1]
		}
		if p.Duration > 0 {
			cur.X, cur.Y = append(cur.X, p.Duration), append(cur.Y, p.Fraction)
		} else {
			zeros[len(zeros)-1] = p.Fraction
		}
	}
	// A destination's curve needs enough flows to be a distribution, and
	// says nothing new when the destination has every flow.
	skip := map[string]bool{}
	for _, i := range st.TopByFlows {
		if d := &st.Destinations[i]; d.Flows < minCDFFlows || d.Flows == st.Flows {
			skip[d.Dest.String()] = true
		}
	}
	var kept []Line
	for i, l := range lines {
		// A curve needs a share of flows that lasted: single packets
		// alone sit at 0 s, off the log axis.
		if len(l.X) >= 2 && !skip[l.Name] && zeros[i] <= 1-minLastingShare && len(kept) <= maxCDFLines {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		return Figure{}, false
	}
	return Figure{File: PlotsDir + "/durations.png", Title: "Flow durations (CDF)",
		Panels: []Panel{{XLabel: "duration (s, log scale)", YLabel: "fraction of flows lasting at most x",
			XAxis: LogAxis, Lines: kept}}}, true
}

// slug makes a destination or prefix usable in a file name.
func slug(s string) string {
	return strings.NewReplacer(":", "-", "[", "", "]", "", "/", "-").Replace(s)
}

// timeLabel labels a time axis starting at t.
func timeLabel(t int64) string {
	return "time (UTC) on " + time.Unix(0, t).UTC().Format("2006-01-02")
}

// siScale returns the divisor and prefix that show v with at most three
// integer digits.
func siScale(v float64) (float64, string) {
	switch {
	case v >= 1e12:
		return 1e12, "T"
	case v >= 1e9:
		return 1e9, "G"
	case v >= 1e6:
		return 1e6, "M"
	case v >= 1e3:
		return 1e3, "k"
	}
	return 1, ""
}
