package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"flowstat/flows"
	"flowstat/tables"
)

// t0 is a minute boundary; test times are seconds after it.
var t0 = time.Date(2024, 3, 5, 7, 9, 0, 0, time.UTC).UnixNano()

func at(s float64) int64 { return t0 + int64(s*1e9) }

// flow describes a test record: who, when, how it ended, and its packets
// as (second, originator?) pairs.
type flow struct {
	src, dst      string
	sport, dport  uint16
	proto         uint8
	state         flows.State
	end           flows.EndReason
	halfOpen      bool
	flags         [2]uint8
	syns, synacks uint32
	echo          bool // an ICMP echo flow: sport is its identifier, dport 0
	pkts          []pkt
}

type pkt struct {
	s      float64
	fwd    bool
	syn    bool // SYN without ACK from the originator
	synack bool // SYN-ACK from the responder
}

// record builds the flow's record and its per-window counts of width iv,
// 100 bytes a packet.
func (f flow) record(iv int64) (flows.Record, []flows.Window) {
	r := flows.Record{
		Proto: f.proto, IPVersion: 4, SrcIP: flows.IPOf(netip.MustParseAddr(f.src)), SrcPort: f.sport,
		DstIP: flows.IPOf(netip.MustParseAddr(f.dst)), DstPort: f.dport, State: f.state, EndReason: f.end,
		HalfOpen: f.halfOpen, TCPFlags: f.flags, SYNs: f.syns, SYNACKs: f.synacks, HandshakeRTT: -1, Echo: f.echo,
	}
	var ws []flows.Window
	for i, p := range f.pkts {
		t := at(p.s)
		if i == 0 || t < r.FirstSeen {
			r.FirstSeen = t
		}
		if i == 0 || t > r.LastSeen {
			r.LastSeen = t
		}
		dir := flows.Rev
		if p.fwd {
			dir = flows.Fwd
		}
		r.Packets[dir]++
		r.Bytes[dir] += 100
		start := t - floorMod(t, iv)
		if n := len(ws); n == 0 || ws[n-1].Start != start {
			ws = append(ws, flows.Window{Start: start})
		}
		w := &ws[len(ws)-1]
		w.Packets++
		w.Bytes += 100
		if p.syn {
			w.SYNs++
		}
		if p.synack {
			w.SYNACKs++
		}
	}
	return r, ws
}

// dataset builds a dataset of flows with windows of iv seconds and an idle
// timeout of idle seconds.
func dataset(t testing.TB, iv, idle float64, fs ...flow) *Dataset {
	t.Helper()
	var recs []flows.Record
	var windows [][]flows.Window
	for i, f := range fs {
		r, ws := f.record(int64(iv * 1e9))
		r.ID = uint64(i + 1)
		recs = append(recs, r)
		windows = append(windows, ws)
	}
	s := tables.Summary{Tool: "flowstat", Version: "test",
		Options: tables.Options{IntervalS: iv, IdleTimeoutS: idle, LingerS: 2, Targets: []string{}}}
	s.Flows.CountFlows(recs)
	ds, err := NewDataset(recs, windows, s)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func build(t testing.TB, ds *Dataset, opts BuildOptions) *Stats {
	t.Helper()
	st, err := Build(ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The definitions of report.md's Method, one flow at a time, with 10 s
// windows and a 30 s idle timeout.
func TestIntervalDefinitions(t *testing.T) {
	const web = "192.0.2.80"
	ds := dataset(t, 10, 30,
		// A: complete, 5 s to 12 s: active in windows 0 and 10, ends in 10.
		flow{src: "10.0.0.1", dst: web, sport: 1000, dport: 80, proto: 6, state: flows.SF, end: flows.EndFIN,
			flags: [2]uint8{tcpSYN | tcpACK | tcpFIN, tcpSYN | tcpACK | tcpFIN}, syns: 1, synacks: 1,
			pkts: []pkt{{s: 5, fwd: true, syn: true}, {s: 5.1, synack: true}, {s: 12, fwd: true}}},
		// B: SYN only at 15 s, idle: ends at 45 s, open at the ends of 10, 20, 30.
		flow{src: "10.0.0.2", dst: web, sport: 1001, dport: 80, proto: 6, state: flows.S0, end: flows.EndIdle,
			flags: [2]uint8{tcpSYN, 0}, syns: 1, pkts: []pkt{{s: 15, fwd: true, syn: true}}},
		// C: half-open from 18 s, open at the end of the input: active in
		// 10 and 20 only, open at every later window's end.
		flow{src: "10.0.0.2", dst: web, sport: 1002, dport: 80, proto: 6, state: flows.S1, end: flows.EndEOF,
			halfOpen: true, flags: [2]uint8{tcpSYN, tcpSYN | tcpACK}, syns: 1, synacks: 1,
			pkts: []pkt{{s: 18, fwd: true, syn: true}, {s: 25, synack: true}}},
		// D: FIN without SYN, rejected and reset flows ending at 31 s.
		flow{src: "10.0.0.3", dst: web, sport: 1003, dport: 80, proto: 6, state: flows.OTH, end: flows.EndFIN,
			flags: [2]uint8{tcpFIN | tcpACK, tcpFIN | tcpACK}, pkts: []pkt{{s: 30, fwd: true}, {s: 31}}},
		flow{src: "10.0.0.4", dst: web, sport: 1004, dport: 80, proto: 6, state: flows.REJ, end: flows.EndRST,
			flags: [2]uint8{tcpSYN, tcpRST | tcpACK}, syns: 1, pkts: []pkt{{s: 31, fwd: true, syn: true}, {s: 31}}},
		flow{src: "10.0.0.4", dst: web, sport: 1005, dport: 80, proto: 6, state: flows.RSTO, end: flows.EndRST,
			flags: [2]uint8{tcpSYN | tcpACK | tcpRST, tcpSYN | tcpACK}, syns: 1, synacks: 1,
			pkts: []pkt{{s: 30, fwd: true, syn: true}, {s: 30.5, synack: true}, {s: 31, fwd: true}}},
		// E: another destination, UDP, idle.
		flow{src: "10.0.0.1", dst: "192.0.2.53", sport: 5353, dport: 53, proto: 17, state: flows.SF, end: flows.EndIdle,
			pkts: []pkt{{s: 1, fwd: true}, {s: 1.5}}},
	)
	st := build(t, ds, BuildOptions{})
	webDest := Dest{IP: netip.MustParseAddr(web), Port: 80, Proto: 6}
	type row struct {
		start                                  float64
		packets, active, new, sources, syn, sa uint64
		halfOpen, synOnly, ongoing             uint64
		ended                                  [numOutcomes]uint64
		p50                                    float64 // NaN: none ended
	}
	nan := math.NaN()
	want := []row{
		{start: 0, packets: 2, active: 1, new: 1, sources: 1, syn: 1, sa: 1, ongoing: 1, p50: nan},
		{start: 10, packets: 3, active: 3, new: 2, sources: 2, syn: 2, synOnly: 1, halfOpen: 1, ongoing: 2,
			ended: [numOutcomes]uint64{Complete: 1}, p50: 7},
		{start: 20, packets: 1, active: 2, new: 0, sources: 1, sa: 1, synOnly: 1, halfOpen: 1, ongoing: 2, p50: nan},
		{start: 30, packets: 7, active: 4, new: 3, sources: 3, syn: 2, sa: 1, synOnly: 1, halfOpen: 1, ongoing: 2,
			ended: [numOutcomes]uint64{Reset: 1, Rejected: 1, FINNoSYN: 1}, p50: 1},
		{start: 40, active: 1, sources: 1, halfOpen: 1, ongoing: 1, ended: [numOutcomes]uint64{Timeout: 1}, p50: 0},
	}
	var got []Interval
	for _, w := range st.Intervals {
		if w.Dest == webDest {
			got = append(got, w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d windows for %s, want %d: %+v", len(got), webDest, len(want), got)
	}
	for i, w := range want {
		g := got[i]
		t.Run(fmt.Sprintf("window %g", w.start), func(t *testing.T) {
			if g.Start != at(w.start) || g.End != at(w.start+10) {
				t.Errorf("window %d..%d, want %d..%d", g.Start, g.End, at(w.start), at(w.start+10))
			}
			check := func(name string, got, want uint64) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
			check("packets", g.Packets, w.packets)
			check("bytes", g.Bytes, 100*w.packets)
			check("flows_active", g.Flows, w.active)
			check("flows_new", g.New, w.new)
			check("sources", g.Sources, w.sources)
			check("syn_packets", g.SYNs, w.syn)
			check("synack_packets", g.SYNACKs, w.sa)
			check("half_open", g.HalfOpen, w.halfOpen)
			check("syn_only", g.SYNOnly, w.synOnly)
			check("ongoing", g.Ongoing, w.ongoing)
			if g.Ended != w.ended {
				t.Errorf("ended = %v, want %v", g.Ended, w.ended)
			}
			if math.IsNaN(w.p50) != (g.Durations.N == 0) || (g.Durations.N > 0 && g.Durations.P50 != w.p50) {
				t.Errorf("durations = %+v, want p50 %g", g.Durations, w.p50)
			}
		})
	}

	i, ok := slices.BinarySearchFunc(st.Destinations, webDest, func(d Destination, k Dest) int { return d.Dest.Compare(k) })
	if !ok {
		t.Fatalf("no destination %s", webDest)
	}
	d := st.Destinations[i]
	wantEnded := [numOutcomes]uint64{Complete: 1, Reset: 1, Rejected: 1, FINNoSYN: 1, Timeout: 1}
	if d.Flows != 6 || d.Sources != 4 || d.Packets != 13 || d.SYNs != 5 || d.SYNACKs != 3 || d.HalfOpen != 1 ||
		d.SYNOnly != 1 || d.Ongoing != 1 || d.Ended != wantEnded || d.FirstSeen != at(5) || d.LastSeen != at(31) {
		t.Errorf("destination = %+v", d)
	}
	// Durations of all six flows: 7, 0, 7, 1, 0, 1 s.
	if q := d.Durations; q.N != 6 || q.P50 != 1 || q.Max != 7 || q.P10 != 0 {
		t.Errorf("destination durations = %+v", q)
	}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		name string
		rec  flows.Record
		want Outcome
	}{
		{"SF", flows.Record{Proto: 6, State: flows.SF, EndReason: flows.EndFIN}, Complete},
		{"REJ", flows.Record{Proto: 6, State: flows.REJ, EndReason: flows.EndRST}, Rejected},
		{"RSTOS0", flows.Record{Proto: 6, State: flows.RSTOS0, EndReason: flows.EndRST}, Reset},
		{"RSTRH", flows.Record{Proto: 6, State: flows.RSTRH, EndReason: flows.EndRST}, Reset},
		{"FIN no SYN, idle", flows.Record{Proto: 6, State: flows.OTH, EndReason: flows.EndIdle, TCPFlags: [2]uint8{0, tcpFIN}}, FINNoSYN},
		{"FIN after SYN, idle", flows.Record{Proto: 6, State: flows.SH, EndReason: flows.EndIdle, TCPFlags: [2]uint8{tcpFIN | tcpSYN, 0}, SYNs: 1}, Timeout},
		{"S0 idle", flows.Record{Proto: 6, State: flows.S0, EndReason: flows.EndIdle}, Timeout},
		{"UDP SF idle", flows.Record{Proto: 17, State: flows.SF, EndReason: flows.EndIdle}, Timeout},
		{"OTH ended by RST", flows.Record{Proto: 6, State: flows.OTH, EndReason: flows.EndRST, TCPFlags: [2]uint8{0, tcpRST}}, Reset},
		{"S1 active timeout", flows.Record{Proto: 6, State: flows.S1, EndReason: flows.EndActive}, OtherEnd},
		{"UDP evicted", flows.Record{Proto: 17, State: flows.S0, EndReason: flows.EndEvicted}, OtherEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OutcomeOf(&tt.rec); got != tt.want {
				t.Errorf("OutcomeOf = %d, want %d", got, tt.want)
			}
		})
	}
}

// Values from numpy.quantile (linear, the default).
func TestQuantile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 10}
	for _, tt := range []struct{ q, want float64 }{
		{0, 1}, {0.1, 1.4}, {0.25, 2}, {0.5, 3}, {0.9, 7.6}, {0.99, 9.76}, {1, 10},
	} {
		if got := Quantile(xs, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Quantile(%v, %g) = %g, want %g", xs, tt.q, got, tt.want)
		}
	}
	if q := QuantilesOf([]float64{5}); q.N != 1 || q.P10 != 5 || q.Max != 5 {
		t.Errorf("one value: %+v", q)
	}
}

func TestCDFPoints(t *testing.T) {
	t.Run("few values, all kept", func(t *testing.T) {
		pts := cdfPoints("x", []float64{0, 0, 1, 2, 2, 2})
		want := []CDFPoint{{"x", 0, 2.0 / 6}, {"x", 1, 3.0 / 6}, {"x", 2, 1}}
		if !slices.Equal(pts, want) {
			t.Errorf("points = %v, want %v", pts, want)
		}
	})
	t.Run("many values, at most 200, exact ends", func(t *testing.T) {
		var xs []float64
		for i := range 100000 {
			xs = append(xs, float64(i%7919)*0.001+float64(i)*1e-9)
		}
		xs = append(xs, 0, 0, 0)
		slices.Sort(xs)
		pts := cdfPoints("x", xs)
		if len(pts) > MaxCDFPoints || len(pts) < MaxCDFPoints/2 {
			t.Fatalf("%d points", len(pts))
		}
		if first := pts[0]; first.Duration != 0 || first.Fraction != 4.0/float64(len(xs)) {
			t.Errorf("first point %v, want 0 at %g", first, 4.0/float64(len(xs)))
		}
		if last := pts[len(pts)-1]; last.Duration != xs[len(xs)-1] || last.Fraction != 1 {
			t.Errorf("last point %v, want %g at 1", last, xs[len(xs)-1])
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].Duration <= pts[i-1].Duration || pts[i].Fraction <= pts[i-1].Fraction {
				t.Fatalf("points %d and %d not increasing: %v %v", i-1, i, pts[i-1], pts[i])
			}
		}
	})
}

// A longer interval sums packets and recomputes the flow columns.
func TestLongerInterval(t *testing.T) {
	var fs []flow
	for i := range 50 {
		s := float64(i) * 3.7
		fs = append(fs, flow{src: fmt.Sprintf("10.0.1.%d", i%7), dst: "192.0.2.1", sport: uint16(2000 + i), dport: 443,
			proto: 6, state: flows.SF, end: flows.EndFIN, flags: [2]uint8{tcpSYN | tcpACK | tcpFIN, tcpSYN | tcpACK | tcpFIN},
			syns: 1, synacks: 1, pkts: []pkt{{s: s, fwd: true, syn: true}, {s: s + 0.1, synack: true}, {s: s + 9, fwd: true}}})
	}
	ds := dataset(t, 1, 60, fs...)
	fine := build(t, ds, BuildOptions{})
	coarse := build(t, ds, BuildOptions{Interval: 30 * time.Second})
	sum := map[int64][3]uint64{}
	for _, w := range fine.Intervals {
		k := w.Start - floorMod(w.Start, int64(30*time.Second))
		s := sum[k]
		sum[k] = [3]uint64{s[0] + w.Packets, s[1] + w.New, s[2] + w.Ended[Complete]}
	}
	for _, w := range coarse.Intervals {
		if got, want := [3]uint64{w.Packets, w.New, w.Ended[Complete]}, sum[w.Start]; got != want {
			t.Errorf("window %v: packets, new, complete = %v, want the sums %v", time.Unix(0, w.Start).UTC(), got, want)
		}
		if w.End-w.Start != int64(30*time.Second) {
			t.Errorf("window %d..%d is not 30 s", w.Start, w.End)
		}
	}
	if _, err := Build(ds, BuildOptions{Interval: 1500 * time.Millisecond}); err == nil {
		t.Error("an interval that is no multiple of the dataset's was accepted")
	}
}

// Findings appear at their thresholds and not below.
func TestFindingThresholds(t *testing.T) {
	synflood := func(sources int) []flow {
		var fs []flow
		for i := range 1200 {
			fs = append(fs, flow{src: fmt.Sprintf("198.51.%d.%d", i%sources/250, i%sources%250), dst: "192.0.2.10",
				sport: uint16(1024 + i), dport: 443, proto: 6, state: flows.S0, end: flows.EndEOF,
				flags: [2]uint8{tcpSYN, 0}, syns: 1, pkts: []pkt{{s: float64(i) / 100, fwd: true, syn: true}}})
		}
		return fs
	}
	// UDP reflection seen both ways the flow model may orient it.
	reflection := func(sources int, fromLowPort bool) []flow {
		var fs []flow
		for i := range 600 {
			f := flow{proto: 17, state: flows.S0, end: flows.EndEOF, pkts: []pkt{{s: float64(i) / 100, fwd: true}}}
			refl := fmt.Sprintf("203.0.113.%d", i%sources)
			if fromLowPort {
				// Reflector port 123 to victim port 80: the first sender originates.
				f.src, f.sport, f.dst, f.dport = refl, 123, "192.0.2.20", 80
			} else {
				// Reflector port 161 to victim port 40000: the victim is the originator.
				f.src, f.sport, f.dst, f.dport, f.state = "192.0.2.20", 40000, refl, 161, flows.SHR
				f.pkts = []pkt{{s: float64(i) / 100, fwd: false}}
			}
			fs = append(fs, f)
		}
		return fs
	}
	// UDP from one port of 30 sources to one victim, with requests from
	// the victim (a client of 30 servers) or without.
	// 1,200 flows from 30 sources, at perSecond flows a second.
	fromPortAt := func(port uint16, requests bool, perSecond float64) []flow {
		var fs []flow
		for i := range 1200 {
			s := float64(i) / perSecond
			f := flow{src: fmt.Sprintf("203.0.113.%d", i%30), sport: port, dst: "192.0.2.21", dport: uint16(2000 + i),
				proto: 17, state: flows.S0, end: flows.EndIdle, pkts: []pkt{{s: s, fwd: true}}}
			if requests {
				f.src, f.sport, f.dst, f.dport = f.dst, f.dport, f.src, f.sport
				f.state, f.pkts = flows.SF, []pkt{{s: s, fwd: true}, {s: s + 0.01}, {s: s + 0.02}}
			}
			fs = append(fs, f)
		}
		return fs
	}
	fromPort := func(port uint16, requests bool) []flow { return fromPortAt(port, requests, 2000) }
	scan := func(ports int) []flow {
		var fs []flow
		for i := range ports {
			fs = append(fs, flow{src: "10.9.9.9", dst: "192.0.2.30", sport: 50000, dport: uint16(1 + i), proto: 6,
				state: flows.REJ, end: flows.EndRST, flags: [2]uint8{tcpSYN, tcpRST | tcpACK}, syns: 1,
				pkts: []pkt{{s: float64(i) / 100, fwd: true, syn: true}, {s: float64(i)/100 + 0.001}}})
		}
		return fs
	}
	// Host scans need the fewest flows of one source (50 by default): the
	// count that lets a source's flows into the scans' sorts.
	hostScan := func(hosts int) []flow {
		var fs []flow
		for i := range hosts {
			fs = append(fs, flow{src: "10.9.9.8", dst: fmt.Sprintf("192.0.2.%d", 100+i), sport: 50000, dport: 22, proto: 6,
				state: flows.S0, end: flows.EndEOF, flags: [2]uint8{tcpSYN, 0}, syns: 1,
				pkts: []pkt{{s: float64(i) / 100, fwd: true, syn: true}}})
		}
		return fs
	}
	// UDP probes of ports, answered (a service) or not.
	udpScan := func(ports int, state flows.State) []flow {
		var fs []flow
		for i := range ports {
			f := flow{src: "10.9.9.7", dst: "192.0.2.31", sport: 40000, dport: uint16(1 + i), proto: 17,
				state: state, end: flows.EndIdle, pkts: []pkt{{s: float64(i) / 100, fwd: true}}}
			if state == flows.SF {
				f.pkts = append(f.pkts, pkt{s: float64(i)/100 + 0.01})
			}
			fs = append(fs, f)
		}
		return fs
	}
	// Pings of hosts, every other one answered.
	sweep := func(hosts int) []flow {
		var fs []flow
		for i := range hosts {
			f := flow{src: "10.9.9.6", dst: fmt.Sprintf("192.0.2.%d", 100+i), sport: 7, proto: 1, echo: true,
				state: flows.S0, end: flows.EndIdle, pkts: []pkt{{s: float64(i) / 100, fwd: true}}}
			if i%2 == 0 {
				f.state, f.pkts = flows.SF, append(f.pkts, pkt{s: float64(i)/100 + 0.001})
			}
			fs = append(fs, f)
		}
		return fs
	}
	// ACK probes, each answered by a RST: no SYN anywhere.
	ackScan := func(ports int) []flow {
		var fs []flow
		for i := range ports {
			fs = append(fs, flow{src: "10.9.9.5", dst: "192.0.2.32", sport: 50000, dport: uint16(1 + i), proto: 6,
				state: flows.OTH, end: flows.EndRST, flags: [2]uint8{tcpACK, tcpRST},
				pkts: []pkt{{s: float64(i) / 100, fwd: true}, {s: float64(i)/100 + 0.001}}})
		}
		return fs
	}
	// A connect scan: closed ports refuse, three open ones accept and are
	// reset by the scanner.
	connectScan := func(ports int) []flow {
		fs := scan(ports)
		for i := range 3 {
			fs[i*7].state, fs[i*7].end, fs[i*7].flags = flows.RSTO, flows.EndRST, [2]uint8{tcpSYN | tcpACK | tcpRST, tcpSYN | tcpACK}
		}
		return fs
	}
	tests := []struct {
		name string
		fs   []flow
		want []string
	}{
		{"SYN flood", synflood(100), []string{"SYN flood: 192.0.2.10:443/tcp"}},
		{"SYN flood, too few sources", synflood(99), nil},
		{"reflection to the originator", reflection(20, false), []string{"UDP reflection: 192.0.2.20 from port 161/udp (SNMP)"}},
		{"reflection from the originator", reflection(20, true), []string{"UDP reflection: 192.0.2.20 from port 123/udp (NTP)"}},
		{"IKE reflection", fromPort(500, false), []string{"UDP reflection: 192.0.2.21 from port 500/udp (IKE)"}},
		{"BACnet reflection", fromPort(47808, false), []string{"UDP reflection: 192.0.2.21 from port 47808/udp (BACnet)"}},
		{"reflection from an unlisted port", fromPort(40123, false), []string{"UDP reflection: 192.0.2.21 from port 40123/udp"}},
		{"a client of 30 servers on an unlisted port", fromPort(40123, true), nil},
		{"one-way at 100 packets/s from an unlisted port (syslog)", fromPortAt(514, false, 100), nil},
		{"reflection, too few sources", reflection(19, true), nil},
		{"port scan", scan(100), []string{"port scan: 10.9.9.9 (TCP SYN)"}},
		{"port scan, too few ports", scan(99), nil},
		{"connect scan", connectScan(100), []string{"port scan: 10.9.9.9 (TCP CONNECT)"}},
		{"ACK scan", ackScan(100), []string{"port scan: 10.9.9.5 (TCP ACK)"}},
		{"UDP scan", udpScan(100, flows.S0), []string{"port scan: 10.9.9.7 (UDP)"}},
		{"UDP to 100 answering ports", udpScan(100, flows.SF), nil},
		{"host scan", hostScan(50), []string{"host sweep: 10.9.9.8 (TCP SYN)"}},
		{"host scan, too few hosts", hostScan(49), nil},
		{"ping sweep", sweep(50), []string{"host sweep: 10.9.9.6 (ICMP echo)"}},
		{"ping sweep, too few hosts", sweep(49), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := build(t, dataset(t, 60, 60, tt.fs...), BuildOptions{NoPlots: true})
			var got []string
			for _, f := range st.Findings {
				got = append(got, f.Kind.String()+": "+f.Where())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestThresholdsValidate(t *testing.T) {
	for _, bad := range []Thresholds{{SYNFloodShare: 1.5}, {ScanShare: -0.1}, {ScanPorts: -1}, {ReflectRatio: 0.5}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := (Thresholds{}).Validate(); err != nil {
		t.Errorf("zero thresholds: %v", err)
	}
}

// Tables written and read back: Load gives the traffic NewDataset made.
func TestTablesRoundTrip(t *testing.T) {
	ds := dataset(t, 10, 30,
		flow{src: "10.0.0.1", dst: "2001:db8::1", sport: 1000, dport: 80, proto: 6, state: flows.SF, end: flows.EndFIN,
			flags: [2]uint8{0x13, 0x13}, syns: 1, synacks: 1,
			pkts: []pkt{{s: 5, fwd: true, syn: true}, {s: 5.1, synack: true}, {s: 12, fwd: true}}},
		flow{src: "10.0.0.2", dst: "192.0.2.1", sport: 1001, dport: 53, proto: 17, state: flows.S0, end: flows.EndIdle,
			pkts: []pkt{{s: 15, fwd: true}, {s: 45, fwd: true}}},
	)
	ds.Summary.Inputs = []tables.Input{}
	dir := t.TempDir()
	if err := tables.WriteFlows(dir+"/"+tables.FlowsFile, 0, ds.Flows); err != nil {
		t.Fatal(err)
	}
	if err := tables.WriteJSON(dir+"/"+tables.SummaryFile, &ds.Summary); err != nil {
		t.Fatal(err)
	}
	st := build(t, ds, BuildOptions{})
	if err := WriteTables(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// intervals.parquet has the traffic's columns but the flows' shares
	// each way and their number (timelines.parquet and
	// host_windows.parquet have them by target and host).
	want := slices.Clone(ds.Traffic)
	for i := range want {
		want[i].RespPackets, want[i].RespBytes, want[i].Flows = 0, 0, 0
	}
	if got.Interval != ds.Interval || !slices.Equal(got.Traffic, want) {
		t.Errorf("traffic read back:\n%+v\nwant\n%+v", got.Traffic, want)
	}
	for i := range ds.Flows {
		want, g := ds.Flows[i], got.Flows[i]
		if g != want {
			t.Errorf("flow %d read back:\n%+v\nwant\n%+v", i, g, want)
		}
	}
	again := build(t, got, BuildOptions{})
	if string(renderMarkdown(again)) != string(renderMarkdown(st)) {
		t.Error("the report of the loaded dataset differs")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{FormatCount(0), "0"},
		{FormatCount(999), "999"},
		{FormatCount(1000), "1 k"},
		{FormatCount(4993), "4.99 k"},
		{FormatCount(37669), "37.7 k"},
		{FormatCount(999_600), "1 M"},
		{FormatCount(1_234_567), "1.23 M"},
		{FormatBytes(512), "512 B"},
		{FormatBytes(1_513_640), "1.51 MB"},
		{FormatBitRate(340e6), "340 Mbit/s"},
		{FormatBitRate(0.5), "0.5 bit/s"},
		{FormatRate(1597.3), "1.6 k"},
		{FormatDuration(0), "0 s"},
		{FormatDuration(25e-6), "25 µs"},
		{FormatDuration(0.0318), "31.8 ms"},
		{FormatDuration(23.68), "23.7 s"},
		{FormatDuration(60), "60 s"},
		{FormatDuration(312), "5.2 min"},
		{FormatDuration(3 * 86400), "3 d"},
		{FormatPercent(0.995), "99.5 %"},
		{FormatPercent(1), "100 %"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// Traffic far apart in short windows gives the windows with something in
// them, not every window between.
func TestSparseWindows(t *testing.T) {
	far := float64(3 * maxDenseWindows)
	ds := dataset(t, 1, 60,
		flow{src: "10.0.0.1", dst: "192.0.2.1", sport: 1, dport: 80, proto: 6, state: flows.S0, end: flows.EndEOF,
			flags: [2]uint8{tcpSYN, 0}, syns: 1, pkts: []pkt{{s: 0, fwd: true, syn: true}, {s: 1, fwd: true, syn: true}}},
		flow{src: "10.0.0.1", dst: "192.0.2.1", sport: 2, dport: 80, proto: 6, state: flows.S0, end: flows.EndEOF,
			flags: [2]uint8{tcpSYN, 0}, syns: 1, pkts: []pkt{{s: far, fwd: true, syn: true}, {s: far + 1, fwd: true, syn: true}}},
	)
	st := build(t, ds, BuildOptions{})
	if len(st.Rates) != 4 {
		t.Errorf("%d rates, want 4", len(st.Rates))
	}
	if len(st.Timelines) != 1 || st.Timelines[0].Series.Windows != 4 {
		t.Errorf("timelines = %+v, want one of 4 windows", st.Timelines)
	}
	if len(st.Intervals) != 4 {
		t.Errorf("%d intervals, want 4", len(st.Intervals))
	}
}

// TestCoveredWindows checks the windows covered by random spans against
// a plain count of every window, for ranges below maxDenseWindows
// (difference array) and beyond (sorted spans), sparse and dense.
func TestCoveredWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		spans := make([]span, 1+rng.IntN(20))
		for k := range spans {
			first := rng.Int64N(50) - 25
			if round%4 == 3 && k%2 == 1 { // two groups, far apart
				first += 5 * maxDenseWindows
			}
			spans[k] = span{first, first + rng.Int64N(4)}
		}
		covered := map[int64]bool{}
		lo, hi := spans[0].first, spans[0].last
		for _, s := range spans {
			for w := s.first; w <= s.last; w++ {
				covered[w] = true
			}
			lo, hi = min(lo, s.first), max(hi, s.last)
		}
		for _, dense := range []bool{false, true} {
			var want []int64
			if dense && hi-lo < maxDenseWindows {
				for w := lo; w <= hi; w++ {
					want = append(want, w)
				}
			} else {
				for w := range covered {
					want = append(want, w)
				}
				slices.Sort(want)
			}
			if got := windowsOf(spans, dense); !slices.Equal(got, want) {
				t.Fatalf("spans %v, dense %v: windows %v, want %v", spans, dense, got, want)
			}
		}
	}
}
