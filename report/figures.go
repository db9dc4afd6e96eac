package report

import (
	"cmp"
	"fmt"
	"math"
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
// it is drawn as steps, each value holding until the next x. A Y that is
// NaN breaks the line: nothing is drawn from its x to the next point's
// (a gap in the capture, or the end of what it covers).
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
	per := "per " + FormatDuration(float64(st.Interval)/1e9) + " window"
	cover := coverage(st)
	if len(st.Rates) >= minSeriesWindows {
		wins := make([]timeWindow, len(st.Rates))
		for i, r := range st.Rates {
			wins[i] = timeWindow{r.Start, r.Start + st.Interval, []float64{float64(r.Packets), float64(r.Bytes) * 8}}
		}
		// One line a panel, named by the panel's axis: no legend.
		lines := timeLines([]Line{{Step: true}, {Step: true}}, []bool{true, true}, 1e9, wins, cover, true)
		pkts, bits := lines[0], lines[1]
		pScale, pUnit := siScale(highest(pkts.Y))
		bScale, bUnit := siScale(highest(bits.Y))
		for i := range pkts.Y {
			pkts.Y[i] /= pScale
			bits.Y[i] /= bScale
		}
		if len(pkts.X) > 0 {
			xl := timeLabel(int64(pkts.X[0]*1e9), int64(pkts.X[len(pkts.X)-1]*1e9))
			out = append(out, Figure{File: PlotsDir + "/throughput.png", Title: "Traffic, " + per,
				Panels: []Panel{
					{XLabel: xl, YLabel: strings.TrimSpace(pUnit + " packets/s"), Lines: []Line{pkts}},
					{XLabel: xl, YLabel: bUnit + "bit/s", Lines: []Line{bits}},
				}})
		}
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
			f, ok = handshakeFigure(st, cover, fd.Dest.String(), &fd.Series)
		} else {
			f, ok = activityFigure(st, cover, i+1, fd)
		}
		if ok {
			fd.Figure = add(f)
		}
	}
	for i := range st.Timelines {
		tl := &st.Timelines[i]
		if f, ok := targetTrafficFigure(st, cover, tl); ok {
			tl.Traffic = add(f)
		}
		// A host's traffic figure has the SYNs and SYN-ACKs that reached
		// it; the handshakes of its flows as a destination are a
		// destination's story (a SYN flood's).
		if tl.Traffic != "" && !tl.IsDest {
			continue
		}
		if f, ok := handshakeFigure(st, cover, tl.Name, &tl.Series); ok {
			tl.Figure = add(f)
		}
	}
	return out
}

// targetTrafficFigure plots the packets that reached a finding's target and
// those it sent, whichever side of the flows it was; and the SYNs and
// SYN-ACKs that reached it when some did (a SYN flood's, a SYN-ACK
// reflection's).
func targetTrafficFigure(st *Stats, cover []stretch, tl *Timeline) (Figure, bool) {
	if !tl.Victim || len(tl.Exchange) == 0 {
		return Figure{}, false
	}
	points, perPoint := denseExchanges(tl.Exchange, st.Interval)
	if len(points) < minSeriesWindows {
		return Figure{}, false
	}
	lines := []Line{{Name: "packets to it", Step: true}, {Name: "packets from it", Step: true}}
	value := []func(e *Exchange) uint64{
		func(e *Exchange) uint64 { return e.PacketsIn },
		func(e *Exchange) uint64 { return e.PacketsOut },
	}
	if slices.ContainsFunc(tl.Exchange, func(e Exchange) bool { return e.SYNsIn > 0 }) {
		lines = append(lines, Line{Name: "SYNs to it", Step: true})
		value = append(value, func(e *Exchange) uint64 { return e.SYNsIn })
	}
	if slices.ContainsFunc(tl.Exchange, func(e Exchange) bool { return e.SYNACKsIn > 0 }) {
		lines = append(lines, Line{Name: "SYN-ACKs to it", Step: true})
		value = append(value, func(e *Exchange) uint64 { return e.SYNACKsIn })
	}
	width := st.Interval * int64(perPoint)
	wins := make([]timeWindow, len(points))
	perTime := make([]bool, len(lines))
	for k := range perTime {
		perTime[k] = true
	}
	for i := range points {
		v := make([]float64, len(lines))
		for k := range value {
			v[k] = float64(value[k](&points[i]))
		}
		wins[i] = timeWindow{points[i].Start, points[i].Start + width, v}
	}
	lines = timeLines(lines, perTime, st.Interval, wins, cover, perPoint == 1)
	if len(lines[0].X) == 0 {
		return Figure{}, false
	}
	return Figure{
		File:  PlotsDir + "/traffic-" + slug(tl.Name) + ".png",
		Title: "Packets to and from " + tl.Name,
		Panels: []Panel{{XLabel: pointsLabel(lines[0].X, perPoint),
			YLabel: "packets per " + FormatDuration(float64(st.Interval)/1e9) + " window", Lines: lines}},
	}, true
}

// highest returns the highest of vs that is a number, 0 without any.
func highest(vs []float64) float64 {
	h := 0.0
	for _, v := range vs {
		if !math.IsNaN(v) {
			h = max(h, v)
		}
	}
	return h
}

// handshakeFigure plots SYNs, SYN-ACKs and half-open flows of one target
// over the time cover.
func handshakeFigure(st *Stats, cover []stretch, name string, s *Series) (Figure, bool) {
	if s.Windows < minSeriesWindows {
		return Figure{}, false
	}
	// The figure tells of handshakes left unfinished: without any, there
	// is nothing to show (an ordinary session); with some, every line is
	// drawn, a SYN-ACK line at zero being the evidence of a flood.
	if !slices.ContainsFunc(s.Handshake, func(p HandshakePoint) bool { return p.HalfOpen != 0 || p.SYNOnly != 0 }) {
		return Figure{}, false
	}
	width := st.Interval * int64(s.PerPoint)
	wins := make([]timeWindow, len(s.Handshake))
	for i, p := range s.Handshake {
		wins[i] = timeWindow{p.Start, p.Start + width, []float64{float64(p.SYNs), float64(p.SYNACKs), float64(p.HalfOpen), float64(p.SYNOnly)}}
	}
	// Packets are counted per window (a rate); flows open at a window's
	// end are a level.
	lines := timeLines([]Line{
		{Name: "SYN packets to it", Step: true},
		{Name: "SYN-ACK packets from it", Step: true},
		{Name: "half-open flows at window end", Step: true},
		{Name: "SYN-only (S0) flows at window end", Step: true},
	}, []bool{true, true, false, false}, st.Interval, wins, cover, s.PerPoint == 1)
	if len(lines[0].X) == 0 {
		return Figure{}, false
	}
	return Figure{
		File:  PlotsDir + "/handshake-" + slug(name) + ".png",
		Title: "SYN, SYN-ACK and half-open: " + name,
		Panels: []Panel{{XLabel: pointsLabel(lines[0].X, s.PerPoint),
			YLabel: "packets or flows per " + FormatDuration(float64(st.Interval)/1e9) + " window", Lines: lines}},
	}, true
}

// pointsLabel is the time axis of a figure over xs (Unix seconds), whose
// points are the highest of perPoint windows each.
func pointsLabel(xs []float64, perPoint int) string {
	l := timeLabel(int64(xs[0]*1e9), int64(xs[len(xs)-1]*1e9))
	if perPoint > 1 {
		return l + fmt.Sprintf("; a point is the highest of %d windows", perPoint)
	}
	return l
}

// activityFigure plots a reflection's or a scan's flows per window over
// the time cover.
func activityFigure(st *Stats, cover []stretch, n int, f *Finding) (Figure, bool) {
	a := &f.Activity
	if a.Windows < minSeriesWindows {
		return Figure{}, false
	}
	peers := "sources active"
	switch f.vector() {
	case PortScan, HostScan:
		peers = "host:port pairs probed"
	case Reflection, SYNACKReflection:
		peers = "reflectors active"
	}
	width := st.Interval * int64(a.PerPoint)
	wins := make([]timeWindow, len(a.Points))
	for i, p := range a.Points {
		wins[i] = timeWindow{p.Start, p.Start + width, []float64{float64(p.New), float64(p.Active), float64(p.Peers)}}
	}
	// Flows started are counted per window (a rate); flows and peers
	// active in a window are a level.
	lines := timeLines([]Line{{Name: "flows started", Step: true}, {Name: "flows active", Step: true}, {Name: peers, Step: true}},
		[]bool{true, false, false}, st.Interval, wins, cover, a.PerPoint == 1)
	if len(lines[0].X) == 0 {
		return Figure{}, false
	}
	return Figure{
		File:  fmt.Sprintf("%s/finding-%d.png", PlotsDir, n),
		Title: fmt.Sprintf("Finding %d, %s: %s", n, f.Kind, f.Where()),
		Panels: []Panel{{XLabel: pointsLabel(lines[0].X, a.PerPoint),
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

// timeLabel labels a time axis from one time to another, in UTC.
func timeLabel(from, to int64) string {
	day := func(t int64) string { return time.Unix(0, t).UTC().Format("2006-01-02") }
	if day(from) == day(to) {
		return "time (UTC) on " + day(from)
	}
	return "time (UTC), " + day(from) + " to " + day(to)
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

// Figures over time show only the time the capture covers: from its first
// packet to its last, less its gaps, where the line breaks. A gap is a
// silence, no packet at all, of at least minGapWindows windows and of a
// share of the capture's span: between inputs (two captures months apart
// read together), a minGapShareBetween-th; inside one input (a capture
// that paused), a minGapShareInside-th, since one capture's silence is more
// often a quiet time than a pause, and drawn as zeros it keeps the levels
// (flows open) and the drops of the figures around it. Shorter silences are
// windows of zeros.
const (
	minGapWindows      = 10
	minGapShareBetween = 50
	minGapShareInside  = 5
	// minEdgeShare: a window at the edge of a stretch that the capture
	// covers for less than a minEdgeShare-th of it is drawn together with
	// its neighbour: its own rate, from a handful of packets over a
	// sliver of time, would be noise setting the axis.
	minEdgeShare = 4
)

// stretch is a time the capture covers, nanoseconds since the epoch, from
// and to included.
type stretch struct{ from, to int64 }

// coverage returns the stretches of time the capture covers, ascending:
// from each input's first packet to its last, inputs less than a gap apart
// joined, less the gaps inside, found in the report's windows (so their
// edges are window edges: windows are what the report keeps).
func coverage(st *Stats) []stretch {
	var in []stretch
	for _, i := range st.Summary.Inputs {
		if i.FirstSeen != nil && i.LastSeen != nil && !i.LastSeen.Before(*i.FirstSeen) {
			in = append(in, stretch{i.FirstSeen.UnixNano(), i.LastSeen.UnixNano()})
		}
	}
	if len(in) == 0 {
		if st.Flows == 0 {
			return nil
		}
		in = []stretch{{st.FirstSeen, st.LastSeen}}
	}
	slices.SortFunc(in, func(a, b stretch) int { return cmp.Compare(a.from, b.from) })
	first, last := in[0].from, in[0].to
	for _, s := range in {
		last = max(last, s.to)
	}
	between := max(minGapWindows*st.Interval, (last-first)/minGapShareBetween)
	inside := max(minGapWindows*st.Interval, (last-first)/minGapShareInside)
	var joined []stretch
	for _, s := range in {
		if n := len(joined); n > 0 && s.from-joined[n-1].to < between {
			joined[n-1].to = max(joined[n-1].to, s.to)
			continue
		}
		joined = append(joined, s)
	}
	// Silences between windows with packets; Rates may lack windows of
	// nothing (see maxDenseWindows).
	var silences []stretch
	busyEnd := int64(math.MinInt64)
	for _, r := range st.Rates {
		if r.Packets == 0 {
			continue
		}
		if busyEnd != math.MinInt64 && r.Start-busyEnd >= inside {
			silences = append(silences, stretch{busyEnd, r.Start})
		}
		busyEnd = r.Start + st.Interval
	}
	var out []stretch
	for _, s := range joined {
		for _, g := range silences {
			if g.to <= s.from || g.from >= s.to {
				continue
			}
			if g.from > s.from {
				out = append(out, stretch{s.from, g.from})
			}
			s.from = g.to
		}
		if s.from <= s.to {
			out = append(out, s)
		}
	}
	return out
}

// timeWindow is a window of a figure over time (or of several, when a
// point stands for several), with a value for each line.
type timeWindow struct {
	start, end int64
	v          []float64
}

// timeLines appends to lines, one a value of each window, steps over the
// stretches of cover only, each line broken (a NaN) at the end of each
// stretch. A line's values are counts when perTime says so, drawn as a
// count per per nanoseconds of the time the capture covers in the window;
// the others are levels (flows open), drawn as they are. Without scale
// every value is drawn as it is, clipped to the stretches: a point that
// stands for several windows holds the highest of theirs, which no share
// of covered time applies to.
func timeLines(lines []Line, perTime []bool, per int64, wins []timeWindow, cover []stretch, scale bool) []Line {
	wi := 0
	for _, s := range cover {
		for wi < len(wins) && wins[wi].end <= s.from {
			wi++
		}
		var in []timeWindow
		for j := wi; j < len(wins) && wins[j].start <= s.to; j++ {
			w := wins[j]
			w.v = slices.Clone(w.v)
			in = append(in, w)
		}
		covered := func(w timeWindow) int64 { return min(w.end, s.to) - max(w.start, s.from) }
		merge := func(a, b timeWindow) timeWindow {
			m := timeWindow{start: a.start, end: b.end, v: slices.Clone(a.v)}
			for k := range m.v {
				if perTime[k] {
					m.v[k] += b.v[k]
				} else {
					m.v[k] = max(m.v[k], b.v[k])
				}
			}
			return m
		}
		if scale && len(in) > 0 {
			// A sliver's neighbour is the next (or previous) window, which
			// a sparse series leaves out when it had nothing.
			sliver := func(w timeWindow) bool { return covered(w)*minEdgeShare < w.end-w.start }
			zero := make([]float64, len(lines))
			if w := in[0]; sliver(w) {
				switch {
				case len(in) >= 2 && in[1].start == w.end:
					in = append([]timeWindow{merge(w, in[1])}, in[2:]...)
				case w.end < s.to:
					in[0] = merge(w, timeWindow{w.end, 2*w.end - w.start, zero})
				}
			}
			if n := len(in); sliver(in[n-1]) {
				w := in[n-1]
				switch {
				case n >= 2 && in[n-2].end == w.start:
					in = append(in[:n-2], merge(in[n-2], w))
				case w.start > s.from:
					in[n-1] = merge(timeWindow{2*w.start - w.end, w.start, zero}, w)
				}
			}
		}
		drawn := false
		var end int64
		for _, w := range in {
			c := covered(w)
			if c <= 0 {
				continue // an instant: no time to draw a rate over
			}
			x := max(w.start, s.from)
			if drawn && x > end {
				// Windows of nothing, left out of a sparse series.
				for k := range lines {
					lines[k].X, lines[k].Y = append(lines[k].X, float64(end)/1e9), append(lines[k].Y, 0)
				}
			}
			for k := range lines {
				v := w.v[k]
				if scale && perTime[k] {
					v = v * float64(per) / float64(c)
				}
				lines[k].X, lines[k].Y = append(lines[k].X, float64(x)/1e9), append(lines[k].Y, v)
			}
			drawn, end = true, min(w.end, s.to)
		}
		if drawn {
			for k := range lines {
				lines[k].X, lines[k].Y = append(lines[k].X, float64(end)/1e9), append(lines[k].Y, math.NaN())
			}
		}
	}
	return lines
}
