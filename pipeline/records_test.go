package pipeline

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"flowstat/flows"
	"flowstat/tables"
)

// TestSortedRecordsMergesChunks checks the merge of sorted chunks against a
// plain sort, with stores holding several full chunks and a partial one,
// merged in one part and in several.
func TestSortedRecordsMergesChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		rng := rand.New(rand.NewPCG(7, uint64(procs)))
		stores := make([]recordStore, 3)
		var all []flows.Record
		for i := 0; i < 5*recordChunk+recordChunk/2; i++ {
			// Roughly increasing first-seen times, as records end: ordered
			// within a store only loosely, with ties broken by ID.
			r := flows.Record{ID: uint64(i), FirstSeen: int64(i/3+rng.IntN(5000)) * 1000}
			stores[rng.IntN(len(stores))].add(&r)
			all = append(all, r)
		}
		slices.SortFunc(all, func(a, b flows.Record) int { return tables.CompareFlows(&a, &b) })
		got := sortedRecords(stores)
		if len(got) != len(all) {
			t.Fatalf("GOMAXPROCS %d: got %d records, want %d", procs, len(got), len(all))
		}
		for i := range got {
			if got[i].ID != all[i].ID {
				t.Fatalf("GOMAXPROCS %d: record %d: ID %d, want %d", procs, i, got[i].ID, all[i].ID)
			}
		}
	}
}
