package gen

import (
	"bufio"
	"encoding/binary"
	"io"
)

// TCP flag bits.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
)

// Packet kinds.
const (
	kTCP       uint8 = iota
	kUDP             // whole UDP datagram
	kICMP            // ICMP/ICMPv6 message; icmpType/icmpCode say which
	kFragFirst       // IPv4 first fragment of a UDP datagram (carries the UDP header)
	kFragNext        // IPv4 non-first fragment (no transport header)
)

// TCP option layouts.
const (
	optNone     uint8 = iota
	optSynFull        // MSS, SACK_PERM, TS, NOP, WS: 20 bytes
	optSynShort       // MSS, NOP, WS, NOP, NOP, SACK_PERM: 12 bytes
	optTS             // NOP, NOP, TS: 12 bytes
)

func optLen(o uint8) int {
	switch o {
	case optSynFull:
		return 20
	case optSynShort, optTS:
		return 12
	}
	return 0
}

// pdesc describes one packet; the frame bytes are built when it is written.
type pdesc struct {
	t        int64 // ns since the epoch
	f        *sflow
	seq, ack uint32
	plen     uint32 // transport payload (or fragment data) length
	ipid     uint16
	frag     uint16 // fragment offset in 8-byte units
	win      uint16
	udpLen   uint16 // UDP length field of a fragmented datagram's first fragment
	icmpSeq  uint16
	side     uint8 // 0: sent by A, 1: sent by B
	kind     uint8
	flags    uint8
	opt      uint8
	mf       bool
	icmpType uint8
	icmpCode uint8
}

func (p *pdesc) ipHdrLen() int {
	if p.f.v6 {
		return 40
	}
	return 20
}

// ipLen is the IP length counted as bytes: IPv4 total length, IPv6 payload
// length + 40.
func (p *pdesc) ipLen() int {
	h := p.ipHdrLen()
	switch p.kind {
	case kTCP:
		return h + 20 + optLen(p.opt) + int(p.plen)
	case kUDP, kFragFirst, kICMP:
		return h + 8 + int(p.plen)
	}
	return h + int(p.plen) // kFragNext
}

type pcapWriter struct {
	w    *bufio.Writer
	nano bool
	snap int
	buf  []byte
	rec  [16]byte
}

const linktypeEthernet = 1

func newPcapWriter(w io.Writer, snap int, nano bool) (*pcapWriter, error) {
	pw := &pcapWriter{w: bufio.NewWriterSize(w, 1<<20), nano: nano, snap: snap, buf: make([]byte, max(snap, 256)+256)}
	var h [24]byte
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snap))
	binary.LittleEndian.PutUint32(h[20:], linktypeEthernet)
	_, err := pw.w.Write(h[:])
	return pw, err
}

func (pw *pcapWriter) write(p *pdesc) error {
	frameLen, hdrEnd := encodeFrame(pw.buf, p)
	capLen := min(frameLen, pw.snap)
	if capLen > hdrEnd {
		clear(pw.buf[hdrEnd:capLen])
	}
	sec := p.t / 1e9
	frac := p.t % 1e9
	if !pw.nano {
		frac /= 1000
	}
	binary.LittleEndian.PutUint32(pw.rec[0:], uint32(sec))
	binary.LittleEndian.PutUint32(pw.rec[4:], uint32(frac))
	binary.LittleEndian.PutUint32(pw.rec[8:], uint32(capLen))
	binary.LittleEndian.PutUint32(pw.rec[12:], uint32(frameLen))
	if _, err := pw.w.Write(pw.rec[:]); err != nil {
		return err
	}
	_, err := pw.w.Write(pw.buf[:capLen])
	return err
}

func (pw *pcapWriter) flush() error { return pw.w.Flush() }

// csumAdd adds b to a ones-complement running sum.
func csumAdd(sum uint32, b []byte) uint32 {
	n := len(b)
	for i := 0; i+1 < n; i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if n%2 == 1 {
		sum += uint32(b[n-1]) << 8
	}
	return sum
}

func csumFold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pseudoSum is the transport pseudo-header sum.
func pseudoSum(f *sflow, side uint8, proto uint8, length int) uint32 {
	var sum uint32
	src, dst := f.addr[side], f.addr[1-side]
	if f.v6 {
		s, d := src.As16(), dst.As16()
		sum = csumAdd(sum, s[:])
		sum = csumAdd(sum, d[:])
	} else {
		s, d := src.As4(), dst.As4()
		sum = csumAdd(sum, s[:])
		sum = csumAdd(sum, d[:])
	}
	sum += uint32(proto) + uint32(length)>>16 + uint32(length)&0xffff
	return sum
}

// encodeFrame writes the frame's headers (and any non-zero payload bytes)
// into b and returns the full frame length and the end of the written bytes.
// Payload bytes are zero, so checksums over them only need the headers.
func encodeFrame(b []byte, p *pdesc) (frameLen, hdrEnd int) {
	f := p.f
	s := p.side
	be := binary.BigEndian
	copy(b[0:6], f.mac[1-s][:])
	copy(b[6:12], f.mac[s][:])
	off := 12
	if f.vlan != 0 {
		be.PutUint16(b[off:], 0x8100)
		be.PutUint16(b[off+2:], f.vlan&0x0fff)
		off += 4
	}
	ipLen := p.ipLen()
	proto := f.proto
	if f.v6 {
		be.PutUint16(b[off:], 0x86dd)
		off += 2
		ip := b[off : off+40]
		be.PutUint32(ip[0:], 6<<28|uint32(f.flowLabel[s]))
		be.PutUint16(ip[4:], uint16(ipLen-40))
		ip[6] = proto
		ip[7] = f.ttl[s]
		a, d := f.addr[s].As16(), f.addr[1-s].As16()
		copy(ip[8:24], a[:])
		copy(ip[24:40], d[:])
		off += 40
	} else {
		be.PutUint16(b[off:], 0x0800)
		off += 2
		ip := b[off : off+20]
		ip[0] = 0x45
		ip[1] = 0
		be.PutUint16(ip[2:], uint16(ipLen))
		be.PutUint16(ip[4:], p.ipid)
		var ff uint16
		switch p.kind {
		case kTCP:
			ff = 0x4000 // DF
		case kFragFirst, kFragNext:
			ff = p.frag & 0x1fff
			if p.mf {
				ff |= 0x2000
			}
		}
		be.PutUint16(ip[6:], ff)
		ip[8] = f.ttl[s]
		ip[9] = proto
		ip[10], ip[11] = 0, 0
		a, d := f.addr[s].As4(), f.addr[1-s].As4()
		copy(ip[12:16], a[:])
		copy(ip[16:20], d[:])
		be.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
		off += 20
	}
	l4 := off
	l4Len := ipLen - p.ipHdrLen()
	switch p.kind {
	case kTCP:
		ol := optLen(p.opt)
		h := b[off : off+20+ol]
		be.PutUint16(h[0:], f.port[s])
		be.PutUint16(h[2:], f.port[1-s])
		be.PutUint32(h[4:], p.seq)
		be.PutUint32(h[8:], p.ack)
		h[12] = byte((20+ol)/4) << 4
		h[13] = p.flags
		be.PutUint16(h[14:], p.win)
		h[16], h[17], h[18], h[19] = 0, 0, 0, 0
		o := h[20:]
		tsval := f.tsBase[s] + uint32((p.t-f.t0)/1e6)
		tsecr := uint32(0)
		if p.flags&flagACK != 0 {
			tsecr = f.tsBase[1-s] + uint32((p.t-f.t0)/1e6)
		}
		switch p.opt {
		case optSynFull:
			o[0], o[1] = 2, 4
			be.PutUint16(o[2:], uint16(f.mss))
			o[4], o[5] = 4, 2
			o[6], o[7] = 8, 10
			be.PutUint32(o[8:], tsval)
			be.PutUint32(o[12:], tsecr)
			o[16] = 1
			o[17], o[18], o[19] = 3, 3, 7
		case optSynShort:
			o[0], o[1] = 2, 4
			be.PutUint16(o[2:], uint16(f.mss))
			o[4] = 1
			o[5], o[6], o[7] = 3, 3, 8
			o[8], o[9] = 1, 1
			o[10], o[11] = 4, 2
		case optTS:
			o[0], o[1] = 1, 1
			o[2], o[3] = 8, 10
			be.PutUint32(o[4:], tsval)
			be.PutUint32(o[8:], tsecr)
		}
		sum := pseudoSum(f, s, 6, l4Len)
		be.PutUint16(h[16:], csumFold(csumAdd(sum, h)))
		off += 20 + ol
	case kUDP, kFragFirst:
		h := b[off : off+8]
		ulen := uint16(l4Len)
		if p.kind == kFragFirst {
			ulen = p.udpLen
		}
		be.PutUint16(h[0:], f.port[s])
		be.PutUint16(h[2:], f.port[1-s])
		be.PutUint16(h[4:], ulen)
		h[6], h[7] = 0, 0
		c := csumFold(csumAdd(pseudoSum(f, s, 17, int(ulen)), h))
		if c == 0 {
			c = 0xffff
		}
		be.PutUint16(h[6:], c)
		off += 8
	case kICMP:
		h := b[off : off+8]
		h[0], h[1] = p.icmpType, p.icmpCode
		h[2], h[3] = 0, 0
		var sum uint32
		if f.v6 {
			sum = pseudoSum(f, s, 58, l4Len)
		}
		if isEchoType(f.proto, p.icmpType) {
			be.PutUint16(h[4:], f.port[0])
			be.PutUint16(h[6:], p.icmpSeq)
			off += 8
			sum = csumAdd(sum, h)
		} else {
			// Error message: unused word, then the offending packet's IP
			// header and first 8 bytes (a UDP datagram from the client).
			h[4], h[5], h[6], h[7] = 0, 0, 0, 0
			off += 8
			off += writeInner(b[off:], p)
			sum = csumAdd(sum, b[l4:off])
		}
		be.PutUint16(h[2:], csumFold(sum))
	}
	frameLen = l4 + l4Len
	if frameLen < 60 {
		frameLen = 60 // Ethernet minimum (without FCS): zero padding
	}
	return frameLen, off
}

func isEchoType(proto, t uint8) bool {
	if proto == 1 {
		return t == 8 || t == 0
	}
	return t == 128 || t == 129
}

// writeInner writes the IP header and UDP header of the datagram an ICMP
// error refers to: one the receiver of the error (side 1-p.side) sent.
func writeInner(b []byte, p *pdesc) int {
	f := p.f
	be := binary.BigEndian
	orig := 1 - p.side // the error goes back to the original sender
	const udpData = 32
	if f.v6 {
		ip := b[:40]
		be.PutUint32(ip[0:], 6<<28)
		be.PutUint16(ip[4:], 8+udpData)
		ip[6] = 17
		ip[7] = 1
		a, d := f.addr[orig].As16(), f.innerDst.As16()
		copy(ip[8:24], a[:])
		copy(ip[24:40], d[:])
		u := b[40:48]
		be.PutUint16(u[0:], f.innerPort[0])
		be.PutUint16(u[2:], f.innerPort[1])
		be.PutUint16(u[4:], 8+udpData)
		u[6], u[7] = 0, 0
		return 48
	}
	ip := b[:20]
	ip[0] = 0x45
	ip[1] = 0
	be.PutUint16(ip[2:], 20+8+udpData)
	be.PutUint16(ip[4:], p.ipid^0x5a5a)
	be.PutUint16(ip[6:], 0)
	ip[8] = 1
	ip[9] = 17
	ip[10], ip[11] = 0, 0
	a, d := f.addr[orig].As4(), f.innerDst.As4()
	copy(ip[12:16], a[:])
	copy(ip[16:20], d[:])
	be.PutUint16(ip[10:], csumFold(csumAdd(0, ip)))
	u := b[20:28]
	be.PutUint16(u[0:], f.innerPort[0])
	be.PutUint16(u[2:], f.innerPort[1])
	be.PutUint16(u[4:], 8+udpData)
	u[6], u[7] = 0, 0
	return 28
}

// innerLen is the ICMP error payload length writeInner produces.
func innerLen(v6 bool) int {
	if v6 {
		return 48
	}
	return 28
}
