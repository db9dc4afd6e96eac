package report

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"flowstat/flows"
)

// TestSortByDestination checks the sort by keys of IPv4 flows, with IPv6
// flows among them, and of flows one of which has no address, against
// sorting by compareByDestination.
func TestSortByDestination(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fl := make([]destFlow, 140_000) // enough for extsort.SortParallel to split it
	for i := range fl {
		fl[i] = destFlow{
			DstIP:   flows.IPOf(netip.AddrFrom4([4]byte{192, 0, byte(r.IntN(2)), byte(r.IntN(200))})),
			SrcIP:   flows.IPOf(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(4)), byte(r.IntN(256))})),
			DstPort: uint16(r.IntN(3) * 0x7f01), Proto: uint8(6 + r.IntN(2)*11), FirstSeen: int64(i),
		}
	}
	withV6 := slices.Clone(fl)
	for i := 17; i < len(withV6); i += 97 {
		withV6[i].DstIP = flows.IPOf(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(r.IntN(5))}))
		withV6[i].SrcIP = flows.IPOf(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
	}
	withZero := slices.Clone(withV6)
	withZero[5].DstIP, withZero[5].SrcIP = flows.IP{}, flows.IP{}
	for name, fl := range map[string][]destFlow{"IPv4": fl, "with IPv6 flows": withV6, "with a flow without addresses": withZero} {
		want := slices.Clone(fl)
		slices.SortFunc(want, compareByDestination)
		got := slices.Clone(fl)
		sortByDestination(got)
		for i := range got {
			if compareByDestination(got[i], want[i]) != 0 {
				t.Fatalf("%s: flow %d is to %v:%d/%d from %v, want to %v:%d/%d from %v", name, i,
					got[i].DstIP, got[i].DstPort, got[i].Proto, got[i].SrcIP, want[i].DstIP, want[i].DstPort, want[i].Proto, want[i].SrcIP)
			}
		}
		// Every flow is still there once.
		seen := map[int64]bool{}
		for _, f := range got {
			seen[f.FirstSeen] = true
		}
		if len(seen) != len(fl) {
			t.Fatalf("%s: %d distinct flows after sorting, want %d", name, len(seen), len(fl))
		}
	}
}
