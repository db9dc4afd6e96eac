package report

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"

	"flowstat/flows"
)

// addrKey and flows.IP order addresses as netip does.
func TestAddrKeyOrdersAsNetip(t *testing.T) {
	addrs := []netip.Addr{{},
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("::"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("ffff::")}
	for _, a := range addrs {
		for _, b := range addrs {
			if got, want := addrKeyOf(flows.IPOf(a)).compare(addrKeyOf(flows.IPOf(b))), a.Compare(b); got != want {
				t.Errorf("compare(%v, %v) = %d, netip says %d", a, b, got, want)
			}
			if got, want := flows.IPOf(a).Compare(flows.IPOf(b)), a.Compare(b); got != want {
				t.Errorf("flows.IP.Compare(%v, %v) = %d, netip says %d", a, b, got, want)
			}
		}
	}
}

func TestSortParallelEqualsSort(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(1, 2))
	type pair struct{ k, i int }
	byKey := func(a, b pair) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.i, b.i)) }
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 1000, 1<<16*3 + 7, 1 << 19} {
			s := make([]pair, n)
			for i := range s {
				s[i] = pair{rng.IntN(n/4 + 1), i} // many equal k: the tie-break decides
			}
			want := slices.Clone(s)
			slices.SortFunc(want, byKey)
			sortParallel(s, byKey)
			if !slices.Equal(s, want) {
				t.Fatalf("GOMAXPROCS %d, n %d: sortParallel differs from slices.SortFunc", procs, n)
			}
		}
	}
}
