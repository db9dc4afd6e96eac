package gen

import (
	"net/netip"
)

// scenario generates one session: usually one flow, two for port reuse and
// idle splits, a burst of flows for a SYN flood.
type scenario struct {
	name      string
	meanFlows float64 // mean flows per session, to turn weights into flow shares
	minFlows  int
	desc      string
	gen       func(b *builder) bool
}

// ScenarioInfo describes a scenario and what its flows come out as.
type ScenarioInfo struct {
	Name        string
	Description string
}

var scenarios = []*scenario{
	{"sf", 1, 1, "TCP handshake (3% SYN retransmit, 5% ECN), 1-5 request/response exchanges, FIN close from either side (5% FIN with data); IPv4/15% IPv6, 10% VLAN -> SF, fin", scSF},
	{"rej", 1, 1, "SYN answered by RST-ACK -> REJ, rst", scREJ},
	{"s0", 1, 1, "SYN with 0-3 retransmits, no answer -> S0, idle/eof", scS0},
	{"half_open", 1, 1, "SYN, SYN-ACK plus 1-4 retransmits, nothing more from the originator -> S1 half_open, idle/eof", scHalfOpen},
	{"rsto", 1, 1, "handshake, 0-2 exchanges, originator RST (or RST-ACK) -> RSTO, rst", scRSTO},
	{"rstr", 1, 1, "handshake, 0-2 exchanges, responder RST (or RST-ACK) -> RSTR, rst", scRSTR},
	{"s1", 1, 1, "handshake and exchanges, no close -> S1, idle/eof", scS1},
	{"s2", 1, 1, "handshake, exchanges, FIN from the originator only -> S2, idle/eof", scS2},
	{"s3", 1, 1, "handshake, exchanges, FIN from the responder only -> S3, idle/eof", scS3},
	{"sh", 1, 1, "SYN then FIN from the originator, no answer -> SH, idle/eof", scSH},
	{"rstos0", 1, 1, "SYN then RST from the originator, no answer -> RSTOS0, rst", scRSTOS0},
	{"oth", 1, 1, "mid-stream TCP data without handshake, first packet from either side (10% equal ports: first sender originates); 40% end with FINs both ways -> OTH, fin or idle/eof", scOTH},
	{"backscatter", 1, 1, "unsolicited SYN-ACK(s) from a flooded server: alone -> OTH idle/eof; then server RST -> RSTRH rst; answered by our RST -> OTH rst", scBackscatter},
	{"udp", 1, 1, "UDP client high port -> DNS 53 / NTP 123, 1-3 queries with responses; IPv4/15% IPv6 -> SF, idle/eof", scUDP},
	{"udp_oneway", 1, 1, "one-way UDP: syslog to 514 or a high-port media stream -> S0, idle/eof", scUDPOneway},
	{"udp_reflect", 1, 1, "UDP whose first packets come from a service port (<1024) to a high port, then one packet back: responder inference -> SF, idle/eof", scUDPReflect},
	{"icmp_echo", 1, 1, "ICMP/ICMPv6 echo, 1-5 requests, replies (15% all lost) -> SF or S0, idle/eof", scICMPEcho},
	{"icmp_unreach", 1, 1, "1-2 ICMP destination-unreachable messages from a router (flow keyed by type/code, router originates) -> S0, idle/eof", scICMPUnreach},
	{"udp_frag", 1, 1, "IPv4 fragmented UDP: DNS query with a 1.6-4 KB fragmented response -> SF; or 1-3 one-way fragmented datagrams -> S0; idle/eof", scUDPFrag},
	{"port_reuse", 2, 2, "SF connection closed by FIN, then a new SYN on the same 5-tuple (40% within the linger, else after it) -> SF fin + (SF fin or REJ rst)", scPortReuse},
	{"linger", 1.5, 2, "SF connection closed by FIN, then either a retransmitted FIN and re-ACK inside the linger (absorbed: one SF flow) or a stray ACK/RST on the same 5-tuple after the linger (a new flow: OTH idle/eof or OTH rst)", scLinger},
	{"idle_split", 2, 2, "a flow (TCP S1 or UDP NTP SF), silence longer than the idle timeout, more packets of the same 5-tuple -> S1/SF idle + OTH (fin or idle/eof) / SF", scIdleSplit},
	{"synflood", 275, 1, "burst of 50-500 spoofed SYNs (random sources, one victim:80), 30% retransmitted once -> S0 each, idle/eof", scSYNFlood},
	{"udpflood", 1500, 1, "burst of 1,000-2,000 spoofed one-way UDP flows of 1-3 datagrams (random sources, one victim, random high ports), about 20 k packets/s -> S0 each, idle/eof", scUDPFlood},
	{"icmpflood", 1500, 1, "burst of 1,000-2,000 spoofed ICMP echo request flows of 1-3 requests (random identifiers), unanswered, one victim, about 20 k packets/s -> S0 each, idle/eof", scICMPFlood},
	{"ackflood", 1500, 1, "burst of 1,000-2,000 spoofed TCP flows of 1-3 ACK (70%) or RST segments to one victim port 80 or 443, unanswered, about 20 k packets/s -> OTH each, idle/eof or rst", scACKFlood},
	{"carpet", 400, 1, "NTP reflection carpet-bombing 198.18.7.0/24: 40 hosts each sent 2 packets from port 123 by 10 of the reflectors, then a 20-byte one back, about 4 k packets/s -> SF each, idle/eof", scCarpet},
	{"amplification", 600, 1, "DNS amplification: 30 resolvers each answer the trace's victim (its spoofed queries unseen) 20 times with two 1.2-1.45 KB responses from port 53, then a 20-byte packet back, about 2 k packets/s -> SF each, idle/eof", scAmplification},
	{"synack_reflect", 800, 1, "SYN-ACK reflection: 40 web servers' port 80 each answers the trace's victim's spoofed SYNs (unseen) with a SYN-ACK and 0-2 retransmits, about 2 k packets/s -> OTH each, idle/eof", scSYNACKReflect},
	{"portscan", 300, 1, "TCP SYN port scan: scanner 198.18.5.5 from one source port probes 300 ports of 198.51.100.10, closed ports answer RST-ACK (90%) or nothing (filtered) -> REJ rst or S0 idle/eof", scPortScan},
	{"hostsweep", 254, 1, "ICMP echo sweep: scanner 198.18.5.6 pings every host of 198.18.9.0/24 once, 20% answer -> SF or S0, idle/eof", scHostSweep},
	{"eof", 1, 1, "long-lived TCP (S1) or UDP VPN (SF) connection with traffic every 1-19 s until shortly before the end of the trace (only starts in its last 10 minutes) -> eof", scEOF},
}

var scenarioByName = map[string]*scenario{}

func init() {
	for _, sc := range scenarios {
		scenarioByName[sc.name] = sc
	}
}

// ScenarioNames lists the scenarios usable in a mix.
func ScenarioNames() []string {
	var n []string
	for _, sc := range scenarios {
		n = append(n, sc.name)
	}
	return n
}

// Scenarios describes every scenario.
func Scenarios() []ScenarioInfo {
	var out []ScenarioInfo
	for _, sc := range scenarios {
		out = append(out, ScenarioInfo{sc.name, sc.desc})
	}
	return out
}

// Address plan: clients 10.0.0.0/15 and 2001:db8:c11e::/48 (unique per flow),
// servers in the documentation ranges, spoofed sources 11-74.x.x.x.
func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func addrRange(first string, n int) []netip.Addr {
	a := mustAddr(first)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

var (
	webV4        = addrRange("198.51.100.10", 40)
	webV6        = addrRange("2001:db8:80::10", 10)
	scanV4       = addrRange("198.51.100.1", 254)
	dnsV4        = []netip.Addr{mustAddr("192.0.2.53"), mustAddr("192.0.2.54")}
	dnsV6        = []netip.Addr{mustAddr("2001:db8:53::53")}
	ntpV4        = []netip.Addr{mustAddr("192.0.2.123")}
	ntpV6        = []netip.Addr{mustAddr("2001:db8:123::123")}
	syslogV4     = mustAddr("192.0.2.14")
	streamV4     = addrRange("198.51.100.200", 10)
	routersV4    = []netip.Addr{mustAddr("192.0.2.1"), mustAddr("192.0.2.254")}
	routersV6    = []netip.Addr{mustAddr("2001:db8::1")}
	vpnV4        = mustAddr("198.51.100.250")
	backscatterV = addrRange("203.0.113.1", 79)
	victimsV4    = addrRange("203.0.113.80", 8)
	reflectorsV4 = addrRange("203.0.113.128", 127)
	vlans        = []uint16{10, 20, 100, 300, 4000}
	webPorts     = []uint16{443, 443, 443, 443, 443, 80, 80, 80, 22, 25, 8080, 993, 3306, 8443, 445, 5432}
	scanPorts    = []uint16{22, 23, 80, 443, 445, 3389, 8080, 3306, 5900, 25, 135, 139, 1433, 6379, 8443, 21}
	longPorts    = []uint16{22, 443, 5222, 8883, 3389}
)

func pickOf[T any](g *generator, s []T) T { return s[g.intn(len(s))] }

func (g *generator) vlan(p float64) uint16 {
	if g.chance(p) {
		return pickOf(g, vlans)
	}
	return 0
}

func (g *generator) webServer(v6 bool) (netip.Addr, uint16) {
	if v6 {
		return pickOf(g, webV6), pickOf(g, webPorts)
	}
	return pickOf(g, webV4), pickOf(g, webPorts)
}

func (g *generator) scanTarget(v6 bool) (netip.Addr, uint16) {
	var port uint16
	if g.chance(0.2) {
		port = uint16(1024 + g.intn(30000))
	} else {
		port = pickOf(g, scanPorts)
	}
	if v6 {
		return pickOf(g, webV6), port
	}
	return pickOf(g, scanV4), port
}

func (g *generator) longServer(v6 bool) (netip.Addr, uint16) {
	if v6 {
		return pickOf(g, webV6), pickOf(g, longPorts)
	}
	return pickOf(g, webV4), pickOf(g, longPorts)
}

// tcpConn makes a client->server TCP flow.
func (b *builder) tcpConn(scen string, v6p, vlanp float64, server func(bool) (netip.Addr, uint16)) *sflow {
	g := b.g
	v6 := g.chance(v6p)
	ca, cp := g.clientEP(v6)
	sa, sp := server(v6)
	return b.flow(scen, 6, v6, g.vlan(vlanp), ca, cp, sa, sp)
}

// handshake sends SYN (plus retransmits), SYN-ACK and ACK starting at t and
// returns the time of the ACK.
func (b *builder) handshake(f *sflow, t int64, synRetx int, ecn bool) int64 {
	g := b.g
	synFl, synAckFl := uint8(flagSYN), uint8(flagSYN|flagACK)
	if ecn {
		synFl |= flagECE | flagCWR
		synAckFl |= flagECE
	}
	b.tcp(f, t, 0, synFl, 0)
	rto := sec
	for i := 0; i < synRetx; i++ {
		t += rto
		b.tcpSeq(f, t, 0, synFl, 0, f.isn[0])
		rto *= 2
	}
	t += f.d[1] + g.proc()
	b.tcp(f, t, 1, synAckFl, 0)
	t += f.d[0] + g.eps()
	b.tcp(f, t, 0, flagACK, 0)
	return t
}

// transfer sends n bytes from side in slow-start windows, the receiver
// acknowledging every second segment (and the last one when ackLast). It
// returns the time of the last data segment and of the last packet.
func (b *builder) transfer(f *sflow, t int64, side int, n int, ackLast bool) (lastSeg, lastAny int64) {
	g := b.g
	mss := f.segSize()
	recv := 1 - side
	cwnd := 10
	sent := 0
	lastSeg, lastAny = t, t
	for sent < n {
		lastAck := t
		for j := 0; j < cwnd && sent < n; j++ {
			sz := min(mss, n-sent)
			sent += sz
			fl := uint8(flagACK)
			if sent == n {
				fl |= flagPSH
			}
			b.tcp(f, t, side, fl, sz)
			lastSeg = t
			lastAny = max(lastAny, t)
			if (j%2 == 1 || sent == n) && (sent < n || ackLast) {
				ta := t + f.d[recv] + g.eps()
				b.tcp(f, ta, recv, flagACK, 0)
				lastAck = ta
				lastAny = max(lastAny, ta)
			}
			t += f.ser
		}
		if sent < n {
			t = lastAck + f.d[side]
		}
		cwnd = min(cwnd*2, 64)
	}
	return lastSeg, lastAny
}

// exchange is one request from the client and the server's response; it
// returns the time of the last packet.
func (b *builder) exchange(f *sflow, t int64) int64 {
	g := b.g
	req := int(g.logu(60, 1400))
	if g.chance(0.05) {
		req = int(g.logu(2000, 100000))
	}
	lastReq, _ := b.transfer(f, t, 0, req, false)
	resp := int(g.logu(100, float64(g.cfg.MaxResponse)))
	_, last := b.transfer(f, lastReq+f.d[1]+g.serverProc(), 1, resp, true)
	return last
}

// close sends FIN from closer, the peer's FIN (sometimes after a separate
// ACK) and the final ACK. It returns the closing time (second FIN) and the
// time of the final ACK.
func (b *builder) close(f *sflow, t int64, closer int, data int) (closeT, last int64) {
	g := b.g
	x, y := closer, 1-closer
	fl := uint8(flagFIN | flagACK)
	if data > 0 {
		fl |= flagPSH
	}
	b.tcp(f, t, x, fl, data)
	t2 := t + f.d[y] + g.eps()
	if g.chance(0.3) {
		b.tcp(f, t2, y, flagACK, 0)
		t2 += g.durLog(100*usec, 500*msec)
	}
	b.tcp(f, t2, y, flagFIN|flagACK, 0)
	t3 := t2 + f.d[x] + g.eps()
	b.tcp(f, t3, x, flagACK, 0)
	return t2, t3
}

// exchanges runs n exchanges after the handshake ending at t.
func (b *builder) exchanges(f *sflow, t int64, n int) int64 {
	g := b.g
	for i := 0; i < n; i++ {
		if i == 0 {
			t += g.durLog(50*usec, 5*msec)
		} else {
			t += g.think()
		}
		t = b.exchange(f, t)
	}
	return f.maxT
}

func scSF(b *builder) bool {
	g := b.g
	f := b.tcpConn("sf", 0.15, 0.1, g.webServer)
	f.expect("SF", "fin", 0, false)
	retx := 0
	if g.chance(0.03) {
		retx = 1 + g.intn(2)
	}
	t := b.handshake(f, b.start, retx, g.chance(0.05))
	n := 1
	for n < 5 && g.chance(0.4) {
		n++
	}
	b.exchanges(f, t, n)
	closer := 0
	if g.chance(0.4) {
		closer = 1
	}
	data := 0
	if closer == 0 && g.chance(0.05) {
		data = int(g.logu(20, 1000))
	}
	b.close(f, f.maxT+g.durLog(100*usec, 2*sec), closer, data)
	return true
}

func scREJ(b *builder) bool {
	g := b.g
	f := b.tcpConn("rej", 0.1, 0.05, g.scanTarget)
	f.expect("REJ", "rst", 0, false)
	b.tcp(f, b.start, 0, flagSYN, 0)
	b.tcpSeq(f, b.start+f.d[1]+g.proc(), 1, flagRST|flagACK, 0, 0)
	return true
}

// synRetx sends a SYN and k retransmits (1, 2, 4 s apart); it returns the
// time of the last one.
func (b *builder) synRetx(f *sflow, t int64, k int) int64 {
	b.tcp(f, t, 0, flagSYN, 0)
	rto := sec
	for i := 0; i < k; i++ {
		t += rto
		b.tcpSeq(f, t, 0, flagSYN, 0, f.isn[0])
		rto *= 2
	}
	return t
}

func scS0(b *builder) bool {
	g := b.g
	f := b.tcpConn("s0", 0.1, 0.05, g.scanTarget)
	f.expect("S0", "", 0, false)
	if g.chance(0.3) {
		f.synOpt, f.ts = optNone, false
	}
	k := [...]int{0, 0, 0, 0, 1, 1, 1, 2, 2, 3}[g.intn(10)]
	b.synRetx(f, b.start, k)
	return true
}

func scHalfOpen(b *builder) bool {
	g := b.g
	f := b.tcpConn("half_open", 0.1, 0.05, g.webServer)
	f.expect("S1", "", 0, true)
	b.tcp(f, b.start, 0, flagSYN, 0)
	t := b.start + f.d[1] + g.proc()
	b.tcp(f, t, 1, flagSYN|flagACK, 0)
	rto := sec
	for i, k := 0, 1+g.intn(4); i < k; i++ {
		t += rto
		b.tcpSeq(f, t, 1, flagSYN|flagACK, 0, f.isn[1])
		rto *= 2
	}
	return true
}

func (b *builder) resetScenario(scen string, side int, state string) bool {
	g := b.g
	f := b.tcpConn(scen, 0.1, 0.05, g.webServer)
	f.expect(state, "rst", 0, false)
	t := b.handshake(f, b.start, 0, false)
	b.exchanges(f, t, g.intn(3))
	fl := uint8(flagRST | flagACK)
	if g.chance(0.4) {
		fl = flagRST
	}
	b.tcp(f, f.maxT+g.think(), side, fl, 0)
	return true
}

func scRSTO(b *builder) bool { return b.resetScenario("rsto", 0, "RSTO") }
func scRSTR(b *builder) bool { return b.resetScenario("rstr", 1, "RSTR") }

func scS1(b *builder) bool {
	g := b.g
	f := b.tcpConn("s1", 0.1, 0.05, g.webServer)
	f.expect("S1", "", 0, false)
	t := b.handshake(f, b.start, 0, false)
	b.exchanges(f, t, 1+g.intn(3))
	return true
}

// halfClose: handshake, exchanges, FIN from one side acknowledged by the
// other, which never sends its own FIN.
func (b *builder) halfClose(scen string, side int, state string) bool {
	g := b.g
	f := b.tcpConn(scen, 0.1, 0.05, g.webServer)
	f.expect(state, "", 0, false)
	t := b.handshake(f, b.start, 0, false)
	b.exchanges(f, t, 1+g.intn(2))
	t = f.maxT + g.think()
	b.tcp(f, t, side, flagFIN|flagACK, 0)
	b.tcp(f, t+f.d[1-side]+g.eps(), 1-side, flagACK, 0)
	return true
}

func scS2(b *builder) bool { return b.halfClose("s2", 0, "S2") }
func scS3(b *builder) bool { return b.halfClose("s3", 1, "S3") }

func scSH(b *builder) bool {
	g := b.g
	f := b.tcpConn("sh", 0.05, 0, g.scanTarget)
	f.expect("SH", "", 0, false)
	f.synOpt, f.ts = optNone, false
	t := b.synRetx(f, b.start, g.intn(2))
	fl := uint8(flagFIN)
	if g.chance(0.5) {
		fl |= flagACK
	}
	b.tcp(f, t+g.durLog(10*msec, 2*sec), 0, fl, 0)
	return true
}

func scRSTOS0(b *builder) bool {
	g := b.g
	f := b.tcpConn("rstos0", 0.05, 0, g.scanTarget)
	f.expect("RSTOS0", "rst", 0, false)
	t := b.synRetx(f, b.start, g.intn(3))
	b.tcp(f, t+g.durLog(10*msec, 3*sec), 0, flagRST, 0)
	return true
}

// midstream sends 2-13 data or ACK segments of an established connection,
// the first from side first.
func (b *builder) midstream(f *sflow, t int64, first int) {
	g := b.g
	side := first
	for i, m := 0, 2+g.intn(12); i < m; i++ {
		if i > 0 {
			t += g.durLog(100*usec, 2*sec)
			if g.chance(0.6) {
				side = 1 - side
			}
		}
		if g.chance(0.7) {
			b.tcp(f, t, side, flagACK|flagPSH, int(g.logu(1, float64(f.segSize()))))
		} else {
			b.tcp(f, t, side, flagACK, 0)
		}
	}
}

func scOTH(b *builder) bool {
	g := b.g
	f := b.tcpConn("oth", 0.1, 0.1, g.webServer)
	first := g.intn(2)
	orig := 0
	if g.chance(0.1) {
		f.port[1] = f.port[0] // equal ports: the first sender originates
		orig = first
	}
	b.midstream(f, b.start, first)
	if g.chance(0.4) {
		f.expect("OTH", "fin", orig, false)
		b.close(f, f.maxT+g.think(), g.intn(2), 0)
	} else {
		f.expect("OTH", "", orig, false)
	}
	return true
}

func scBackscatter(b *builder) bool {
	g := b.g
	ca, cp := g.clientEP(false)
	sp := uint16(80)
	if g.chance(0.3) {
		sp = 443
	}
	f := b.flow("backscatter", 6, false, 0, ca, cp, pickOf(g, backscatterV), sp)
	f.ts = false
	f.synOpt = optSynShort
	if g.chance(0.5) {
		f.synOpt = optNone
	}
	t := b.start
	b.tcp(f, t, 1, flagSYN|flagACK, 0)
	v := g.rng.Float64()
	if v < 0.25 {
		f.expect("OTH", "rst", 0, false)
		b.tcp(f, t+f.d[0]+g.eps(), 0, flagRST, 0)
		return true
	}
	rto := sec
	for i, k := 0, g.intn(4); i < k; i++ {
		t += rto
		b.tcpSeq(f, t, 1, flagSYN|flagACK, 0, f.isn[1])
		rto *= 2
	}
	if v < 0.5 {
		f.expect("RSTRH", "rst", 0, false)
		b.tcp(f, t+g.durU(sec, 10*sec), 1, flagRST, 0)
	} else {
		f.expect("OTH", "", 0, false)
	}
	return true
}

func scUDP(b *builder) bool {
	g := b.g
	v6 := g.chance(0.15)
	dns := g.chance(0.7)
	ca, cp := g.clientEP(v6)
	var sa netip.Addr
	var sp uint16
	switch {
	case dns && v6:
		sa, sp = pickOf(g, dnsV6), 53
	case dns:
		sa, sp = pickOf(g, dnsV4), 53
	case v6:
		sa, sp = pickOf(g, ntpV6), 123
	default:
		sa, sp = pickOf(g, ntpV4), 123
	}
	f := b.flow("udp", 17, v6, g.vlan(0.05), ca, cp, sa, sp)
	f.expect("SF", "", 0, false)
	nq := 1
	if r := g.rng.Float64(); r < 0.05 {
		nq = 3
	} else if r < 0.2 {
		nq = 2
	}
	t := b.start
	for i := 0; i < nq; i++ {
		q, r := 48, 48
		if dns {
			q, r = int(g.logu(20, 60)), int(g.logu(40, 500))
		}
		b.udp(f, t, 0, q)
		if i == nq-1 || g.chance(0.9) {
			b.udp(f, t+f.d[1]+g.durLog(50*usec, 80*msec), 1, r)
		}
		t = f.maxT + g.durLog(100*usec, 2*sec)
	}
	return true
}

func scUDPOneway(b *builder) bool {
	g := b.g
	ca, cp := g.clientEP(false)
	if g.chance(0.5) {
		f := b.flow("udp_oneway", 17, false, g.vlan(0.05), ca, cp, syslogV4, 514)
		f.expect("S0", "", 0, false)
		t := b.start
		for i, k := 0, 1+g.intn(8); i < k; i++ {
			if i > 0 {
				t += g.durLog(msec, 15*sec)
			}
			b.udp(f, t, 0, int(g.logu(60, 900)))
		}
		return true
	}
	f := b.flow("udp_oneway", 17, false, g.vlan(0.05), ca, cp, pickOf(g, streamV4), uint16(5004+2*g.intn(50)))
	f.expect("S0", "", 0, false)
	size := 172
	if g.chance(0.3) {
		size = 1200
	}
	t := b.start
	for i, k := 0, 5+g.intn(146); i < k; i++ {
		b.udp(f, t, 0, size)
		t += 20*msec + g.durU(-2*msec, 2*msec)
	}
	return true
}

func scUDPReflect(b *builder) bool {
	g := b.g
	ca, cp := g.clientEP(false)
	rp := []uint16{53, 123, 19, 161, 389}[g.intn(5)]
	f := b.flow("udp_reflect", 17, false, 0, ca, cp, pickOf(g, reflectorsV4), rp)
	f.expect("SF", "", 0, false) // the high-port side originates
	t := b.start
	for i, k := 0, 1+g.intn(3); i < k; i++ {
		b.udp(f, t, 1, int(g.logu(200, 1400)))
		t += g.durLog(50*usec, 200*msec)
	}
	b.udp(f, f.maxT+g.durLog(msec, 2*sec), 0, int(g.logu(20, 100)))
	return true
}

func scICMPEcho(b *builder) bool {
	g := b.g
	v6 := g.chance(0.15)
	ca, _ := g.clientEP(v6)
	var sa netip.Addr
	proto, req, rep := uint8(1), uint8(8), uint8(0)
	if v6 {
		sa = pickOf(g, append(webV6[:3:3], dnsV6...))
		proto, req, rep = 58, 128, 129
	} else {
		sa = pickOf(g, append(webV4[:5:5], dnsV4[0], routersV4[0]))
	}
	id := uint16(g.rng.Uint32())
	f := b.flow("icmp_echo", proto, v6, g.vlan(0.05), ca, id, sa, 0)
	plen := 56
	if g.chance(0.3) {
		plen = 32
	}
	lost := g.chance(0.15)
	if lost {
		f.expect("S0", "", 0, false)
	} else {
		f.expect("SF", "", 0, false)
	}
	t := b.start
	seq := uint16(g.intn(100))
	for i, n := 0, 1+g.intn(5); i < n; i++ {
		seq++
		b.icmp(f, t, 0, req, 0, seq, plen)
		if !lost && (i == 0 || g.chance(0.9)) {
			b.icmp(f, t+f.d[1]+g.proc(), 1, rep, 0, seq, plen)
		}
		t += sec + g.durU(-5*msec, 5*msec)
	}
	return true
}

func scICMPUnreach(b *builder) bool {
	g := b.g
	v6 := g.chance(0.1)
	ca, cp := g.clientEP(v6)
	var router netip.Addr
	proto, typ, code := uint8(1), uint8(3), []uint8{1, 3, 13}[g.intn(3)]
	if v6 {
		router = pickOf(g, routersV6)
		proto, typ, code = 58, 1, []uint8{1, 3, 4}[g.intn(3)]
	} else {
		router = pickOf(g, routersV4)
	}
	f := b.flow("icmp_unreach", proto, v6, 0, ca, uint16(typ), router, uint16(code))
	f.expect("S0", "", 1, false) // the router sends first and originates
	if v6 {
		f.innerDst = pickOf(g, dnsV6)
	} else {
		f.innerDst = pickOf(g, scanV4)
	}
	f.innerPort = [2]uint16{cp, uint16(33434 + g.intn(100))}
	t := b.start
	for i, k := 0, 1+g.intn(2); i < k; i++ {
		if i > 0 {
			t += g.durLog(10*msec, 5*sec)
		}
		b.icmp(f, t, 1, typ, code, 0, innerLen(v6))
	}
	return true
}

func scUDPFrag(b *builder) bool {
	g := b.g
	ca, cp := g.clientEP(false)
	if g.chance(0.6) {
		f := b.flow("udp_frag", 17, false, g.vlan(0.05), ca, cp, pickOf(g, dnsV4), 53)
		f.expect("SF", "", 0, false)
		b.udp(f, b.start, 0, int(g.logu(30, 60)))
		b.udpBig(f, b.start+f.d[1]+g.durLog(100*usec, 30*msec), 1, int(g.uf(1600, 4000)))
		return true
	}
	f := b.flow("udp_frag", 17, false, g.vlan(0.05), ca, cp, pickOf(g, streamV4), uint16(9000+g.intn(10)))
	f.expect("S0", "", 0, false)
	t := b.start
	for i, k := 0, 1+g.intn(3); i < k; i++ {
		t = b.udpBig(f, t, 0, int(g.uf(1600, 8900))) + g.durLog(msec, sec)
	}
	return true
}

func scPortReuse(b *builder) bool {
	g := b.g
	f1 := b.tcpConn("port_reuse", 0.1, 0.05, g.webServer)
	f1.expect("SF", "fin", 0, false)
	t := b.handshake(f1, b.start, 0, false)
	b.exchanges(f1, t, 1)
	closeT, last := b.close(f1, f1.maxT+g.durLog(100*usec, sec), g.intn(2), 0)
	f2 := b.reuse(f1, "port_reuse")
	b.newISN(f2)
	var s2 int64
	if g.chance(0.4) {
		s2 = last + g.durU(50*msec, 500*msec) // inside the linger: the SYN starts a new flow at once
		if s2-closeT > g.linger-sec-100*msec {
			s2 = closeT + g.linger + g.durU(1100*msec, 15*sec)
		}
	} else {
		s2 = closeT + g.linger + g.durU(1100*msec, 15*sec)
	}
	if g.chance(0.7) {
		f2.expect("SF", "fin", 0, false)
		t = b.handshake(f2, s2, 0, false)
		b.exchanges(f2, t, 1)
		b.close(f2, f2.maxT+g.durLog(100*usec, sec), g.intn(2), 0)
	} else {
		f2.expect("REJ", "rst", 0, false)
		b.tcp(f2, s2, 0, flagSYN, 0)
		b.tcpSeq(f2, s2+f2.d[1]+g.proc(), 1, flagRST|flagACK, 0, 0)
	}
	return true
}

func scLinger(b *builder) bool {
	g := b.g
	f1 := b.tcpConn("linger", 0.1, 0.05, g.webServer)
	f1.expect("SF", "fin", 0, false)
	t := b.handshake(f1, b.start, 0, false)
	b.exchanges(f1, t, 1)
	x := g.intn(2) // first to close; y's FIN closes the flow
	y := 1 - x
	closeT, _ := b.close(f1, f1.maxT+g.durLog(100*usec, sec), x, 0)
	if g.chance(0.5) {
		// x's final ACK was lost: y retransmits its FIN, x ACKs again, both
		// well inside the linger.
		// The re-ACK follows within 200 ms, so both stay 1 s clear of the
		// linger's end.
		rt := closeT + g.durU(300*msec, g.linger-sec-300*msec)
		b.tcpSeq(f1, rt, y, flagFIN|flagACK, 0, f1.nxt[y]-1)
		b.tcp(f1, rt+f1.d[x]+g.eps(), x, flagACK, 0)
		return true
	}
	// A late segment after the linger starts a new (mid-stream) flow.
	f2 := b.reuse(f1, "linger")
	late := closeT + g.linger + g.durU(1100*msec, 15*sec)
	if g.chance(0.5) {
		f2.expect("OTH", "rst", 0, false)
		b.tcp(f2, late, x, flagRST, 0)
	} else {
		f2.expect("OTH", "", 0, false)
		b.tcp(f2, late, x, flagACK, 0)
	}
	return true
}

func scIdleSplit(b *builder) bool {
	g := b.g
	if g.chance(0.6) {
		f1 := b.tcpConn("idle_split", 0.1, 0.05, g.webServer)
		f1.expect("S1", "", 0, false)
		t := b.handshake(f1, b.start, 0, false)
		b.exchanges(f1, t, 1+g.intn(2))
		f2 := b.reuse(f1, "idle_split")
		b.midstream(f2, f1.maxT+g.idle+g.durU(2*sec, 30*sec), g.intn(2))
		if g.chance(0.5) {
			f2.expect("OTH", "fin", 0, false)
			b.close(f2, f2.maxT+g.think(), g.intn(2), 0)
		} else {
			f2.expect("OTH", "", 0, false)
		}
		return true
	}
	v6 := g.chance(0.15)
	ca, cp := g.clientEP(v6)
	sa := pickOf(g, ntpV4)
	if v6 {
		sa = pickOf(g, ntpV6)
	}
	f1 := b.flow("idle_split", 17, v6, g.vlan(0.05), ca, cp, sa, 123)
	f1.expect("SF", "", 0, false)
	b.udp(f1, b.start, 0, 48)
	b.udp(f1, b.start+f1.d[1]+g.proc(), 1, 48)
	f2 := b.reuse(f1, "idle_split")
	f2.expect("SF", "", 0, false)
	t := f1.maxT + g.idle + g.durU(2*sec, 10*sec)
	b.udp(f2, t, 0, 48)
	b.udp(f2, t+f2.d[1]+g.proc(), 1, 48)
	return true
}

func scSYNFlood(b *builder) bool {
	g := b.g
	m := min(50+g.intn(451), b.maxFlows)
	t := b.start
	for i := 0; i < m; i++ {
		sa, sp := g.spoofEP()
		f := b.flow("synflood", 6, false, 0, sa, sp, g.victim, 80)
		f.synOpt, f.ts = optNone, false
		f.ttl[0] = uint8(30 + g.intn(220))
		f.win[0] = uint16(g.rng.Uint32())
		f.expect("S0", "", 0, false)
		b.tcp(f, t, 0, flagSYN, 0)
		if g.chance(0.3) {
			d := sec
			if g.chance(0.3) {
				d = 3 * sec
			}
			b.tcpSeq(f, t+d, 0, flagSYN, 0, f.isn[0])
		}
		t += int64(g.rng.ExpFloat64() * float64(msec))
	}
	return true
}

// floodBurst sends a burst of 1,000-2,000 flows from spoofed sources to the
// trace's victim, each of 1-3 packets that send makes, about 20 k
// packets/s: one second, or two it straddles, see over a thousand.
func (b *builder) floodBurst(send func(t int64, i int) int) {
	g := b.g
	t := b.start
	for i, m := 0, min(1000+g.intn(1001), b.maxFlows); i < m; i++ {
		for k, n := 0, 1+g.intn(3); k < n; k++ {
			sent := send(t, k)
			t += int64(g.rng.ExpFloat64()*float64(50*usec)) * int64(sent)
		}
	}
}

func scUDPFlood(b *builder) bool {
	g := b.g
	var f *sflow
	b.floodBurst(func(t int64, k int) int {
		if k == 0 {
			sa, sp := g.spoofEP()
			f = b.flow("udpflood", 17, false, 0, sa, sp, g.victim, uint16(1024+g.intn(64512)))
			f.ttl[0] = uint8(30 + g.intn(220))
			f.expect("S0", "", 0, false)
		}
		b.udp(f, t, 0, int(g.logu(20, 1400)))
		return 1
	})
	return true
}

func scICMPFlood(b *builder) bool {
	g := b.g
	var f *sflow
	b.floodBurst(func(t int64, k int) int {
		if k == 0 {
			sa, _ := g.spoofEP()
			f = b.flow("icmpflood", 1, false, 0, sa, uint16(g.rng.Uint32()), g.victim, 0)
			f.ttl[0] = uint8(30 + g.intn(220))
			f.expect("S0", "", 0, false)
		}
		b.icmp(f, t, 0, 8, 0, uint16(k+1), 56)
		return 1
	})
	return true
}

func scACKFlood(b *builder) bool {
	g := b.g
	var f *sflow
	flags := uint8(flagACK)
	b.floodBurst(func(t int64, k int) int {
		if k == 0 {
			sa, sp := g.spoofEP()
			f = b.flow("ackflood", 6, false, 0, sa, sp, g.victim, pickOf(g, []uint16{80, 443}))
			f.synOpt, f.ts = optNone, false
			f.ttl[0] = uint8(30 + g.intn(220))
			f.win[0] = uint16(g.rng.Uint32())
			f.expect("OTH", "", 0, false)
			flags = flagACK
			if g.chance(0.3) {
				flags = flagRST
				f.expect("OTH", "rst", 0, false)
			}
		}
		b.tcp(f, t, 0, flags, 0)
		return 1
	})
	return true
}

// scCarpet: 40 hosts of 198.18.7.0/24, ten reflectors each (the i-th
// flow goes to host i/10).
func scCarpet(b *builder) bool {
	g := b.g
	t := b.start
	for i := range min(400, b.maxFlows) {
		victim := netip.AddrFrom4([4]byte{198, 18, 7, byte(10 + i/10)})
		_, cp := g.clientEP(false)
		f := b.flow("carpet", 17, false, 0, victim, cp, reflectorsV4[i%len(reflectorsV4)], 123)
		f.expect("SF", "", 0, false) // the high-port side originates
		b.udp(f, t, 1, 468)
		b.udp(f, t+g.durU(100*usec, 300*usec), 1, 468)
		// The model needs a packet from the originator: a small one back,
		// as a port unreachable would be.
		b.udp(f, f.maxT+g.durLog(msec, 50*msec), 0, 20)
		t += int64(g.rng.ExpFloat64() * float64(500*usec))
	}
	return true
}

// The scanners and the swept prefix of the scan scenarios, apart from the
// other scenarios' addresses.
var (
	portScanner  = mustAddr("198.18.5.5")
	hostSweeper  = mustAddr("198.18.5.6")
	scannedHost  = mustAddr("198.51.100.10")
	sweptPrefix4 = [3]byte{198, 18, 9}
)

// scAmplification: the i-th flow comes from resolver i%30.
func scAmplification(b *builder) bool {
	g := b.g
	t := b.start
	for i := range min(600, b.maxFlows) {
		vp := g.victimPort()
		f := b.flow("amplification", 17, false, 0, g.victim, vp, reflectorsV4[i%30], 53)
		f.expect("SF", "", 0, false) // the high-port side originates
		b.udp(f, t, 1, int(g.uf(1200, 1450)))
		b.udp(f, t+g.durU(100*usec, 300*usec), 1, int(g.uf(1200, 1450)))
		// The model needs a packet from the originator: a small one back,
		// as a port unreachable would be.
		b.udp(f, f.maxT+g.durLog(msec, 50*msec), 0, 20)
		t += int64(g.rng.ExpFloat64() * float64(msec))
	}
	return true
}

// scSYNACKReflect: the i-th flow comes from server 30+i%40 (not the
// resolvers of scAmplification).
func scSYNACKReflect(b *builder) bool {
	g := b.g
	t := b.start
	for i := range min(800, b.maxFlows) {
		vp := g.victimPort()
		f := b.flow("synack_reflect", 6, false, 0, g.victim, vp, reflectorsV4[30+i%40], 80)
		f.ts, f.synOpt = false, optSynShort
		f.expect("OTH", "", 0, false)
		b.tcp(f, t, 1, flagSYN|flagACK, 0)
		rto := sec
		for range g.intn(3) {
			b.tcpSeq(f, t+rto, 1, flagSYN|flagACK, 0, f.isn[1])
			rto *= 2
		}
		t += int64(g.rng.ExpFloat64() * float64(500*usec))
	}
	return true
}

func scPortScan(b *builder) bool {
	g := b.g
	_, sp := g.clientEP(false)
	t := b.start
	n := min(300, b.maxFlows)
	for k, i := range g.rng.Perm(1024)[:n] {
		f := b.flow("portscan", 6, false, 0, portScanner, sp, scannedHost, uint16(1+i))
		f.synOpt, f.ts = optNone, false
		b.tcp(f, t, 0, flagSYN, 0)
		if k%10 == 9 {
			f.expect("S0", "", 0, false)
		} else {
			f.expect("REJ", "rst", 0, false)
			b.tcpSeq(f, t+f.d[1]+g.proc(), 1, flagRST|flagACK, 0, 0)
		}
		t += g.durU(200*usec, 2*msec)
	}
	return true
}

func scHostSweep(b *builder) bool {
	g := b.g
	id := uint16(g.rng.Uint32())
	t := b.start
	for i := range min(254, b.maxFlows) {
		host := netip.AddrFrom4([4]byte{sweptPrefix4[0], sweptPrefix4[1], sweptPrefix4[2], byte(1 + i)})
		f := b.flow("hostsweep", 1, false, 0, hostSweeper, id, host, 0)
		b.icmp(f, t, 0, 8, 0, 1, 0)
		if g.chance(0.2) {
			f.expect("SF", "", 0, false)
			b.icmp(f, t+f.d[1]+g.proc(), 1, 0, 0, 1, 0)
		} else {
			f.expect("S0", "", 0, false)
		}
		t += g.durU(500*usec, 5*msec)
	}
	return true
}

func scEOF(b *builder) bool {
	g := b.g
	if left := g.tEnd - b.start; left < 10*sec || left > 600*sec {
		return false
	}
	stop := g.tEnd - g.durU(1500*msec, 35*sec)
	if stop-b.start < 2*sec {
		return false
	}
	if g.chance(0.8) {
		f := b.tcpConn("eof", 0.15, 0.1, g.longServer)
		f.expect("S1", "", 0, false)
		t := b.handshake(f, b.start, 0, false)
		for {
			t += g.durU(sec, 19*sec)
			if t+sec >= stop {
				break
			}
			b.tcp(f, t, 0, flagACK|flagPSH, int(g.logu(40, 400)))
			t2 := t + f.d[1] + g.serverProc()
			b.tcp(f, t2, 1, flagACK|flagPSH, int(g.logu(40, 1400)))
			b.tcp(f, t2+f.d[0]+g.eps(), 0, flagACK, 0)
		}
		return true
	}
	ca, cp := g.clientEP(false)
	f := b.flow("eof", 17, false, g.vlan(0.05), ca, cp, vpnV4, 51820)
	f.expect("SF", "", 0, false)
	t := b.start
	for t+sec < stop {
		b.udp(f, t, 0, 148)
		b.udp(f, t+f.d[1]+g.proc(), 1, 92)
		t += g.durU(sec, 19*sec)
	}
	return true
}

// scTerminator is the trace's last packet, at exactly Start+Duration: a
// one-way UDP datagram (S0, eof). It fixes the end of the input so every
// other flow's end reason is known when it is generated.
func scTerminator(b *builder) {
	g := b.g
	ca, cp := g.clientEP(false)
	f := b.flow("terminator", 17, false, 0, ca, cp, syslogV4, 514)
	f.expect("S0", "", 0, false)
	b.udp(f, b.start, 0, 80)
}

// scFallback is used when no scenario fits at a start time: one UDP datagram
// (S0), or a rejected SYN (REJ, closed at once) when a lone packet would end
// near the idle boundary of the trace's end.
func scFallback(b *builder) {
	g := b.g
	ca, cp := g.clientEP(false)
	if abs64(g.tEnd-b.start-g.idle) > sec+msec {
		f := b.flow("fallback", 17, false, 0, ca, cp, syslogV4, 514)
		f.expect("S0", "", 0, false)
		b.udp(f, b.start, 0, 80)
		return
	}
	f := b.flow("fallback", 6, false, 0, ca, cp, pickOf(g, scanV4), 23)
	f.expect("REJ", "rst", 0, false)
	b.tcp(f, b.start, 0, flagSYN, 0)
	b.tcpSeq(f, b.start+f.d[1]+g.proc(), 1, flagRST|flagACK, 0, 0)
}
