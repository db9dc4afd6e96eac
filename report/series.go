package report

import (
	"math"
	"slices"

	"flowstat/extsort"
	"flowstat/tables"
)

// MaxTimelineRows bounds a timeline table; intervals.parquet has every window.
const MaxTimelineRows = 48

// Series is what the report shows of one target's windows from its first
// to its last (a SYN flood's destination, a timeline's target): how many
// there are, the busiest, and the handshake counts its figure plots. It is
// made a window at a time (add) and keeps a bounded part of them: a target
// active all along a long trace in short windows takes no more memory
// than one active for a minute (intervals.parquet has every window).
type Series struct {
	// Windows counts the windows from the first to the last (past
	// maxDenseWindows of them, those with something in them); Busy, those
	// with packets or active flows.
	Windows, Busy int
	// Busiest are the maxTimelineRows busy windows with the most packets
	// (the earlier of equals), every busy window when fewer, in time order.
	Busiest []Interval
	// Handshake has a point per window, or past 2*maxFigurePoints windows a
	// point per PerPoint windows, each count the highest of theirs.
	Handshake []HandshakePoint
	PerPoint  int
	End       int64 // of the last window
	// traffic sums the windows' packets and bytes by second, or by window
	// when windows are longer (see Peak).
	traffic map[int64]rates
	width   int64 // of a window
}

// HandshakePoint is what a handshake figure plots of a window, or of
// Series.PerPoint windows from Start.
type HandshakePoint struct {
	Start                            int64
	SYNs, SYNACKs, HalfOpen, SYNOnly uint64
}

// maxFigurePoints bounds a series' figure: it is some 1,000 pixels wide,
// and past twice as many windows the points go in pairs (the higher of
// each count), which keeps the peaks it shows.
const maxFigurePoints = 4096

// add appends the next window of the series.
func (s *Series) add(w *Interval) {
	if s.PerPoint == 0 {
		s.PerPoint = 1
	}
	p := HandshakePoint{w.Start, w.SYNs, w.SYNACKs, w.HalfOpen, w.SYNOnly}
	if s.Windows%s.PerPoint != 0 {
		last := &s.Handshake[len(s.Handshake)-1]
		*last = higherHandshake(*last, p)
	} else {
		if len(s.Handshake) == 2*maxFigurePoints {
			s.Handshake, s.PerPoint = inPairs(s.Handshake, higherHandshake), 2*s.PerPoint
		}
		s.Handshake = append(s.Handshake, p)
	}
	s.Windows++
	s.End = w.End
	if w.Packets > 0 {
		if s.traffic == nil {
			s.traffic, s.width = map[int64]rates{}, w.End-w.Start
		}
		t := s.traffic[FloorDiv(w.Start, max(s.width, 1e9))]
		t.packets += float64(w.Packets)
		t.bytes += float64(w.Bytes)
		s.traffic[FloorDiv(w.Start, max(s.width, 1e9))] = t
	}
	if w.Packets > 0 || w.Flows > 0 {
		s.Busy++
		s.keepIfBusiest(w)
	}
}

// Peak returns the packets/s and bits/s of the second with the most
// packets, over the part of it the capture covers, given the run's
// summary; with windows longer than a second, of the window with the
// most.
func (s *Series) Peak(sum tables.Summary) (pps, bps float64) {
	bin := max(s.width, 1e9)
	var most rates
	var at int64
	for i, t := range s.traffic {
		if t.packets > most.packets || t.packets == most.packets && i < at {
			most, at = t, i
		}
	}
	if most.packets == 0 {
		return 0, 0
	}
	covered := coveredPart(sum, at*bin, bin)
	return most.packets / covered, 8 * most.bytes / covered
}

// inPairs makes each two points of a figure one, in place; an odd last
// point stays as it is.
func inPairs[P any](points []P, merge func(a, b P) P) []P {
	n := len(points)
	for i := range n / 2 {
		points[i] = merge(points[2*i], points[2*i+1])
	}
	if n%2 == 1 {
		points[n/2] = points[n-1]
	}
	return points[:(n+1)/2]
}

// higherHandshake is the point from a's start with the higher of each count.
func higherHandshake(a, b HandshakePoint) HandshakePoint {
	return HandshakePoint{a.Start, max(a.SYNs, b.SYNs), max(a.SYNACKs, b.SYNACKs), max(a.HalfOpen, b.HalfOpen), max(a.SYNOnly, b.SYNOnly)}
}

// Activity is a reflection's or a scan's flows by window, from the first
// to the last: a point per window, or past 2*maxFigurePoints windows per
// PerPoint windows, each count the highest of theirs (as in Series).
type Activity struct {
	Points   []ActivityPoint
	PerPoint int
	Windows  int
	End      int64 // of the last window
}

// ActivityPoint is a finding's flows in a window, or in PerPoint windows
// from Start.
type ActivityPoint struct {
	Start  int64
	New    uint64 // flows whose first packet is in the window
	Active uint64 // flows active in the window
	Peers  uint64 // distinct peers (see Finding.Peers) of the active flows
}

// higherActivity is the point from a's start with the higher of each count.
func higherActivity(a, b ActivityPoint) ActivityPoint {
	return ActivityPoint{a.Start, max(a.New, b.New), max(a.Active, b.Active), max(a.Peers, b.Peers)}
}

// activityOf keeps the points of a figure of every window's activity,
// paired past 2*maxFigurePoints; end is the last window's end.
func activityOf(points []ActivityPoint, end int64) Activity {
	a := Activity{Points: points, PerPoint: 1, Windows: len(points), End: end}
	if len(points) > 2*maxFigurePoints {
		for len(a.Points) > 2*maxFigurePoints {
			a.Points, a.PerPoint = inPairs(a.Points, higherActivity), 2*a.PerPoint
		}
		a.Points = slices.Clone(a.Points) // not the whole series' array
	}
	return a
}

// keepIfBusiest keeps a busy window among the busiest: windows come in
// time order, so the new one replaces the least busy only with more
// packets, and goes last.
func (s *Series) keepIfBusiest(w *Interval) {
	if len(s.Busiest) == MaxTimelineRows {
		least := leastBusy(s.Busiest)
		if w.Packets <= s.Busiest[least].Packets {
			return
		}
		s.Busiest = append(s.Busiest[:least], s.Busiest[least+1:]...)
	}
	s.Busiest = append(s.Busiest, *w)
}

// leastBusy returns the window with the fewest packets, the latest of
// equals.
func leastBusy(ws []Interval) int {
	least := 0
	for i := range ws {
		if ws[i].Packets <= ws[least].Packets {
			least = i
		}
	}
	return least
}

// seriesOf computes the series of the flows fl and their traffic, a
// piece of heldBytes at a time; d names its rows' destination (none for
// a prefix).
func (b *builder) seriesOf(d Dest, fl flowSeq, traffic []*Traffic) Series {
	pieceRows := math.MaxInt
	if b.heldBytes > 0 {
		pieceRows = max(1, b.heldBytes/extsort.SizeOf[Interval]())
	}
	var s Series
	b.seriesEach(fl, traffic, true, pieceRows, func(rows []Interval, _ bool) {
		for i := range rows {
			rows[i].Dest = d
			s.add(&rows[i])
		}
	})
	return s
}
