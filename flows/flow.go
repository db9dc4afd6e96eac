package flows

import (
	"math/bits"

	"flowstat/reader"
)

// History letters in the order Zeek lists them within one packet.
const (
	histSYN = iota
	histSYNACK
	histACK
	histData
	histFIN
	histRST
	numHist
)

const histLetters = "SHADFR"

// flow is the table's entry for one flow: counters per side (A, B of its
// Key), decided on orientation only when the flow ends. The table holds
// every open flow, millions during a flood or a scan, and a packet touches
// most of its entry: its fields are in order of size, 8-byte ones first,
// so that none is padded, and what is yes or no is a bit, so that it takes
// 256 bytes, four cache lines (the slab's chunks start at a page).
type flow struct {
	first int64
	last  int64

	packets [2]uint64
	bytes   [2]uint64
	payload [2]uint64 // transport payload bytes

	retransBytes [2]uint64 // payload of TCP segments whose sequence range was seen before

	firstSYN [2]int64 // time of each side's first SYN without ACK in this record
	firstHS  [2]int64 // and first SYN-ACK

	closedAt int64 // time of the closing FIN or RST; 0 while open

	history events // history events in this record

	syns    [2]uint32 // SYN without ACK, by side
	synacks [2]uint32
	rsts    uint32

	minLen, maxLen [2]uint32 // IP lengths

	// seqEnd is the end of the highest TCP sequence range each side sent,
	// once it sent one (sentSeq): a segment that starts before it is sent
	// again.
	seqEnd      [2]uint32
	retransPkts [2]uint32
	zeroWindows [2]uint32 // segments without RST announcing a window of 0

	// The flow's own slab index; flows hold no pointer, so the garbage
	// collector never scans the table.
	self int32
	gen  uint32 // incremented each time the entry is reused

	key  Key
	bits flowBits

	flags [2]uint8

	minTTL, maxTTL [2]uint8

	synSide    int8 // side of the first SYN without ACK, -1 if none
	synackSide int8 // side of the first SYN-ACK, -1 if none
	rstSide    int8 // side of the first RST, -1 if none
	firstSide  int8 // side of the first packet
	echoReq    int8 // side of the first ICMP echo request, -1 if none
	// fixedOrig is the originator side inherited from the record an active
	// timeout cut, or -1.
	fixedOrig int8

	closedBy EndReason
	nWin     uint8 // 0 without intervals, 1 in one interval, or overflowWindows (windows.go)
}

// flowBits are a flow's facts of yes or no: what each side sent, a bit
// per side (sideBit), and the flow's own (isEcho and the next).
type flowBits uint16

// What each side sent, for the state and the orientation, from bit 0.
const (
	sentSYN = iota // SYN without ACK
	sentSYNACK
	sentFIN
	sentRST
	sentACK // any packet with the ACK flag
	sentSeq // a TCP segment outside later fragments: seqEnd is set
	numSent
)

const (
	isEcho    flowBits = 1 << (2*numSent + iota) // ICMP echo: ports are identifier and 0 in both directions
	isLive                                       // in use
	tunnelled                                    // its tunnel is in the table's tunnels
	joinable                                     // may continue a flow of the input before (join.go)
)

// carriedBits are what a record cut at the active timeout carries to the
// next: what the sides sent of the handshake and the close.
const carriedBits = 1<<(2*sentSeq) - 1

// sideBit is the bit of side s having sent what.
func sideBit(s side, what int) flowBits { return 1 << (2*what + s) }

// sent reports whether side s sent what.
func (f *flow) sent(s side, what int) bool { return f.bits&sideBit(s, what) != 0 }

// has reports whether the flow has every fact of b.
func (f *flow) has(b flowBits) bool { return f.bits&b == b }

// events are a flow's history events in order of first occurrence
// (side*numHist + letter), 4 bits each from bit 0, and from bit
// eventSeenShift a bit per event already there: the history of a
// record in 8 bytes rather than 15.
type events uint64

const eventSeenShift = 4 * 2 * numHist

// saw reports whether event ev is in the history.
func (e events) saw(ev int) bool { return e>>(eventSeenShift+ev)&1 != 0 }

// len is how many events the history holds.
func (e events) len() int { return bits.OnesCount64(uint64(e >> eventSeenShift)) }

// at returns the i-th event.
func (e events) at(i int) int { return int(e >> (4 * i) & 15) }

// add appends ev, which is not in the history yet.
func (e *events) add(ev int) {
	*e |= events(ev)<<(4*e.len()) | 1<<(eventSeenShift+ev)
}

const overflowWindows = 255

// windowCount is a flow's traffic in one statistics interval, per side.
type windowCount struct {
	start   int64
	packets [2]uint64
	bytes   [2]uint64
	syns    [2]uint32 // SYN without ACK, by side
	synacks [2]uint32
}

func (f *flow) reset(k Key, echo bool, t int64, s side) {
	b := isLive
	if echo {
		b |= isEcho
	}
	*f = flow{key: k, bits: b, first: t, last: t, synSide: -1, synackSide: -1, rstSide: -1,
		echoReq: -1, fixedOrig: -1, firstSide: int8(s), self: f.self, gen: f.gen + 1}
}

// add counts one packet sent by side s.
func (f *flow) add(p *reader.Packet, s side) {
	if p.Time > f.last {
		f.last = p.Time
	}
	if p.Time < f.first {
		f.first = p.Time
	}
	f.packets[s]++
	f.bytes[s] += uint64(p.IPLen)
	f.payload[s] += uint64(p.Payload)
	if f.packets[s] == 1 || p.IPLen < f.minLen[s] {
		f.minLen[s] = p.IPLen
	}
	f.maxLen[s] = max(f.maxLen[s], p.IPLen)
	if f.packets[s] == 1 || p.TTL < f.minTTL[s] {
		f.minTTL[s] = p.TTL
	}
	f.maxTTL[s] = max(f.maxTTL[s], p.TTL)
	switch p.Proto {
	case reader.ProtoTCP:
		if p.Frag != reader.LaterFrag {
			f.addTCP(p, s)
		}
	case reader.ProtoICMP, reader.ProtoICMPv6:
		if f.has(isEcho) && f.echoReq < 0 && reader.IsEchoRequest(p.Proto, p.ICMPType) {
			f.echoReq = int8(s)
		}
	}
}

func (f *flow) addTCP(p *reader.Packet, s side) {
	fl := p.TCPFlags
	f.flags[s] |= fl
	f.addSequence(p, s)
	if p.Window == 0 && fl&reader.RST == 0 {
		f.zeroWindows[s]++
	}
	syn, ack := fl&reader.SYN != 0, fl&reader.ACK != 0
	switch {
	case syn && !ack:
		f.syns[s]++
		f.bits |= sideBit(s, sentSYN)
		if !f.saw(s, histSYN) {
			f.firstSYN[s] = p.Time
		}
		if f.synSide < 0 {
			f.synSide = int8(s)
		}
		f.mark(s, histSYN)
	case syn && ack:
		f.synacks[s]++
		f.bits |= sideBit(s, sentSYNACK)
		if !f.saw(s, histSYNACK) {
			f.firstHS[s] = p.Time
		}
		if f.synackSide < 0 {
			f.synackSide = int8(s)
		}
		f.mark(s, histSYNACK)
	}
	if ack {
		f.bits |= sideBit(s, sentACK)
		if fl&(reader.SYN|reader.FIN|reader.RST) == 0 && p.Payload == 0 {
			f.mark(s, histACK)
		}
	}
	if p.Payload > 0 {
		f.mark(s, histData)
	}
	if fl&reader.FIN != 0 {
		f.bits |= sideBit(s, sentFIN)
		f.mark(s, histFIN)
	}
	if fl&reader.RST != 0 {
		f.rsts++
		f.bits |= sideBit(s, sentRST)
		if f.rstSide < 0 {
			f.rstSide = int8(s)
		}
		f.mark(s, histRST)
	}
}

// addSequence follows the sequence ranges side s sent, and counts a
// segment with data that starts before the end of the highest range seen
// as sent again (a retransmission, or a segment that overtook an earlier
// one), unless it is a keep-alive: one byte just before that end.
func (f *flow) addSequence(p *reader.Packet, s side) {
	used := p.Payload // sequence numbers the segment takes: its data, SYN and FIN one each
	if p.TCPFlags&(reader.SYN|reader.FIN) != 0 {
		used++
	}
	end := p.Seq + used
	if !f.sent(s, sentSeq) {
		f.bits |= sideBit(s, sentSeq)
		f.seqEnd[s] = end
		return
	}
	if p.Payload > 0 && seqBefore(p.Seq, f.seqEnd[s]) && !(p.Payload == 1 && p.Seq == f.seqEnd[s]-1) {
		f.retransPkts[s]++
		f.retransBytes[s] += uint64(p.Payload)
	}
	if seqBefore(f.seqEnd[s], end) {
		f.seqEnd[s] = end
	}
}

// seqBefore reports whether sequence number a comes before b, modulo 2^32.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// saw reports whether side s sent the history event in this record. Unlike
// sent, whose bits a record cut at the active timeout carries to the next,
// it starts empty in every record.
func (f *flow) saw(s side, letter int) bool { return f.history.saw(s*numHist + letter) }

// mark appends a history event the first time it happens.
func (f *flow) mark(s side, letter int) {
	if ev := s*numHist + letter; !f.history.saw(ev) {
		f.history.add(ev)
	}
}

// closing reports whether the last packet closed a TCP connection: a RST
// from either side, or FINs from both.
func (f *flow) closing() (EndReason, bool) {
	if f.key.Proto != reader.ProtoTCP {
		return 0, false
	}
	if f.sent(0, sentRST) || f.sent(1, sentRST) {
		return EndRST, true
	}
	if f.sent(0, sentFIN) && f.sent(1, sentFIN) {
		return EndFIN, true
	}
	return 0, false
}

// mod is the non-negative remainder, so times before the epoch still fall
// into aligned windows.
func mod(t, d int64) int64 {
	m := t % d
	if m < 0 {
		m += d
	}
	return m
}

// originator decides which side started the flow, following the flow
// model's rules in order.
func (f *flow) originator() side {
	if f.fixedOrig >= 0 {
		return side(f.fixedOrig)
	}
	switch f.key.Proto {
	case reader.ProtoTCP:
		switch {
		case f.synSide >= 0:
			return side(f.synSide)
		case f.synackSide >= 0:
			return 1 - side(f.synackSide)
		case f.key.APort < f.key.BPort: // A has the lower port: A is the responder
			return 1
		case f.key.BPort < f.key.APort:
			return 0
		}
	case reader.ProtoUDP:
		if src, dst := f.firstPorts(); src < 1024 && dst >= 1024 {
			return 1 - side(f.firstSide)
		}
	case reader.ProtoICMP, reader.ProtoICMPv6:
		if f.echoReq >= 0 {
			return side(f.echoReq)
		}
	}
	return side(f.firstSide)
}

// state evaluates the Zeek conn_state with o as the originator.
func (f *flow) state(o side) State {
	r := 1 - o
	if f.key.Proto != reader.ProtoTCP {
		switch {
		case f.packets[o] > 0 && f.packets[r] > 0:
			return SF
		case f.packets[o] > 0:
			return S0
		case f.packets[r] > 0:
			return SHR
		}
		return OTH
	}
	syn, synack := f.sent(o, sentSYN), f.sent(r, sentSYNACK)
	switch {
	case syn && !synack:
		switch {
		case f.sent(r, sentRST):
			return REJ
		case f.sent(o, sentRST):
			return RSTOS0
		case f.sent(o, sentFIN):
			return SH
		}
		return S0
	case !syn && synack:
		switch {
		case f.sent(r, sentRST):
			return RSTRH
		case f.sent(r, sentFIN):
			return SHR
		}
		return OTH
	case syn && synack:
		switch {
		case f.rstSide == int8(o):
			return RSTO
		case f.rstSide == int8(r):
			return RSTR
		case f.sent(o, sentFIN) && f.sent(r, sentFIN):
			return SF
		case f.sent(o, sentFIN):
			return S2
		case f.sent(r, sentFIN):
			return S3
		}
		return S1
	}
	return OTH
}

// record builds the flow's Record, oriented from the originator, and its
// per-interval counts ws written into scratch (nil when there are none).
func (f *flow) record(reason EndReason, ws []windowCount, scratch []Window) (Record, []Window) {
	o := f.originator()
	r := 1 - o
	k := &f.key
	rec := Record{
		ID:             k.id(f.first),
		Proto:          k.Proto,
		VLAN:           k.VLAN,
		FirstSeen:      f.first,
		LastSeen:       f.last,
		Packets:        [2]uint64{f.packets[o], f.packets[r]},
		Bytes:          [2]uint64{f.bytes[o], f.bytes[r]},
		PayloadBytes:   [2]uint64{f.payload[o], f.payload[r]},
		MinIPLen:       [2]uint32{f.minLen[o], f.minLen[r]},
		MaxIPLen:       [2]uint32{f.maxLen[o], f.maxLen[r]},
		MinTTL:         [2]uint8{f.minTTL[o], f.minTTL[r]},
		MaxTTL:         [2]uint8{f.maxTTL[o], f.maxTTL[r]},
		RetransPackets: [2]uint32{f.retransPkts[o], f.retransPkts[r]},
		RetransBytes:   [2]uint64{f.retransBytes[o], f.retransBytes[r]},
		ZeroWindows:    [2]uint32{f.zeroWindows[o], f.zeroWindows[r]},
		TCPFlags:       [2]uint8{f.flags[o], f.flags[r]},
		SYNs:           f.syns[0] + f.syns[1],
		SYNACKs:        f.synacks[0] + f.synacks[1],
		RSTs:           f.rsts,
		State:          f.state(o),
		EndReason:      reason,
	}
	rec.IPVersion = 6
	if k.IPv4 {
		rec.IPVersion = 4
	}
	a, b := ipFrom16(k.A, k.IPv4), ipFrom16(k.B, k.IPv4)
	if o == 0 {
		rec.SrcIP, rec.SrcPort, rec.DstIP, rec.DstPort = a, k.APort, b, k.BPort
	} else {
		rec.SrcIP, rec.SrcPort, rec.DstIP, rec.DstPort = b, k.BPort, a, k.APort
	}
	switch {
	case f.has(isEcho):
		rec.SrcPort, rec.DstPort, rec.Echo = k.APort, 0, true
		rec.ICMPType = echoType(k.Proto, f.echoReq >= 0)
	case k.Proto == reader.ProtoICMP || k.Proto == reader.ProtoICMPv6:
		rec.ICMPType, rec.ICMPCode = uint8(rec.SrcPort), uint8(rec.DstPort)
	}
	rec.HandshakeRTT = -1
	if f.saw(o, histSYN) && f.saw(r, histSYNACK) { // in this record: a cut one's continuation did not see them
		rec.HandshakeRTT = f.firstHS[r] - f.firstSYN[o]
	}
	if k.Proto == reader.ProtoTCP {
		rec.HalfOpen = f.sent(o, sentSYN) && f.sent(r, sentSYNACK) && !f.sent(o, sentACK)
		rec.History = f.historyOf(o)
	}
	if len(ws) == 0 {
		return rec, nil
	}
	scratch = scratch[:0]
	for _, w := range ws {
		scratch = append(scratch, Window{Start: w.start, Packets: w.packets[o] + w.packets[r], Bytes: w.bytes[o] + w.bytes[r],
			RespPackets: w.packets[r], RespBytes: w.bytes[r], SYNs: w.syns[o], SYNACKs: w.synacks[r]})
	}
	return rec, scratch
}

// firstPorts returns the source and destination port of the flow's first
// packet: those of its first side, then of the other (not for echo flows,
// whose key has no second port).
func (f *flow) firstPorts() (src, dst uint16) {
	if f.firstSide == 0 {
		return f.key.APort, f.key.BPort
	}
	return f.key.BPort, f.key.APort
}

// echoType is the type of an echo request, or of a reply, of ICMP or
// ICMPv6.
func echoType(proto uint8, request bool) uint8 {
	switch {
	case proto == reader.ProtoICMPv6 && request:
		return 128
	case proto == reader.ProtoICMPv6:
		return 129
	case request:
		return 8
	}
	return 0
}

func (f *flow) historyOf(o side) History {
	var h History
	n := f.history.len()
	for i := range n {
		ev := f.history.at(i)
		letter := histLetters[ev%numHist]
		if ev/numHist != o {
			letter += 'a' - 'A'
		}
		h.letters[i] = letter
	}
	h.n = uint8(n)
	return h
}
