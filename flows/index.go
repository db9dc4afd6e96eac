package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// flowIndex finds a flow's slab index by its key: an open-addressing
// table of 8-byte slots, a 32-bit hash of the key and the flow's index,
// probed linearly and at most 3/4 full. The key itself is compared in the
// flow's entry, which the packet updates next anyway, and a flow is
// removed by its slab index, without comparing keys. A Go map of keys
// probes a group's control word, then its keys, and probes again to
// delete, which BenchmarkTableAdd shows slower.
//
// Deleting shifts the slots after the deleted one back (Knuth's
// Algorithm R), so that no tombstone lengthens later probes. The hash is
// seeded at random per table: packets crafted to collide in one run
// cannot be made to collide in another.
type flowIndex struct {
	slots []indexSlot
	mask  uint32 // len(slots)-1: a power of two
	n     int
	seed  uint64
}

// indexSlot holds a flow's slab index plus one, 0 when the slot is empty.
// Its home slot is hash&mask, whatever the table's size.
type indexSlot struct {
	hash uint32
	at   int32
}

const initialIndexSlots = 1 << 10

func newFlowIndex() flowIndex {
	return flowIndex{slots: make([]indexSlot, initialIndexSlots), mask: initialIndexSlots - 1, seed: rand.Uint64()}
}

// hash mixes a key's words with a multiply-fold (as wyhash does). An IPv4
// key has its addresses in the last four bytes of A and B.
func (x *flowIndex) hash(k *Key) uint32 {
	rest := uint64(k.APort) | uint64(k.BPort)<<16 | uint64(k.VLAN)<<32 | uint64(k.Proto)<<48 ^ uint64(k.TunnelID)<<24
	var ab uint64
	if k.IPv4 {
		ab = uint64(binary.LittleEndian.Uint32(k.A[12:])) | uint64(binary.LittleEndian.Uint32(k.B[12:]))<<32
	} else {
		ab = mix(binary.LittleEndian.Uint64(k.A[:8])^x.seed, binary.LittleEndian.Uint64(k.A[8:]))
		ab ^= mix(binary.LittleEndian.Uint64(k.B[:8]), binary.LittleEndian.Uint64(k.B[8:])^x.seed)
	}
	return uint32(mix(ab^x.seed, rest^0x9E3779B97F4A7C15))
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xA0761D6478BD642F, b^0xE7037ED1A0B428DB)
	return hi ^ lo
}

// get returns the slab index of the flow with key k; keyAt returns the key
// of the flow at a slab index.
func (x *flowIndex) get(k *Key, keyAt func(int32) *Key) (int32, bool) {
	h := x.hash(k)
	for p := h & x.mask; ; p = (p + 1) & x.mask {
		s := x.slots[p]
		if s.at == 0 {
			return 0, false
		}
		if s.hash == h && *keyAt(s.at - 1) == *k {
			return s.at - 1, true
		}
	}
}

// add indexes the flow at slab index i, whose key k is not in the index.
func (x *flowIndex) add(k *Key, i int32) {
	if 4*(x.n+1) > 3*len(x.slots) {
		x.grow()
	}
	x.place(indexSlot{x.hash(k), i + 1})
	x.n++
}

func (x *flowIndex) place(s indexSlot) {
	p := s.hash & x.mask
	for x.slots[p].at != 0 {
		p = (p + 1) & x.mask
	}
	x.slots[p] = s
}

// grow doubles the slots; the hashes kept in them place them again
// without reading a key.
func (x *flowIndex) grow() {
	old := x.slots
	x.slots = make([]indexSlot, 2*len(old))
	x.mask = uint32(len(x.slots) - 1)
	for _, s := range old {
		if s.at != 0 {
			x.place(s)
		}
	}
}

// remove drops the flow at slab index i, whose key is k.
func (x *flowIndex) remove(k *Key, i int32) {
	p := x.hash(k) & x.mask
	for x.slots[p].at != i+1 {
		if x.slots[p].at == 0 {
			return
		}
		p = (p + 1) & x.mask
	}
	x.n--
	// Move back each later slot of the run whose home is not between the
	// hole and itself: a probe for it from its home now meets the hole.
	for q := (p + 1) & x.mask; x.slots[q].at != 0; q = (q + 1) & x.mask {
		home := x.slots[q].hash & x.mask
		if (q-home)&x.mask >= (q-p)&x.mask {
			x.slots[p] = x.slots[q]
			p = q
		}
	}
	x.slots[p] = indexSlot{}
}

func (x *flowIndex) len() int { return x.n }
