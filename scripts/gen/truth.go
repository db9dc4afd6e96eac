package gen

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"
	"net/netip"
	"sort"
	"strconv"
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
	MaxResponse    int    `json:"max_response"`
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
	return netip.AddrPortFrom(f.DstIP, f.DestPort()).String() + "/" + f.Proto
}

// DestPort is the port of the flow's destination: for ICMP and ICMPv6, the
// message the originator sent, type × 256 + code (an echo's request), as
// flowstat's destinations key them.
func (f *Flow) DestPort() uint16 {
	switch {
	case f.Scenario == "icmp_echo" && f.Proto == "icmp":
		return 8 << 8
	case f.Scenario == "icmp_echo":
		return 128 << 8
	case f.Proto == "icmp" || f.Proto == "icmpv6":
		return f.SrcPort<<8 | f.DstPort
	}
	return f.DstPort
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

// WriteJSON writes the truth as JSON: the summary fields first, indented,
// then "flows" with one compact flow object per line. It streams, so a
// multi-million-flow truth needs no large buffer.
func (t *Truth) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	field := func(name string, v any, comma bool) error {
		j, err := json.MarshalIndent(v, " ", " ")
		if err != nil {
			return err
		}
		bw.WriteString(" \"" + name + "\": ")
		bw.Write(j)
		if comma {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		return nil
	}
	bw.WriteString("{\n")
	flows := t.Flows
	if flows == nil {
		flows = []Flow{}
	}
	for _, kv := range []struct {
		name string
		v    any
	}{{"options", t.Options}, {"packets", t.Packets}, {"bytes", t.Bytes}, {"by_state", t.ByState},
		{"by_destination", t.ByDestination}, {"by_scenario", t.ByScenario}} {
		if err := field(kv.name, kv.v, true); err != nil {
			return err
		}
	}
	bw.WriteString(" \"flows\": [")
	buf := make([]byte, 0, 1024)
	for i := range flows {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n  "...)
		buf = flows[i].AppendJSON(buf)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	if len(flows) > 0 {
		bw.WriteString("\n ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

// AppendJSON appends the flow's JSON object, byte-identical to
// json.Marshal(f).
func (f *Flow) AppendJSON(b []byte) []byte {
	str := func(b []byte, name, v string) []byte {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		return append(b, '"', ',')
	}
	num := func(b []byte, name string, v int64) []byte {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, v, 10)
		return append(b, ',')
	}
	ip := func(b []byte, name string, a netip.Addr) []byte {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":"`...)
		b = a.AppendTo(b)
		return append(b, '"', ',')
	}
	b = append(b, '{')
	b = ip(b, "src_ip", f.SrcIP)
	b = num(b, "src_port", int64(f.SrcPort))
	b = ip(b, "dst_ip", f.DstIP)
	b = num(b, "dst_port", int64(f.DstPort))
	b = str(b, "proto", f.Proto)
	b = num(b, "ip_version", int64(f.IPVersion))
	b = num(b, "vlan", int64(f.VLAN))
	b = num(b, "first_seen_ns", f.FirstSeenNs)
	b = num(b, "last_seen_ns", f.LastSeenNs)
	b = num(b, "packets_fwd", f.PacketsFwd)
	b = num(b, "packets_rev", f.PacketsRev)
	b = num(b, "bytes_fwd", f.BytesFwd)
	b = num(b, "bytes_rev", f.BytesRev)
	b = num(b, "tcp_flags_fwd", int64(f.TCPFlagsFwd))
	b = num(b, "tcp_flags_rev", int64(f.TCPFlagsRev))
	b = num(b, "syn_packets", f.SynPackets)
	b = num(b, "synack_packets", f.SynAckPackets)
	b = num(b, "rst_packets", f.RstPackets)
	if f.HandshakeRTTNs != nil {
		b = num(b, "handshake_rtt_ns", *f.HandshakeRTTNs)
	} else {
		b = append(b, `"handshake_rtt_ns":null,`...)
	}
	b = str(b, "state", f.State)
	b = append(b, `"half_open":`...)
	b = strconv.AppendBool(b, f.HalfOpen)
	b = append(b, ',')
	b = str(b, "history", f.History)
	b = str(b, "end_reason", f.EndReason)
	b[len(b)-1] = '}'
	return b
}

type flowSorter []Flow

func (s flowSorter) Len() int           { return len(s) }
func (s flowSorter) Less(i, j int) bool { return CompareFlows(&s[i], &s[j]) < 0 }
func (s flowSorter) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

func (t *Truth) finish(recs []flowRec) {
	t.Flows = make([]Flow, len(recs))
	for i := range recs {
		t.Flows[i] = recs[i].flow()
	}
	sort.Sort(flowSorter(t.Flows)) // by index: no copies of Flow values in comparisons
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
	firstFlags  uint8
	synBy       [2]bool
	synackBy    [2]bool
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
		tr.firstFlags = flags
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
		tr.synBy[side] = true
		if tr.synSide < 0 {
			tr.synSide = int8(side)
			tr.synT = t
		}
		tr.mark(side, hS)
	}
	if syn && ack {
		tr.synackN++
		tr.synackBy[side] = true
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

// flowRec is a pointer-free copy of a Flow, kept while a trace is generated
// so that a multi-million-flow truth costs the garbage collector nothing.
type flowRec struct {
	src, dst         [16]byte
	first, last      int64
	pk, by           [2]int64
	rtt              int64
	syn, synack, rst int64
	srcPort, dstPort uint16
	vlan             uint16
	proto            uint8
	fl               [2]uint8
	v6, hasRTT, half bool
	state, end, scen uint8
	nh               uint8
	hist             [2 * numHist]byte
}

var (
	stateNames = []string{"OTH", "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR"}
	endNames   = []string{"fin", "rst", "idle", "eof"}
	recScens   = append(ScenarioNames(), "terminator", "fallback")
)

func indexOf(list []string, s string) uint8 {
	for i, x := range list {
		if x == s {
			return uint8(i)
		}
	}
	panic("gen: unknown name " + s)
}

func toRec(f *Flow) flowRec {
	r := flowRec{
		src: f.SrcIP.As16(), dst: f.DstIP.As16(), first: f.FirstSeenNs, last: f.LastSeenNs,
		pk: [2]int64{f.PacketsFwd, f.PacketsRev}, by: [2]int64{f.BytesFwd, f.BytesRev},
		syn: f.SynPackets, synack: f.SynAckPackets, rst: f.RstPackets,
		srcPort: f.SrcPort, dstPort: f.DstPort, vlan: f.VLAN, proto: f.ProtoNum,
		fl: [2]uint8{f.TCPFlagsFwd, f.TCPFlagsRev}, v6: f.IPVersion == 6, half: f.HalfOpen,
		state: indexOf(stateNames, f.State), end: indexOf(endNames, f.EndReason), scen: indexOf(recScens, f.Scenario),
	}
	r.nh = uint8(copy(r.hist[:], f.History))
	if f.HandshakeRTTNs != nil {
		r.hasRTT, r.rtt = true, *f.HandshakeRTTNs
	}
	return r
}

func (r *flowRec) flow() Flow {
	f := Flow{
		SrcIP: netip.AddrFrom16(r.src), DstIP: netip.AddrFrom16(r.dst), FirstSeenNs: r.first, LastSeenNs: r.last,
		PacketsFwd: r.pk[0], PacketsRev: r.pk[1], BytesFwd: r.by[0], BytesRev: r.by[1],
		SynPackets: r.syn, SynAckPackets: r.synack, RstPackets: r.rst,
		SrcPort: r.srcPort, DstPort: r.dstPort, VLAN: r.vlan, ProtoNum: r.proto, Proto: ProtoName(r.proto),
		TCPFlagsFwd: r.fl[0], TCPFlagsRev: r.fl[1], IPVersion: 4, HalfOpen: r.half,
		State: stateNames[r.state], EndReason: endNames[r.end], Scenario: recScens[r.scen],
		History: string(r.hist[:r.nh]),
	}
	if r.v6 {
		f.IPVersion = 6
	} else {
		f.SrcIP, f.DstIP = f.SrcIP.Unmap(), f.DstIP.Unmap()
	}
	if r.hasRTT {
		rtt := r.rtt
		f.HandshakeRTTNs = &rtt
	}
	return f
}
