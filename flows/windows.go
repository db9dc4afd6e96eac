package flows

import "flowstat/reader"

// windowsOf returns a flow's per-interval counts, in time order.
func (t *Table) windowsOf(f *flow) []windowCount {
	if f.nWin == overflowWindows {
		return t.overflow[f.self]
	}
	return f.win[:f.nWin]
}

// addWindow counts a packet in its interval. Packets come nearly in time
// order, so the search starts from the last interval.
func (t *Table) addWindow(f *flow, p *reader.Packet, s side) {
	start := p.Time - mod(p.Time, t.window)
	ws := t.windowsOf(f)
	i := len(ws) - 1
	for i >= 0 && ws[i].start > start {
		i--
	}
	if i < 0 || ws[i].start != start {
		i++
		ws = t.insertWindow(f, ws, i, start)
	}
	w := &ws[i]
	w.packets++
	w.bytes += uint64(p.IPLen)
	if p.Proto == reader.ProtoTCP && p.Frag != reader.LaterFrag {
		switch p.TCPFlags & (reader.SYN | reader.ACK) {
		case reader.SYN:
			w.syns[s]++
		case reader.SYN | reader.ACK:
			w.synacks[s]++
		}
	}
}

// insertWindow makes room for a new interval at position i, moving the
// flow's counts to the overflow map when the inline ones are full.
func (t *Table) insertWindow(f *flow, ws []windowCount, i int, start int64) []windowCount {
	switch {
	case f.nWin < uint8(len(f.win)):
		f.nWin++
		ws = f.win[:f.nWin]
	case f.nWin != overflowWindows:
		moved := make([]windowCount, len(ws), 2*len(ws))
		copy(moved, ws)
		f.nWin = overflowWindows
		ws = append(moved, windowCount{})
	default:
		ws = append(ws, windowCount{})
	}
	copy(ws[i+1:], ws[i:])
	ws[i] = windowCount{start: start}
	if f.nWin == overflowWindows {
		t.overflow[f.self] = ws
	}
	return ws
}

// addEarlyFragments credits fragments that arrived before their datagram's
// first fragment, which side s just sent, to the first fragment's interval.
func (t *Table) addEarlyFragments(f *flow, s side, packets, bytes uint64) {
	f.packets[s] += packets
	f.bytes[s] += bytes
	if ws := t.windowsOf(f); len(ws) > 0 {
		ws[len(ws)-1].packets += packets
		ws[len(ws)-1].bytes += bytes
	}
}
