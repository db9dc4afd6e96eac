package flows

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgreesWithMap adds, finds and removes random keys, IPv4 and
// IPv6, against a Go map: through growth, and in a table kept up to three
// quarters full, where runs of slots are long, wrap around the end, and a
// removal shifts many back.
func TestIndexAgreesWithMap(t *testing.T) {
	for _, c := range []struct {
		keys int
		grow bool
	}{{5000, true}, {3 * initialIndexSlots / 4, false}} {
		x := indexAgainstMap(t, c.keys)
		if grew := len(x.slots) > initialIndexSlots; grew != c.grow {
			t.Errorf("%d keys: %d slots", c.keys, len(x.slots))
		}
	}
}

func indexAgainstMap(t *testing.T, n int) flowIndex {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	keys := make([]Key, n)
	for i := range keys {
		k := &keys[i]
		k.Proto, k.APort, k.BPort = 6, uint16(r.UintN(4)), 80
		if i%5 == 0 {
			k.A[0], k.B[0] = 0x20, 0x20
			k.A[15], k.B[15] = byte(r.UintN(256)), byte(r.UintN(4))
		} else {
			k.IPv4 = true
			k.A[10], k.A[11], k.B[10], k.B[11] = 0xff, 0xff, 0xff, 0xff
			k.A[14], k.A[15], k.B[15] = byte(i), byte(i>>8), byte(r.UintN(8))
		}
	}
	var slab []Key // the flows' keys, by slab index
	want := map[Key]int32{}
	var free []int32
	x := newFlowIndex()
	keyAt := func(i int32) *Key { return &slab[i] }
	for step := range 300_000 {
		k := &keys[r.IntN(len(keys))]
		i, ok := x.get(k, keyAt)
		j, wantOK := want[*k]
		if ok != wantOK || ok && i != j {
			t.Fatalf("%d keys, step %d: get = %d, %v; want %d, %v", n, step, i, ok, j, wantOK)
		}
		switch {
		case ok && r.IntN(4) == 0:
			x.remove(k, i)
			delete(want, *k)
			free = append(free, i)
		case !ok:
			if len(free) == 0 {
				slab = append(slab, Key{})
				free = append(free, int32(len(slab)-1))
			}
			i, free = free[len(free)-1], free[:len(free)-1]
			slab[i] = *k
			x.add(k, i)
			want[*k] = i
		}
		if x.len() != len(want) {
			t.Fatalf("%d keys, step %d: len = %d, want %d", n, step, x.len(), len(want))
		}
	}
	return x
}
