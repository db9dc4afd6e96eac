package report

import (
	"slices"
	"sync"
	"testing"
)

// TestHeldRowsBound: destinations' rows kept from several goroutines in
// any order go out in batches of destinations in order, each row once;
// a batch exceeds the bound by the rows of one destination at most, and
// with no out every row stays held.
func TestHeldRowsBound(t *testing.T) {
	const dests, maxRows, goroutines = 500, 40, 3
	rowsOf := func(i int) int { return (i * 7) % 23 } // 0 to 22 rows
	rows := make([][]Interval, dests)
	var mu sync.Mutex
	var got []int // destinations given out, batch after batch
	held := &heldRows{rows: rows, max: maxRows, out: func(batch [][]Interval) {
		mu.Lock()
		defer mu.Unlock()
		var ds []int
		n := 0
		for _, rs := range batch {
			if len(rs) > 0 {
				ds = append(ds, int(rs[0].Start))
			}
			n += len(rs)
		}
		if !slices.IsSorted(ds) {
			t.Errorf("a batch not in destination order: %v", ds)
		}
		if n > maxRows+22 { // what was held, and the destination that passed the bound
			t.Errorf("a batch of %d rows (bound %d)", n, maxRows)
		}
		got = append(got, ds...)
	}}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < dests; i += goroutines {
				rows[i] = make([]Interval, rowsOf(i))
				for j := range rows[i] {
					rows[i][j].Start = int64(i)
				}
				held.keep(i)
			}
		})
	}
	wg.Wait()
	if !held.gave {
		t.Fatal("nothing was given out")
	}
	held.giveOut()
	var want []int
	for i := range dests {
		if rowsOf(i) > 0 {
			want = append(want, i)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("given out %d destinations' rows, want %d, each once", len(got), len(want))
	}
	for i, rs := range rows {
		if rs != nil {
			t.Fatalf("destination %d's rows still held", i)
		}
	}

	all := make([][]Interval, 3)
	keepAll := &heldRows{rows: all, max: 1}
	for i := range all {
		all[i] = make([]Interval, 5)
		keepAll.keep(i)
	}
	if keepAll.gave || slices.ContainsFunc(all, func(rs []Interval) bool { return rs == nil }) {
		t.Error("rows given out with no out to give them to")
	}
}
