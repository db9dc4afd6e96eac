package extsort

import (
	"runtime"
	"slices"
	"sync"
)

// Workers is how many goroutines the parallel steps use: the cores Go
// may run on.
func Workers() int { return runtime.GOMAXPROCS(0) }

// SortParallel sorts s with compare, which must be a total order (so the
// result does not depend on how the work was split). It partitions s around
// a sampled median and sorts the two sides concurrently, in place: sorting
// millions of keys needs no second buffer.
func SortParallel[T any](s []T, compare func(a, b T) int) {
	sortParts(s, compare, Workers())
}

func sortParts[T any](s []T, compare func(a, b T) int, parts int) {
	const minPart = 1 << 16
	if parts < 2 || len(s) < 2*minPart {
		slices.SortFunc(s, compare)
		return
	}
	mid := partition(s, compare)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sortParts(s[:mid], compare, parts/2)
	}()
	sortParts(s[mid:], compare, parts-parts/2)
	wg.Wait()
}

// partition moves the elements of s below the median of a sample to its
// front and returns how many there are.
func partition[T any](s []T, compare func(a, b T) int) int {
	const samples = 255
	sample := make([]T, samples)
	for i := range sample {
		sample[i] = s[i*(len(s)-1)/(samples-1)]
	}
	slices.SortFunc(sample, compare)
	pivot := sample[samples/2]
	lo := 0
	for i := range s {
		if compare(s[i], pivot) < 0 {
			s[lo], s[i] = s[i], s[lo]
			lo++
		}
	}
	return lo
}

// ParallelFor runs fn(0) … fn(n-1) on up to Workers() goroutines.
func ParallelFor(n int, fn func(i int)) {
	w := min(Workers(), n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// MoveInto puts s[from[i]] at position i for every i, following the
// permutation's cycles so that each element moves once: a sort of small
// keys, then one move of each large value; from is used up.
func MoveInto[T any](s []T, from []int32) {
	for start := range from {
		if from[start] < 0 || int(from[start]) == start {
			continue
		}
		held := s[start]
		at := start
		for {
			next := int(from[at])
			from[at] = -1 // placed
			if next == start {
				s[at] = held
				break
			}
			s[at] = s[next]
			at = next
		}
	}
}
