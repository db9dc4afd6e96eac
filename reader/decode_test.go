package reader

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"
)

// ipv4TCP builds an IPv4 header (total length totalLen) with a TCP header.
func ipv4TCP(src, dst string, sport, dport uint16, flags uint8, totalLen int) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(totalLen))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	b[8], b[9] = 64, ProtoTCP
	copy(b[12:], netip.MustParseAddr(src).AsSlice())
	copy(b[16:], netip.MustParseAddr(dst).AsSlice())
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	b[32] = 5 << 4
	b[33] = flags
	return b
}

func ether(etherType uint16, vlans []uint16, payload []byte) []byte {
	b := make([]byte, 12)
	for _, v := range vlans {
		b = binary.BigEndian.AppendUint16(b, etherVLAN)
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

func ipv6(next uint8, payload []byte, src, dst string) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = next, 64
	copy(b[8:], netip.MustParseAddr(src).AsSlice())
	copy(b[24:], netip.MustParseAddr(dst).AsSlice())
	return append(b, payload...)
}

func udpHeader(sport, dport uint16, length int) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(length))
	return b
}

func TestDecode(t *testing.T) {
	tcp4 := ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, SYN, 60)
	// IPv6 with hop-by-hop and destination options before UDP.
	ext := append([]byte{60, 0, 0, 0, 0, 0, 0, 0}, []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0}...)
	udp6 := ipv6(ip6HopByHop, append(ext, udpHeader(5353, 53, 20)...), "2001:db8::1", "2001:db8::2")
	udp6 = append(udp6, make([]byte, 12)...)
	binary.BigEndian.PutUint16(udp6[4:], uint16(len(udp6)-40))
	// IPv6 first fragment and later fragment.
	frag1 := ipv6(ip6Fragment, append([]byte{ProtoUDP, 0, 0, 1, 0, 0, 0, 42}, udpHeader(53, 4000, 3000)...), "2001:db8::2", "2001:db8::1")
	frag2 := ipv6(ip6Fragment, append([]byte{ProtoUDP, 0, 0x05, 0xa8, 0, 0, 0, 42}, make([]byte, 100)...), "2001:db8::2", "2001:db8::1")
	sll := append(make([]byte, 14), 0x08, 0x00)
	sll2 := append([]byte{0x86, 0xdd}, make([]byte, 18)...)
	null := []byte{2, 0, 0, 0}
	arp := ether(0x0806, nil, make([]byte, 28))

	tests := []struct {
		name  string
		link  int
		data  []byte
		want  Outcome
		check func(*Packet) bool
	}{
		{"ethernet ipv4 tcp", LinkEthernet, ether(etherIPv4, nil, tcp4), OK, func(p *Packet) bool {
			return p.IPVersion == 4 && p.Proto == ProtoTCP && p.SrcPort == 1234 && p.DstPort == 80 &&
				p.TCPFlags == SYN && p.IPLen == 60 && p.Payload == 20 && p.SrcAddr() == netip.MustParseAddr("10.0.0.1")
		}},
		{"qinq keeps the outer vlan", LinkEthernet, ether(etherIPv4, []uint16{100, 200}, tcp4), OK, func(p *Packet) bool {
			return p.VLAN == 100 && p.DstPort == 80
		}},
		{"ipv6 extension headers", LinkEthernet, ether(etherIPv6, nil, udp6), OK, func(p *Packet) bool {
			return p.IPVersion == 6 && p.Proto == ProtoUDP && p.SrcPort == 5353 && p.DstPort == 53 && p.IPLen == uint32(len(udp6))
		}},
		{"ipv6 first fragment", LinkRaw, frag1, OK, func(p *Packet) bool {
			return p.Frag == FirstFrag && p.FragID == 42 && p.SrcPort == 53
		}},
		{"ipv6 later fragment", LinkRaw, frag2, OK, func(p *Packet) bool {
			return p.Frag == LaterFrag && p.FragID == 42 && p.Proto == ProtoUDP && p.SrcPort == 0
		}},
		{"linux cooked v1", LinkSLL, append(sll, tcp4...), OK, func(p *Packet) bool { return p.DstPort == 80 }},
		{"linux cooked v2", LinkSLL2, append(sll2, udp6...), OK, func(p *Packet) bool { return p.DstPort == 53 }},
		{"bsd loopback", LinkNull, append(null, tcp4...), OK, func(p *Packet) bool { return p.DstPort == 80 }},
		{"raw ipv4", LinkIPv4, tcp4, OK, func(p *Packet) bool { return p.DstPort == 80 }},
		{"arp is not ip", LinkEthernet, arp, NonIP, nil},
		{"cut in the tcp header", LinkEthernet, ether(etherIPv4, nil, tcp4[:30]), Truncated, nil},
		{"bad header length", LinkRaw, append([]byte{0x43}, tcp4[1:]...), DecodeError, nil},
		{"unknown link type", 147, tcp4, UnknownLink, nil},
		{"empty frame", LinkEthernet, nil, Truncated, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			got := Decode(tc.link, tc.data, &p)
			if got != tc.want {
				t.Fatalf("outcome %v, want %v", got, tc.want)
			}
			if tc.check != nil && !tc.check(&p) {
				t.Errorf("wrong packet: %+v", p)
			}
		})
	}
}

// TestDecodeTCPFields reads the sequence and acknowledgement numbers, the
// window and the TTL or hop limit, and clears them for the next packet.
func TestDecodeTCPFields(t *testing.T) {
	tcp4 := ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, ACK, 40)
	binary.BigEndian.PutUint32(tcp4[24:], 0xfedcba98)
	binary.BigEndian.PutUint32(tcp4[28:], 7)
	binary.BigEndian.PutUint16(tcp4[34:], 0xfffe)
	tcp6 := make([]byte, 20)
	tcp6[12], tcp6[13] = 5<<4, RST|ACK // window 0, but a reset
	ip6 := ipv6(ProtoTCP, tcp6, "2001:db8::1", "2001:db8::2")
	ip6[7] = 255
	var p Packet
	if Decode(LinkRaw, tcp4, &p) != OK || p.Seq != 0xfedcba98 || p.Window != 0xfffe || p.TTL != 64 {
		t.Errorf("ipv4: seq %#x window %d ttl %d", p.Seq, p.Window, p.TTL)
	}
	if Decode(LinkRaw, ip6, &p) != OK || p.Seq != 0 || p.Window != 0 || p.TTL != 255 || p.TCPFlags != RST|ACK {
		t.Errorf("ipv6: seq %#x window %d hop limit %d", p.Seq, p.Window, p.TTL)
	}
	Decode(LinkRaw, tcp4, &p)
	udp := ipv6(ProtoUDP, udpHeader(1, 2, 8), "2001:db8::1", "2001:db8::2")
	if Decode(LinkRaw, udp, &p) != OK || p.Seq != 0 || p.Window != 0 || p.TTL != 64 {
		t.Errorf("udp after tcp: seq %#x window %d hop limit %d", p.Seq, p.Window, p.TTL)
	}
	if got := Decode(LinkRaw, tcp4[:35], &p); got != Truncated {
		t.Errorf("cut in the window: %v, want truncated", got)
	}
}

func TestDecodeIPv4Fragments(t *testing.T) {
	first := ipv4TCP("10.0.0.1", "10.0.0.2", 53, 4000, 0, 1500)
	first[9] = ProtoUDP
	binary.BigEndian.PutUint16(first[6:], 0x2000) // more fragments, offset 0
	later := ipv4TCP("10.0.0.1", "10.0.0.2", 0, 0, 0, 700)
	later[9] = ProtoUDP
	binary.BigEndian.PutUint16(later[6:], 185) // offset 1480
	var p Packet
	if Decode(LinkRaw, first, &p) != OK || p.Frag != FirstFrag || p.SrcPort != 53 || p.FragID != 0x1234 {
		t.Errorf("first fragment: %+v", p)
	}
	if Decode(LinkRaw, later, &p) != OK || p.Frag != LaterFrag || p.SrcPort != 0 || p.IPLen != 700 {
		t.Errorf("later fragment: %+v", p)
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frame := ether(etherIPv4, []uint16{7}, ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, SYN, 60))
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { Decode(LinkEthernet, frame, &p) }); n != 0 {
		t.Errorf("Decode allocates %.1f times per frame", n)
	}
	for _, tf := range builtTunnelFrames() {
		if n := testing.AllocsPerRun(100, func() { Decode(LinkEthernet, tf.data, &p) }); n != 0 {
			t.Errorf("%s: Decode allocates %.1f times per frame", tf.name, n)
		}
	}
}

// TestPacketSize guards the size of a Packet, which its field order keeps
// free of padding: batches of packets are held by the thousand.
func TestPacketSize(t *testing.T) {
	if got := unsafe.Sizeof(Packet{}); got != 104 {
		t.Errorf("a Packet takes %d bytes, want 112", got)
	}
}
