package intern

import (
	"sync"
	"testing"
)

// TestList numbers values from several goroutines at once: each value one
// number, the same each time, and Get gives the value back.
func TestList(t *testing.T) {
	var l List[[2]int]
	var wg sync.WaitGroup
	refs := make([][100]uint32, 4)
	for g := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				refs[g][i] = l.Ref([2]int{i % 50, 7})
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]int{}
	for g := range refs {
		for i, ref := range refs[g] {
			if ref != refs[0][i%50] || l.Get(ref) != [2]int{i % 50, 7} {
				t.Fatalf("goroutine %d, value %d: number %d, Get %v", g, i%50, ref, l.Get(ref))
			}
			seen[ref] = i % 50
		}
	}
	if len(seen) != 50 {
		t.Errorf("%d numbers for 50 values", len(seen))
	}
	for ref := range seen {
		if ref < 1 || ref > 50 {
			t.Errorf("number %d outside 1..50", ref)
		}
	}
}
