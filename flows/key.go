package flows

import (
	"encoding/binary"

	"flowstat/reader"
)

// Key identifies a flow in both directions: the endpoint that sorts first is
// A, so a packet and its reply produce the same Key. Addresses are stored
// as 16 bytes (IPv4 mapped into IPv6) so the key holds no pointer: the map
// hashes and compares it as plain memory, which is what makes lookups cheap.
type Key struct {
	A, B         [16]byte
	APort, BPort uint16
	VLAN         uint16
	Proto        uint8
	IPv4         bool
	// TunnelID is the identifier of the outermost tunnel the packets came
	// in (a VXLAN or Geneve VNI, a GTP-U TEID, ...), 0 outside tunnels:
	// tenants of an overlay may use the same inner addresses.
	TunnelID uint32
}

// echoMark is the second port of an ICMP echo flow's key. No ICMP code is
// above 255, so an echo flow never shares a key with another message of
// the same numbers (identifier 3 and a destination unreachable, type 3).
const echoMark = 0xFFFF

// side is 0 when a packet was sent by endpoint A of its Key, 1 when by B.
type side = int

// keyOf returns the flow key of a packet and the side that sent it.
// ICMP echo requests and replies carry the identifier as SrcPort and 0 as
// DstPort in both directions; they are ordered by address alone so that the
// request and its reply meet, and keyed by the identifier and echoMark.
// Other ICMP messages are keyed by type and code.
func keyOf(p *reader.Packet, echo bool) (Key, side) {
	k := Key{Proto: p.Proto, VLAN: p.VLAN, IPv4: p.IPVersion == 4, TunnelID: p.TunnelID}
	src, dst := p.Src, p.Dst
	c := compareAddr(&src, &dst)
	var srcFirst bool
	if echo {
		srcFirst = c <= 0
		k.APort, k.BPort = p.SrcPort, echoMark
	} else {
		srcFirst = c < 0 || (c == 0 && p.SrcPort <= p.DstPort)
		if srcFirst {
			k.APort, k.BPort = p.SrcPort, p.DstPort
		} else {
			k.APort, k.BPort = p.DstPort, p.SrcPort
		}
	}
	if srcFirst {
		k.A, k.B = src, dst
	} else {
		k.A, k.B = dst, src
	}
	return k, boolSide(!srcFirst)
}

// PacketKey returns the key of the flow a Table counts packet p in. A
// later fragment has no ports: the table gives it those of its first
// fragment first.
func PacketKey(p *reader.Packet) Key {
	k, _ := keyOf(p, isEchoPacket(p))
	return k
}

// Key returns the key of the record's flow, the PacketKey of its packets.
func (r *Record) Key() Key {
	p := reader.Packet{Src: r.SrcIP.b, Dst: r.DstIP.b, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, VLAN: r.VLAN, IPVersion: r.IPVersion}
	if r.Tunnel != NoTunnel {
		p.TunnelID = r.Tunnel.Get().ID
	}
	k, _ := keyOf(&p, r.Echo)
	return k
}

// isEchoPacket reports whether p is an ICMP echo request or reply, keyed by
// its identifier.
func isEchoPacket(p *reader.Packet) bool {
	return (p.Proto == reader.ProtoICMP || p.Proto == reader.ProtoICMPv6) && p.DstPort == 0 && isEchoType(p)
}

// compareAddr orders two 16-byte addresses as big-endian numbers.
func compareAddr(a, b *[16]byte) int {
	for _, half := range [2]int{0, 8} {
		x, y := binary.BigEndian.Uint64(a[half:]), binary.BigEndian.Uint64(b[half:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
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
	for _, x := range k.A {
		mix(x)
	}
	for _, x := range k.B {
		mix(x)
	}
	for _, port := range [2]uint16{k.APort, k.BPort} {
		mix(byte(port >> 8))
		mix(byte(port))
	}
	for i := 0; i < 8; i++ {
		mix(byte(first >> (8 * i)))
	}
	if k.TunnelID != 0 { // flows outside tunnels keep the ids they always had
		for i := 0; i < 4; i++ {
			mix(byte(k.TunnelID >> (8 * i)))
		}
	}
	return h
}
