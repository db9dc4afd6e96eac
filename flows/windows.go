package flows

import "flowstat/reader"

// A flow's per-interval counts. Most flows, and every flow of a flood,
// span one interval: their counts there are the flow's own totals, and the
// interval is that of its first packet, so nothing more is kept (nWin 1).
// A flow that reaches a second interval keeps its counts per interval in
// the table's overflow map (nWin overflowWindows), the first made from its
// totals at that moment. Keeping an interval inline would cost every open
// flow 40 bytes, which the millions of one-interval flows of a flood do
// not need. The map holds each flow's list by pointer, so that a packet in
// a new interval appends to it without writing the map again, and the
// lists of ended flows are kept for the next (spareWindows): a map task's
// 1 s intervals give most flows several.

// windowList is a flow's per-interval counts in the overflow map.
type windowList struct{ ws []windowCount }

// spareWindows bounds the lists the table keeps for reuse, and
// spareWindowCap the intervals a kept list may hold.
const (
	spareWindows   = 4096
	spareWindowCap = 64
)

// newWindowList returns an empty list, a spare one if there is one.
func (t *Table) newWindowList() *windowList {
	if n := len(t.spare); n > 0 {
		l := t.spare[n-1]
		t.spare = t.spare[:n-1]
		return l
	}
	return &windowList{ws: make([]windowCount, 0, 4)}
}

// dropWindows removes a flow's list from the overflow map, keeping it for
// reuse when it is small.
func (t *Table) dropWindows(self int32) {
	l := t.overflow[self]
	delete(t.overflow, self)
	if len(t.spare) < spareWindows && cap(l.ws) <= spareWindowCap {
		l.ws = l.ws[:0]
		t.spare = append(t.spare, l)
	}
}

// windowsOf returns a flow's per-interval counts, in time order. Those of
// a flow in one interval are made from its totals into the table's
// oneWindow, which the next call overwrites.
func (t *Table) windowsOf(f *flow) []windowCount {
	switch f.nWin {
	case 0:
		return nil
	case overflowWindows:
		return t.overflow[f.self].ws
	}
	t.oneWindow[0] = windowCount{
		start:   f.first - mod(f.first, t.window),
		packets: f.packets,
		bytes:   f.bytes,
		syns:    f.syns,
		synacks: f.synacks,
	}
	return t.oneWindow[:]
}

// addWindow counts packet p, which side s sent, in its interval. It runs
// before the flow's totals count p, which are its interval's while it has
// one.
func (t *Table) addWindow(f *flow, p *reader.Packet, s side) {
	start := p.Time - mod(p.Time, t.window)
	switch {
	case f.nWin == 0: // a new flow: p is its first packet
		f.nWin = 1
		return
	case f.nWin == 1 && f.first >= start && f.first-start < t.window: // p's interval is the flow's
		return
	case f.nWin == 1:
		l := t.newWindowList()
		l.ws = append(l.ws, t.windowsOf(f)[0])
		t.overflow[f.self] = l
		f.nWin = overflowWindows
	}
	l := t.overflow[f.self]
	ws := l.ws
	// Packets come nearly in time order: the search starts from the last
	// interval.
	i := len(ws) - 1
	for i >= 0 && ws[i].start > start {
		i--
	}
	if i < 0 || ws[i].start != start {
		i++
		ws = append(ws, windowCount{})
		copy(ws[i+1:], ws[i:])
		ws[i] = windowCount{start: start}
		l.ws = ws
	}
	w := &ws[i]
	w.packets[s]++
	w.bytes[s] += uint64(p.IPLen)
	if p.Proto == reader.ProtoTCP && p.Frag != reader.LaterFrag {
		switch p.TCPFlags & (reader.SYN | reader.ACK) {
		case reader.SYN:
			w.syns[s]++
		case reader.SYN | reader.ACK:
			w.synacks[s]++
		}
	}
}

// addEarlyFragments credits fragments that arrived before their datagram's
// first fragment, which side s just sent, to the first fragment's interval.
func (t *Table) addEarlyFragments(f *flow, s side, packets, bytes uint64) {
	f.packets[s] += packets
	f.bytes[s] += bytes
	if f.nWin == overflowWindows {
		ws := t.overflow[f.self].ws
		ws[len(ws)-1].packets[s] += packets
		ws[len(ws)-1].bytes[s] += bytes
	}
}
