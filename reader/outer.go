package reader

import "flowstat/intern"

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

// outers numbers the Endpoints given an Outer. Distinct tunnel endpoints
// are few; decoding finds their number without a lock, as the endpoints of
// a tunnel's packets are the same over and over.
var outers intern.List[Endpoints]

// OuterOf returns the Outer of e, the same each time; NoOuter for the zero
// Endpoints.
func OuterOf(e Endpoints) Outer {
	if e == (Endpoints{}) {
		return NoOuter
	}
	return Outer(outers.Ref(e))
}

// Endpoints returns the Endpoints that o names; the zero Endpoints for
// NoOuter.
func (o Outer) Endpoints() Endpoints {
	if o == NoOuter {
		return Endpoints{}
	}
	return outers.Get(uint32(o))
}
