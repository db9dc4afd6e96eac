// Package gen generates deterministic synthetic packet traces (classic pcap,
// Ethernet) together with their exact ground truth under flowstat's flow
// model: bidirectional flows keyed by (protocol, VLAN, endpoints), TCP close
// with a linger, an idle timeout, Zeek-style states and history.
//
// Every flow comes from a scenario (complete connections, rejections, scans,
// half-open handshakes, resets, mid-stream traffic, backscatter, UDP
// request/response, reflection, ICMP, fragments, port reuse, idle splits,
// SYN floods, flows open at the end). Each scenario states what its flows must
// come out as; the truth is derived from the generated packets by applying the
// flow model and checked against that statement, so a generator bug is an
// error rather than a wrong truth. Timing keeps every packet at least one
// second away from an idle-timeout or linger boundary, so no tie-breaking
// convention of the tool under test can change the result.
//
// Packets are streamed: sessions are generated in start-time order and merged
// through a heap, so memory holds only the sessions in progress (plus the
// truth records when they are asked for).
package gen

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

const (
	usec = int64(time.Microsecond)
	msec = int64(time.Millisecond)
	sec  = int64(time.Second)
)

// Version identifies the generator's output format and scenario set.
const Version = "gentrace/1"

// sflow is one ground-truth flow being generated. Side 0 is endpoint A (the
// client in most scenarios), side 1 endpoint B.
type sflow struct {
	scen  string
	proto uint8
	v6    bool
	vlan  uint16
	addr  [2]netip.Addr
	// port holds the TCP/UDP ports; for ICMP the key ports: identifier and
	// 0 for echo, type and code for other messages.
	port      [2]uint16
	mac       [2][6]byte
	ttl       [2]uint8
	win       [2]uint16
	ipid      [2]uint16
	flowLabel [2]uint32
	isn       [2]uint32
	nxt       [2]uint32
	tsBase    [2]uint32
	ts        bool
	synOpt    uint8
	mss       int
	t0        int64
	maxT      int64
	d         [2]int64 // round trip from the capture point to each side's host
	ser       int64    // gap between back-to-back segments
	innerDst  netip.Addr
	innerPort [2]uint16
	prev      *sflow // earlier flow of the same 5-tuple in this session

	expState string
	expEnd   string // "fin", "rst", or "" for not closed
	expOrig  int
	expHalf  bool

	tr tracker
}

func (f *sflow) expect(state, end string, orig int, half bool) {
	f.expState, f.expEnd, f.expOrig, f.expHalf = state, end, orig, half
}

func (f *sflow) nextID(side int) uint16 {
	f.ipid[side]++
	return f.ipid[side]
}

// segSize is the largest TCP payload per segment.
func (f *sflow) segSize() int {
	if f.ts {
		return f.mss - 12
	}
	return f.mss
}

type generator struct {
	cfg          Config
	rng          *rand.Rand
	t0, tEnd     int64
	dur          int64
	idle, linger int64
	nTarget      int
	flowsDone    int
	termDone     bool
	sessIdx      int64
	epIdx        uint32
	spoofIdx     uint32
	victimPorts  uint32 // victim ports given out (victimPort)
	key32, key30 uint32
	scens        []*scenario
	cum          []float64
	victim       netip.Addr
	truth        *Truth
	recs         []flowRec
	err          error
}

func newGenerator(cfg Config, weights map[string]float64) *generator {
	g := &generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		t0:      cfg.Start.UnixNano(),
		dur:     int64(cfg.Duration),
		idle:    int64(cfg.IdleTimeout),
		linger:  int64(cfg.Linger),
		nTarget: cfg.Flows,
	}
	g.t0 = g.q(g.t0)
	g.tEnd = g.q(g.t0 + g.dur)
	g.key32 = g.rng.Uint32()
	g.key30 = g.rng.Uint32() & (1<<30 - 1)
	g.victim = victimsV4[g.rng.IntN(len(victimsV4))]
	total := 0.0
	for _, sc := range scenarios {
		w := weights[sc.name]
		if w <= 0 {
			continue
		}
		total += w / sc.meanFlows
		g.scens = append(g.scens, sc)
		g.cum = append(g.cum, total)
	}
	g.truth = &Truth{
		Options: Options{
			Seed: cfg.Seed, Flows: cfg.Flows, Snaplen: cfg.Snaplen, Nano: cfg.Nano, Mix: cfg.Mix,
			StartNs: g.t0, DurationNs: g.tEnd - g.t0, IdleTimeoutNs: g.idle, LingerNs: g.linger,
			NonTCPHistory: cfg.NonTCPHistory, MaxResponse: cfg.MaxResponse, LinkType: linktypeEthernet, GeneratorVersn: Version,
		},
		ByState:    map[string]int{},
		ByScenario: map[string]int{},
	}
	if cfg.Flows > 0 {
		g.truth.Options.EndNs = g.tEnd
	}
	if !cfg.SkipFlows {
		g.recs = make([]flowRec, 0, cfg.Flows) // exact: no regrowth of a large slice
	}
	return g
}

// q puts a time on the output resolution.
func (g *generator) q(t int64) int64 {
	if g.cfg.Nano {
		return t
	}
	return t - t%1000
}

func (g *generator) bug(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("gen: internal error (please report): "+format, args...)
	}
}

// Random helpers.

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }
func (g *generator) intn(n int) int        { return g.rng.IntN(n) }
func (g *generator) uf(a, b float64) float64 {
	// The explicit conversion rounds the product, so no architecture may
	// fuse it with the addition (FMA): output depends only on the seed.
	return a + float64((b-a)*g.rng.Float64())
}
func (g *generator) logu(a, b float64) float64 {
	return math.Exp(g.uf(math.Log(a), math.Log(b)))
}
func (g *generator) durU(a, b int64) int64   { return a + g.rng.Int64N(b-a+1) }
func (g *generator) durLog(a, b int64) int64 { return int64(g.logu(float64(a), float64(b))) }

// think is an application pause inside a flow: mostly short, sometimes long,
// always well below the idle timeout.
func (g *generator) think() int64 {
	if g.chance(0.05) {
		return g.durU(5*sec, 18*sec)
	}
	return g.durLog(msec, 3*sec)
}
func (g *generator) eps() int64        { return g.durLog(5*usec, 100*usec) } // host stack turnaround
func (g *generator) proc() int64       { return g.durLog(20*usec, 300*usec) }
func (g *generator) serverProc() int64 { return g.durLog(100*usec, 50*msec) }

// perm32 is a bijection on uint32 (murmur3's finalizer): distinct indexes
// give distinct endpoints.
func perm32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x85ebca6b
	x ^= x >> 13
	x *= 0xc2b2ae35
	x ^= x >> 16
	return x
}

// perm30 is a bijection on [0, 2^30).
func perm30(x uint32) uint32 {
	const m = 1<<30 - 1
	x &= m
	x = (x * 0x2c1b3c6d) & m
	x ^= x >> 15
	x = (x * 0x297a2d39) & m
	x ^= x >> 13
	return x
}

// clientEP returns a client endpoint never used before in this trace:
// 10.0.0.0/15 or 2001:db8:c11e::/48 with a port in 32768-65535.
// victimPort returns the next of the victim's ports that reflections
// answer, each once until 64,000 are given: random client ports would
// repeat among thousands of flows of one reflector, and two flows with one
// 5-tuple are one.
func (g *generator) victimPort() uint16 {
	p := uint16(1024 + g.victimPorts%64000)
	g.victimPorts++
	return p
}

func (g *generator) clientEP(v6 bool) (netip.Addr, uint16) {
	h := perm32(g.epIdx ^ g.key32)
	g.epIdx++
	host := h >> 15
	port := uint16(32768 + h&0x7fff)
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc1, 0x1e, 14: byte(host >> 8), 15: byte(host), 13: byte(host >> 16)}), port
	}
	return netip.AddrFrom4([4]byte{10, byte(host >> 16), byte(host >> 8), byte(host)}), port
}

// spoofEP returns a spoofed source never used before: an address in
// 11.0.0.0-74.255.255.255 and a random port.
func (g *generator) spoofEP() (netip.Addr, uint16) {
	h := perm30(g.spoofIdx ^ g.key30)
	g.spoofIdx++
	a := netip.AddrFrom4([4]byte{byte(11 + h>>24), byte(h >> 16), byte(h >> 8), byte(h)})
	return a, uint16(1024 + g.intn(64512))
}

func macFor(a netip.Addr) [6]byte {
	h := fnv.New64a()
	b := a.As16()
	h.Write(b[:])
	s := h.Sum64()
	return [6]byte{0x02, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// builder collects one session's flows and packets.
type builder struct {
	g        *generator
	start    int64
	maxFlows int
	flows    []*sflow
	pkts     []pdesc
}

func (b *builder) flow(scen string, proto uint8, v6 bool, vlan uint16, a netip.Addr, pa uint16, bAddr netip.Addr, pb uint16) *sflow {
	g := b.g
	f := &sflow{scen: scen, proto: proto, v6: v6, vlan: vlan, addr: [2]netip.Addr{a, bAddr}, port: [2]uint16{pa, pb},
		t0: b.start, maxT: b.start}
	f.mac = [2][6]byte{macFor(a), macFor(bAddr)}
	ttlBase := [...]uint8{64, 128, 255}
	f.ttl[0] = ttlBase[g.intn(2)] - uint8(g.intn(4))
	f.ttl[1] = ttlBase[g.intn(3)] - uint8(1+g.intn(20))
	rtt := g.logu(float64(msec), float64(200*msec))
	p := g.rng.Float64()
	f.d[1] = max(int64(rtt*p), 20*usec)
	f.d[0] = max(int64(rtt)-f.d[1], 20*usec)
	f.ser = g.durLog(10*usec, 150*usec)
	wins := [...]uint16{64240, 65535, 29200, 14600, 8192, 42340, 502, 1024}
	for s := 0; s < 2; s++ {
		f.win[s] = wins[g.intn(len(wins))]
		f.ipid[s] = uint16(g.rng.Uint32())
		f.isn[s] = g.rng.Uint32()
		f.nxt[s] = f.isn[s]
		f.tsBase[s] = g.rng.Uint32()
		f.flowLabel[s] = g.rng.Uint32() & 0xfffff
	}
	f.mss = 1460
	if v6 {
		f.mss = 1440
	}
	f.ts = g.chance(0.6) && !(v6 && vlan != 0)
	f.synOpt = optSynShort
	if f.ts {
		f.synOpt = optSynFull
	}
	b.flows = append(b.flows, f)
	return f
}

// reuse starts a new flow on the same 5-tuple as prev (same hosts, so same
// path and stacks); the TCP sequence state carries over.
func (b *builder) reuse(prev *sflow, scen string) *sflow {
	f := &sflow{}
	*f = *prev
	f.scen = scen
	f.tr = tracker{}
	f.prev = prev
	f.expState, f.expEnd, f.expOrig, f.expHalf = "", "", 0, false
	b.flows = append(b.flows, f)
	return f
}

// newISN gives a reused flow fresh initial sequence numbers.
func (b *builder) newISN(f *sflow) {
	for s := 0; s < 2; s++ {
		f.isn[s] = b.g.rng.Uint32()
		f.nxt[s] = f.isn[s]
	}
}

func (b *builder) add(p pdesc) {
	p.t = b.g.q(p.t)
	if p.t > p.f.maxT {
		p.f.maxT = p.t
	}
	b.pkts = append(b.pkts, p)
}

// tcp sends a segment with the flow's next sequence number and advances it.
func (b *builder) tcp(f *sflow, t int64, side int, flags uint8, plen int) {
	b.tcpSeq(f, t, side, flags, plen, f.nxt[side])
	adv := uint32(plen)
	if flags&flagSYN != 0 {
		adv++
	}
	if flags&flagFIN != 0 {
		adv++
	}
	f.nxt[side] += adv
}

// tcpSeq sends a segment with an explicit sequence number (retransmissions,
// resets) without advancing the flow's sequence state.
func (b *builder) tcpSeq(f *sflow, t int64, side int, flags uint8, plen int, seq uint32) {
	p := pdesc{t: t, f: f, seq: seq, plen: uint32(plen), side: uint8(side), kind: kTCP, flags: flags, win: f.win[side]}
	if flags&flagACK != 0 {
		p.ack = f.nxt[1-side]
	}
	switch {
	case flags&flagSYN != 0:
		p.opt = f.synOpt
	case f.ts && flags&flagRST == 0:
		p.opt = optTS
	}
	if flags&flagRST != 0 {
		p.win = 0
	}
	p.ipid = f.nextID(side)
	b.add(p)
}

func (b *builder) udp(f *sflow, t int64, side int, plen int) {
	b.add(pdesc{t: t, f: f, plen: uint32(plen), side: uint8(side), kind: kUDP, ipid: f.nextID(side)})
}

// udpBig sends a UDP datagram of data bytes, fragmented (IPv4, MTU 1500)
// when it does not fit one packet. It returns the time of the last fragment.
func (b *builder) udpBig(f *sflow, t int64, side int, data int) int64 {
	total := 8 + data
	if f.v6 || total <= 1480 {
		b.udp(f, t, side, data)
		return t
	}
	id := f.nextID(side)
	b.add(pdesc{t: t, f: f, plen: 1472, udpLen: uint16(total), side: uint8(side), kind: kFragFirst, ipid: id, mf: true})
	for off := 1480; off < total; off += 1480 {
		t += f.ser
		chunk := min(1480, total-off)
		b.add(pdesc{t: t, f: f, plen: uint32(chunk), side: uint8(side), kind: kFragNext, ipid: id,
			frag: uint16(off / 8), mf: off+chunk < total})
	}
	return t
}

func (b *builder) icmp(f *sflow, t int64, side int, typ, code uint8, seq uint16, plen int) {
	b.add(pdesc{t: t, f: f, plen: uint32(plen), side: uint8(side), kind: kICMP, icmpType: typ, icmpCode: code,
		icmpSeq: seq, ipid: f.nextID(side)})
}

// session is a group of flows generated together, emitted in time order.
type session struct {
	idx  int64
	pkts []pdesc
	cur  int
}

func (s *session) next() int64 { return s.pkts[s.cur].t }

type sessHeap []*session

func (h sessHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	ta, tb := a.next(), b.next()
	return ta < tb || ta == tb && a.idx < b.idx
}

func (h *sessHeap) push(s *session) {
	*h = append(*h, s)
	i := len(*h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		(*h)[i], (*h)[p] = (*h)[p], (*h)[i]
		i = p
	}
}

func (h *sessHeap) down(i int) {
	n := len(*h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		(*h)[i], (*h)[m] = (*h)[m], (*h)[i]
		i = m
	}
}

func (h *sessHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	old[n] = nil
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
}

// Write generates the trace described by cfg as a pcap stream on w and
// returns its ground truth.
func Write(w io.Writer, cfg Config) (*Truth, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	weights, err := MixWeights(cfg.Mix)
	if err != nil {
		return nil, err
	}
	g := newGenerator(cfg, weights)
	pw, err := newPcapWriter(w, cfg.Snaplen, cfg.Nano)
	if err != nil {
		return nil, err
	}
	var h sessHeap
	next := g.nextSession()
	for {
		for next != nil && (len(h) == 0 || next.next() <= h[0].next()) {
			h.push(next)
			next = g.nextSession()
		}
		if g.err != nil {
			return nil, g.err
		}
		if len(h) == 0 {
			break
		}
		s := h[0]
		if err := pw.write(&s.pkts[s.cur]); err != nil {
			return nil, err
		}
		s.cur++
		if s.cur == len(s.pkts) {
			h.pop()
		} else {
			h.down(0)
		}
	}
	if err := pw.flush(); err != nil {
		return nil, err
	}
	if !cfg.SkipFlows {
		g.truth.finish(g.recs)
		g.recs = nil
	}
	return g.truth, nil
}

// Generate returns the pcap bytes and truth of cfg.
func Generate(cfg Config) ([]byte, *Truth, error) {
	var buf bytes.Buffer
	t, err := Write(&buf, cfg)
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), t, nil
}

// nextSession generates the next session in start order, or nil when done.
func (g *generator) nextSession() *session {
	if g.err != nil {
		return nil
	}
	nf := g.nTarget - 1 // the last flow is the terminator
	if g.flowsDone >= nf {
		if g.termDone || g.nTarget == 0 {
			return nil
		}
		g.termDone = true
		b := &builder{g: g, start: g.tEnd, maxFlows: 1}
		scTerminator(b)
		if !g.finish(b, true) {
			g.bug("terminator rejected")
			return nil
		}
		return g.session(b)
	}
	u := g.rng.Float64()
	s := g.q(g.t0 + int64(float64(g.dur)*(float64(g.flowsDone)+u)/float64(nf)))
	remaining := nf - g.flowsDone
	for attempt := 0; attempt < 24; attempt++ {
		sc := g.pick()
		if sc == nil || sc.minFlows > remaining {
			continue
		}
		b := &builder{g: g, start: s, maxFlows: remaining}
		if !sc.gen(b) || len(b.flows) == 0 {
			continue
		}
		if len(b.flows) > remaining {
			g.bug("scenario %s made %d flows, %d allowed", sc.name, len(b.flows), remaining)
			return nil
		}
		if g.finish(b, false) {
			return g.session(b)
		}
		if g.err != nil {
			return nil
		}
	}
	b := &builder{g: g, start: s, maxFlows: 1}
	scFallback(b)
	if !g.finish(b, false) {
		g.bug("fallback rejected at %d", s)
		return nil
	}
	return g.session(b)
}

func (g *generator) pick() *scenario {
	if len(g.scens) == 0 {
		return nil
	}
	x := g.rng.Float64() * g.cum[len(g.cum)-1]
	i, _ := slices.BinarySearch(g.cum, x)
	return g.scens[min(i, len(g.scens)-1)]
}

func (g *generator) session(b *builder) *session {
	g.sessIdx++
	return &session{idx: g.sessIdx, pkts: b.pkts}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// finish sorts a session's packets, derives each flow's truth and checks it.
// It returns false when the session must be placed differently (it would
// cross the end of the trace or end near an idle/linger boundary of it);
// generator bugs are recorded in g.err.
func (g *generator) finish(b *builder, terminator bool) bool {
	slices.SortStableFunc(b.pkts, func(x, y pdesc) int { return cmp.Compare(x.t, y.t) })
	for i := range b.pkts {
		p := &b.pkts[i]
		p.f.tr.add(p.t, int(p.side), p.ipLen(), int(p.plen), p.kind == kTCP, p.flags, g.cfg.NonTCPHistory)
	}
	for _, f := range b.flows {
		tr := &f.tr
		if tr.n == 0 {
			g.bug("%s: flow without packets", f.scen)
			return false
		}
		if terminator {
			continue
		}
		if tr.last >= g.tEnd || tr.first < b.start {
			return false
		}
		if tr.closed {
			if g.tEnd-tr.closeT < g.linger+sec {
				return false
			}
		} else if abs64(g.tEnd-tr.last-g.idle) <= sec {
			return false
		}
	}
	recs := make([]Flow, len(b.flows))
	for i, f := range b.flows {
		tr := &f.tr
		if tr.maxGap >= g.idle-sec {
			g.bug("%s: gap of %v inside a flow", f.scen, time.Duration(tr.maxGap))
			return false
		}
		if tr.closed && tr.last-tr.closeT > g.linger-sec {
			g.bug("%s: packet %v after close", f.scen, time.Duration(tr.last-tr.closeT))
			return false
		}
		if tr.synBy[0] && tr.synBy[1] || tr.synackBy[0] && tr.synackBy[1] {
			g.bug("%s: SYNs or SYN-ACKs from both sides", f.scen)
			return false
		}
		o := f.origin()
		rec := g.finalize(f)
		if o != f.expOrig || rec.State != f.expState || tr.closeWhy != f.expEnd || rec.HalfOpen != f.expHalf {
			g.bug("%s: expected orig %d state %s end %q half %v, derived orig %d state %s end %q half %v (history %s)",
				f.scen, f.expOrig, f.expState, f.expEnd, f.expHalf, o, rec.State, tr.closeWhy, rec.HalfOpen, rec.History)
			return false
		}
		if f.proto != 6 && !tr.sent[o] {
			// UDP/ICMP states are only defined when the originator sent.
			g.bug("%s: originator sent nothing", f.scen)
			return false
		}
		if p := f.prev; p != nil {
			ptr := &p.tr
			ok := false
			switch {
			case tr.first <= ptr.last:
			case ptr.closed:
				d := tr.first - ptr.closeT
				isSyn := f.proto == 6 && tr.firstFlags&(flagSYN|flagACK) == flagSYN
				ok = d >= g.linger+sec || isSyn && d <= g.linger-sec
			default:
				ok = tr.first-ptr.last >= g.idle+sec
			}
			if !ok {
				g.bug("%s: flow on a reused 5-tuple starts ambiguously", f.scen)
				return false
			}
		}
		recs[i] = rec
	}
	g.flowsDone += len(b.flows)
	t := g.truth
	for i := range recs {
		r := &recs[i]
		t.Packets += r.Packets()
		t.Bytes += r.Bytes()
		t.ByState[r.State]++
		t.ByScenario[r.Scenario]++
	}
	if !g.cfg.SkipFlows {
		for i := range recs {
			g.recs = append(g.recs, toRec(&recs[i]))
		}
	}
	return true
}
