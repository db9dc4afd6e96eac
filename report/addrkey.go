package report

import (
	"cmp"
	"encoding/binary"

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
