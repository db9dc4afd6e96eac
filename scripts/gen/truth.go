package gen

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"
	"net/netip"
	"slices"
)

// Truth is the exact ground truth of a generated trace.
type Truth struct {
	Options Options `json:"options"`
	// Packets and Bytes count every packet written and the sum of their IP
	// lengths (IPv4 total length; IPv6 payload length + 40).
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// Flows in the flow model's records, sorted by CompareFlows. Empty when
	// Config.SkipFlows.
	Flows   []Flow         `json:"flows"`
	ByState map[string]int `json:"by_state"`
	// ByDestination is keyed "dst_ip:dst_port/proto" ("[v6]:port/proto").
	ByDestination map[string]*DestStats `json:"by_destination"`
	// ByScenario counts flows per generating scenario.
	ByScenario map[string]int `json:"by_scenario"`
}

// Options echoes the configuration the truth was computed for.
type Options struct {
	Seed           uint64 `json:"seed"`
	Flows          int    `json:"flows"`
	Snaplen        int    `json:"snaplen"`
	Nano           bool   `json:"nano"`
	Mix            string `json:"mix"`
	StartNs        int64  `json:"start_ns"`
	EndNs          int64  `json:"end_ns"` // time of the last packet
	DurationNs     int64  `json:"duration_ns"`
	IdleTimeoutNs  int64  `json:"idle_timeout_ns"`
	LingerNs       int64  `json:"linger_ns"`
	NonTCPHistory  bool   `json:"non_tcp_history"`
	LinkType       int    `json:"linktype"`
	GeneratorVersn string `json:"generator"`
}

// Flow is one ground-truth flow record, oriented originator (Src) to
// responder (Dst). For ICMP, SrcPort/DstPort are the echo identifier and 0,
// or the type and code of other messages.
type Flow struct {
	SrcIP          netip.Addr `json:"src_ip"`
	SrcPort        uint16     `json:"src_port"`
	DstIP          netip.Addr `json:"dst_ip"`
	DstPort        uint16     `json:"dst_port"`
	Proto          string     `json:"proto"` // tcp, udp, icmp, icmpv6
	IPVersion      int        `json:"ip_version"`
	VLAN           uint16     `json:"vlan"`
	FirstSeenNs    int64      `json:"first_seen_ns"`
	LastSeenNs     int64      `json:"last_seen_ns"`
	PacketsFwd     int64      `json:"packets_fwd"`
	PacketsRev     int64      `json:"packets_rev"`
	BytesFwd       int64      `json:"bytes_fwd"`
	BytesRev       int64      `json:"bytes_rev"`
	TCPFlagsFwd    uint8      `json:"tcp_flags_fwd"`
	TCPFlagsRev    uint8      `json:"tcp_flags_rev"`
	SynPackets     int64      `json:"syn_packets"`
	SynAckPackets  int64      `json:"synack_packets"`
	RstPackets     int64      `json:"rst_packets"`
	HandshakeRTTNs *int64     `json:"handshake_rtt_ns"`
	State          string     `json:"state"`
	HalfOpen       bool       `json:"half_open"`
	History        string     `json:"history"`
	EndReason      string     `json:"end_reason"`

	// ProtoNum is the IP protocol number (6, 17, 1, 58).
	ProtoNum uint8 `json:"-"`
	// Scenario names the generator scenario that produced the flow.
	Scenario string `json:"-"`
}

// DestStats aggregates the flows to one destination (responder ip:port/proto).
type DestStats struct {
	Flows   int            `json:"flows"`
	Packets int64          `json:"packets"`
	Bytes   int64          `json:"bytes"`
	ByState map[string]int `json:"by_state"`
}

// ProtoName names an IP protocol as the truth does.
func ProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return "ip"
}

// DestKey returns the by_destination key of a flow.
func (f *Flow) DestKey() string {
	return netip.AddrPortFrom(f.DstIP, f.DstPort).String() + "/" + f.Proto
}

// Packets returns the flow's packets in both directions.
func (f *Flow) Packets() int64 { return f.PacketsFwd + f.PacketsRev }

// Bytes returns the flow's IP bytes in both directions.
func (f *Flow) Bytes() int64 { return f.BytesFwd + f.BytesRev }

// CompareFlows orders flows by first_seen, then src ip, src port, dst ip,
// dst port, protocol number and VLAN (addresses by netip.Addr.Compare).
func CompareFlows(a, b *Flow) int {
	if c := cmp.Compare(a.FirstSeenNs, b.FirstSeenNs); c != 0 {
		return c
	}
	if c := a.SrcIP.Compare(b.SrcIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SrcPort, b.SrcPort); c != 0 {
		return c
	}
	if c := a.DstIP.Compare(b.DstIP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DstPort, b.DstPort); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ProtoNum, b.ProtoNum); c != 0 {
		return c
	}
	return cmp.Compare(a.VLAN, b.VLAN)
}

// WriteJSON writes the truth as indented JSON.
func (t *Truth) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", " ")
	if err := enc.Encode(t); err != nil {
		return err
	}
	return bw.Flush()
}

func (t *Truth) finish() {
	slices.SortFunc(t.Flows, func(a, b Flow) int { return CompareFlows(&a, &b) })
	if t.Flows == nil {
		t.Flows = []Flow{}
	}
	t.ByDestination = map[string]*DestStats{}
	for i := range t.Flows {
		f := &t.Flows[i]
		k := f.DestKey()
		d := t.ByDestination[k]
		if d == nil {
			d = &DestStats{ByState: map[string]int{}}
			t.ByDestination[k] = d
		}
		d.Flows++
		d.Packets += f.Packets()
		d.Bytes += f.Bytes()
		d.ByState[f.State]++
	}
}

// History letters, in the order used within one packet.
const (
	hS = iota
	hH
	hA
	hD
	hF
	hR
	numHist
)

const histLetters = "SHADFR"

// tracker accumulates the truth of one flow from its packets in time order.
// Sides are the generator's: 0 is endpoint A (usually the client), 1 is B.
type tracker struct {
	n           int
	pk, by      [2]int64
	fl          [2]uint8
	first, last int64
	firstSide   int8
	synSide     int8 // side of the first SYN without ACK, -1 if none
	synackSide  int8 // side that sent the first SYN-ACK, -1 if none
	synT        int64
	synackT     int64
	synN        int64
	synackN     int64
	rstN        int64
	fin, rst    [2]bool
	ack         [2]bool
	sent        [2]bool
	firstRst    int8
	closed      bool
	closeT      int64
	closeWhy    string
	maxGap      int64
	hist        [2 * numHist]uint8
	nh          int
	seen        uint16
}

func (tr *tracker) mark(side int, letter int) {
	ev := side*numHist + letter
	if tr.seen&(1<<ev) != 0 {
		return
	}
	tr.seen |= 1 << ev
	tr.hist[tr.nh] = uint8(ev)
	tr.nh++
}

// add accounts one packet; tcp tells whether flags are meaningful, nonTCPHist
// whether non-TCP payload adds D.
func (tr *tracker) add(t int64, side int, ipLen int, payload int, tcp bool, flags uint8, nonTCPHist bool) {
	if tr.n == 0 {
		tr.first = t
		tr.firstSide = int8(side)
		tr.synSide, tr.synackSide, tr.firstRst = -1, -1, -1
	} else if g := t - tr.last; g > tr.maxGap {
		tr.maxGap = g
	}
	tr.n++
	tr.last = t
	tr.pk[side]++
	tr.by[side] += int64(ipLen)
	tr.sent[side] = true
	if !tcp {
		if nonTCPHist && payload > 0 {
			tr.mark(side, hD)
		}
		return
	}
	tr.fl[side] |= flags
	syn, ack := flags&flagSYN != 0, flags&flagACK != 0
	if syn && !ack {
		tr.synN++
		if tr.synSide < 0 {
			tr.synSide = int8(side)
			tr.synT = t
		}
		tr.mark(side, hS)
	}
	if syn && ack {
		tr.synackN++
		if tr.synackSide < 0 {
			tr.synackSide = int8(side)
			tr.synackT = t
		}
		tr.mark(side, hH)
	}
	if ack {
		tr.ack[side] = true
		if flags&(flagSYN|flagFIN|flagRST) == 0 && payload == 0 {
			tr.mark(side, hA)
		}
	}
	if payload > 0 {
		tr.mark(side, hD)
	}
	if flags&flagFIN != 0 {
		tr.fin[side] = true
		tr.mark(side, hF)
	}
	if flags&flagRST != 0 {
		tr.rstN++
		tr.rst[side] = true
		if tr.firstRst < 0 {
			tr.firstRst = int8(side)
		}
		tr.mark(side, hR)
	}
	if !tr.closed {
		switch {
		case flags&flagRST != 0:
			tr.closed, tr.closeT, tr.closeWhy = true, t, "rst"
		case tr.fin[0] && tr.fin[1]:
			tr.closed, tr.closeT, tr.closeWhy = true, t, "fin"
		}
	}
}

// origin returns the originator side under the flow model's rules.
func (f *sflow) origin() int {
	tr := &f.tr
	switch f.proto {
	case 6:
		switch {
		case tr.synSide >= 0:
			return int(tr.synSide)
		case tr.synackSide >= 0:
			return 1 - int(tr.synackSide)
		case f.port[0] < f.port[1]:
			return 1
		case f.port[0] > f.port[1]:
			return 0
		}
		return int(tr.firstSide)
	case 17:
		s := int(tr.firstSide)
		if f.port[s] < 1024 && f.port[1-s] >= 1024 {
			return 1 - s
		}
		return s
	}
	return int(tr.firstSide)
}

// state derives the flow state with O the originator side.
func (f *sflow) state(o int) string {
	tr := &f.tr
	r := 1 - o
	if f.proto != 6 {
		if tr.sent[r] {
			return "SF"
		}
		return "S0"
	}
	// The generator never has both sides send SYNs (or SYN-ACKs), so the
	// first sender of each kind is the only one.
	synO := int(tr.synSide) == o
	synackR := int(tr.synackSide) == r
	switch {
	case !synO && !synackR:
		return "OTH"
	case synO && !synackR:
		switch {
		case tr.rst[r]:
			return "REJ"
		case tr.rst[o]:
			return "RSTOS0"
		case tr.fin[o]:
			return "SH"
		}
		return "S0"
	case !synO && synackR:
		switch {
		case tr.rst[r]:
			return "RSTRH"
		case tr.fin[r]:
			return "SHR"
		}
		return "OTH"
	}
	switch {
	case tr.firstRst >= 0 && int(tr.firstRst) == o:
		return "RSTO"
	case tr.firstRst >= 0:
		return "RSTR"
	case tr.fin[o] && tr.fin[r]:
		return "SF"
	case tr.fin[o]:
		return "S2"
	case tr.fin[r]:
		return "S3"
	}
	return "S1"
}

// finalize builds the flow record; end is the time of the trace's last packet.
func (g *generator) finalize(f *sflow) Flow {
	tr := &f.tr
	o := f.origin()
	r := 1 - o
	out := Flow{
		SrcIP:       f.addr[o],
		DstIP:       f.addr[r],
		SrcPort:     f.port[o],
		DstPort:     f.port[r],
		ProtoNum:    f.proto,
		Proto:       ProtoName(f.proto),
		IPVersion:   4,
		VLAN:        f.vlan,
		FirstSeenNs: tr.first,
		LastSeenNs:  tr.last,
		PacketsFwd:  tr.pk[o],
		PacketsRev:  tr.pk[r],
		BytesFwd:    tr.by[o],
		BytesRev:    tr.by[r],
		TCPFlagsFwd: tr.fl[o],
		TCPFlagsRev: tr.fl[r],
		State:       f.state(o),
		Scenario:    f.scen,
	}
	if f.v6 {
		out.IPVersion = 6
	}
	if f.proto == 1 || f.proto == 58 {
		// ICMP key ports do not depend on direction.
		out.SrcPort, out.DstPort = f.port[0], f.port[1]
	}
	if f.proto == 6 {
		out.SynPackets, out.SynAckPackets, out.RstPackets = tr.synN, tr.synackN, tr.rstN
		if tr.synSide >= 0 && tr.synackSide >= 0 {
			rtt := tr.synackT - tr.synT
			out.HandshakeRTTNs = &rtt
		}
		out.HalfOpen = int(tr.synSide) == o && int(tr.synackSide) == r && !tr.ack[o]
	}
	var h [2 * numHist]byte
	for i := 0; i < tr.nh; i++ {
		ev := int(tr.hist[i])
		c := histLetters[ev%numHist]
		if ev/numHist != o {
			c += 'a' - 'A'
		}
		h[i] = c
	}
	out.History = string(h[:tr.nh])
	switch {
	case tr.closed:
		out.EndReason = tr.closeWhy
	case g.tEnd >= tr.last+g.idle:
		out.EndReason = "idle"
	default:
		out.EndReason = "eof"
	}
	return out
}
