package reader

import (
	"encoding/binary"
	"net/netip"
)

// Outcome says what Decode made of a frame. Every frame gets exactly one, so
// the counts add up to the frames read.
type Outcome uint8

// Outcomes of Decode.
const (
	OK          Outcome = iota // an IPv4 or IPv6 packet with its transport header
	NonIP                      // a frame that carries no IP (ARP, LLDP, ...)
	Truncated                  // the capture cut the IP or transport header
	DecodeError                // a malformed header (bad version, lengths that do not fit)
	UnknownLink                // a link type the decoder does not know
)

var outcomeNames = [...]string{"ok", "non_ip", "truncated", "decode_error", "unknown_link"}

func (o Outcome) String() string { return outcomeNames[o] }

// TCP flag bits as they appear in the TCP header's flags byte.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// IP protocol numbers the flow model treats specially.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// Fragment tells where a packet stands in IPv4 or IPv6 fragmentation.
type Fragment uint8

// Fragment kinds.
const (
	Whole     Fragment = iota // not fragmented
	FirstFrag                 // offset 0, more fragments follow: carries the ports
	LaterFrag                 // offset > 0: no transport header
)

// Packet is one decoded IP packet: what the flow table needs and nothing more.
// Decode fills it in place; its fields are plain values, so a Packet can be
// reused for every frame without allocating, and batches of millions are
// copied to the flow tables without write barriers and never scanned by the
// collector (a netip.Addr holds a pointer). Its fields are in order of
// size, so that none is padded: batches of them are held by the thousand
// between the reader and the flow tables.
type Packet struct {
	Time  int64 // capture time, nanoseconds since the Unix epoch, UTC
	Input int   // index of the input it came from
	// Frame and Offset locate the packet's frame in its input: its number
	// (1-based, as tshark counts) and the byte offset of its record (in
	// the decompressed stream of a compressed input). The caller of
	// Decode sets them, as it does Time and Input.
	Frame    uint64
	Offset   int64
	Src, Dst [16]byte // addresses, IPv4 mapped into IPv6 (see SrcAddr)
	IPLen    uint32   // IP total length from the header, not the captured length
	Payload  uint32   // transport payload length implied by the IP header
	FragID   uint32   // IPv4 identification or IPv6 fragment identification
	// Seq is the TCP sequence number, 0 for other protocols.
	Seq uint32
	// Tunnel is the outermost tunnel Decode took the packet out of, and
	// TunnelID its identifier: the VNI of VXLAN and Geneve, the TEID of
	// GTP-U, the top MPLS label, the GRE key (0 without one; the call ID of
	// PPTP's GRE), the ERSPAN session. Outer names its endpoints (see
	// OuterSrcAddr). The rest of the Packet describes the innermost IP
	// packet.
	TunnelID uint32
	Outer    Outer
	VLAN     uint16 // outermost 802.1Q tag (a tunnelled frame's when the outer one has none), 0 when untagged
	SrcPort  uint16 // for ICMP: the identifier (echo) or the type
	DstPort  uint16 // for ICMP: 0 (echo) or the code
	// Window is the TCP receive window as sent, before any window scaling
	// (which only the SYNs announce); a zero window on a segment without RST
	// is a receiver asking its peer to stop. 0 for other protocols.
	Window    uint16
	IPVersion uint8
	Proto     uint8
	TCPFlags  uint8
	Frag      Fragment
	TTL       uint8 // IPv4 time to live or IPv6 hop limit
	ICMPType  uint8 // ICMP or ICMPv6 type; echo requests make their sender the originator
	ICMPError bool  // an ICMP or ICMPv6 error message (unreachable, time exceeded, ...)
	Tunnel    Tunnel
}

// SrcAddr returns the source address.
func (p *Packet) SrcAddr() netip.Addr { return p.addr(p.Src) }

// DstAddr returns the destination address.
func (p *Packet) DstAddr() netip.Addr { return p.addr(p.Dst) }

// OuterIPVersion returns the IP version of the outermost tunnel's
// endpoints; 0 when there is no tunnel, or an MPLS label stack right behind
// the link layer, with no IP header outside it.
func (p *Packet) OuterIPVersion() uint8 { return p.Outer.Endpoints().Version }

// OuterSrcAddr returns the source address of the outermost tunnel, the zero
// Addr when there is none.
func (p *Packet) OuterSrcAddr() netip.Addr { return p.outerAddr(p.Outer.Endpoints().Src) }

// OuterDstAddr returns the destination address of the outermost tunnel, the
// zero Addr when there is none.
func (p *Packet) OuterDstAddr() netip.Addr { return p.outerAddr(p.Outer.Endpoints().Dst) }

func (p *Packet) addr(b [16]byte) netip.Addr {
	if p.IPVersion == 4 {
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom16(b)
}

func (p *Packet) outerAddr(b [16]byte) netip.Addr {
	switch p.OuterIPVersion() {
	case 4:
		return netip.AddrFrom16(b).Unmap()
	case 6:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// setV4 stores an IPv4 address mapped into IPv6, as netip.Addr.As16 gives it.
func setV4(dst *[16]byte, a []byte) {
	binary.LittleEndian.PutUint64(dst[:8], 0)
	binary.BigEndian.PutUint32(dst[8:12], 0xffff)
	copy(dst[12:], a[:4])
}
