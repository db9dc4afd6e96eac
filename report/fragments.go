package report

import (
	"cmp"
	"slices"
	"time"

	"flowstat/flows"
	"flowstat/tables"
)

// Bounds of summary.json's fragment targets: the destinations with the
// most orphan fragments, and the sources of each that sent the most.
const (
	maxFragmentTargets = 100
	maxFragmentSources = 100
)

// FragmentTargets sums the orphan fragments of a run's flow tables by
// destination, for summary.json: the destinations with the most, each with
// its sources and its busiest second (given s for the capture's span).
func FragmentTargets(orphans []flows.Orphans, s tables.Summary) []tables.FragmentTarget {
	// A source's fragments to one destination may be in several tables.
	type pair struct {
		src, dst flows.IP
		proto    uint8
	}
	type target struct {
		dst   flows.IP
		proto uint8
	}
	bySource := map[pair]*flows.Orphans{}
	for i := range orphans {
		o := &orphans[i]
		k := pair{o.Src, o.Dst, o.Proto}
		if m := bySource[k]; m != nil {
			m.Packets += o.Packets
			m.Bytes += o.Bytes
			m.First, m.Last = min(m.First, o.First), max(m.Last, o.Last)
		} else {
			bySource[k] = o
		}
	}
	byDest := map[target][]*flows.Orphans{}
	for _, o := range bySource {
		byDest[target{o.Dst, o.Proto}] = append(byDest[target{o.Dst, o.Proto}], o)
	}
	var out []tables.FragmentTarget
	for dst, srcs := range byDest {
		slices.SortFunc(srcs, func(a, b *flows.Orphans) int {
			return cmp.Or(cmp.Compare(b.Packets, a.Packets), a.Src.Compare(b.Src))
		})
		t := tables.FragmentTarget{Dst: dst.dst.String(), Proto: dst.proto, Sources: uint64(len(srcs))}
		var rate rateEstimate
		for i, o := range srcs {
			if i == 0 || o.First < t.FirstSeen.UnixNano() {
				t.FirstSeen = time.Unix(0, o.First).UTC()
			}
			if i == 0 || o.Last > t.LastSeen.UnixNano() {
				t.LastSeen = time.Unix(0, o.Last).UTC()
			}
			t.Packets += o.Packets
			t.Bytes += o.Bytes
			rate.add(o.First, o.Last, o.Packets, o.Bytes)
			if i < maxFragmentSources {
				t.TopSources = append(t.TopSources, tables.FragmentSource{Src: o.Src.String(), Packets: o.Packets, Bytes: o.Bytes,
					FirstSeen: time.Unix(0, o.First).UTC(), LastSeen: time.Unix(0, o.Last).UTC()})
			}
		}
		peak := rate.peak(s)
		t.PeakPPS, t.PeakBPS = peak.packets, 8*peak.bytes
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b tables.FragmentTarget) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Dst, b.Dst), cmp.Compare(a.Proto, b.Proto))
	})
	return out[:min(len(out), maxFragmentTargets)]
}

// fragmentFloods are the fragment floods among a run's fragment targets:
// as many packets, at the rate, of a UDP flood.
func fragmentFloods(s tables.Summary, t Thresholds) []Finding {
	var out []Finding
	for _, ft := range s.FragmentTargets {
		if ft.Packets < uint64(t.FloodPackets) || ft.PeakPPS < t.FloodRate {
			continue
		}
		f := Finding{Kind: FragmentFlood, Proto: ft.Proto, First: ft.FirstSeen.UnixNano(), Last: ft.LastSeen.UnixNano(), Peers: ft.Sources,
			PacketsIn: ft.Packets, BytesIn: ft.Bytes, PeakPPS: ft.PeakPPS, PeakBPS: ft.PeakBPS}
		if err := f.Host.UnmarshalText([]byte(ft.Dst)); err != nil {
			continue // not written by flowstat
		}
		for _, src := range ft.TopSources {
			fs := FindingSource{Packets: src.Packets, Bytes: src.Bytes, FirstSeen: src.FirstSeen.UnixNano(), LastSeen: src.LastSeen.UnixNano()}
			if fs.IP.UnmarshalText([]byte(src.Src)) == nil {
				f.Sources = append(f.Sources, fs)
			}
		}
		out = append(out, f)
	}
	return out
}
