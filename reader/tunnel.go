package reader

import (
	"encoding/binary"
	"strconv"
)

// Tunnel is a kind of encapsulation that Decode opens, so that the packet
// inside makes the flow rather than the tunnel's endpoints.
type Tunnel uint8

// Tunnels that Decode opens.
const (
	TunnelNone   Tunnel = iota
	TunnelGRE           // GRE (RFC 2784, 2890) and PPTP's enhanced GRE (RFC 2637)
	TunnelERSPAN        // Cisco's ERSPAN type I, II or III, over GRE
	TunnelVXLAN         // VXLAN (RFC 7348), UDP port 4789
	TunnelGeneve        // Geneve (RFC 8926), UDP port 6081
	TunnelGTPU          // GTP-U, GTPv1's user plane (3GPP TS 29.281), UDP port 2152
	TunnelMPLS          // an MPLS label stack (RFC 3032) behind the link layer, in GRE or in UDP port 6635 (RFC 7510)
	TunnelIPIP          // IP in IP: 4in4 (RFC 2003), 6in4 (RFC 4213), 4in6 and 6in6 (RFC 2473)
)

var tunnelNames = [...]string{"none", "gre", "erspan", "vxlan", "geneve", "gtpu", "mpls", "ipip"}

func (t Tunnel) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "tunnel" + strconv.Itoa(int(t))
}

// maxTunnels bounds how many tunnels nested in one another Decode opens:
// a crafted packet could otherwise nest them as deep as it is long. A
// packet deeper than that is described as the eighth tunnel's payload.
const maxTunnels = 8

// IP protocols and UDP ports that announce a tunnel; mayTunnel checks the
// ports' range.
const (
	protoIPv4inIP = 4
	protoIPv6inIP = 41
	protoGRE      = 47

	portGTPU   = 2152 // the lowest
	portVXLAN  = 4789
	portGeneve = 6081
	portMPLS   = 6635 // the highest
)

// mayTunnel reports whether an IP payload of protocol proto and captured
// bytes data may be a tunnel: IP in IP, GRE, or UDP to one of the tunnels'
// ports. It is inlined, so that packets outside tunnels pay two or three
// comparisons for it.
func mayTunnel(proto uint8, data []byte) bool {
	const protocols = 1<<protoIPv4inIP | 1<<ProtoUDP | 1<<protoIPv6inIP | 1<<protoGRE
	return proto < 64 && protocols>>proto&1 != 0 &&
		(proto != ProtoUDP || len(data) >= 4 && binary.BigEndian.Uint16(data[2:4])-portGTPU <= portMPLS-portGTPU)
}

// decodeTunnel decodes an IP payload for which mayTunnel is true, opening
// the tunnel it holds. data is the captured part of the payload, length its
// true length according to the IP header.
func decodeTunnel(data []byte, length int, p *Packet, depth int) Outcome {
	switch p.Proto {
	case ProtoUDP:
		if out := decodeTransport(data, length, p); out != OK {
			return out
		}
		return decodeUDPTunnel(data, length, p, depth)
	case protoGRE:
		clearTransport(p, length)
		return decodeGRE(data, length, p, depth)
	}
	clearTransport(p, length)
	return decodeIPinIP(data, p, depth)
}

// payloadKind says what a tunnel header announces after it.
type payloadKind uint8

const (
	payloadIPv4 payloadKind = iota
	payloadIPv6
	payloadIP // IPv4 or IPv6, told by the version nibble
	payloadEthernet
	payloadMPLS
	payloadPPP
)

// decapsulate decodes payload, what a tunnel of kind t and identifier id
// carries, into p, and records the tunnel when the payload is an IP packet;
// an enclosing tunnel, decapsulated later, then overwrites it with its own,
// so that the outermost one is left. outerIP says that p holds the IP
// packet carrying the tunnel; without one (MPLS behind the link layer) the
// tunnel has no endpoints.
//
// When the payload is no IP packet (ARP or spanning tree under ERSPAN, an
// unknown protocol type), the packet carrying the tunnel remains the packet,
// or the frame is NonIP when there is none. This relies on the decoding
// functions returning NonIP before writing anything in p but the VLAN.
func decapsulate(p *Packet, t Tunnel, id uint32, payload []byte, kind payloadKind, outerIP bool, depth int) Outcome {
	version, src, dst, vlan := p.IPVersion, p.Src, p.Dst, p.VLAN
	if !outerIP {
		version, src, dst = 0, [16]byte{}, [16]byte{}
	}
	depth--
	var out Outcome
	switch kind {
	case payloadIPv4, payloadIPv6:
		want := byte(4)
		if kind == payloadIPv6 {
			want = 6
		}
		switch {
		case len(payload) == 0:
			out = Truncated
		case payload[0]>>4 != want:
			out = NonIP
		default:
			out = decodeIP(payload, p, depth)
		}
	case payloadIP:
		out = decodeIP(payload, p, depth)
	case payloadEthernet:
		out = decodeEthernet(payload, p, depth)
	case payloadMPLS:
		out = decodeMPLS(payload, p, depth, outerIP)
	case payloadPPP:
		out = decodePPP(payload, p, depth)
	}
	switch out {
	case OK:
		p.Tunnel, p.TunnelID = t, id
		p.Outer = OuterOf(Endpoints{version, src, dst})
	case NonIP:
		if outerIP {
			p.VLAN = vlan
			out = OK
		}
	}
	return out
}

// decodeIPinIP opens IP in IP: IPv4 or IPv6 (as the protocol says) right
// after the IP header.
func decodeIPinIP(data []byte, p *Packet, depth int) Outcome {
	kind := payloadIPv4
	if p.Proto == protoIPv6inIP {
		kind = payloadIPv6
	}
	return decapsulate(p, TunnelIPIP, 0, data, kind, true, depth)
}

// GRE header flags (RFC 2784 and 2890; routing from RFC 1701, the
// acknowledgement from PPTP's RFC 2637) and protocol types.
const (
	greChecksum = 0x8000
	greRouting  = 0x4000
	greKey      = 0x2000
	greSeq      = 0x1000
	greAck      = 0x0080
	greVersion  = 0x0007

	grePPP     = 0x880B
	greERSPAN2 = 0x88BE // ERSPAN type II, or type I when GRE has no sequence number
	greERSPAN3 = 0x22EB
)

// decodeGRE opens GRE. data is the captured GRE packet, length its length
// according to the IP header. A GRE header of a kind Decode does not know
// (another version, RFC 1701's source routes) leaves the GRE packet as the
// packet.
func decodeGRE(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 4 {
		return DecodeError
	}
	if len(data) < 4 {
		return Truncated
	}
	flags := binary.BigEndian.Uint16(data[0:2])
	proto := binary.BigEndian.Uint16(data[2:4])
	hdr, keyAt := 4, 0
	switch flags & greVersion {
	case 0:
		if flags&greRouting != 0 {
			return OK
		}
		if flags&greChecksum != 0 {
			hdr += 4 // checksum and reserved
		}
		if flags&greKey != 0 {
			keyAt = hdr
			hdr += 4
		}
		if flags&greSeq != 0 {
			hdr += 4
		}
	case 1:
		// PPTP: the key, always there, holds the payload length and the call ID.
		if flags&greKey == 0 {
			return OK
		}
		keyAt, hdr = 4, 8
		if flags&greSeq != 0 {
			hdr += 4
		}
		if flags&greAck != 0 {
			hdr += 4
		}
	default:
		return OK
	}
	if hdr > length {
		return DecodeError
	}
	if hdr > len(data) {
		return Truncated
	}
	var id uint32
	if keyAt != 0 {
		id = binary.BigEndian.Uint32(data[keyAt : keyAt+4])
		if flags&greVersion == 1 {
			id &= 0xFFFF
		}
	}
	payload, length := data[hdr:], length-hdr
	switch proto {
	case etherIPv4:
		return decapsulate(p, TunnelGRE, id, payload, payloadIPv4, true, depth)
	case etherIPv6:
		return decapsulate(p, TunnelGRE, id, payload, payloadIPv6, true, depth)
	case etherTEB:
		return decapsulate(p, TunnelGRE, id, payload, payloadEthernet, true, depth)
	case etherMPLS, etherMPLSMulticast:
		return decapsulate(p, TunnelGRE, id, payload, payloadMPLS, true, depth)
	case grePPP:
		return decapsulate(p, TunnelGRE, id, payload, payloadPPP, true, depth)
	case greERSPAN2:
		if flags&greSeq == 0 {
			// Type I: the mirrored frame right after the GRE header.
			return decapsulate(p, TunnelERSPAN, 0, payload, payloadEthernet, true, depth)
		}
		return decodeERSPAN2(payload, length, p, depth)
	case greERSPAN3:
		return decodeERSPAN3(payload, length, p, depth)
	}
	return OK
}

// decodeERSPAN2 opens ERSPAN type II: version 1, VLAN, class of service,
// encapsulation, truncation, 10-bit session ID, reserved, index; then the
// mirrored Ethernet frame.
func decodeERSPAN2(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 8 {
		return DecodeError
	}
	if len(data) < 8 {
		return Truncated
	}
	if data[0]>>4 != 1 {
		return OK
	}
	session := uint32(binary.BigEndian.Uint16(data[2:4]) & 0x3FF)
	return decapsulate(p, TunnelERSPAN, session, data[8:], payloadEthernet, true, depth)
}

// decodeERSPAN3 opens ERSPAN type III: version 2, VLAN, class of service,
// BSO, truncation, 10-bit session ID, timestamp, security group tag, then
// a 16-bit word whose frame type says what was mirrored (0 Ethernet, 2 IP)
// and whose last bit announces an 8-byte platform-specific subheader.
func decodeERSPAN3(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 12 {
		return DecodeError
	}
	if len(data) < 12 {
		return Truncated
	}
	if data[0]>>4 != 2 {
		return OK
	}
	session := uint32(binary.BigEndian.Uint16(data[2:4]) & 0x3FF)
	word := binary.BigEndian.Uint16(data[10:12])
	hdr := 12
	if word&1 != 0 {
		hdr += 8
		if length < hdr {
			return DecodeError
		}
		if len(data) < hdr {
			return Truncated
		}
	}
	switch word >> 10 & 0x1F {
	case 0:
		return decapsulate(p, TunnelERSPAN, session, data[hdr:], payloadEthernet, true, depth)
	case 2:
		return decapsulate(p, TunnelERSPAN, session, data[hdr:], payloadIP, true, depth)
	}
	return OK
}

// decodeMPLS opens an MPLS label stack down to its bottom entry and decodes
// the IP packet under it, told by its version nibble: other payloads (a
// pseudowire's control word starts with 0) are not decoded. The top label
// identifies the tunnel.
func decodeMPLS(data []byte, p *Packet, depth int, outerIP bool) Outcome {
	if depth == 0 {
		return NonIP
	}
	for i := 0; ; i += 4 {
		if len(data) < i+4 {
			return Truncated
		}
		if data[i+2]&1 != 0 { // bottom of stack
			label := binary.BigEndian.Uint32(data[0:4]) >> 12
			return decapsulate(p, TunnelMPLS, label, data[i+4:], payloadIP, outerIP, depth)
		}
	}
}

// decodeUDPTunnel opens the tunnel that a UDP destination port announces,
// when the payload has that tunnel's header; otherwise the UDP packet stays
// the packet. data is the captured UDP datagram, length its length
// according to the IP header.
//
// A datagram from a service port (below 1024) is that service's answer to
// a client that happens to use a tunnel's port, as tshark also judges by
// the lower port: a DNS reflection to port 6635 is no MPLS. Tunnel
// endpoints send from high ports (hashed for entropy) or the tunnel's own.
func decodeUDPTunnel(data []byte, length int, p *Packet, depth int) Outcome {
	if p.SrcPort < 1024 && p.SrcPort != p.DstPort {
		return OK
	}
	payload := data[min(8, len(data)):]
	length -= 8
	switch p.DstPort {
	case portVXLAN:
		return decodeVXLAN(payload, length, p, depth)
	case portGeneve:
		return decodeGeneve(payload, length, p, depth)
	case portGTPU:
		return decodeGTPU(payload, length, p, depth)
	case portMPLS:
		if length < 4 {
			return OK
		}
		return decodeMPLS(payload, p, depth, true)
	}
	return OK
}

// decodeVXLAN opens VXLAN: flags with I (a VNI is present) set and nothing
// else but GBP's G, reserved, 24-bit VNI, reserved; then an Ethernet frame.
func decodeVXLAN(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 8 {
		return OK
	}
	if len(data) < 8 {
		return Truncated
	}
	if data[0]&^0x80 != 0x08 {
		return OK
	}
	vni := binary.BigEndian.Uint32(data[4:8]) >> 8
	return decapsulate(p, TunnelVXLAN, vni, data[8:], payloadEthernet, true, depth)
}

// decodeGeneve opens Geneve: version 0, options length in 4-byte words,
// flags, protocol type, 24-bit VNI, reserved, options; then what the
// protocol type says (Ethernet, IPv4 or IPv6).
func decodeGeneve(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 8 {
		return OK
	}
	if len(data) < 8 {
		return Truncated
	}
	if data[0]>>6 != 0 {
		return OK
	}
	hdr := 8 + int(data[0]&0x3F)*4
	var kind payloadKind
	switch binary.BigEndian.Uint16(data[2:4]) {
	case etherTEB:
		kind = payloadEthernet
	case etherIPv4:
		kind = payloadIPv4
	case etherIPv6:
		kind = payloadIPv6
	default:
		return OK
	}
	if hdr > length {
		return OK
	}
	if hdr > len(data) {
		return Truncated
	}
	vni := binary.BigEndian.Uint32(data[4:8]) >> 8
	return decapsulate(p, TunnelGeneve, vni, data[hdr:], kind, true, depth)
}

// GTPv1 header flags and the message type of user data.
const (
	gtpVersion1 = 0x20 // version 1 in the top three bits
	gtpPT       = 0x10 // GTP, not GTP'
	gtpExt      = 0x04 // extension headers follow
	gtpOptional = 0x07 // extension, sequence number or N-PDU number: 4 more bytes
	gtpTPDU     = 0xFF
)

// decodeGTPU opens GTP-U's user data (T-PDU): version 1 and protocol type
// GTP in the flags, message type 255, length of what follows the first 8
// bytes, TEID; 4 more bytes (sequence number, N-PDU number, next extension
// type) when a flag announces any of them; extension headers, each with its
// length in 4-byte units first and the next one's type last; then an IP
// packet. Signalling (echo, error indication, end marker) stays UDP.
func decodeGTPU(data []byte, length int, p *Packet, depth int) Outcome {
	if length < 8 {
		return OK
	}
	if len(data) < 8 {
		return Truncated
	}
	flags := data[0]
	if flags&0xF0 != gtpVersion1|gtpPT || data[1] != gtpTPDU {
		return OK
	}
	end := 8 + int(binary.BigEndian.Uint16(data[2:4]))
	if end > length {
		return OK
	}
	teid := binary.BigEndian.Uint32(data[4:8])
	hdr := 8
	if flags&gtpOptional != 0 {
		hdr = 12
		if hdr > end {
			return OK
		}
		if hdr > len(data) {
			return Truncated
		}
		for next := data[11]; flags&gtpExt != 0 && next != 0; next = data[hdr-1] {
			if hdr >= len(data) {
				if hdr >= end {
					return OK
				}
				return Truncated
			}
			n := int(data[hdr]) * 4
			if n == 0 || hdr+n > end {
				return OK
			}
			hdr += n
			if hdr > len(data) {
				return Truncated
			}
		}
	}
	return decapsulate(p, TunnelGTPU, teid, data[hdr:min(end, len(data))], payloadIP, true, depth)
}
