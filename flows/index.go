package flows

import "iter"

// flowIndex finds a flow's slab index by its key. IPv4 flows, nearly all
// of them in most traces, are kept by a 16-byte key rather than the 40
// bytes of a Key: hashing, comparing and probing the smaller map costs
// less on every packet.
type flowIndex struct {
	v4 map[key4]int32
	v6 map[Key]int32
}

// key4 is a Key whose addresses are IPv4.
type key4 struct {
	a, b         [4]byte
	aPort, bPort uint16
	vlan         uint16
	proto        uint8
}

func newFlowIndex() flowIndex {
	return flowIndex{v4: make(map[key4]int32), v6: make(map[Key]int32)}
}

func (k *Key) key4() key4 {
	return key4{a: [4]byte(k.A[12:]), b: [4]byte(k.B[12:]), aPort: k.APort, bPort: k.BPort, vlan: k.VLAN, proto: k.Proto}
}

func (x *flowIndex) get(k *Key) (int32, bool) {
	if k.IPv4 {
		i, ok := x.v4[k.key4()]
		return i, ok
	}
	i, ok := x.v6[*k]
	return i, ok
}

func (x *flowIndex) set(k *Key, i int32) {
	if k.IPv4 {
		x.v4[k.key4()] = i
	} else {
		x.v6[*k] = i
	}
}

func (x *flowIndex) remove(k *Key) {
	if k.IPv4 {
		delete(x.v4, k.key4())
	} else {
		delete(x.v6, *k)
	}
}

func (x *flowIndex) len() int { return len(x.v4) + len(x.v6) }

// all yields every index, in no particular order; flows may be removed
// meanwhile.
func (x *flowIndex) all() iter.Seq[int32] {
	return func(yield func(int32) bool) {
		for _, i := range x.v4 {
			if !yield(i) {
				return
			}
		}
		for _, i := range x.v6 {
			if !yield(i) {
				return
			}
		}
	}
}
