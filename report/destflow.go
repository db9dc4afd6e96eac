package report

import (
	"cmp"

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
	FirstSeen, LastSeen int64
}

func destFlowOf(r *flows.Record) destFlow {
	return destFlow{
		SrcIP: r.SrcIP, DstIP: r.DstIP, DstPort: r.DstPort, Proto: r.Proto, State: r.State,
		HalfOpen: r.HalfOpen, EndReason: r.EndReason, Outcome: OutcomeOf(r),
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
	}
}

func destFlowsOf(recs []flows.Record) []destFlow {
	out := make([]destFlow, len(recs))
	parallelFor(workers(), func(p int) {
		for i := p * len(recs) / workers(); i < (p+1)*len(recs)/workers(); i++ {
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
func sortBySource(fl []destFlow) { sortParallel(fl, compareBySource) }

func compareBySource(x, y destFlow) int { return x.SrcIP.Compare(y.SrcIP) }

// sortByDestination puts flows in destination order, then source order.
func sortByDestination(fl []destFlow) { sortParallel(fl, compareByDestination) }

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
