package flows

import "flowstat/reader"

// Orphans are the IP fragments one source sent one destination whose
// datagram's first fragment never came: they join no flow, being without
// ports. Many of them to one host are a fragment flood, which exhausts its
// reassembly buffers.
type Orphans struct {
	Src, Dst       IP
	Proto          uint8 // of the datagrams, from the IP header
	Packets, Bytes uint64
	First, Last    int64 // times of the first and last of them
}

type orphanKey struct {
	src, dst [16]byte
	proto    uint8
}

// orphaned counts a fragment that waits for its first fragment as an
// orphan of its source and destination, until unorphaned.
func (t *Table) orphaned(p *reader.Packet) {
	if t.orphans == nil {
		t.orphans = map[orphanKey]*Orphans{}
	}
	k := orphanKey{p.Src, p.Dst, p.Proto}
	o := t.orphans[k]
	if o == nil {
		v4 := p.IPVersion == 4
		o = &Orphans{Src: ipFrom16(p.Src, v4), Dst: ipFrom16(p.Dst, v4), Proto: p.Proto, First: p.Time, Last: p.Time}
		t.orphans[k] = o
	}
	o.Packets++
	o.Bytes += uint64(p.IPLen)
	o.First, o.Last = min(o.First, p.Time), max(o.Last, p.Time)
}

// unorphaned takes back the fragments counted as orphans of a datagram
// whose first fragment came.
func (t *Table) unorphaned(src, dst [16]byte, proto uint8, packets, bytes uint64) {
	k := orphanKey{src, dst, proto}
	o := t.orphans[k]
	if o == nil {
		return
	}
	o.Packets -= packets
	o.Bytes -= bytes
	if o.Packets == 0 {
		delete(t.orphans, k)
	}
}

// Orphans returns the orphan fragments by source and destination, in no
// order.
func (t *Table) Orphans() []Orphans {
	out := make([]Orphans, 0, len(t.orphans))
	for _, o := range t.orphans {
		out = append(out, *o)
	}
	return out
}
