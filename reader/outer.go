package reader

import "sync"

// Endpoints are the addresses of a tunnel's ends, mapped like a Packet's
// Src and Dst, and their IP version (0 for none).
type Endpoints struct {
	Version  uint8
	Src, Dst [16]byte
}

// Outer names the Endpoints of a packet's outermost tunnel in the
// process's list of those seen, so that a Packet carries 4 bytes for them
// rather than 33: packets are copied and held in batches of thousands, and
// the flow table reads the endpoints only for a flow's first packet.
// NoOuter, the zero value, names none.
type Outer uint32

// NoOuter is the Outer of packets outside tunnels.
const NoOuter Outer = 0

// outers is every Endpoints given an Outer, by Outer - 1. Distinct
// tunnel endpoints are few, and are kept for the life of the process.
// Decoding looks them up in refs without a lock: the endpoints of a
// tunnel's packets are the same over and over.
var outers struct {
	sync.Mutex
	list []Endpoints
	refs sync.Map // Endpoints to Outer
}

// OuterOf returns the Outer of e, the same each time; NoOuter for the zero
// Endpoints.
func OuterOf(e Endpoints) Outer {
	if e == (Endpoints{}) {
		return NoOuter
	}
	if ref, ok := outers.refs.Load(e); ok {
		return ref.(Outer)
	}
	outers.Lock()
	defer outers.Unlock()
	if ref, ok := outers.refs.Load(e); ok {
		return ref.(Outer)
	}
	outers.list = append(outers.list, e)
	ref := Outer(len(outers.list))
	outers.refs.Store(e, ref)
	return ref
}

// Endpoints returns the Endpoints that o names; the zero Endpoints for
// NoOuter.
func (o Outer) Endpoints() Endpoints {
	if o == NoOuter {
		return Endpoints{}
	}
	outers.Lock()
	defer outers.Unlock()
	return outers.list[o-1]
}
