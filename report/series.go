package report

import "math"

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
		last.SYNs, last.SYNACKs = max(last.SYNs, p.SYNs), max(last.SYNACKs, p.SYNACKs)
		last.HalfOpen, last.SYNOnly = max(last.HalfOpen, p.HalfOpen), max(last.SYNOnly, p.SYNOnly)
	} else {
		if len(s.Handshake) == 2*maxFigurePoints {
			s.pairPoints()
		}
		s.Handshake = append(s.Handshake, p)
	}
	s.Windows++
	s.End = w.End
	if w.Packets > 0 || w.Flows > 0 {
		s.Busy++
		s.keepIfBusiest(w)
	}
}

// pairPoints makes each two points of the figure one.
func (s *Series) pairPoints() {
	for i := 0; i < len(s.Handshake)/2; i++ {
		a, b := s.Handshake[2*i], s.Handshake[2*i+1]
		s.Handshake[i] = HandshakePoint{a.Start, max(a.SYNs, b.SYNs), max(a.SYNACKs, b.SYNACKs),
			max(a.HalfOpen, b.HalfOpen), max(a.SYNOnly, b.SYNOnly)}
	}
	s.Handshake = s.Handshake[:len(s.Handshake)/2]
	s.PerPoint *= 2
}

// keepIfBusiest keeps a busy window among the busiest: windows come in
// time order, so the new one replaces the least busy only with more
// packets, and goes last.
func (s *Series) keepIfBusiest(w *Interval) {
	if len(s.Busiest) == maxTimelineRows {
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
		pieceRows = max(1, b.heldBytes/sizeOf[Interval]())
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
