package reader

import (
	"encoding/binary"
)

// Link types (LINKTYPE_* values of pcap and pcapng headers) that Decode knows.
const (
	LinkNull     = 0   // BSD loopback: 4-byte address family in host byte order
	LinkEthernet = 1   // Ethernet II, with 802.1Q / QinQ tags
	LinkSLIP     = 8   // SLIP behind libpcap's 16-byte pseudo-header
	LinkPPP      = 9   // PPP, with or without HDLC-like framing
	LinkPPPHDLC  = 50  // PPP in HDLC-like framing, or Cisco HDLC
	LinkCHDLC    = 104 // Cisco HDLC: address, control, EtherType
	LinkRaw      = 101 // raw IPv4 or IPv6
	LinkRawAlt12 = 12  // DLT_RAW on most BSDs
	LinkRawAlt14 = 14  // DLT_RAW on OpenBSD
	LinkLoop     = 108 // OpenBSD loopback: address family in network byte order
	LinkSLL      = 113 // Linux cooked capture v1
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2
)

const (
	etherIPv4          = 0x0800
	etherIPv6          = 0x86DD
	etherVLAN          = 0x8100
	etherQinQ          = 0x88A8
	etherQinQ2         = 0x9100
	etherPPPoES        = 0x8864
	etherMPLS          = 0x8847
	etherMPLSMulticast = 0x8848
	etherTEB           = 0x6558 // transparent Ethernet bridging: an Ethernet frame
)

// Decode parses one captured frame of the given link type into p, reusing it,
// and takes the packet out of the tunnels it travels in (see Decoder).
// data is the captured bytes; p.Time and p.Input are left for the caller.
func Decode(linkType int, data []byte, p *Packet) Outcome {
	return decode(linkType, data, p, maxTunnels)
}

// Decoder decodes frames as Decode does, with settings. Its zero value
// decapsulates.
type Decoder struct {
	// NoDecap keeps tunnelled packets as they are on the wire: the outer
	// packet (a GRE, UDP or IP-in-IP packet between the tunnel's endpoints)
	// is the packet, and frames whose only IP is under an MPLS label stack
	// are NonIP.
	NoDecap bool
}

// Decode parses one captured frame as the package's Decode does, unless
// d.NoDecap says to leave tunnels closed.
func (d Decoder) Decode(linkType int, data []byte, p *Packet) Outcome {
	depth := maxTunnels
	if d.NoDecap {
		depth = 0
	}
	return decode(linkType, data, p, depth)
}

// decode decodes a frame, opening at most depth tunnels. Every decoding
// function below takes the number of tunnels it may still open.
func decode(linkType int, data []byte, p *Packet, depth int) Outcome {
	p.VLAN = 0
	if p.Tunnel != TunnelNone {
		// Only decapsulate sets the tunnel's fields, all at once, so they
		// are zero already when Tunnel is.
		p.Tunnel, p.Outer, p.TunnelID = TunnelNone, NoOuter, 0
	}
	switch linkType {
	case LinkEthernet:
		return decodeEthernet(data, p, depth)
	case LinkRaw, LinkRawAlt12, LinkRawAlt14:
		return decodeIP(data, p, depth)
	case LinkIPv4, LinkIPv6:
		return decodeIP(data, p, depth)
	case LinkNull, LinkLoop:
		// The address family tells IP from other protocols; its byte order
		// depends on the capturing host, so accept either for LinkNull.
		if len(data) < 4 {
			return Truncated
		}
		return decodeIP(data[4:], p, depth)
	case LinkSLL:
		if len(data) < 16 {
			return Truncated
		}
		return decodeEtherType(binary.BigEndian.Uint16(data[14:16]), data[16:], p, depth)
	case LinkSLL2:
		if len(data) < 20 {
			return Truncated
		}
		return decodeEtherType(binary.BigEndian.Uint16(data[0:2]), data[20:], p, depth)
	case LinkSLIP:
		if len(data) < 16 {
			return Truncated
		}
		return decodeIP(data[16:], p, depth)
	case LinkPPP, LinkPPPHDLC:
		if len(data) >= 1 && (data[0] == 0x0F || data[0] == 0x8F) {
			return decodeCHDLC(data, p, depth) // Cisco HDLC, which link type 50 also carries
		}
		return decodePPP(data, p, depth)
	case LinkCHDLC:
		return decodeCHDLC(data, p, depth)
	}
	return UnknownLink
}

// decodePPP reads a PPP frame (RFC 1661), with or without the address and
// control bytes of HDLC-like framing (RFC 1662) and with a one-byte
// protocol field when it is compressed.
func decodePPP(data []byte, p *Packet, depth int) Outcome {
	if len(data) >= 2 && data[0] == 0xFF && data[1] == 0x03 {
		data = data[2:]
	}
	if len(data) < 1 || len(data) == 1 && data[0] == 0xFF { // no protocol, or cut in the framing
		return Truncated
	}
	proto := uint16(data[0])
	if data[0]&1 == 0 {
		// An even first byte is the high byte of a two-byte protocol.
		if len(data) < 2 {
			return Truncated
		}
		proto = binary.BigEndian.Uint16(data[0:2])
		data = data[1:]
	}
	data = data[1:]
	switch proto {
	case 0x0021, 0x0057: // IPv4, IPv6
		return decodeIP(data, p, depth)
	case 0x0281, 0x0283: // MPLS unicast, multicast
		return decodeMPLS(data, p, depth, false)
	}
	return NonIP
}

// decodeCHDLC reads a Cisco HDLC frame: address, control, EtherType.
func decodeCHDLC(data []byte, p *Packet, depth int) Outcome {
	if len(data) < 4 {
		return Truncated
	}
	return decodeEtherType(binary.BigEndian.Uint16(data[2:4]), data[4:], p, depth)
}

func decodeEthernet(data []byte, p *Packet, depth int) Outcome {
	if len(data) < 14 {
		return Truncated
	}
	etherType := binary.BigEndian.Uint16(data[12:14])
	rest := data[14:]
	for etherType == etherVLAN || etherType == etherQinQ || etherType == etherQinQ2 {
		if len(rest) < 4 {
			return Truncated
		}
		if p.VLAN == 0 {
			p.VLAN = binary.BigEndian.Uint16(rest[0:2]) & 0x0FFF
		}
		etherType = binary.BigEndian.Uint16(rest[2:4])
		rest = rest[4:]
	}
	return decodeEtherType(etherType, rest, p, depth)
}

func decodeEtherType(etherType uint16, data []byte, p *Packet, depth int) Outcome {
	switch etherType {
	case etherIPv4, etherIPv6:
		return decodeIP(data, p, depth)
	case etherMPLS, etherMPLSMulticast:
		return decodeMPLS(data, p, depth, false)
	case etherPPPoES:
		// PPPoE session header (6 bytes), then the 2-byte PPP protocol.
		if len(data) < 8 {
			return Truncated
		}
		switch binary.BigEndian.Uint16(data[6:8]) {
		case 0x0021, 0x0057: // PPP IPv4, IPv6
			return decodeIP(data[8:], p, depth)
		}
	}
	return NonIP
}

// decodeIP dispatches on the version nibble, which is how raw and loopback
// link types tell IPv4 from IPv6.
func decodeIP(data []byte, p *Packet, depth int) Outcome {
	if len(data) < 1 {
		return Truncated
	}
	switch data[0] >> 4 {
	case 4:
		return decodeIPv4(data, p, depth)
	case 6:
		return decodeIPv6(data, p, depth)
	}
	return NonIP
}

func decodeIPv4(data []byte, p *Packet, depth int) Outcome {
	if len(data) < 20 {
		return Truncated
	}
	ihl := int(data[0]&0x0F) * 4
	totalLen := int(binary.BigEndian.Uint16(data[2:4]))
	if ihl < 20 {
		return DecodeError
	}
	if totalLen == 0 {
		// TCP segmentation offload captures leave the length at zero; the
		// frame is then the best measure there is.
		totalLen = len(data)
	}
	if totalLen < ihl {
		return DecodeError
	}
	if len(data) < ihl {
		return Truncated
	}
	p.IPVersion = 4
	p.Proto = data[9]
	p.TTL = data[8]
	setV4(&p.Src, data[12:16])
	setV4(&p.Dst, data[16:20])
	p.IPLen = uint32(totalLen)
	p.FragID = uint32(binary.BigEndian.Uint16(data[4:6]))
	flagsOffset := binary.BigEndian.Uint16(data[6:8])
	offset := flagsOffset & 0x1FFF
	moreFragments := flagsOffset&0x2000 != 0
	transportLen := totalLen - ihl
	switch {
	case offset != 0:
		p.Frag = LaterFrag
		clearTransport(p, transportLen)
		return OK
	case moreFragments:
		p.Frag = FirstFrag
	default:
		p.Frag = Whole
	}
	segment := data[ihl:min(len(data), totalLen)]
	if depth > 0 && mayTunnel(p.Proto, segment) && p.Frag == Whole {
		return decodeTunnel(segment, transportLen, p, depth)
	}
	return decodeTransport(segment, transportLen, p)
}

// IPv6 extension headers that Decode walks past to reach the transport.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DestOpts = 60
	ip6Mobility = 135
	ip6HIP      = 139
	ip6Shim6    = 140
)

func decodeIPv6(data []byte, p *Packet, depth int) Outcome {
	if len(data) < 40 {
		return Truncated
	}
	payloadLen := int(binary.BigEndian.Uint16(data[4:6]))
	if payloadLen == 0 {
		// A jumbogram or an offloaded segment: fall back on what was captured.
		payloadLen = len(data) - 40
	}
	p.IPVersion = 6
	p.TTL = data[7]
	p.Src = [16]byte(data[8:24])
	p.Dst = [16]byte(data[24:40])
	p.IPLen = uint32(payloadLen + 40)
	p.Frag = Whole
	p.FragID = 0
	next := data[6]
	rest := data[40:min(len(data), 40+payloadLen)]
	remaining := payloadLen
	for {
		switch next {
		case ip6HopByHop, ip6Routing, ip6DestOpts, ip6Mobility, ip6HIP, ip6Shim6, ip6AH:
			if len(rest) < 2 {
				return Truncated
			}
			hdrLen := (int(rest[1]) + 1) * 8
			if next == ip6AH {
				hdrLen = (int(rest[1]) + 2) * 4
			}
			if hdrLen > remaining {
				return DecodeError
			}
			if len(rest) < hdrLen {
				return Truncated
			}
			next = rest[0]
			rest, remaining = rest[hdrLen:], remaining-hdrLen
		case ip6Fragment:
			if len(rest) < 8 {
				return Truncated
			}
			if remaining < 8 {
				return DecodeError
			}
			offsetFlags := binary.BigEndian.Uint16(rest[2:4])
			p.FragID = binary.BigEndian.Uint32(rest[4:8])
			next = rest[0]
			rest, remaining = rest[8:], remaining-8
			switch {
			case offsetFlags&0xFFF8 != 0:
				p.Frag = LaterFrag
			case offsetFlags&1 != 0:
				p.Frag = FirstFrag
			}
			if p.Frag == LaterFrag {
				p.Proto = next
				clearTransport(p, remaining)
				return OK
			}
		default:
			p.Proto = next
			if depth > 0 && mayTunnel(next, rest) && p.Frag == Whole {
				return decodeTunnel(rest, remaining, p, depth)
			}
			return decodeTransport(rest, remaining, p)
		}
	}
}

func clearTransport(p *Packet, payload int) {
	p.SrcPort, p.DstPort, p.TCPFlags, p.ICMPError = 0, 0, 0, false
	p.Window, p.Seq = 0, 0
	p.Payload = uint32(max(payload, 0))
}

// decodeTransport reads the ports and flags. data is the captured part of the
// transport segment, length its true length according to the IP header.
func decodeTransport(data []byte, length int, p *Packet) Outcome {
	// TCP and UDP, most packets, set every transport field without clearing
	// them first.
	if p.Proto == ProtoTCP && len(data) >= 16 {
		p.SrcPort = binary.BigEndian.Uint16(data[0:2])
		p.DstPort = binary.BigEndian.Uint16(data[2:4])
		p.Seq = binary.BigEndian.Uint32(data[4:8])
		p.TCPFlags = data[13]
		p.Window = binary.BigEndian.Uint16(data[14:16])
		p.ICMPError = false
		dataOffset := int(data[12]>>4) * 4
		if dataOffset < 20 || dataOffset > length {
			p.Payload = uint32(max(length, 0))
			return DecodeError
		}
		p.Payload = uint32(length - dataOffset)
		return OK
	}
	if p.Proto == ProtoUDP && len(data) >= 4 {
		p.SrcPort = binary.BigEndian.Uint16(data[0:2])
		p.DstPort = binary.BigEndian.Uint16(data[2:4])
		p.TCPFlags, p.ICMPError = 0, false
		p.Window, p.Seq = 0, 0
		p.Payload = uint32(max(length-8, 0))
		return OK
	}
	clearTransport(p, length)
	switch p.Proto {
	case ProtoTCP:
		return Truncated // shorter than the 16 bytes up to the window
	case ProtoUDP:
		return Truncated // shorter than the ports
	case ProtoSCTP:
		// Its common header's ports make its flows, as they make their
		// Community IDs; its payload is chunks after 12 bytes.
		if len(data) < 4 {
			return Truncated
		}
		p.SrcPort = binary.BigEndian.Uint16(data[0:2])
		p.DstPort = binary.BigEndian.Uint16(data[2:4])
		p.Payload = uint32(max(length-12, 0))
	case ProtoICMP, ProtoICMPv6:
		if len(data) < 2 {
			return Truncated
		}
		icmpType, code := data[0], data[1]
		p.ICMPType = icmpType
		if isEcho(p.Proto, icmpType) {
			if len(data) < 6 {
				return Truncated
			}
			p.SrcPort = binary.BigEndian.Uint16(data[4:6])
			p.DstPort = 0
		} else {
			p.SrcPort, p.DstPort = uint16(icmpType), uint16(code)
			p.ICMPError = isICMPError(p.Proto, icmpType)
		}
		p.Payload = uint32(max(length-8, 0))
	}
	return OK
}

// isEcho reports echo requests and replies, whose identifier joins the two
// directions into one flow.
func isEcho(proto, icmpType uint8) bool {
	if proto == ProtoICMP {
		return icmpType == 8 || icmpType == 0
	}
	return icmpType == 128 || icmpType == 129
}

// IsEchoRequest reports whether an ICMP packet is an echo request, whose
// sender the flow table makes the originator.
func IsEchoRequest(proto, icmpType uint8) bool {
	if proto == ProtoICMP {
		return icmpType == 8
	}
	return icmpType == 128
}

func isICMPError(proto, icmpType uint8) bool {
	if proto == ProtoICMP {
		switch icmpType {
		case 3, 4, 5, 11, 12:
			return true
		}
		return false
	}
	return icmpType >= 1 && icmpType <= 4
}
