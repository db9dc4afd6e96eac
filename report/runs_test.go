package report

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRunsMerge spills sorted runs longer and shorter than a block, merges
// them with runs in memory, and gets every value once, in order.
func TestRunsMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	runs, err := NewRuns[float64](t.TempDir(), "durations")
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Remove()
	var all []float64
	var inMemory [][]float64
	for i, n := range []int{0, 1, 3, runBlockBytes / 8, runBlockBytes/8 + 1, 3*runBlockBytes/8 + 5, 100} {
		run := make([]float64, n)
		for j := range run {
			run[j] = float64(rng.IntN(1000)) // ties across runs
		}
		slices.Sort(run)
		all = append(all, run...)
		if i%3 == 2 {
			inMemory = append(inMemory, run)
		} else {
			runs.Write(run)
		}
	}
	slices.Sort(all)
	m, err := NewMerger(func(a, b *float64) int { return cmp.Compare(*a, *b) }, []*Runs[float64]{runs, nil}, inMemory...)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	buf := make([]float64, 7)
	for {
		n, err := m.Fill(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("merged %d values, want the %d sorted ones", len(got), len(all))
	}
}
