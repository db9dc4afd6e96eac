package reader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
)

// ipv4Packet builds an IPv4 packet of the given protocol around payload.
func ipv4Packet(proto uint8, payload []byte, src, dst string) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 0x4321)
	b[8], b[9] = 61, proto
	copy(b[12:], netip.MustParseAddr(src).AsSlice())
	copy(b[16:], netip.MustParseAddr(dst).AsSlice())
	binary.BigEndian.PutUint16(b[10:], ^ipChecksum(b))
	return append(b, payload...)
}

func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	return uint16(sum)
}

// tcpSegment builds a TCP header without options, then payload.
func tcpSegment(sport, dport uint16, flags uint8, seq, ack uint32, window uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12], b[13] = 5<<4, flags
	binary.BigEndian.PutUint16(b[14:], window)
	return append(b, payload...)
}

// udpDatagram builds a UDP header with its length, then payload.
func udpDatagram(sport, dport uint16, payload []byte) []byte {
	return append(udpHeader(sport, dport, 8+len(payload)), payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// greHeader builds a GRE header of version 0 with the optional fields its
// flags announce: checksum (left 0), key, sequence number.
func greHeader(flags, proto uint16, key, seq uint32) []byte {
	b := cat(be16(flags), be16(proto))
	if flags&(greChecksum|greRouting) != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	if flags&greKey != 0 {
		b = append(b, be32(key)...)
	}
	if flags&greSeq != 0 {
		b = append(b, be32(seq)...)
	}
	return b
}

// mplsStack builds label stack entries, the last one at the bottom.
func mplsStack(labels ...uint32) []byte {
	var b []byte
	for i, l := range labels {
		e := l<<12 | 64
		if i == len(labels)-1 {
			e |= 0x100
		}
		b = append(b, be32(e)...)
	}
	return b
}

func vxlanHeader(vni uint32) []byte { return cat([]byte{0x08, 0, 0, 0}, be32(vni<<8)) }

// geneveHeader builds a Geneve header with opts (a multiple of 4 bytes).
func geneveHeader(proto uint16, vni uint32, opts []byte) []byte {
	return cat([]byte{byte(len(opts) / 4), 0}, be16(proto), be32(vni<<8), opts)
}

// gtpuHeader builds a GTPv1-U header of a T-PDU of payloadLen bytes. ext
// holds the optional 4 bytes and extension headers when flags announce them.
func gtpuHeader(flags uint8, teid uint32, ext []byte, payloadLen int) []byte {
	return cat([]byte{gtpVersion1 | gtpPT | flags, gtpTPDU}, be16(uint16(len(ext)+payloadLen)), be32(teid), ext)
}

func erspan2(session uint16) []byte {
	return cat([]byte{0x10, 0x64}, be16(session), []byte{0, 0, 0, 1})
}

func erspan3(session uint16, frameType uint16, platform bool) []byte {
	word := frameType << 10
	if platform {
		word |= 1
	}
	b := cat([]byte{0x20, 0x64}, be16(session), be32(0x01020304), be16(0), be16(word))
	if platform {
		b = append(b, 0x08, 0, 0, 0, 0, 0, 0, 0)
	}
	return b
}

// Addresses of the built frames: 192.0.2.0/24 and 2001:db8:ffff::/64 for
// tunnel endpoints, 10/8 and 2001:db8::/64 inside.
const (
	outer4a, outer4b = "192.0.2.1", "192.0.2.2"
	outer6a, outer6b = "2001:db8:ffff::1", "2001:db8:ffff::2"
	inner4a, inner4b = "10.1.1.1", "10.2.2.2"
	inner6a, inner6b = "2001:db8::a", "2001:db8::b"
)

// tunnelFrame is a hand-built Ethernet frame with what Decode must make of it.
type tunnelFrame struct {
	name     string
	data     []byte
	tunnel   Tunnel
	id       uint32
	outer    [2]string // tunnel endpoints, "" when none
	src, dst string    // the packet's addresses
	proto    uint8
	sport    uint16
	dport    uint16
}

// builtTunnelFrames are the encapsulations that tcpdump's captures lack or
// show only once; they make testdata/tunnels/built.pcap, which tshark
// dissects too.
func builtTunnelFrames() []tunnelFrame {
	eth4 := func(ip []byte) []byte { return ether(etherIPv4, nil, ip) }
	eth6 := func(ip []byte) []byte { return ether(etherIPv6, nil, ip) }
	tcp4 := ipv4Packet(ProtoTCP, tcpSegment(40000, 443, ACK|PSH, 1000, 2000, 512, []byte("hello")), inner4a, inner4b)
	udp4 := ipv4Packet(ProtoUDP, udpDatagram(5353, 53, []byte("query")), inner4a, inner4b)
	tcp6 := ipv6(ProtoTCP, tcpSegment(40001, 22, SYN, 7, 0, 0, nil), inner6a, inner6b)
	udp6 := ipv6(ProtoUDP, udpDatagram(123, 123, make([]byte, 48)), inner6a, inner6b)
	gtpExt := cat(be16(0x0102), []byte{0, 0x40}, // sequence 258, N-PDU 0, next: UDP port
		[]byte{1, 0x08, 0x68, 0x85}, // UDP port 2152, next: PDU session container
		[]byte{1, 0x10, 0x09, 0})    // downlink, QFI 9, no next
	return []tunnelFrame{
		{"4in4", eth4(ipv4Packet(protoIPv4inIP, tcp4, outer4a, outer4b)),
			TunnelIPIP, 0, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"6in4", eth4(ipv4Packet(protoIPv6inIP, udp6, outer4a, outer4b)),
			TunnelIPIP, 0, [2]string{outer4a, outer4b}, inner6a, inner6b, ProtoUDP, 123, 123},
		{"4in6", eth6(ipv6(protoIPv4inIP, udp4, outer6a, outer6b)),
			TunnelIPIP, 0, [2]string{outer6a, outer6b}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"6in6", eth6(ipv6(protoIPv6inIP, tcp6, outer6a, outer6b)),
			TunnelIPIP, 0, [2]string{outer6a, outer6b}, inner6a, inner6b, ProtoTCP, 40001, 22},
		{"GRE with checksum, key and sequence number", eth4(ipv4Packet(protoGRE, cat(greHeader(greChecksum|greKey|greSeq, etherIPv4, 0x01020304, 9), tcp4), outer4a, outer4b)),
			TunnelGRE, 0x01020304, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"GRE without options, IPv6 inside", eth4(ipv4Packet(protoGRE, cat(greHeader(0, etherIPv6, 0, 0), udp6), outer4a, outer4b)),
			TunnelGRE, 0, [2]string{outer4a, outer4b}, inner6a, inner6b, ProtoUDP, 123, 123},
		{"GRE over IPv6 bridging Ethernet", eth6(ipv6(protoGRE, cat(greHeader(greKey, etherTEB, 42, 0), ether(etherIPv4, nil, udp4)), outer6a, outer6b)),
			TunnelGRE, 42, [2]string{outer6a, outer6b}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"MPLS in GRE", eth4(ipv4Packet(protoGRE, cat(greHeader(greKey, etherMPLS, 5, 0), mplsStack(100, 200), tcp4), outer4a, outer4b)),
			TunnelGRE, 5, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"PPTP", eth4(ipv4Packet(protoGRE, cat(be16(greKey|greSeq|1), be16(grePPP), be16(uint16(4+len(udp4))), be16(0x1234), be32(3),
			[]byte{0xFF, 0x03, 0x00, 0x21}, udp4), outer4a, outer4b)),
			TunnelGRE, 0x1234, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"MPLS, three labels", ether(etherMPLS, nil, cat(mplsStack(16, 17, 18), tcp6)),
			TunnelMPLS, 16, [2]string{}, inner6a, inner6b, ProtoTCP, 40001, 22},
		{"MPLS multicast, one label", ether(etherMPLSMulticast, []uint16{30}, cat(mplsStack(1000), udp4)),
			TunnelMPLS, 1000, [2]string{}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"GTP-U", eth4(ipv4Packet(ProtoUDP, udpDatagram(2152, 2152, cat(gtpuHeader(0, 0x11223344, nil, len(tcp4)), tcp4)), outer4a, outer4b)),
			TunnelGTPU, 0x11223344, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"GTP-U with a sequence number", eth6(ipv6(ProtoUDP, udpDatagram(2152, 2152, cat(gtpuHeader(0x02, 77, []byte{0, 1, 0, 0}, len(udp6)), udp6)), outer6a, outer6b)),
			TunnelGTPU, 77, [2]string{outer6a, outer6b}, inner6a, inner6b, ProtoUDP, 123, 123},
		{"GTP-U with extension headers", eth4(ipv4Packet(ProtoUDP, udpDatagram(2152, 2152, cat(gtpuHeader(0x06, 0xCAFE, gtpExt, len(udp4)), udp4)), outer4a, outer4b)),
			TunnelGTPU, 0xCAFE, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"GTP-U echo request stays UDP", eth4(ipv4Packet(ProtoUDP, udpDatagram(2152, 2152, []byte{0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0}), outer4a, outer4b)),
			TunnelNone, 0, [2]string{}, outer4a, outer4b, ProtoUDP, 2152, 2152},
		{"VXLAN over IPv6, VLAN inside", eth6(ipv6(ProtoUDP, udpDatagram(51000, 4789, cat(vxlanHeader(0xABCDEF), ether(etherIPv6, []uint16{12}, tcp6))), outer6a, outer6b)),
			TunnelVXLAN, 0xABCDEF, [2]string{outer6a, outer6b}, inner6a, inner6b, ProtoTCP, 40001, 22},
		{"VXLAN without its I flag stays UDP", eth4(ipv4Packet(ProtoUDP, udpDatagram(51000, 4789, cat([]byte{0, 0, 0, 0, 0, 0, 1, 0}, ether(etherIPv4, nil, tcp4))), outer4a, outer4b)),
			TunnelNone, 0, [2]string{}, outer4a, outer4b, ProtoUDP, 51000, 4789},
		{"Geneve with options", eth4(ipv4Packet(ProtoUDP, udpDatagram(52000, 6081, cat(geneveHeader(etherTEB, 99, cat(be16(0x0103), []byte{0x80, 1}, be32(0xdeadbeef))), ether(etherIPv4, nil, udp4))), outer4a, outer4b)),
			TunnelGeneve, 99, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"Geneve version 1 stays UDP", eth4(ipv4Packet(ProtoUDP, udpDatagram(52000, 6081, cat([]byte{0x40, 0}, be16(etherIPv4), be32(99<<8), tcp4)), outer4a, outer4b)),
			TunnelNone, 0, [2]string{}, outer4a, outer4b, ProtoUDP, 52000, 6081},
		{"ERSPAN type III with a platform subheader", eth4(ipv4Packet(protoGRE, cat(greHeader(greSeq, greERSPAN3, 0, 1), erspan3(513, 0, true), ether(etherIPv4, nil, tcp4)), outer4a, outer4b)),
			TunnelERSPAN, 513, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"ERSPAN type II", eth4(ipv4Packet(protoGRE, cat(greHeader(greSeq, greERSPAN2, 0, 1), erspan2(1023), ether(etherIPv6, nil, udp6)), outer4a, outer4b)),
			TunnelERSPAN, 1023, [2]string{outer4a, outer4b}, inner6a, inner6b, ProtoUDP, 123, 123},
		{"GRE in VXLAN: the outermost tunnel", eth4(ipv4Packet(ProtoUDP, udpDatagram(53000, 4789, cat(vxlanHeader(5), ether(etherIPv4, nil,
			ipv4Packet(protoGRE, cat(greHeader(greKey, etherIPv4, 9, 0), tcp4), "172.16.0.1", "172.16.0.2")))), outer4a, outer4b)),
			TunnelVXLAN, 5, [2]string{outer4a, outer4b}, inner4a, inner4b, ProtoTCP, 40000, 443},
		{"4in4 in GRE in MPLS", ether(etherMPLS, nil, cat(mplsStack(300), ipv4Packet(protoGRE, cat(greHeader(greKey, etherIPv4, 77, 0),
			ipv4Packet(protoIPv4inIP, udp4, "172.16.0.1", "172.16.0.2")), outer4a, outer4b))),
			TunnelMPLS, 300, [2]string{}, inner4a, inner4b, ProtoUDP, 5353, 53},
		{"ARP under ERSPAN: the GRE packet stays", eth4(ipv4Packet(protoGRE, cat(greHeader(greSeq, greERSPAN2, 0, 1), erspan2(7), ether(0x0806, nil, make([]byte, 28))), outer4a, outer4b)),
			TunnelNone, 0, [2]string{}, outer4a, outer4b, protoGRE, 0, 0},
	}
}

// TestDecodeBuiltTunnels decodes the hand-built tunnels, whole and cut at
// every byte: a cut frame is Truncated or, when the cut spares every
// header, the same packet.
func TestDecodeBuiltTunnels(t *testing.T) {
	for _, tf := range builtTunnelFrames() {
		t.Run(tf.name, func(t *testing.T) {
			var p Packet
			if got := Decode(LinkEthernet, tf.data, &p); got != OK {
				t.Fatalf("outcome %v", got)
			}
			outerSrc, outerDst := "invalid IP", "invalid IP"
			if tf.outer[0] != "" {
				outerSrc, outerDst = tf.outer[0], tf.outer[1]
			}
			got := fmt.Sprintf("%v %#x %v>%v: %v>%v proto %d ports %d>%d", p.Tunnel, p.TunnelID, p.OuterSrcAddr(), p.OuterDstAddr(),
				p.SrcAddr(), p.DstAddr(), p.Proto, p.SrcPort, p.DstPort)
			want := fmt.Sprintf("%v %#x %v>%v: %v>%v proto %d ports %d>%d", tf.tunnel, tf.id, outerSrc, outerDst,
				tf.src, tf.dst, tf.proto, tf.sport, tf.dport)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			for n := range len(tf.data) {
				var q Packet
				if out := Decode(LinkEthernet, tf.data[:n], &q); out != Truncated && (out != OK || q != p) {
					t.Fatalf("cut to %d bytes: %v, %+v", n, out, q)
				}
			}
		})
	}
}

// TestDecodeNoDecap keeps the outer packets of the built tunnels.
func TestDecodeNoDecap(t *testing.T) {
	d := Decoder{NoDecap: true}
	for _, tf := range builtTunnelFrames() {
		var p Packet
		out := d.Decode(LinkEthernet, tf.data, &p)
		if tf.outer[0] == "" && tf.tunnel == TunnelMPLS {
			if out != NonIP {
				t.Errorf("%s: %v, want non_ip", tf.name, out)
			}
			continue
		}
		src := tf.outer[0]
		if src == "" {
			src = tf.src
		}
		if out != OK || p.Tunnel != TunnelNone || p.SrcAddr().String() != src {
			t.Errorf("%s: %v, tunnel %v from %v, want the packet from %s", tf.name, out, p.Tunnel, p.SrcAddr(), src)
		}
	}
}

// TestDecodeTunnelEdges covers what the built frames do not: nesting
// beyond the bound, fragments, lengths that do not fit, a packet reused
// after a tunnel.
func TestDecodeTunnelEdges(t *testing.T) {
	udp4 := ipv4Packet(ProtoUDP, udpDatagram(5353, 53, nil), inner4a, inner4b)
	nested := udp4
	for i := range maxTunnels + 2 {
		nested = ipv4Packet(protoIPv4inIP, nested, fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprintf("192.0.2.%d", 100+i))
	}
	frag := ipv4Packet(protoIPv4inIP, udp4, outer4a, outer4b)
	binary.BigEndian.PutUint16(frag[6:], 0x2000) // more fragments
	tests := []struct {
		name  string
		link  int
		data  []byte
		want  Outcome
		check func(*Packet) bool
	}{
		{"nesting stops after eight tunnels", LinkRaw, nested, OK, func(p *Packet) bool {
			// Ten tunnels: the eighth one's payload, itself a tunnel packet, is the packet.
			return p.Tunnel == TunnelIPIP && p.OuterSrcAddr().String() == "192.0.2.19" &&
				p.SrcAddr().String() == "192.0.2.11" && p.Proto == protoIPv4inIP
		}},
		{"a fragment is not opened", LinkRaw, frag, OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.Frag == FirstFrag && p.SrcAddr().String() == outer4a
		}},
		{"GRE header longer than the packet", LinkRaw, ipv4Packet(protoGRE, greHeader(greKey, etherIPv4, 1, 0)[:6], outer4a, outer4b), DecodeError, nil},
		{"GRE of an unknown version stays", LinkRaw, ipv4Packet(protoGRE, cat(be16(2), be16(etherIPv4), udp4), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.Proto == protoGRE
		}},
		{"GRE with an unknown protocol stays", LinkRaw, ipv4Packet(protoGRE, cat(greHeader(0, 0x1234, 0, 0), udp4), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.Proto == protoGRE && p.Payload == uint32(4+len(udp4))
		}},
		{"6in4 holding IPv4 stays", LinkRaw, ipv4Packet(protoIPv6inIP, udp4, outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.Proto == protoIPv6inIP
		}},
		{"IP in IP cut after the outer header", LinkRaw, ipv4Packet(protoIPv4inIP, udp4, outer4a, outer4b)[:20], Truncated, nil},
		{"MPLS stack without a bottom", LinkEthernet, ether(etherMPLS, nil, be32(100<<12)), Truncated, nil},
		{"MPLS over a pseudowire control word", LinkEthernet, ether(etherMPLS, nil, cat(mplsStack(100), make([]byte, 4), udp4)), NonIP, nil},
		{"a short datagram to the VXLAN port", LinkRaw, ipv4Packet(ProtoUDP, udpDatagram(1, 4789, []byte{8}), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.DstPort == 4789 && p.Payload == 1
		}},
		{"GTP-U whose length overruns the datagram stays", LinkRaw, ipv4Packet(ProtoUDP, udpDatagram(2152, 2152, cat(gtpuHeader(0, 1, nil, 100), udp4)), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.DstPort == 2152
		}},
		{"GTP-U extension of length 0 stays", LinkRaw, ipv4Packet(ProtoUDP, udpDatagram(2152, 2152, cat(gtpuHeader(gtpExt, 1, []byte{0, 0, 0, 0x85, 0, 0, 0, 0}, len(udp4)), udp4)), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.DstPort == 2152
		}},
		{"MPLS over UDP", LinkRaw, ipv4Packet(ProtoUDP, udpDatagram(49152, 6635, cat(mplsStack(2000), udp4)), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelMPLS && p.TunnelID == 2000 && p.OuterSrcAddr().String() == outer4a && p.DstPort == 53
		}},
		// A DNS answer to a client that drew port 6635 is DNS, even when
		// its first bytes read as a label stack.
		{"a service's answer to a tunnel's port stays", LinkRaw, ipv4Packet(ProtoUDP, udpDatagram(53, 6635, cat(mplsStack(2000), udp4)), outer4a, outer4b), OK, func(p *Packet) bool {
			return p.Tunnel == TunnelNone && p.SrcPort == 53 && p.DstPort == 6635
		}},
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

	// A packet reused after a tunnel forgets it.
	var p Packet
	Decode(LinkRaw, ipv4Packet(protoIPv4inIP, udp4, outer4a, outer4b), &p)
	Decode(LinkRaw, udp4, &p)
	if p.Tunnel != TunnelNone || p.TunnelID != 0 || p.Outer != NoOuter {
		t.Errorf("tunnel left over: %+v", p)
	}
}

func TestTunnelString(t *testing.T) {
	for tun, want := range map[Tunnel]string{TunnelNone: "none", TunnelGTPU: "gtpu", TunnelIPIP: "ipip", 200: "tunnel200"} {
		if got := tun.String(); got != want {
			t.Errorf("%d: %q, want %q", tun, got, want)
		}
	}
}
