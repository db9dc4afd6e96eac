package report

import (
	"cmp"
	"container/heap"
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// Kind is what a finding looks like.
type Kind uint8

// Kinds of findings, in the order the report lists them.
const (
	// SYNFlood: many SYN-only or half-open flows to one destination port
	// from many sources.
	SYNFlood Kind = iota
	// Reflection: UDP from one service port of many sources to one victim,
	// with replies far larger than the requests, or no requests at all.
	Reflection
	// SYNACKReflection: SYN-ACKs from one service port of many sources to
	// one host that sent them no SYN: a TCP reflection attack on that host,
	// or backscatter of a SYN flood that spoofed its address.
	SYNACKReflection
	// PortScan: one source reaching many ports of a host, mostly failing.
	PortScan
	// HostScan: one source reaching many hosts on a port, mostly failing,
	// or pinging many hosts: a host sweep.
	HostScan
	// UDPFlood: UDP to one host at a flood's rate, in many flows that it
	// left unanswered.
	UDPFlood
	// ICMPFlood: ICMP to one host at a flood's rate.
	ICMPFlood
	// TCPFlood: TCP without handshakes (ACK, RST, FIN or other flags) to
	// one host at a flood's rate, in many flows that it left unanswered or
	// reset.
	TCPFlood
	// CarpetBombing: a flood or a reflection spread over many hosts of one
	// prefix, each alone below the thresholds that the prefix crosses.
	CarpetBombing
	// FragmentFlood: IP fragments to one host at a flood's rate whose first
	// fragments never came: in no flow, they fill its reassembly buffers.
	FragmentFlood
)

var kindNames = [...]string{"SYN flood", "UDP reflection", "SYN-ACK reflection", "port scan", "host sweep",
	"UDP flood", "ICMP flood", "TCP flood", "carpet bombing", "fragment flood"}

func (k Kind) String() string { return kindNames[k] }

// Name is the kind's name in findings.parquet.
func (k Kind) Name() string {
	return [...]string{"syn_flood", "udp_reflection", "tcp_reflection", "port_scan", "host_sweep",
		"udp_flood", "icmp_flood", "tcp_flood", "carpet_bombing", "fragment_flood"}[k]
}

// vector is the kind of a finding's traffic: a carpet bombing's vector,
// else its kind.
func (f *Finding) vector() Kind {
	if f.Kind == CarpetBombing {
		return f.Vector
	}
	return f.Kind
}

// isFlood says whether k is a flood of one host found by volume.
func (k Kind) isFlood() bool { return k == UDPFlood || k == ICMPFlood || k == TCPFlood }

// IsVolume says whether a finding of kind k is traffic sent at a victim
// (a flood or a reflection), whose sources come with packet counts.
func (k Kind) IsVolume() bool {
	return k.isFlood() || k == Reflection || k == SYNACKReflection || k == CarpetBombing || k == FragmentFlood
}

// Thresholds decide what is a finding. The zero value works: zero fields
// take the defaults of DefaultThresholds.
type Thresholds struct {
	// A SYN flood has at least SYNFloodFlows flows in state S0 or
	// half-open to one destination port, from at least SYNFloodSources
	// sources, making at least SYNFloodShare of its TCP flows.
	SYNFloodFlows   int
	SYNFloodSources int
	SYNFloodShare   float64
	// A scan is one source reaching at least ScanPorts ports of one host,
	// or ScanHosts hosts on one port, over TCP, with at least ScanShare of
	// those flows failed (REJ, S0, RSTO or RSTOS0).
	ScanPorts int
	ScanHosts int
	ScanShare float64
	// A reflection is traffic from one port of many sources, sent by at least
	// ReflectSources sources to one victim, at least ReflectPackets
	// packets, with at least ReflectRatio times the bytes the victim sent
	// to those ports (any amount when it sent none).
	ReflectSources int
	ReflectPackets int
	ReflectRatio   float64
	ReflectPorts   []uint16
	// A UDP, ICMP or TCP flood (without handshakes) is at least
	// FloodPackets packets of one protocol to one host, at FloodRate
	// packets/s or more on average from its first to its last packet; over
	// UDP and TCP in at least FloodFlows flows, at most a tenth of their
	// packets answered (see floodFlowOf), so that a stream or a bulk
	// transfer in one flow is not a flood.
	FloodPackets int
	FloodRate    float64
	FloodFlows   int
	// Carpet bombing is a flood or a reflection on at least CarpetHosts
	// hosts of one prefix of CarpetBits4 (IPv4) or CarpetBits6 (IPv6)
	// bits, none a finding alone, whose flows together cross the
	// thresholds of one host.
	CarpetHosts              int
	CarpetBits4, CarpetBits6 int
}

// DefaultThresholds returns the default thresholds. A flood or a scan
// worth reporting is far above them, and ordinary traffic far below: a busy
// server sees hundreds of clients, but they complete their handshakes; a
// resolver talks to many name servers, but its answers are a few times its
// queries. The reflection floor is low (20 sources, 500 packets) because
// short captures of real attacks show few reflectors: the DNS amplification
// sample in ../shared/traces has 49.
func DefaultThresholds() Thresholds {
	return Thresholds{
		SYNFloodFlows:   1000,
		SYNFloodSources: 100,
		SYNFloodShare:   0.5,
		ScanPorts:       100,
		ScanHosts:       50,
		ScanShare:       0.8,
		ReflectSources:  20,
		ReflectPackets:  500,
		ReflectRatio:    10,
		FloodPackets:    1000,
		FloodRate:       1000,
		FloodFlows:      50,
		CarpetHosts:     10,
		CarpetBits4:     24,
		CarpetBits6:     64,
		// Services abused for amplification (amplifierNames).
		ReflectPorts: slices.Sorted(maps.Keys(amplifierNames)),
	}
}

// amplifierNames are the UDP services abused for reflection and
// amplification, by port (US-CERT TA14-017A and later reports), named as
// a finding names them.
var amplifierNames = map[uint16]string{
	17: "QOTD", 19: "chargen", 53: "DNS", 69: "TFTP", 111: "portmap", 123: "NTP", 137: "NetBIOS",
	161: "SNMP", 389: "CLDAP", 500: "IKE", 520: "RIP", 751: "Kad", 1194: "OpenVPN", 1434: "MS-SQL",
	1900: "SSDP", 3283: "ARD", 3389: "RDP", 3702: "WS-Discovery", 4500: "IKE NAT-T", 5353: "mDNS",
	5683: "CoAP", 6881: "BitTorrent", 10001: "Ubiquiti discovery", 10074: "Mitel", 11211: "memcached",
	27015: "Steam", 27960: "Quake", 32414: "Plex", 33848: "Jenkins", 37810: "DHDiscover", 47808: "BACnet",
}

// AmplifierName names the UDP service abused for amplification at port,
// or "".
func AmplifierName(port uint16) string { return amplifierNames[port] }

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	set(&t.SYNFloodFlows, d.SYNFloodFlows)
	set(&t.SYNFloodSources, d.SYNFloodSources)
	setF(&t.SYNFloodShare, d.SYNFloodShare)
	set(&t.ScanPorts, d.ScanPorts)
	set(&t.ScanHosts, d.ScanHosts)
	setF(&t.ScanShare, d.ScanShare)
	set(&t.ReflectSources, d.ReflectSources)
	set(&t.ReflectPackets, d.ReflectPackets)
	setF(&t.ReflectRatio, d.ReflectRatio)
	set(&t.FloodPackets, d.FloodPackets)
	setF(&t.FloodRate, d.FloodRate)
	set(&t.FloodFlows, d.FloodFlows)
	set(&t.CarpetHosts, d.CarpetHosts)
	set(&t.CarpetBits4, d.CarpetBits4)
	set(&t.CarpetBits6, d.CarpetBits6)
	if t.ReflectPorts == nil {
		t.ReflectPorts = d.ReflectPorts
	}
	t.ReflectPorts = slices.Clone(t.ReflectPorts)
	slices.Sort(t.ReflectPorts)
	t.ReflectPorts = slices.Compact(t.ReflectPorts)
	return t
}

// Validate reports the first threshold out of range. Zero values are
// valid: they mean the default.
func (t Thresholds) Validate() error {
	counts := []struct {
		name string
		v    int
	}{
		{"synflood-flows", t.SYNFloodFlows}, {"synflood-sources", t.SYNFloodSources},
		{"scan-ports", t.ScanPorts}, {"scan-hosts", t.ScanHosts},
		{"reflect-sources", t.ReflectSources}, {"reflect-packets", t.ReflectPackets},
		{"flood-packets", t.FloodPackets}, {"flood-flows", t.FloodFlows}, {"carpet-hosts", t.CarpetHosts},
	}
	for _, c := range counts {
		if c.v < 0 {
			return fmt.Errorf("threshold %s must be positive, not %d", c.name, c.v)
		}
	}
	shares := []struct {
		name string
		v    float64
	}{{"synflood-share", t.SYNFloodShare}, {"scan-share", t.ScanShare}}
	for _, s := range shares {
		if s.v < 0 || s.v > 1 {
			return fmt.Errorf("threshold %s must be a fraction between 0 and 1, not %g", s.name, s.v)
		}
	}
	if t.CarpetBits4 < 0 || t.CarpetBits4 > 32 || t.CarpetBits6 < 0 || t.CarpetBits6 > 128 {
		return fmt.Errorf("threshold carpet-prefix must be a prefix length, 0-32 for IPv4 and 0-128 for IPv6, not %d and %d", t.CarpetBits4, t.CarpetBits6)
	}
	if t.FloodRate < 0 {
		return fmt.Errorf("threshold flood-rate must be positive, not %g", t.FloodRate)
	}
	if t.ReflectRatio < 0 || (t.ReflectRatio > 0 && t.ReflectRatio < 1) {
		return fmt.Errorf("threshold reflect-ratio must be at least 1, not %g", t.ReflectRatio)
	}
	return nil
}

// Finding is one thing in the flows that looks like an attack.
type Finding struct {
	Kind Kind
	// Dest is the attacked destination of a SYN flood.
	Dest Dest
	// Host is the victim of a flood or a reflection, or the source of a
	// scan.
	Host netip.Addr
	// Port is the service port of a reflection, or the destination port of
	// a SYN flood.
	Port uint16
	// Targets are a scan's hosts (port scan) or ports (host scan) that
	// crossed the threshold.
	Targets []ScanTarget
	// Ports counts the victim's ports a flood reached (its Port when one).
	Ports uint64
	// Prefix is the target of a carpet bombing, Hosts the number of its
	// hosts hit and Vector the kind of its traffic (a flood or a
	// reflection), which Method names.
	Prefix netip.Prefix
	Hosts  uint64
	Vector Kind
	// PeakPPS and PeakBPS are the packets/s and bits/s of the finding's
	// busiest second: of what a flood's or a reflection's sources sent the
	// victim, or a scanner its targets, estimated from their flows (see
	// rateEstimate); of a SYN flood's destination, both ways, counted in its
	// windows (see Series.Peak), over a window when windows are longer.
	PeakPPS, PeakBPS float64
	// Proto is a scan's or a flood's protocol (TCP, UDP, ICMP or ICMPv6), and Method
	// how it probed, as nmap names its scans: "syn", "connect", "ack",
	// "fin", "null", "xmas" or "other" over TCP, "udp", "echo" over ICMP.
	Proto  uint8
	Method string
	// First and Last are the first and last packet times of the flows
	// that make the finding.
	First, Last int64
	// Flows make the finding: a SYN flood's S0 and half-open flows, a
	// reflection's flows, a scan's flows to its targets.
	Flows uint64
	// Peers are distinct sources (SYN flood), reflectors (reflections) or
	// host:port pairs probed (scans).
	Peers uint64
	// Failed: flows without a request (reflections), flows in REJ, S0,
	// RSTO or RSTOS0 (scans).
	Failed uint64
	// Total is the number of TCP flows to a SYN flood's destination.
	Total             uint64
	SYNOnly, HalfOpen uint64
	// SYNs and SYNACKs are the packets to and from a SYN flood's
	// destination, or the SYN-ACKs of a SYN-ACK reflection.
	SYNs, SYNACKs uint64
	// In is what the sources or reflectors sent the victim (a scan: what
	// the scanner sent its targets); Out what the victim sent them.
	PacketsIn, BytesIn   uint64
	PacketsOut, BytesOut uint64
	// States counts a scan's flows by state.
	States []StateCount
	// Series are a SYN flood's destination's windows, from its first to
	// its last; Activity is the same for the other kinds.
	Series   Series
	Activity Activity
	// Figure is the plot that shows the finding, "" if there is none.
	Figure string
	// Sources are a flood's sources, a reflection's reflectors or a
	// scan's scanner, the most active first, at most maxSources: what goes
	// into an ACL or an abuse report.
	Sources []FindingSource
	// Spoofing holds a flood's hints that its sources are spoofed.
	Spoofing SpoofingHints
}

// SpoofingHints are what says that a flood's source addresses are forged:
// a narrow band of TTLs from sources said to be all over the Internet (one
// origin), sources that each sent a single flow, sources in ranges that no
// packet from the Internet can carry (private, reserved, multicast).
type SpoofingHints struct {
	MinTTL, MaxTTL    uint8 // of the flows' SYNs
	SingleFlowSources uint64
	BogonSources      uint64
}

// bogons are the IPv4 and IPv6 ranges that never source Internet traffic.
var bogons = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/8"), netip.MustParsePrefix("100::/64"), netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("ff00::/8"),
}

// IsBogon says whether a is in a range that never sources Internet
// traffic.
func IsBogon(a netip.Addr) bool {
	a = a.Unmap()
	return slices.ContainsFunc(bogons, func(p netip.Prefix) bool { return p.Contains(a) })
}

// FindingSource is one source of a finding's traffic and what it sent: a
// SYN flood's counts its flows (its packets are not kept by destination),
// a reflection's its packets and bytes to the victim.
type FindingSource struct {
	IP                  netip.Addr
	Port                uint16 // a reflector's service port; 0 otherwise
	Flows               uint64
	Packets, Bytes      uint64
	FirstSeen, LastSeen int64
}

// maxSources bounds the sources a finding keeps: a spoofed flood has
// millions, one flow each.
const maxSources = 1000

// topSources keeps the most active of the sources offered, up to
// maxSources: by packets, then flows, then address. It is a min-heap
// (container/heap) of those kept until sorted.
type topSources struct{ kept []FindingSource }

func lessActive(a, b *FindingSource) bool {
	if a.Packets != b.Packets {
		return a.Packets < b.Packets
	}
	if a.Flows != b.Flows {
		return a.Flows < b.Flows
	}
	return a.IP.Compare(b.IP) > 0
}

func (t *topSources) Len() int           { return len(t.kept) }
func (t *topSources) Less(i, j int) bool { return lessActive(&t.kept[i], &t.kept[j]) }
func (t *topSources) Swap(i, j int)      { t.kept[i], t.kept[j] = t.kept[j], t.kept[i] }
func (t *topSources) Push(x any)         { t.kept = append(t.kept, x.(FindingSource)) }
func (t *topSources) Pop() any {
	last := t.kept[len(t.kept)-1]
	t.kept = t.kept[:len(t.kept)-1]
	return last
}

// offer keeps s if it is among the most active.
func (t *topSources) offer(s FindingSource) {
	switch {
	case len(t.kept) < maxSources:
		heap.Push(t, s)
	case lessActive(&t.kept[0], &s):
		t.kept[0] = s
		heap.Fix(t, 0)
	}
}

// sorted returns the sources kept, the most active first.
func (t *topSources) sorted() []FindingSource {
	slices.SortFunc(t.kept, func(a, b FindingSource) int {
		if lessActive(&a, &b) {
			return 1
		}
		if lessActive(&b, &a) {
			return -1
		}
		return 0
	})
	return t.kept
}

// Victim returns the host or prefix a finding's traffic was sent at: a
// flood's, a reflection's or a carpet bombing's victim; scans have none.
func (f *Finding) Victim() (netip.Prefix, bool) {
	switch {
	case f.Kind == SYNFlood:
		return netip.PrefixFrom(f.Dest.IP, f.Dest.IP.BitLen()), true
	case f.Kind == CarpetBombing:
		return f.Prefix, true
	case f.Kind.IsVolume():
		return netip.PrefixFrom(f.Host, f.Host.BitLen()), true
	}
	return netip.Prefix{}, false
}

// Attack is the findings on one victim: with several, a multi-vector
// attack, which the report shows as one.
type Attack struct {
	Victim      netip.Prefix // a host's has all its bits
	Findings    []int        // indexes of the findings, in their order
	First, Last int64
}

// VictimName is the victim's address, or its prefix.
func (a *Attack) VictimName() string {
	if a.Victim.IsSingleIP() {
		return a.Victim.Addr().String()
	}
	return a.Victim.String()
}

// Attacks groups findings by victim, in the order of each victim's first
// finding.
func Attacks(fs []Finding) []Attack {
	var out []Attack
	at := map[netip.Prefix]int{}
	for i := range fs {
		v, ok := fs[i].Victim()
		if !ok {
			continue
		}
		k, seen := at[v]
		if !seen {
			k = len(out)
			at[v] = k
			out = append(out, Attack{Victim: v, First: fs[i].First, Last: fs[i].Last})
		}
		a := &out[k]
		a.Findings = append(a.Findings, i)
		a.First, a.Last = min(a.First, fs[i].First), max(a.Last, fs[i].Last)
	}
	return out
}

// ScanTarget is a host (port scan) or a port (host scan) a scan reached.
type ScanTarget struct {
	Host  netip.Addr
	Port  uint16
	Count uint64 // ports of the host, or hosts on the port
	Flows uint64
}

// Where names a finding's target for people: the destination, the victim
// or the scanner.
func (f *Finding) Where() string {
	switch f.Kind {
	case SYNFlood:
		return f.Dest.String()
	case Reflection:
		if name := AmplifierName(f.Port); name != "" {
			return fmt.Sprintf("%s from port %d/udp (%s)", f.Host, f.Port, name)
		}
		return fmt.Sprintf("%s from port %d/udp", f.Host, f.Port)
	case SYNACKReflection:
		return fmt.Sprintf("%s from port %d/tcp", f.Host, f.Port)
	case UDPFlood, TCPFlood:
		if f.Ports == 1 {
			return fmt.Sprintf("%s port %d/%s", f.Host, f.Port, tables.ProtoName(f.Proto))
		}
		return fmt.Sprintf("%s, %s %s ports", f.Host, FormatCount(f.Ports), strings.ToUpper(tables.ProtoName(f.Proto)))
	case ICMPFlood, FragmentFlood:
		return f.Host.String()
	case CarpetBombing:
		v := *f
		v.Kind, v.Host = f.Vector, f.Prefix.Addr()
		return fmt.Sprintf("%s, %s hosts: %s", f.Prefix, FormatCount(f.Hosts), strings.TrimPrefix(v.Where(), v.Host.String()+" "))
	}
	return fmt.Sprintf("%s (%s)", f.Host, f.MethodName())
}

// MethodName names a scan's protocol and method for people: "TCP SYN",
// "UDP", "ICMP echo".
func (f *Finding) MethodName() string {
	switch f.Method {
	case "udp":
		return "UDP"
	case "echo":
		if f.Proto == protoICMPv6 {
			return "ICMPv6 echo"
		}
		return "ICMP echo"
	}
	return "TCP " + strings.ToUpper(f.Method)
}

// findings detects every kind of finding, ordered by kind, then by size.
// The reflections, floods and scans, which need neither destinations nor
// windows, are computed while the rest of Build runs (see startFindings);
// fragment floods come from the summary.
func (b *builder) findings(st *Stats, others func() []Finding) []Finding {
	t := st.Thresholds
	var out []Finding
	out = append(out, b.synFloods(st, t)...)
	out = append(out, fragmentFloods(b.ds.Summary, t)...)
	out = append(out, others()...)
	sortFindings(out)
	return out
}

// sortFindings puts findings in the report's order: by kind, then most
// flows first; ties keep their order.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(x, y Finding) int {
		if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
			return c
		}
		return cmp.Compare(y.Flows, x.Flows)
	})
}

// startFindings starts computing the reflections, floods and scans, which read
// nothing but the flows, and returns a function waiting for them.
func (b *builder) startFindings(t Thresholds) func() []Finding {
	done := make(chan []Finding, 1)
	go func() { done <- append(b.reflections(t), b.scans(t)...) }()
	return func() []Finding { return <-done }
}

// mayProbe says whether a flow can be a scan's probe: TCP, UDP, or an
// ICMP echo (a ping sweep), with something sent by its originator (a
// reflection's victim sends nothing).
func mayProbe(r *flows.Record) bool {
	return (r.Proto == protoTCP || r.Proto == protoUDP || r.Echo) && r.Packets[flows.Fwd] > 0
}

// isFailedScan says whether a probe found nothing open: over TCP, a
// handshake that was refused, never answered or reset at once, or a probe
// without SYN (ACK, FIN, NULL, Xmas) that an answer or silence ended; over
// UDP, no answer. A ping that got no echo fails too, but a sweep needs no
// failures (see scanOf).
func isFailedScan(r *flows.Record) bool {
	switch r.State {
	case flows.REJ, flows.S0, flows.RSTO, flows.RSTOS0:
		return true
	case flows.OTH, flows.RSTRH, flows.SH, flows.SHR:
		return r.Proto == protoTCP && r.TCPFlags[flows.Fwd]&tcpSYN == 0
	}
	return false
}

// scanMethod names how a TCP probe probed, from the flags its sender set.
func scanMethod(r *flows.Record) string {
	switch r.Proto {
	case protoUDP:
		return "udp"
	case protoTCP:
	default:
		return "echo"
	}
	f := r.TCPFlags[flows.Fwd]
	switch {
	case f&tcpSYN != 0 && r.State != flows.S0 && r.State != flows.REJ && f&(tcpACK) != 0:
		return "connect" // the handshake completed, then the scanner left
	case f&tcpSYN != 0:
		return "syn"
	case f == 0:
		return "null"
	case f&(tcpFIN|tcpPSH|tcpURG) == tcpFIN|tcpPSH|tcpURG:
		return "xmas"
	case f&tcpFIN != 0 && f&tcpACK == 0:
		return "fin"
	case f&tcpACK != 0 && f&(tcpFIN|tcpRST) == 0:
		return "ack"
	}
	return "other"
}

func (b *builder) synFloods(st *Stats, t Thresholds) []Finding {
	var out []Finding
	for _, g := range b.groups {
		if f, ok := b.synFlood(g, st, t); ok {
			out = append(out, f)
		}
	}
	return out
}

// synFlood returns the SYN flood to a group's destination, if it is one.
func (b *builder) synFlood(g destGroup, st *Stats, t Thresholds) (Finding, bool) {
	d := g.dest
	if d.Proto != protoTCP {
		return Finding{}, false
	}
	tally := g.flows.tally()
	if tally == nil {
		tally = &groupTally{}
		g.flows.all(func(r *destFlow) bool {
			tally.addToFlood(r)
			return true
		})
	}
	f := tally.flood
	f.Kind, f.Dest, f.Host, f.Port, f.Total = SYNFlood, d, d.IP, d.Port, uint64(g.flows.len())
	if f.Flows < uint64(t.SYNFloodFlows) || f.Peers < uint64(t.SYNFloodSources) ||
		float64(f.Flows) < t.SYNFloodShare*float64(f.Total) {
		return Finding{}, false
	}
	if i, ok := slices.BinarySearchFunc(st.Destinations, d, func(x Destination, d Dest) int { return x.Dest.Compare(d) }); ok {
		f.SYNs, f.SYNACKs = st.Destinations[i].SYNs, st.Destinations[i].SYNACKs
	}
	f.Sources, f.Spoofing = floodSources(g.flows)
	f.Series = b.denseSeries(st, d)
	f.PeakPPS, f.PeakBPS = f.Series.Peak(b.ds.Summary)
	return f, true
}

// floodSources returns the most active sources of a SYN flood's flows
// (SYN-only or half-open), read by source, and the hints that they are
// spoofed.
func floodSources(fl flowSeq) ([]FindingSource, SpoofingHints) {
	var top topSources
	var src FindingSource
	var hints SpoofingHints
	flowsSeen := false
	endSource := func() {
		if src.Flows == 0 {
			return
		}
		top.offer(src)
		if src.Flows == 1 {
			hints.SingleFlowSources++
		}
		if IsBogon(src.IP) {
			hints.BogonSources++
		}
	}
	fl.all(func(r *destFlow) bool {
		if r.State != flows.S0 && !r.HalfOpen {
			return true
		}
		if ip := r.SrcIP.Addr(); src.Flows == 0 || ip != src.IP {
			endSource()
			src = FindingSource{IP: ip, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}
		}
		src.Flows++
		src.FirstSeen, src.LastSeen = min(src.FirstSeen, r.FirstSeen), max(src.LastSeen, r.LastSeen)
		if !flowsSeen || r.MinTTL < hints.MinTTL {
			hints.MinTTL = r.MinTTL
		}
		hints.MaxTTL = max(hints.MaxTTL, r.MaxTTL)
		flowsSeen = true
		return true
	})
	endSource()
	return top.sorted(), hints
}

// denseSeries returns the series of d: from its rows of st.Intervals when
// they have no gap (a flood's usually have none), read again from its
// flows otherwise.
func (b *builder) denseSeries(st *Stats, d Dest) Series {
	var s Series
	var first, last int64
	for i := range st.Intervals {
		if w := &st.Intervals[i]; w.Dest == d {
			if s.Windows == 0 {
				first = w.Start
			}
			last = w.Start
			s.add(w)
		}
	}
	if s.Windows == 0 || last-first != int64(s.Windows-1)*b.iv {
		return b.destSeries(d)
	}
	return s
}

// span widens the finding's time span to a flow's.
func (f *Finding) span(firstSeen, lastSeen int64, first bool) {
	if first || firstSeen < f.First {
		f.First = firstSeen
	}
	if first || lastSeen > f.Last {
		f.Last = lastSeen
	}
}

// vectorKey is the group of a flow that may be part of a reflection or a
// flood (an attack vector): its kind, victim and, for a reflection, service
// port.
type vectorKey struct {
	kind   Kind
	victim flows.IP
	port   uint16
}

// vectorFlow is what reflections and floods read of a candidate flow,
// oriented by reflFlowOf or floodFlowOf: its group, its sender (the
// reflector, or a flood's source), its span and its traffic each way (in:
// from the sender), in 96 bytes instead of a record's 232.
type vectorFlow struct {
	FirstSeen, LastSeen   int64
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64
	SYNACKs               uint32
	Port                  uint16 // the sender's: a reflection's service port
	VictimPort            uint16
	Victim, Reflector     flows.IP
	Kind                  Kind
	EndReason             flows.EndReason
	MinTTL, MaxTTL        uint8 // of the sender's packets
	Flags                 uint8 // the TCP flags the sender set
}

// reflFlowOf fills f with what reflections read of a record, if it may be
// part of one: its group (kind, victim, service port), its reflector and
// its traffic each way. It runs for every flow that ends, so it writes
// into f rather than return structs the caller copies.
func (t *Thresholds) reflFlowOf(r *flows.Record, f *vectorFlow) bool {
	in := flows.Rev // the reflectors' direction
	switch {
	case r.Proto == protoUDP && slices.Contains(t.ReflectPorts, r.DstPort):
		f.Kind, f.Victim, f.Port, f.Reflector = Reflection, r.SrcIP, r.DstPort, r.DstIP
	case r.Proto == protoUDP && slices.Contains(t.ReflectPorts, r.SrcPort):
		f.Kind, f.Victim, f.Port, f.Reflector, in = Reflection, r.DstIP, r.SrcPort, r.SrcIP, flows.Fwd
	// From another port, only answers that no request asked for count:
	// flows in which one side alone sent.
	case r.Proto == protoUDP && r.Packets[flows.Fwd] == 0:
		f.Kind, f.Victim, f.Port, f.Reflector = Reflection, r.SrcIP, r.DstPort, r.DstIP
	case r.Proto == protoUDP && r.Packets[flows.Rev] == 0:
		f.Kind, f.Victim, f.Port, f.Reflector, in = Reflection, r.DstIP, r.SrcPort, r.SrcIP, flows.Fwd
	case r.Proto == protoTCP && r.SYNs == 0 && r.SYNACKs > 0:
		if r.TCPFlags[flows.Rev]&tcpSYN != 0 {
			f.Kind, f.Victim, f.Port, f.Reflector = SYNACKReflection, r.SrcIP, r.DstPort, r.DstIP
		} else {
			f.Kind, f.Victim, f.Port, f.Reflector, in = SYNACKReflection, r.DstIP, r.SrcPort, r.SrcIP, flows.Fwd
		}
	default:
		return false
	}
	f.fill(r, in)
	return true
}

// fill sets what a candidate has of r besides its group, in being the
// sender's direction.
func (f *vectorFlow) fill(r *flows.Record, in int) {
	f.FirstSeen, f.LastSeen, f.SYNACKs, f.EndReason = r.FirstSeen, r.LastSeen, r.SYNACKs, r.EndReason
	f.PacketsIn, f.PacketsOut, f.BytesIn, f.BytesOut = r.Packets[in], r.Packets[1-in], r.Bytes[in], r.Bytes[1-in]
	f.MinTTL, f.MaxTTL, f.Flags = r.MinTTL[in], r.MaxTTL[in], r.TCPFlags[in]
	f.VictimPort = r.DstPort
	if in == flows.Rev {
		f.VictimPort = r.SrcPort
	}
}

// floodFlowOf fills f with what floods read of a record, if it may be part
// of one, oriented from the side that sent more: UDP answered at most half
// as often as it was sent to; any ICMP (a victim may answer every echo);
// TCP without handshake that the receiver left unanswered or reset (a
// transfer caught in the middle has its receiver's ACKs). A one-way UDP
// flow is also a reflection's candidate: floods leave the flows of a
// reflection found to it (see vectors).
func floodFlowOf(r *flows.Record, f *vectorFlow) bool {
	in := flows.Fwd
	if r.Packets[flows.Rev] > r.Packets[flows.Fwd] {
		in = flows.Rev
	}
	out := 1 - in
	switch {
	case r.Packets[in] == 0:
		return false
	case r.Proto == protoUDP && 2*r.Packets[out] <= r.Packets[in]:
		f.Kind = UDPFlood
	case isICMP(r.Proto):
		f.Kind = ICMPFlood
	case r.Proto == protoTCP && r.SYNs == 0 && r.SYNACKs == 0 &&
		(r.Packets[out] == 0 || r.TCPFlags[out]&tcpRST != 0 && r.TCPFlags[out]&^(tcpRST|tcpACK) == 0):
		f.Kind = TCPFlood
	default:
		return false
	}
	f.Victim, f.Reflector, f.Port = r.DstIP, r.SrcIP, r.SrcPort
	if in == flows.Rev {
		f.Victim, f.Reflector, f.Port = r.SrcIP, r.DstIP, r.DstPort
	}
	f.fill(r, in)
	return true
}

// key is the group of a candidate: a reflection's victim and service
// port, a flood's victim.
func (f *vectorFlow) key() vectorKey {
	if f.Kind.isFlood() {
		return vectorKey{f.Kind, f.Victim, 0}
	}
	return vectorKey{f.Kind, f.Victim, f.Port}
}

// compareVectorFlows orders candidate flows by victim, its reflections
// before its floods, by group, then sender.
func compareVectorFlows(x, y vectorFlow) int {
	// Not cmp.Or: it would compare the senders of every pair.
	if c := x.Victim.Compare(y.Victim); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Kind, y.Kind); c != 0 {
		return c
	}
	if !x.Kind.isFlood() { // a reflection's group has its port
		if c := cmp.Compare(x.Port, y.Port); c != 0 {
			return c
		}
	}
	return x.Reflector.Compare(y.Reflector)
}

// reflections finds UDP and SYN-ACK reflections and floods. The flow
// model orients a UDP flow from the side that sent first, unless that
// packet came from a port below 1024 to one above, so the service side can
// be either end: it is the end whose port is a service port (the
// responder's if both are).
func (b *builder) reflections(t Thresholds) []Finding {
	var cands []vectorFlow
	var f vectorFlow
	for i := range b.ds.Flows {
		if t.reflFlowOf(&b.ds.Flows[i], &f) {
			cands = append(cands, f)
		}
		if floodFlowOf(&b.ds.Flows[i], &f) {
			cands = append(cands, f)
		}
	}
	v := vectors{b: b, t: t}
	v.of(cands)
	v.carpets() // held in memory: no error
	return v.sorted()
}

// vectors finds the reflections and floods of groups of candidate flows
// given in order (compareVectorFlows): a victim's reflections before its
// floods, so that the UDP flows from a reflection's port go to the
// reflection alone; the victims of one prefix one after the other, so
// that the groups that are no finding alone are put together as the
// prefix's (carpet bombing).
type vectors struct {
	b         *builder
	t         Thresholds
	victim    flows.IP
	reflPorts []uint16 // the service ports of the victim's reflections
	found     []Finding
	// The prefix being read, and the flows of its groups that made no
	// finding, by group with the victim left out, in newSpread's (nil:
	// held in memory).
	prefix    netip.Prefix
	spread    map[vectorKey]*spread
	newSpread func() *extsort.Sorted[vectorFlow]
	err       error // the first of carpets
}

// minFlows is the fewest flows a group of kind can be a finding with.
func (v *vectors) minFlows(k Kind) int {
	switch k {
	case ICMPFlood:
		return 1
	case UDPFlood, TCPFlood:
		return v.t.FloodFlows
	}
	// A group of fewer flows has fewer reflectors: most groups are
	// one client's lookups.
	return v.t.ReflectSources
}

// of finds the findings of candidates, which it sorts.
func (v *vectors) of(cands []vectorFlow) {
	extsort.SortParallel(cands, compareVectorFlows)
	for s := 0; s < len(cands); {
		e := s + 1
		for e < len(cands) && cands[e].key() == cands[s].key() {
			e++
		}
		if k := cands[s].key(); e-s >= v.minFlows(k.kind) {
			v.group(k, pointers(cands[s:e]))
		} else {
			v.at(k.victim)
			v.spreadOver(k, pointers(cands[s:e]))
		}
		s = e
	}
}

// group adds the finding of one group of candidates, if it is one, and
// else keeps its flows for the prefix.
func (v *vectors) group(k vectorKey, g iter.Seq[*vectorFlow]) {
	v.at(k.victim)
	var f Finding
	var ok bool
	if k.kind.isFlood() {
		f, ok = v.b.flood(v.t, k, g, v.reflPorts)
	} else if f, ok = v.b.reflection(v.t, k, g); ok && k.kind == Reflection {
		v.reflPorts = append(v.reflPorts, k.port)
	}
	if ok {
		v.found = append(v.found, f)
	} else {
		v.spreadOver(k, g)
	}
}

// at moves to victim's groups: another victim's, another prefix's.
func (v *vectors) at(victim flows.IP) {
	if victim == v.victim && v.prefix.IsValid() {
		return
	}
	v.victim, v.reflPorts = victim, v.reflPorts[:0]
	if p := v.t.carpetPrefix(victim); p != v.prefix {
		v.err = cmp.Or(v.err, v.carpets())
		v.prefix = p
	}
}

// spreadOver keeps a group's flows for its prefix's carpet bombing.
func (v *vectors) spreadOver(k vectorKey, g iter.Seq[*vectorFlow]) {
	if v.spread == nil {
		v.spread = map[vectorKey]*spread{}
	}
	victim := k.victim
	k.victim = flows.IP{}
	sp := v.spread[k]
	if sp == nil {
		sp = &spread{}
		if v.newSpread != nil {
			sp.flows = v.newSpread()
		} else {
			sp.flows = extsort.NewSorted("", "", "", math.MaxInt, compareBySender)
		}
		v.spread[k] = sp
	}
	// Groups come victim after victim: a new one is another host.
	if sp.hosts == 0 || victim != sp.last {
		sp.hosts++
		sp.last = victim
	}
	for r := range g {
		sp.flows.Add(*r)
		sp.packets += r.PacketsIn
	}
}

// spread is what a prefix's groups of one vector that made no finding
// had.
type spread struct {
	flows   *extsort.Sorted[vectorFlow]
	hosts   int
	last    flows.IP // the victim of the last group
	packets uint64   // the senders'
}

// compareBySender orders candidate flows by sender, then victim.
func compareBySender(x, y vectorFlow) int {
	return cmp.Or(x.Reflector.Compare(y.Reflector), x.Victim.Compare(y.Victim))
}

// carpets adds the carpet bombings of the prefix read, and forgets its
// flows. Call it once more after the last group; its error is that of
// reading spilled flows.
func (v *vectors) carpets() error {
	defer func() {
		for _, sp := range v.spread {
			sp.flows.Remove()
		}
		clear(v.spread)
	}()
	keys := slices.SortedFunc(maps.Keys(v.spread), func(x, y vectorKey) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.port, y.port))
	})
	var reflPorts []uint16 // of the prefix's reflections, whose UDP is no flood's
	for _, k := range keys {
		sp := v.spread[k]
		fl := sp.flows
		// Too few hosts, flows or packets make no finding of the kind.
		if sp.hosts < v.t.CarpetHosts || fl.Len() < v.minFlows(k.kind) || sp.packets < uint64(min(v.t.FloodPackets, v.t.ReflectPackets)) {
			continue
		}
		// The kind's finding over the prefix's flows, read by sender.
		k.victim = flows.IPOf(v.prefix.Addr())
		var f Finding
		var ok bool
		if k.kind.isFlood() {
			f, ok = v.b.flood(v.t, k, fl.Each, reflPorts)
		} else if f, ok = v.b.reflection(v.t, k, fl.Each); ok && k.kind == Reflection {
			reflPorts = append(reflPorts, k.port) // before the floods, in keys' order
		}
		if ok {
			f.Vector, f.Method, f.Kind, f.Prefix, f.Hosts = f.Kind, f.Kind.Name(), CarpetBombing, v.prefix, uint64(sp.hosts)
			v.found = append(v.found, f)
		}
		if err := fl.Err(); err != nil {
			return err
		}
	}
	return nil
}

// carpetPrefix is the prefix of a victim that carpet bombings are sought
// in.
func (t *Thresholds) carpetPrefix(victim flows.IP) netip.Prefix {
	a := victim.Addr()
	bits := t.CarpetBits6
	if a.Is4() {
		bits = t.CarpetBits4
	}
	p, _ := a.Prefix(bits)
	return p
}

// victimPart is the part of the parts by source that a victim's
// candidates go to: that of its prefix, so that a part has every victim of
// a prefix.
func (t *Thresholds) victimPart(victim flows.IP) int {
	return partOf(flows.IPOf(t.carpetPrefix(victim).Addr()))
}

// sorted returns the findings by host, then port.
func (v *vectors) sorted() []Finding {
	slices.SortFunc(v.found, func(x, y Finding) int {
		if c := x.Host.Compare(y.Host); c != 0 {
			return c
		}
		return cmp.Compare(x.Port, y.Port)
	})
	return v.found
}

// pointers returns the elements of s by pointer.
func pointers[T any](s []T) iter.Seq[*T] {
	return func(yield func(*T) bool) {
		for i := range s {
			if !yield(&s[i]) {
				return
			}
		}
	}
}

// reflection makes the finding of one group of candidate flows, which
// come by reflector each time they are read, if it is a reflection.
func (b *builder) reflection(t Thresholds, k vectorKey, group iter.Seq[*vectorFlow]) (Finding, bool) {
	f := Finding{Kind: k.kind, Host: k.victim.Addr(), Port: k.port}
	var reflector flows.IP
	var top topSources
	var src FindingSource // the reflector being read
	var rate rateEstimate
	for r := range group {
		if f.Flows == 0 || r.Reflector != reflector {
			if f.Flows > 0 {
				top.offer(src)
			}
			f.Peers++
			reflector = r.Reflector
			src = FindingSource{IP: r.Reflector.Addr(), Port: k.port, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}
		}
		src.add(r)
		f.add(r)
		f.SYNACKs += uint64(r.SYNACKs)
		if r.PacketsOut == 0 {
			f.Failed++
		}
		rate.add(r.FirstSeen, r.LastSeen, r.PacketsIn, r.BytesIn)
	}
	evidence := f.PacketsIn
	if k.kind == SYNACKReflection {
		evidence = f.SYNACKs
	} else {
		f.SYNACKs = 0
	}
	if f.Peers < uint64(t.ReflectSources) || evidence < uint64(t.ReflectPackets) {
		return f, false
	}
	top.offer(src)
	f.Sources = top.sorted()
	f.setPeak(rate.peak(b.ds.Summary))
	if k.kind == Reflection && f.BytesOut > 0 && float64(f.BytesIn) < t.ReflectRatio*float64(f.BytesOut) {
		return f, false
	}
	if k.kind == Reflection && !slices.Contains(t.ReflectPorts, k.port) && (f.PacketsOut > 0 || f.PeakPPS < t.FloodRate) {
		// From a port that is no amplifier's, only a flood of answers
		// without requests: not two-way traffic with a service, nor a
		// one-way protocol's (syslog) steady stream.
		return f, false
	}
	f.Activity = b.sendersActivity(group)
	return f, true
}

// add counts a candidate flow in the finding: its span, and its traffic
// each way.
func (f *Finding) add(r *vectorFlow) {
	f.span(r.FirstSeen, r.LastSeen, f.Flows == 0)
	f.Flows++
	f.PacketsIn += r.PacketsIn
	f.BytesIn += r.BytesIn
	f.PacketsOut += r.PacketsOut
	f.BytesOut += r.BytesOut
}

// add counts a candidate flow of the source: what it sent the victim.
func (s *FindingSource) add(r *vectorFlow) {
	s.Flows++
	s.Packets += r.PacketsIn
	s.Bytes += r.BytesIn
	s.FirstSeen, s.LastSeen = min(s.FirstSeen, r.FirstSeen), max(s.LastSeen, r.LastSeen)
}

// sendersActivity is the activity of candidate flows, which come by
// sender: their peers are the senders.
func (b *builder) sendersActivity(group iter.Seq[*vectorFlow]) Activity {
	return b.activity(func(yield func(*flows.Record) bool) {
		var rec flows.Record
		for r := range group {
			rec = flows.Record{SrcIP: r.Reflector, DstIP: r.Victim, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, EndReason: r.EndReason}
			if !yield(&rec) {
				return
			}
		}
	}, func(r *flows.Record) netip.AddrPort { return netip.AddrPortFrom(r.SrcIP.Addr(), 0) })
}

// flood makes the finding of one victim's candidate flows of a flood's
// kind, which come by source each time they are read, if they are one.
// UDP flows from the service port of a reflection found to the victim
// (reflPorts) are that reflection's, not the flood's.
func (b *builder) flood(t Thresholds, k vectorKey, group iter.Seq[*vectorFlow], reflPorts []uint16) (Finding, bool) {
	f := Finding{Kind: k.kind, Host: k.victim.Addr(), Proto: floodProto(k.kind, k.victim)}
	if f.Host.IsMulticast() || f.Host == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return f, false // one-way by nature: streams, announcements
	}
	flowsOf := func(yield func(*vectorFlow) bool) {
		for r := range group {
			if (k.kind != UDPFlood || !slices.Contains(reflPorts, r.Port)) && !yield(r) {
				return
			}
		}
	}
	var ports [1 << 16 / 64]uint64 // the victim's ports reached
	var rate rateEstimate
	methods := map[string]uint64{} // a TCP flood's flags, by flow
	var sender flows.IP
	var top topSources
	var src FindingSource
	endSource := func() {
		if src.Flows == 0 {
			return
		}
		top.offer(src)
		if src.Flows == 1 {
			f.Spoofing.SingleFlowSources++
		}
		if IsBogon(src.IP) {
			f.Spoofing.BogonSources++
		}
	}
	for r := range flowsOf {
		if f.Flows == 0 || r.Reflector != sender {
			endSource()
			f.Peers++
			sender = r.Reflector
			src = FindingSource{IP: r.Reflector.Addr(), FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}
		}
		src.add(r)
		if f.Flows == 0 || r.MinTTL < f.Spoofing.MinTTL {
			f.Spoofing.MinTTL = r.MinTTL
		}
		f.Spoofing.MaxTTL = max(f.Spoofing.MaxTTL, r.MaxTTL)
		f.add(r)
		rate.add(r.FirstSeen, r.LastSeen, r.PacketsIn, r.BytesIn)
		if r.PacketsOut == 0 || k.kind == TCPFlood { // a TCP flood's victim only resets
			f.Failed++
		}
		if k.kind == TCPFlood {
			methods[flagsName(r.Flags)]++
		}
		if w := &ports[r.VictimPort/64]; *w&(1<<(r.VictimPort%64)) == 0 {
			*w |= 1 << (r.VictimPort % 64)
			f.Ports++
		}
	}
	endSource()
	f.setPeak(rate.peak(b.ds.Summary))
	if f.PacketsIn < uint64(t.FloodPackets) || f.PeakPPS < t.FloodRate {
		return f, false
	}
	if k.kind != ICMPFlood && f.Flows < uint64(t.FloodFlows) {
		return f, false
	}
	if k.kind == UDPFlood && 10*f.PacketsOut > f.PacketsIn {
		return f, false
	}
	if k.kind == ICMPFlood {
		f.Ports = 0 // ICMP has types and identifiers, not ports
	}
	if f.Peers == 1 && f.Ports >= uint64(t.ScanPorts) {
		return f, false // one source across many ports: a scan (see scans)
	}
	if f.Ports == 1 {
		f.Port = lowestPort(&ports)
	}
	if k.kind == TCPFlood {
		f.Method = mainMethod(methods)
	}
	f.Sources = top.sorted()
	f.Activity = b.sendersActivity(flowsOf)
	return f, true
}

// flagsName names a set of TCP flags as a TCP flood's method: "ack",
// "rst-ack", "psh-ack", "null" for none.
func flagsName(flags uint8) string {
	var names []string
	for _, fl := range []struct {
		bit  uint8
		name string
	}{{tcpFIN, "fin"}, {tcpSYN, "syn"}, {tcpRST, "rst"}, {tcpPSH, "psh"}, {tcpACK, "ack"}, {tcpURG, "urg"}} {
		if flags&fl.bit != 0 {
			names = append(names, fl.name)
		}
	}
	if len(names) == 0 {
		return "null"
	}
	return strings.Join(names, "-")
}

// rateEstimate estimates the packets/s and bits/s of flows in each
// second, aligned to the second, from what their records keep: a flow
// shorter than a second counts its packets there (split by time between
// the two seconds it may straddle), over the part of the second the
// capture covers (a capture shorter than a second has its rate over its
// span); a longer flow adds its mean rate to each second it spans, so that
// a long stream of a few packets a second (syslog, a collector's exports)
// weighs as little as it is. On floods of short flows it is the count of a
// packet capture's seconds.
type rateEstimate struct {
	counts map[int64]rates // of flows shorter than a second
	deltas map[int64]rates // change of the longer flows' summed rates at the start of a second
}

// rates are packets and bytes, or their rates per second.
type rates struct{ packets, bytes float64 }

func (e *rateEstimate) add(first, last int64, packets, bytes uint64) {
	if e.counts == nil {
		e.counts, e.deltas = map[int64]rates{}, map[int64]rates{}
	}
	a, b := FloorDiv(first, 1e9), FloorDiv(last, 1e9)
	n := rates{float64(packets), float64(bytes)}
	addTo := func(m map[int64]rates, sec int64, share float64) {
		r := m[sec]
		r.packets += n.packets * share
		r.bytes += n.bytes * share
		m[sec] = r
	}
	switch {
	case a == b:
		addTo(e.counts, a, 1)
	case last-first < 1e9: // b is a+1
		inA := float64(b*1e9-first) / float64(last-first)
		addTo(e.counts, a, inA)
		addTo(e.counts, b, 1-inA)
	default:
		perSecond := 1 / (float64(last-first) / 1e9)
		addTo(e.deltas, a, perSecond)
		addTo(e.deltas, b+1, -perSecond)
	}
}

// peak returns the rates of the second with the most packets, over the
// part of it the capture covers, as summary.json's peak second (given the
// run's summary for the capture's first and last packet).
func (e *rateEstimate) peak(s tables.Summary) rates {
	secs := slices.Collect(maps.Keys(e.deltas))
	for sec := range e.counts {
		if _, ok := e.deltas[sec]; !ok {
			secs = append(secs, sec)
		}
	}
	slices.Sort(secs)
	var long, most rates
	var mostCovered float64
	for _, sec := range secs {
		d := e.deltas[sec]
		long.packets += d.packets
		long.bytes += d.bytes
		covered := coveredPart(s, sec*1e9, 1e9)
		c := e.counts[sec]
		if n := (rates{c.packets + long.packets*covered, c.bytes + long.bytes*covered}); n.packets > most.packets {
			most, mostCovered = n, covered
		}
	}
	if most.packets == 0 {
		return rates{}
	}
	return rates{most.packets / mostCovered, most.bytes / mostCovered}
}

// coveredPart is the part of the bin of width from start, in seconds,
// that the capture covers (its first to its last packet, by the run's
// summary): a microsecond at least, a capture of one instant.
func coveredPart(s tables.Summary, start, width int64) float64 {
	from, to := start, start+width
	if s.FirstSeen != nil && s.LastSeen != nil {
		from, to = max(from, s.FirstSeen.UnixNano()), min(to, s.LastSeen.UnixNano())
	}
	return max(float64(to-from)/1e9, 1e-6)
}

// setPeak sets the finding's peak from the estimate of its busiest second.
func (f *Finding) setPeak(r rates) { f.PeakPPS, f.PeakBPS = r.packets, 8*r.bytes }

// floodProto is the protocol of a flood of kind on victim.
func floodProto(k Kind, victim flows.IP) uint8 {
	switch {
	case k == UDPFlood:
		return protoUDP
	case k == TCPFlood:
		return protoTCP
	case victim.Addr().Is4():
		return protoICMP
	}
	return protoICMPv6
}

// lowestPort is the lowest port set in ports.
func lowestPort(ports *[1 << 16 / 64]uint64) uint16 {
	for i, w := range ports {
		if w != 0 {
			return uint16(i*64 + bits.TrailingZeros64(w))
		}
	}
	return 0
}

// scans finds port scans and host sweeps over TCP, UDP and ICMP echo, one
// finding per source, protocol and kind.
func (b *builder) scans(t Thresholds) []Finding {
	fl := b.ds.Flows
	// Sort small pointer-free keys rather than indexes into the large records.
	type key struct {
		src, dst addrKey
		port     uint16
		proto    uint8
		i        int32
	}
	// Only a group that reaches its threshold counts in a finding (see
	// scanOf): a source's flows to one host, for a port scan, or to one
	// port, for a host scan. Counting the groups first keeps the sorts to
	// the flows that may be in one: a spoofed flood has one flow per
	// source, clients a few per host and port. The counts are of hash
	// buckets (at most 4 M: 32 MB), which a group may share but never
	// undercount: a flow kept in vain is only sorted, and scanOf counts
	// exactly.
	type hostGroup struct {
		src, dst flows.IP
		proto    uint8
	}
	type portGroup struct {
		src   flows.IP
		port  uint16
		proto uint8
	}
	buckets := 1 << bits.Len(uint(min(2*len(fl), 1<<21)))
	perHost, perPort := make([]uint32, buckets), make([]uint32, buckets)
	seed := maphash.MakeSeed()
	hostOf := func(r *flows.Record) uint64 {
		return maphash.Comparable(seed, hostGroup{r.SrcIP, r.DstIP, r.Proto}) & uint64(buckets-1)
	}
	portOf := func(r *flows.Record) uint64 {
		return maphash.Comparable(seed, portGroup{r.SrcIP, r.DstPort, r.Proto}) & uint64(buckets-1)
	}
	bucketsOf := make([][2]uint32, len(fl)) // each flow's, hashed once
	for i := range fl {
		if r := &fl[i]; mayProbe(r) {
			bucketsOf[i] = [2]uint32{uint32(hostOf(r)), uint32(portOf(r))}
			perHost[bucketsOf[i][0]]++
			perPort[bucketsOf[i][1]]++
		}
	}
	var byHost, byPort []key
	for i := range fl {
		r := &fl[i]
		if !mayProbe(r) {
			continue
		}
		k := key{addrKeyOf(r.SrcIP), addrKeyOf(r.DstIP), r.DstPort, r.Proto, int32(i)}
		if perHost[bucketsOf[i][0]] >= uint32(t.ScanPorts) {
			byHost = append(byHost, k)
		}
		if perPort[bucketsOf[i][1]] >= uint32(t.ScanHosts) {
			byPort = append(byPort, k)
		}
	}
	order := func(keys []key) []int {
		idx := make([]int, len(keys))
		for k := range keys {
			idx[k] = int(keys[k].i)
		}
		return idx
	}
	var out []Finding
	// Port scans: by source, protocol, host, port.
	extsort.SortParallel(byHost, func(x, y key) int {
		if c := x.src.compare(y.src); c != 0 {
			return c
		}
		if c := cmp.Compare(x.proto, y.proto); c != 0 {
			return c
		}
		if c := x.dst.compare(y.dst); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.port, y.port), cmp.Compare(x.i, y.i))
	})
	out = append(out, b.scanGroups(order(byHost), PortScan, t)...)
	// Host sweeps: by source, protocol, port, host.
	extsort.SortParallel(byPort, func(x, y key) int {
		if c := x.src.compare(y.src); c != 0 {
			return c
		}
		if c := cmp.Compare(x.proto, y.proto); c != 0 {
			return c
		}
		if c := cmp.Compare(x.port, y.port); c != 0 {
			return c
		}
		return cmp.Or(x.dst.compare(y.dst), cmp.Compare(x.i, y.i))
	})
	out = append(out, b.scanGroups(order(byPort), HostScan, t)...)
	return out
}

// scanGroups walks idx, sorted by source and protocol, then in the order
// of kind's groups (see scanOf), and makes one finding per source and
// protocol that scanned.
func (b *builder) scanGroups(idx []int, kind Kind, t Thresholds) []Finding {
	fl := b.ds.Flows
	var out []Finding
	for s := 0; s < len(idx); {
		src, proto := fl[idx[s]].SrcIP, fl[idx[s]].Proto
		e := s
		for e < len(idx) && fl[idx[e]].SrcIP == src && fl[idx[e]].Proto == proto {
			e++
		}
		if f, ok := b.scanOf(kind, t, src, proto, b.flowsAt(idx[s:e])); ok {
			out = append(out, f)
		}
		s = e
	}
	return out
}

// spilledScans finds the scans of one source whose TCP flows are too many
// to hold: g has them in the order of port scans (compareScanFlows), and
// host scans read them sorted again on disk (compareScanPorts).
func (b *builder) spilledScans(g *extsort.Sorted[scanFlow], t Thresholds, dir string, heldBytes int) ([]Finding, error) {
	if g.Len() < min(t.ScanPorts, t.ScanHosts) { // as scans, which counts first
		return nil, nil
	}
	var src flows.IP
	g.Each(func(sf *scanFlow) bool {
		src = sf.SrcIP
		return false
	})
	var out []Finding
	protos := map[uint8]bool{}
	g.Each(func(sf *scanFlow) bool {
		protos[sf.Proto] = true
		return true
	})
	for _, proto := range slices.Sorted(maps.Keys(protos)) {
		if f, ok := b.scanOf(PortScan, t, src, proto, scanRecords(g, proto)); ok {
			out = append(out, f)
		}
	}
	byPort := newSorted(dir, "a scanner's flows by port", heldBytes, compareScanPorts)
	defer byPort.Remove()
	byPort.Expect(g.Len())
	g.Each(func(sf *scanFlow) bool {
		byPort.Add(*sf)
		return true
	})
	for _, proto := range slices.Sorted(maps.Keys(protos)) {
		if f, ok := b.scanOf(HostScan, t, src, proto, scanRecords(byPort, proto)); ok {
			out = append(out, f)
		}
	}
	return out, cmp.Or(g.Err(), byPort.Err())
}

// scanRecords returns the flows of proto read in order as records.
func scanRecords(s *extsort.Sorted[scanFlow], proto uint8) iter.Seq[*flows.Record] {
	return func(yield func(*flows.Record) bool) {
		var r flows.Record
		s.Each(func(sf *scanFlow) bool {
			if sf.Proto != proto {
				return true
			}
			r = sf.record()
			return yield(&r)
		})
	}
}

// flowsAt returns the flows of the dataset at idx, in that order.
func (b *builder) flowsAt(idx []int) iter.Seq[*flows.Record] {
	return func(yield func(*flows.Record) bool) {
		for _, i := range idx {
			if !yield(&b.ds.Flows[i]) {
				return
			}
		}
	}
}

// scanOf makes the finding of kind of one source from its flows of proto,
// which come, each time they are read, by group (host for port scans,
// port for host sweeps), then by the counted item (port, host): it has one
// when some groups reach the minimum count of distinct items with enough
// of their flows failed (a ping sweep needs no failures: live hosts
// answer, and reaching many is the sweep).
func (b *builder) scanOf(kind Kind, t Thresholds, src flows.IP, proto uint8, flowsOf iter.Seq[*flows.Record]) (Finding, bool) {
	share := t.ScanShare
	if proto != protoTCP && proto != protoUDP {
		share = 0
	}
	minCount := t.ScanPorts
	groupKey := func(r *flows.Record) netip.AddrPort { return netip.AddrPortFrom(r.DstIP.Addr(), 0) }
	if kind == HostScan {
		minCount = t.ScanHosts
		groupKey = func(r *flows.Record) netip.AddrPort { return netip.AddrPortFrom(netip.Addr{}, r.DstPort) }
	}
	item := func(r *flows.Record) netip.AddrPort { return netip.AddrPortFrom(r.DstIP.Addr(), r.DstPort) }
	f := Finding{Kind: kind, Host: src.Addr(), Proto: proto}
	members := map[netip.AddrPort]bool{} // the groups counted
	methods := map[string]uint64{}       // of the flows counted
	groupMethods := map[string]uint64{}
	states := map[flows.State]uint64{}
	// The group being read.
	var (
		key                   netip.AddrPort
		items, failed, n      uint64
		lastItem              netip.AddrPort
		groupStates           = map[flows.State]uint64{}
		groupFirst, groupLast int64
	)
	endGroup := func() {
		if n > 0 && items >= uint64(minCount) && float64(failed) >= share*float64(n) {
			tg := ScanTarget{Count: items, Flows: n}
			if kind == PortScan {
				tg.Host = key.Addr()
			} else {
				tg.Port = key.Port()
			}
			f.Targets = append(f.Targets, tg)
			f.Failed += failed
			f.Peers += items
			f.span(groupFirst, groupLast, f.Flows == 0)
			f.Flows += n
			for state, k := range groupStates {
				states[state] += k
			}
			for m, k := range groupMethods {
				methods[m] += k
			}
			members[key] = true
		}
		items, failed, n = 0, 0, 0
		clear(groupStates)
		clear(groupMethods)
	}
	for r := range flowsOf {
		if gk := groupKey(r); n == 0 || gk != key {
			endGroup()
			key = gk
		}
		if it := item(r); n == 0 || it != lastItem {
			items++
			lastItem = it
		}
		if isFailedScan(r) {
			failed++
		}
		if n == 0 || r.FirstSeen < groupFirst {
			groupFirst = r.FirstSeen
		}
		if n == 0 || r.LastSeen > groupLast {
			groupLast = r.LastSeen
		}
		groupStates[r.State]++
		groupMethods[scanMethod(r)]++
		n++
	}
	endGroup()
	if len(f.Targets) == 0 {
		return f, false
	}
	f.Method = mainMethod(methods)
	f.Sources = []FindingSource{{IP: f.Host, Flows: f.Flows, FirstSeen: f.First, LastSeen: f.Last}}
	for state, k := range states {
		f.States = append(f.States, StateCount{Proto: proto, State: state, Flows: k})
	}
	slices.SortFunc(f.States, func(x, y StateCount) int { return cmp.Compare(x.State, y.State) })
	counted := func(yield func(*flows.Record) bool) {
		for r := range flowsOf {
			if members[groupKey(r)] && !yield(r) {
				return
			}
		}
	}
	var rate rateEstimate
	for r := range counted {
		rate.add(r.FirstSeen, r.LastSeen, r.Packets[flows.Fwd], r.Bytes[flows.Fwd])
		f.PacketsIn += r.Packets[flows.Fwd]
		f.BytesIn += r.Bytes[flows.Fwd]
	}
	f.setPeak(rate.peak(b.ds.Summary))
	f.Activity = b.activity(counted, item)
	return f, true
}

// mainMethod is a scan's method from its probes': a connect scan's
// probes to closed ports look like a SYN scan's, so a single completed
// handshake makes it one; otherwise the most common method (the first in
// order of equals).
func mainMethod(methods map[string]uint64) string {
	if methods["connect"] > 0 {
		return "connect"
	}
	best := ""
	for _, m := range slices.Sorted(maps.Keys(methods)) {
		if best == "" || methods[m] > methods[best] {
			best = m
		}
	}
	return best
}

// activity computes a finding's flows per window, every window from the
// first to the last, counting distinct peers of the active flows. The
// flows, read twice, come with the flows of each peer next to each other.
func (b *builder) activity(flowsOf iter.Seq[*flows.Record], peer func(*flows.Record) netip.AddrPort) Activity {
	spanOf := func(r *flows.Record) span {
		end, _ := b.end(r.EndReason, r.LastSeen)
		return span{FloorDiv(r.FirstSeen, b.iv), FloorDiv(end, b.iv)}
	}
	wins := coveredWindows(func(yield func(span) bool) {
		for r := range flowsOf {
			if !yield(spanOf(r)) {
				return
			}
		}
	}, true)
	if len(wins) == 0 {
		return Activity{}
	}
	out := make([]ActivityPoint, len(wins))
	last := make([]int, len(out))
	for j, w := range wins {
		out[j].Start = w * b.iv
		last[j] = -1
	}
	p := -1
	var lastPeer netip.AddrPort
	for r := range flowsOf {
		if pr := peer(r); p < 0 || pr != lastPeer {
			p++
			lastPeer = pr
		}
		s := spanOf(r)
		lo, _ := slices.BinarySearch(wins, s.first)
		out[lo].New++
		for j := lo; j < len(wins) && wins[j] <= s.last; j++ {
			a := &out[j]
			a.Active++
			if last[j] != p {
				last[j] = p
				a.Peers++
			}
		}
	}
	return activityOf(out, (wins[len(wins)-1]+1)*b.iv)
}
