package report

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"flowstat/extsort"
	"flowstat/flows"
)

// Exchange is what a timeline's target received and sent in one window,
// whichever side of its flows it was: a reflection's victim is the
// originator of the flows that flood it (it seemed to ask), a SYN flood's
// the responder. Packets between two addresses of a prefix target count
// both ways.
type Exchange struct {
	Start                 int64
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64
	SYNsIn, SYNsOut       uint64 // SYN without ACK
	SYNACKsIn, SYNACKsOut uint64
}

// sideCounts are a flow's (or a destination's) counts in one window as
// the flow table gives them: both directions, the responder's share, the
// originator's SYNs and the responder's SYN-ACKs.
type sideCounts struct {
	packets, bytes, respPackets, respBytes, syns, synacks uint64
}

func windowCounts(w *flows.Window) sideCounts {
	return sideCounts{w.Packets, w.Bytes, w.RespPackets, w.RespBytes, uint64(w.SYNs), uint64(w.SYNACKs)}
}

func trafficCounts(t *Traffic) sideCounts {
	return sideCounts{t.Packets, t.Bytes, t.RespPackets, t.RespBytes, t.SYNs, t.SYNACKs}
}

// add counts c for a target that was the flows' originator, or their
// responder.
func (e *Exchange) add(c sideCounts, originator bool) {
	fromOrig, fromResp := c.packets-c.respPackets, c.respPackets
	bytesOrig, bytesResp := c.bytes-c.respBytes, c.respBytes
	if originator {
		e.PacketsOut, e.PacketsIn = e.PacketsOut+fromOrig, e.PacketsIn+fromResp
		e.BytesOut, e.BytesIn = e.BytesOut+bytesOrig, e.BytesIn+bytesResp
		e.SYNsOut += c.syns
		e.SYNACKsIn += c.synacks
		return
	}
	e.PacketsIn, e.PacketsOut = e.PacketsIn+fromOrig, e.PacketsOut+fromResp
	e.BytesIn, e.BytesOut = e.BytesIn+bytesOrig, e.BytesOut+bytesResp
	e.SYNsIn += c.syns
	e.SYNACKsOut += c.synacks
}

// merge adds o's counts.
func (e *Exchange) merge(o *Exchange) {
	e.PacketsIn += o.PacketsIn
	e.PacketsOut += o.PacketsOut
	e.BytesIn += o.BytesIn
	e.BytesOut += o.BytesOut
	e.SYNsIn += o.SYNsIn
	e.SYNsOut += o.SYNsOut
	e.SYNACKsIn += o.SYNACKsIn
	e.SYNACKsOut += o.SYNACKsOut
}

// exchanges sums a target's counts by window of width interval.
type exchanges map[int64]*Exchange

func (x exchanges) add(start, interval int64, c sideCounts, originator bool) {
	at := start - floorMod(start, interval)
	e := x[at]
	if e == nil {
		e = &Exchange{Start: at}
		x[at] = e
	}
	e.add(c, originator)
}

// inOrder returns the windows in time order.
func (x exchanges) inOrder() []Exchange {
	out := make([]Exchange, 0, len(x))
	for _, k := range slices.Sorted(maps.Keys(x)) {
		out = append(out, *x[k])
	}
	return out
}

// regrouped returns windows summed into windows of width interval.
func regrouped(ws []Exchange, interval int64) []Exchange {
	x := exchanges{}
	for i := range ws {
		at := ws[i].Start - floorMod(ws[i].Start, interval)
		if x[at] == nil {
			x[at] = &Exchange{Start: at}
		}
		x[at].merge(&ws[i])
	}
	return x.inOrder()
}

// asResponder reports whether a flow to d is one the target answered;
// asOriginator whether one from address a is one it started (only a
// host's or a prefix's: a destination is a service, which answers).
func (t *timelineTarget) asResponder(d Dest) bool {
	if t.prefix.IsValid() {
		return t.prefix.Contains(d.IP)
	}
	return t.dest == d
}

func (t *timelineTarget) asOriginator(a netip.Addr) bool {
	return t.prefix.IsValid() && t.prefix.Contains(a)
}

// datasetExchanges returns the windows of each target from a dataset's
// traffic by destination and by originator.
func datasetExchanges(ds *Dataset, targets []timelineTarget, interval int64) [][]Exchange {
	out := make([][]Exchange, len(targets))
	for k := range targets {
		t := &targets[k]
		x := exchanges{}
		for i := range ds.Traffic {
			if tr := &ds.Traffic[i]; t.asResponder(tr.Dest) {
				x.add(tr.Start, interval, trafficCounts(tr), false)
			}
		}
		for i := range ds.Origins {
			if tr := &ds.Origins[i]; t.asOriginator(tr.Dest.IP) {
				x.add(tr.Start, interval, trafficCounts(tr), true)
			}
		}
		out[k] = x.inOrder()
	}
	return out
}

// exchanges returns the windows of each target from the flows' windows in
// the parts: those to it in the parts by destination, those it started
// in the parts by originator. An address's flows are in its own part; a
// prefix's in every part.
func (ps *Parts) exchanges(targets []timelineTarget, interval int64) ([][]Exchange, error) {
	need := map[int][]int{} // part -> targets
	for k := range targets {
		t := &targets[k]
		switch {
		case !t.prefix.IsValid():
			need[partOf(flows.IPOf(t.dest.IP))] = append(need[partOf(flows.IPOf(t.dest.IP))], k)
		case t.prefix.IsSingleIP():
			need[partOf(flows.IPOf(t.prefix.Addr()))] = append(need[partOf(flows.IPOf(t.prefix.Addr()))], k)
		default:
			for p := range numParts {
				need[p] = append(need[p], k)
			}
		}
	}
	parts := slices.Sorted(maps.Keys(need))
	found := make([][]exchanges, len(parts)) // by part, by target
	errs := make([]error, len(parts))
	extsort.ParallelFor(len(parts), func(i int) {
		part := parts[i]
		xs := make([]exchanges, len(targets))
		for _, k := range need[part] {
			xs[k] = exchanges{}
		}
		var d destFlow
		errs[i] = ps.entries(byDestination, part, func(role byte, value []byte, windows []flows.Window) {
			if role != roleFlow {
				return
			}
			copy(valueBytes(&d), value)
			dest := d.dest()
			for _, k := range need[part] {
				if targets[k].asResponder(dest) {
					for w := range windows {
						xs[k].add(windows[w].Start, interval, windowCounts(&windows[w]), false)
					}
				}
			}
		})
		if errs[i] == nil {
			var src flows.IP
			errs[i] = ps.entries(byOrigin, part, func(_ byte, value []byte, windows []flows.Window) {
				copy(valueBytes(&src), value)
				for _, k := range need[part] {
					if targets[k].asOriginator(src.Addr()) {
						for w := range windows {
							xs[k].add(windows[w].Start, interval, windowCounts(&windows[w]), true)
						}
					}
				}
			})
		}
		found[i] = xs
	})
	if err := cmp.Or(errs...); err != nil {
		return nil, err
	}
	out := make([][]Exchange, len(targets))
	for k := range targets {
		all := exchanges{}
		for i := range parts {
			for at, e := range found[i][k] {
				if all[at] == nil {
					all[at] = &Exchange{Start: at}
				}
				all[at].merge(e)
			}
		}
		out[k] = all.inOrder()
	}
	return out, nil
}

// persistedExchange returns a target's windows as timelines.parquet has
// them, summed into windows of interval; nil when it has none.
func persistedExchange(rows map[string][]Exchange, name string, interval int64) []Exchange {
	ws, ok := rows[name]
	if !ok {
		return nil
	}
	return regrouped(ws, interval)
}

// BusiestExchanges returns up to MaxTimelineRows of a timeline's windows,
// those with the most packets both ways (the earlier of equals), in time
// order.
func (tl *Timeline) BusiestExchanges() []Exchange {
	ws := tl.Exchange
	if len(ws) <= MaxTimelineRows {
		return ws
	}
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	total := func(i int) uint64 { return ws[i].PacketsIn + ws[i].PacketsOut }
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(total(b), total(a)) })
	idx = idx[:MaxTimelineRows]
	slices.Sort(idx)
	out := make([]Exchange, len(idx))
	for k, i := range idx {
		out[k] = ws[i]
	}
	return out
}

// denseExchanges returns the windows from the first to the last, those
// without packets as zeros, for a figure: past 2*maxFigurePoints windows
// a point stands for perPoint windows, each count the highest of theirs.
func denseExchanges(ws []Exchange, interval int64) (points []Exchange, perPoint int) {
	if len(ws) == 0 {
		return nil, 1
	}
	first, last := ws[0].Start, ws[len(ws)-1].Start
	n := int((last-first)/interval) + 1
	perPoint = 1
	for n > 2*maxFigurePoints*perPoint {
		perPoint *= 2
	}
	width := interval * int64(perPoint)
	points = make([]Exchange, (n+perPoint-1)/perPoint)
	for i := range points {
		points[i].Start = first + int64(i)*width
	}
	for i := range ws {
		p := &points[(ws[i].Start-first)/width]
		if perPoint == 1 {
			*p = ws[i]
			continue
		}
		*p = Exchange{Start: p.Start, PacketsIn: max(p.PacketsIn, ws[i].PacketsIn), PacketsOut: max(p.PacketsOut, ws[i].PacketsOut),
			SYNsIn: max(p.SYNsIn, ws[i].SYNsIn), SYNACKsIn: max(p.SYNACKsIn, ws[i].SYNACKsIn)}
	}
	return points, perPoint
}
