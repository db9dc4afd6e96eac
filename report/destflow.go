package report

import (
	"cmp"
	"encoding/binary"
	"math"

	"flowstat/extsort"
	"flowstat/flows"
)

// destFlow is what the statistics by destination read of a flow record, in
// 64 bytes instead of a record's 144: the flows of a part are held in this
// form while its destinations are computed, and a flood's victim alone can
// have millions of flows.
type destFlow struct {
	SrcIP, DstIP        flows.IP
	DstPort             uint16
	Proto               uint8
	State               flows.State
	HalfOpen            bool
	EndReason           flows.EndReason
	Outcome             Outcome // as OutcomeOf, when the flow ended
	MinTTL, MaxTTL      uint8   // of the originator's packets
	FirstSeen, LastSeen int64
}

func destFlowOf(r *flows.Record) destFlow {
	return destFlow{
		SrcIP: r.SrcIP, DstIP: r.DstIP, DstPort: destPort(r), Proto: r.Proto, State: r.State,
		HalfOpen: r.HalfOpen, EndReason: r.EndReason, Outcome: OutcomeOf(r),
		MinTTL: r.MinTTL[flows.Fwd], MaxTTL: r.MaxTTL[flows.Fwd],
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
	}
}

func destFlowsOf(recs []flows.Record) []destFlow {
	out := make([]destFlow, len(recs))
	extsort.ParallelFor(extsort.Workers(), func(p int) {
		for i := p * len(recs) / extsort.Workers(); i < (p+1)*len(recs)/extsort.Workers(); i++ {
			out[i] = destFlowOf(&recs[i])
		}
	})
	return out
}

// Duration is the flow's duration in seconds, as flows.Record.Duration.
func (f *destFlow) Duration() float64 { return float64(f.LastSeen-f.FirstSeen) / 1e9 }

func (f *destFlow) dest() Dest { return Dest{IP: f.DstIP.Addr(), Port: f.DstPort, Proto: f.Proto} }

// sameDest reports whether two flows have the same destination.
func (f *destFlow) sameDest(g *destFlow) bool {
	return f.DstIP == g.DstIP && f.DstPort == g.DstPort && f.Proto == g.Proto
}

func (f *destFlow) isS0() bool { return f.Proto == protoTCP && f.State == flows.S0 }

// sortBySource puts flows in source address order. The statistics of a
// group of flows depend on which flows share a source, not on their order
// otherwise.
func sortBySource(fl []destFlow) { extsort.SortParallel(fl, compareBySource) }

func compareBySource(x, y destFlow) int { return x.SrcIP.Compare(y.SrcIP) }

// sortByDestination puts flows in destination order, then source order.
// Flows between IPv4 addresses, most of them in most traces, are sorted by
// 16-byte keys and then moved into place once, before the IPv6 ones, which
// are sorted after them: comparing and moving the 64-byte flows themselves
// took about twice as long.
func sortByDestination(fl []destFlow) {
	type key struct {
		dst uint64 // address, port and protocol, in compareByDestination's order
		src uint32
		at  int32
	}
	ipv6 := key{dst: math.MaxUint64, src: math.MaxUint32} // after every IPv4 key
	keys := make([]key, len(fl))
	n6 := 0
	for i := range fl {
		f := &fl[i]
		switch {
		case f.DstIP.BitLen() == 32 && f.SrcIP.BitLen() == 32:
			d, s := f.DstIP.Bytes16(), f.SrcIP.Bytes16()
			keys[i] = key{uint64(binary.BigEndian.Uint32(d[12:]))<<32 | uint64(f.DstPort)<<16 | uint64(f.Proto)<<8,
				binary.BigEndian.Uint32(s[12:]), int32(i)}
		case f.DstIP.BitLen() == 128:
			keys[i], keys[i].at = ipv6, int32(i)
			n6++
		default: // no address: such flows would sort first
			extsort.SortParallel(fl, compareByDestination)
			return
		}
	}
	extsort.SortParallel(keys, func(x, y key) int {
		if x.dst != y.dst {
			return cmp.Compare(x.dst, y.dst)
		}
		return cmp.Compare(x.src, y.src)
	})
	from := make([]int32, len(keys))
	for i := range keys {
		from[i] = keys[i].at
	}
	extsort.MoveInto(fl, from)
	extsort.SortParallel(fl[len(fl)-n6:], compareByDestination)
}

func compareByDestination(x, y destFlow) int {
	// Not cmp.Or: it would compare the sources of every pair.
	if c := x.DstIP.Compare(y.DstIP); c != 0 {
		return c
	}
	if x.DstPort != y.DstPort || x.Proto != y.Proto {
		return cmp.Or(cmp.Compare(x.DstPort, y.DstPort), cmp.Compare(x.Proto, y.Proto))
	}
	return x.SrcIP.Compare(y.SrcIP)
}
