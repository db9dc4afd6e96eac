package gen

// An independent pcap reader and an independent implementation of the flow
// model, written from the contract text, used to check the generator's truth
// from the bytes it wrote (global flow table, idle expiry, linger, fragments,
// 5-tuple reuse), not from its internal bookkeeping.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

type rpkt struct {
	t        int64
	capLen   int
	origLen  int
	vlan     uint16
	v6       bool
	proto    uint8
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	ipLen    int
	payload  int
	flags    uint8
	ipid     uint16
	fragOff  int
	mf       bool
	icmpType uint8
	icmpCode uint8
	icmpID   uint16
	hasL4    bool
	hdrEnd   int // frame offset where the transport header ends
}

type rpcap struct {
	nano    bool
	snaplen int
	link    uint32
	pkts    []rpkt
}

// readPcap parses a classic little-endian pcap with Ethernet frames.
func readPcap(b []byte) (*rpcap, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("short header")
	}
	le := binary.LittleEndian
	r := &rpcap{}
	switch le.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		r.nano = true
	default:
		return nil, fmt.Errorf("bad magic %x", le.Uint32(b))
	}
	if le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 {
		return nil, fmt.Errorf("bad version")
	}
	r.snaplen = int(le.Uint32(b[16:]))
	r.link = le.Uint32(b[20:])
	off := 24
	for off < len(b) {
		if off+16 > len(b) {
			return nil, fmt.Errorf("truncated record header at %d", off)
		}
		sec, frac := int64(le.Uint32(b[off:])), int64(le.Uint32(b[off+4:]))
		incl, orig := int(le.Uint32(b[off+8:])), int(le.Uint32(b[off+12:]))
		off += 16
		if off+incl > len(b) {
			return nil, fmt.Errorf("truncated record data at %d", off)
		}
		if r.nano {
			if frac >= 1e9 {
				return nil, fmt.Errorf("bad ns fraction")
			}
		} else {
			if frac >= 1e6 {
				return nil, fmt.Errorf("bad us fraction")
			}
			frac *= 1000
		}
		p, err := decodeEth(b[off : off+incl])
		if err != nil {
			return nil, fmt.Errorf("packet %d: %v", len(r.pkts), err)
		}
		p.t = sec*1e9 + frac
		p.capLen, p.origLen = incl, orig
		r.pkts = append(r.pkts, p)
		off += incl
	}
	return r, nil
}

func decodeEth(d []byte) (rpkt, error) {
	var p rpkt
	be := binary.BigEndian
	if len(d) < 14 {
		return p, fmt.Errorf("short ethernet")
	}
	et := be.Uint16(d[12:])
	o := 14
	if et == 0x8100 {
		p.vlan = be.Uint16(d[14:]) & 0xfff
		et = be.Uint16(d[16:])
		o = 18
	}
	var l4 []byte
	var l4off int
	switch et {
	case 0x0800:
		ip := d[o:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return p, fmt.Errorf("bad ipv4")
		}
		ihl := int(ip[0]&15) * 4
		p.ipLen = int(be.Uint16(ip[2:]))
		p.ipid = be.Uint16(ip[4:])
		ff := be.Uint16(ip[6:])
		p.fragOff = int(ff&0x1fff) * 8
		p.mf = ff&0x2000 != 0
		p.proto = ip[9]
		p.src = netip.AddrFrom4([4]byte(ip[12:16]))
		p.dst = netip.AddrFrom4([4]byte(ip[16:20]))
		p.payload = p.ipLen - ihl
		if p.fragOff == 0 {
			l4 = ip[ihl:]
		}
		l4off = o + ihl
	case 0x86dd:
		ip := d[o:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return p, fmt.Errorf("bad ipv6")
		}
		p.v6 = true
		p.ipLen = int(be.Uint16(ip[4:])) + 40
		p.proto = ip[6]
		p.src = netip.AddrFrom16([16]byte(ip[8:24]))
		p.dst = netip.AddrFrom16([16]byte(ip[24:40]))
		p.payload = p.ipLen - 40
		l4 = ip[40:]
		l4off = o + 40
	default:
		return p, fmt.Errorf("ethertype %x", et)
	}
	p.hdrEnd = l4off
	if l4 == nil {
		return p, nil
	}
	p.hasL4 = true
	switch p.proto {
	case 6:
		if len(l4) < 14 {
			return p, fmt.Errorf("tcp header not captured")
		}
		p.sport, p.dport = be.Uint16(l4), be.Uint16(l4[2:])
		p.payload -= int(l4[12]>>4) * 4
		p.flags = l4[13]
		p.hdrEnd += int(l4[12]>>4) * 4
	case 17:
		if len(l4) < 8 {
			return p, fmt.Errorf("udp header not captured")
		}
		p.sport, p.dport = be.Uint16(l4), be.Uint16(l4[2:])
		p.payload -= 8
		p.hdrEnd += 8
	case 1, 58:
		if len(l4) < 8 {
			return p, fmt.Errorf("icmp header not captured")
		}
		p.icmpType, p.icmpCode = l4[0], l4[1]
		p.icmpID = be.Uint16(l4[4:])
		p.payload -= 8
		p.hdrEnd += 8
	default:
		return p, fmt.Errorf("proto %d", p.proto)
	}
	return p, nil
}

// Reference flow model.

type refKey struct {
	proto  uint8
	vlan   uint16
	lo, hi netip.AddrPort
	p1, p2 uint16 // ICMP key ports
}

type refFlow struct {
	key        refKey
	ep         [2]netip.AddrPort // side 0 = first packet's sender
	icmp       bool
	first      int64
	last       int64
	pk, by     [2]int64
	fl         [2]uint8
	synFrom    int // -1, else side of first SYN without ACK
	synackFrom int
	synT       int64
	synackT    int64
	nSyn       int64
	nSynack    int64
	nRst       int64
	fin, rst   [2]bool
	acked      [2]bool
	sent       [2]bool
	rstFirst   int
	closed     bool
	closeT     int64
	why        string
	firstSP    uint16
	firstDP    uint16
	events     []string // "S0" = letter S from side 0, in first-occurrence order
	v6         bool
}

type refModel struct {
	idle, linger int64
	nonTCPHist   bool
	table        map[refKey]*refFlow
	fragPorts    map[string][2]uint16
	done         []*refFlow
}

func fragKeyOf(p *rpkt) string {
	return fmt.Sprintf("%v|%v|%d|%d", p.src, p.dst, p.proto, p.ipid)
}

func (m *refModel) feed(p *rpkt) error {
	sport, dport := p.sport, p.dport
	if !p.v6 && (p.fragOff > 0 || p.mf) {
		k := fragKeyOf(p)
		if p.fragOff == 0 {
			m.fragPorts[k] = [2]uint16{sport, dport}
		} else {
			ports, ok := m.fragPorts[k]
			if !ok {
				return fmt.Errorf("orphan fragment")
			}
			sport, dport = ports[0], ports[1]
		}
	}
	var k refKey
	k.proto, k.vlan = p.proto, p.vlan
	icmp := p.proto == 1 || p.proto == 58
	if icmp {
		echo := p.proto == 1 && (p.icmpType == 8 || p.icmpType == 0) || p.proto == 58 && (p.icmpType == 128 || p.icmpType == 129)
		if echo {
			k.p1, k.p2 = p.icmpID, 0
		} else {
			k.p1, k.p2 = uint16(p.icmpType), uint16(p.icmpCode)
		}
		a, b := p.src, p.dst
		if b.Less(a) {
			a, b = b, a
		}
		k.lo, k.hi = netip.AddrPortFrom(a, 0), netip.AddrPortFrom(b, 0)
	} else {
		a, b := netip.AddrPortFrom(p.src, sport), netip.AddrPortFrom(p.dst, dport)
		if b.Compare(a) < 0 {
			a, b = b, a
		}
		k.lo, k.hi = a, b
	}
	f := m.table[k]
	synNoAck := p.proto == 6 && p.hasL4 && p.flags&(flagSYN|flagACK) == flagSYN
	if f != nil {
		switch {
		case f.closed && (synNoAck || p.t-f.closeT > m.linger):
			m.done = append(m.done, f)
			f = nil
		case !f.closed && p.t >= f.last+m.idle:
			f.why = "idle"
			m.done = append(m.done, f)
			f = nil
		}
	}
	if f == nil {
		f = &refFlow{key: k, first: p.t, synFrom: -1, synackFrom: -1, rstFirst: -1, icmp: icmp, v6: p.v6,
			firstSP: sport, firstDP: dport}
		f.ep[0] = netip.AddrPortFrom(p.src, sport)
		f.ep[1] = netip.AddrPortFrom(p.dst, dport)
		if icmp {
			f.ep[0], f.ep[1] = netip.AddrPortFrom(p.src, 0), netip.AddrPortFrom(p.dst, 0)
		}
		m.table[k] = f
	}
	s := 0
	if icmp {
		if p.src != f.ep[0].Addr() {
			s = 1
		}
	} else if netip.AddrPortFrom(p.src, sport) != f.ep[0] {
		s = 1
	}
	f.last = p.t
	f.pk[s]++
	f.by[s] += int64(p.ipLen)
	f.sent[s] = true
	mark := func(l byte) {
		e := string([]byte{l, byte('0' + s)})
		if !slices.Contains(f.events, e) {
			f.events = append(f.events, e)
		}
	}
	if p.proto != 6 {
		if m.nonTCPHist && p.payload > 0 {
			mark('D')
		}
		return nil
	}
	fl := p.flags
	f.fl[s] |= fl
	syn, ack, fin, rst := fl&flagSYN != 0, fl&flagACK != 0, fl&flagFIN != 0, fl&flagRST != 0
	if syn && !ack {
		f.nSyn++
		if f.synFrom < 0 {
			f.synFrom, f.synT = s, p.t
		}
		mark('S')
	}
	if syn && ack {
		f.nSynack++
		if f.synackFrom < 0 {
			f.synackFrom, f.synackT = s, p.t
		}
		mark('H')
	}
	if ack {
		f.acked[s] = true
		if !syn && !fin && !rst && p.payload == 0 {
			mark('A')
		}
	}
	if p.payload > 0 {
		mark('D')
	}
	if fin {
		f.fin[s] = true
		mark('F')
	}
	if rst {
		f.nRst++
		f.rst[s] = true
		if f.rstFirst < 0 {
			f.rstFirst = s
		}
		mark('R')
	}
	if !f.closed && (rst || f.fin[0] && f.fin[1]) {
		f.closed, f.closeT = true, p.t
		f.why = "fin"
		if rst {
			f.why = "rst"
		}
	}
	return nil
}

func (m *refModel) end(tEnd int64) []Flow {
	// The table holds exactly the flows not yet ended (an ended flow is
	// always replaced by the one its packet starts).
	for _, f := range m.table {
		if !f.closed {
			if tEnd >= f.last+m.idle {
				f.why = "idle"
			} else {
				f.why = "eof"
			}
		}
		m.done = append(m.done, f)
	}
	out := make([]Flow, 0, len(m.done))
	for _, f := range m.done {
		out = append(out, f.record())
	}
	slices.SortFunc(out, func(a, b Flow) int { return CompareFlows(&a, &b) })
	return out
}

func (f *refFlow) record() Flow {
	o := 0
	switch f.key.proto {
	case 6:
		switch {
		case f.synFrom >= 0:
			o = f.synFrom
		case f.synackFrom >= 0:
			o = 1 - f.synackFrom
		default:
			p0, p1 := f.ep[0].Port(), f.ep[1].Port()
			if p0 < p1 {
				o = 1 // lower port is the responder
			}
		}
	case 17:
		if f.firstSP < 1024 && f.firstDP >= 1024 {
			o = 1
		}
	}
	r := 1 - o
	rec := Flow{
		SrcIP: f.ep[o].Addr(), SrcPort: f.ep[o].Port(), DstIP: f.ep[r].Addr(), DstPort: f.ep[r].Port(),
		ProtoNum: f.key.proto, Proto: ProtoName(f.key.proto), IPVersion: 4, VLAN: f.key.vlan,
		FirstSeenNs: f.first, LastSeenNs: f.last,
		PacketsFwd: f.pk[o], PacketsRev: f.pk[r], BytesFwd: f.by[o], BytesRev: f.by[r],
		TCPFlagsFwd: f.fl[o], TCPFlagsRev: f.fl[r], EndReason: f.why,
	}
	if f.v6 {
		rec.IPVersion = 6
	}
	if f.icmp {
		rec.SrcPort, rec.DstPort = f.key.p1, f.key.p2
	}
	if f.key.proto != 6 {
		rec.State = "S0"
		if f.sent[r] {
			rec.State = "SF"
		}
	} else {
		rec.SynPackets, rec.SynAckPackets, rec.RstPackets = f.nSyn, f.nSynack, f.nRst
		if f.synFrom >= 0 && f.synackFrom >= 0 {
			d := f.synackT - f.synT
			rec.HandshakeRTTNs = &d
		}
		synO := f.synFrom == o
		synackR := f.synackFrom == r
		rec.HalfOpen = synO && synackR && !f.acked[o]
		switch {
		case !synO && !synackR:
			rec.State = "OTH"
		case synO && !synackR:
			rec.State = "S0"
			if f.rst[r] {
				rec.State = "REJ"
			} else if f.rst[o] {
				rec.State = "RSTOS0"
			} else if f.fin[o] {
				rec.State = "SH"
			}
		case !synO && synackR:
			rec.State = "OTH"
			if f.rst[r] {
				rec.State = "RSTRH"
			} else if f.fin[r] {
				rec.State = "SHR"
			}
		default:
			switch {
			case f.rstFirst == o:
				rec.State = "RSTO"
			case f.rstFirst == r:
				rec.State = "RSTR"
			case f.fin[o] && f.fin[r]:
				rec.State = "SF"
			case f.fin[o]:
				rec.State = "S2"
			case f.fin[r]:
				rec.State = "S3"
			default:
				rec.State = "S1"
			}
		}
	}
	// History: letters in first-occurrence order; within one packet the
	// marks were made in S H A D F R order.
	h := make([]byte, 0, len(f.events))
	for _, e := range f.events {
		c := e[0]
		if int(e[1]-'0') != o {
			c += 'a' - 'A'
		}
		h = append(h, c)
	}
	rec.History = string(h)
	return rec
}

// referenceFlows runs the reference model over a parsed trace.
func referenceFlows(r *rpcap, idle, linger int64, nonTCPHist bool) ([]Flow, error) {
	m := &refModel{idle: idle, linger: linger, nonTCPHist: nonTCPHist, table: map[refKey]*refFlow{}, fragPorts: map[string][2]uint16{}}
	for i := range r.pkts {
		if err := m.feed(&r.pkts[i]); err != nil {
			return nil, fmt.Errorf("packet %d: %v", i, err)
		}
	}
	var tEnd int64
	if n := len(r.pkts); n > 0 {
		tEnd = r.pkts[n-1].t
	}
	return m.end(tEnd), nil
}
