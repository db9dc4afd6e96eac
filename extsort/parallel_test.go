package extsort

import (
	"cmp"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

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
			SortParallel(s, byKey)
			if !slices.Equal(s, want) {
				t.Fatalf("GOMAXPROCS %d, n %d: sortParallel differs from slices.SortFunc", procs, n)
			}
		}
	}
}
