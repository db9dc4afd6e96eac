package flows

import (
	"net/netip"

	"flowstat/reader"
)

// Key identifies a flow in both directions: the endpoint that sorts first is
// A, so a packet and its reply produce the same Key.
type Key struct {
	Proto        uint8
	VLAN         uint16
	A, B         netip.Addr
	APort, BPort uint16
}

// side is 0 when a packet was sent by endpoint A of its Key, 1 when by B.
type side = int

// keyOf returns the flow key of a packet and the side that sent it.
// ICMP echo requests and replies carry the identifier as SrcPort and 0 as
// DstPort in both directions; they are ordered by address alone so that the
// request and its reply meet.
func keyOf(p *reader.Packet, echo bool) (Key, side) {
	k := Key{Proto: p.Proto, VLAN: p.VLAN}
	var srcFirst bool
	if echo {
		srcFirst = p.Src.Less(p.Dst) || p.Src == p.Dst
		k.APort, k.BPort = p.SrcPort, p.DstPort
		if srcFirst {
			k.A, k.B = p.Src, p.Dst
		} else {
			k.A, k.B = p.Dst, p.Src
		}
		return k, boolSide(!srcFirst)
	}
	c := p.Src.Compare(p.Dst)
	srcFirst = c < 0 || (c == 0 && p.SrcPort <= p.DstPort)
	if srcFirst {
		k.A, k.APort, k.B, k.BPort = p.Src, p.SrcPort, p.Dst, p.DstPort
	} else {
		k.A, k.APort, k.B, k.BPort = p.Dst, p.DstPort, p.Src, p.SrcPort
	}
	return k, boolSide(!srcFirst)
}

func boolSide(b bool) side {
	if b {
		return 1
	}
	return 0
}

// id returns a flow's identifier: a 64-bit FNV-1a hash of its key and first
// packet time. It depends only on the flow, not on the order flows were
// processed in, so parallel and sequential runs agree.
func (k *Key) id(first int64) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b byte) { h = (h ^ uint64(b)) * prime }
	mix(k.Proto)
	mix(byte(k.VLAN >> 8))
	mix(byte(k.VLAN))
	for _, a := range [2]netip.Addr{k.A, k.B} {
		b := a.As16()
		for _, x := range b {
			mix(x)
		}
	}
	for _, port := range [2]uint16{k.APort, k.BPort} {
		mix(byte(port >> 8))
		mix(byte(port))
	}
	for i := 0; i < 8; i++ {
		mix(byte(first >> (8 * i)))
	}
	return h
}
