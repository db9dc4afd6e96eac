package report

import (
	"cmp"
	"encoding/binary"
	"runtime"
	"slices"
	"sync"

	"flowstat/flows"
)

// addrKey is an address as plain integers, ordered as netip.Addr.Compare
// orders addresses without a zone. Sort keys built from it hold no pointer,
// so sorting millions of them moves plain memory.
type addrKey struct {
	hi, lo uint64
	bits   uint8 // 0 (invalid), 32 or 128: netip orders by bit length first
}

func addrKeyOf(a flows.IP) addrKey {
	b := a.Bytes16()
	return addrKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint8(a.BitLen())}
}

func (a addrKey) compare(b addrKey) int {
	if a.bits != b.bits {
		return cmp.Compare(a.bits, b.bits)
	}
	if a.hi != b.hi {
		return cmp.Compare(a.hi, b.hi)
	}
	return cmp.Compare(a.lo, b.lo)
}

// destKey is a Dest as plain integers, ordered as Dest.Compare.
type destKey struct {
	ip    addrKey
	port  uint16
	proto uint8
}

func destKeyOf(r *flows.Record) destKey { return destKey{addrKeyOf(r.DstIP), r.DstPort, r.Proto} }

func (d destKey) compare(e destKey) int {
	if c := d.ip.compare(e.ip); c != 0 {
		return c
	}
	if d.port != e.port {
		return cmp.Compare(d.port, e.port)
	}
	return cmp.Compare(d.proto, e.proto)
}

// workers is how many goroutines the report's parallel steps use.
func workers() int { return runtime.GOMAXPROCS(0) }

// sortParallel sorts s with compare, which must be a total order (so the
// result does not depend on how the work was split): parts are sorted
// concurrently, then merged.
func sortParallel[T any](s []T, compare func(a, b T) int) {
	const minPart = 1 << 16
	parts := min(workers(), len(s)/minPart)
	if parts < 2 {
		slices.SortFunc(s, compare)
		return
	}
	bounds := make([]int, parts+1)
	for p := range bounds {
		bounds[p] = p * len(s) / parts
	}
	parallelFor(parts, func(p int) { slices.SortFunc(s[bounds[p]:bounds[p+1]], compare) })
	// Merge the sorted parts pairwise, through a buffer, until one is left.
	buf := make([]T, len(s))
	src, dst := s, buf
	for len(bounds) > 2 {
		var next []int
		var pairs [][3]int
		for p := 0; p+1 < len(bounds); p += 2 {
			if p+2 < len(bounds) {
				pairs = append(pairs, [3]int{bounds[p], bounds[p+1], bounds[p+2]})
			} else {
				pairs = append(pairs, [3]int{bounds[p], bounds[p+1], bounds[p+1]})
			}
			next = append(next, bounds[p])
		}
		next = append(next, len(s))
		parallelFor(len(pairs), func(i int) {
			lo, mid, hi := pairs[i][0], pairs[i][1], pairs[i][2]
			mergeInto(dst[lo:hi], src[lo:mid], src[mid:hi], compare)
		})
		src, dst, bounds = dst, src, next
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}

// mergeInto merges the sorted a and b into out, taking from a on ties.
func mergeInto[T any](out, a, b []T, compare func(a, b T) int) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if compare(b[j], a[i]) < 0 {
			out[k] = b[j]
			j++
		} else {
			out[k] = a[i]
			i++
		}
		k++
	}
	k += copy(out[k:], a[i:])
	copy(out[k:], b[j:])
}

// parallelFor runs fn(0) … fn(n-1) on up to workers() goroutines.
func parallelFor(n int, fn func(i int)) {
	w := min(workers(), n)
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
