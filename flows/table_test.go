package flows

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"flowstat/reader"
)

const sec = int64(time.Second)

var (
	client = netip.MustParseAddr("10.0.0.1")
	server = netip.MustParseAddr("192.0.2.80")
)

// pkt describes one packet of a scenario: who sends it at which time.
type pkt struct {
	at      float64 // seconds from the scenario's start
	fromCli bool
	flags   uint8
	payload uint32
}

const t0 = 1_700_000_000 * sec

func tcp(at float64, fromCli bool, flags uint8, payload uint32) pkt {
	return pkt{at, fromCli, flags, payload}
}

// run feeds TCP packets between client:40000 and server:80 through a table
// and returns the records it emitted.
func run(t *testing.T, opts Options, pkts []pkt) []Record {
	t.Helper()
	recs, _ := runWindows(t, opts, pkts)
	return recs
}

// runWindows is run that also returns each record's windows.
func runWindows(t *testing.T, opts Options, pkts []pkt) ([]Record, [][]Window) {
	t.Helper()
	var out []Record
	var windows [][]Window
	tab := New(opts, func(r *Record, ws []Window) {
		out = append(out, *r)
		windows = append(windows, slices.Clone(ws))
	})
	for _, p := range pkts {
		rp := reader.Packet{Time: t0 + int64(p.at*float64(sec)), IPVersion: 4, Proto: reader.ProtoTCP,
			TCPFlags: p.flags, Payload: p.payload, IPLen: 40 + p.payload}
		if p.fromCli {
			rp.Src, rp.Dst, rp.SrcPort, rp.DstPort = client.As16(), server.As16(), 40000, 80
		} else {
			rp.Src, rp.Dst, rp.SrcPort, rp.DstPort = server.As16(), client.As16(), 80, 40000
		}
		tab.Add(&rp)
	}
	tab.Flush(0)
	return out, windows
}

const (
	S  = reader.SYN
	SA = reader.SYN | reader.ACK
	A  = reader.ACK
	FA = reader.FIN | reader.ACK
	R  = reader.RST
	RA = reader.RST | reader.ACK
	PA = reader.PSH | reader.ACK
)

func TestTCPStates(t *testing.T) {
	handshake := []pkt{tcp(0, true, S, 0), tcp(0.01, false, SA, 0), tcp(0.02, true, A, 0)}
	with := func(more ...pkt) []pkt { return append(append([]pkt{}, handshake...), more...) }
	tests := []struct {
		name     string
		pkts     []pkt
		state    State
		halfOpen bool
		history  string
		end      EndReason
		srcIsCli bool
	}{
		{"complete", with(tcp(0.03, true, PA, 100), tcp(0.04, false, PA, 500), tcp(0.05, true, FA, 0), tcp(0.06, false, FA, 0), tcp(0.07, true, A, 0)),
			SF, false, "ShADdFf", EndFIN, true},
		{"syn only with retransmits", []pkt{tcp(0, true, S, 0), tcp(1, true, S, 0), tcp(3, true, S, 0)}, S0, false, "S", EndEOF, true},
		{"rejected", []pkt{tcp(0, true, S, 0), tcp(0.01, false, RA, 0)}, REJ, false, "Sr", EndRST, true},
		{"half open", []pkt{tcp(0, true, S, 0), tcp(0.01, false, SA, 0), tcp(1, false, SA, 0)}, S1, true, "Sh", EndEOF, true},
		{"established, not closed", with(tcp(0.03, true, PA, 10)), S1, false, "ShAD", EndEOF, true},
		{"originator reset", with(tcp(0.03, true, RA, 0)), RSTO, false, "ShAR", EndRST, true},
		{"responder reset", with(tcp(0.03, false, R, 0)), RSTR, false, "ShAr", EndRST, true},
		{"originator fin only", with(tcp(0.03, true, FA, 0)), S2, false, "ShAF", EndEOF, true},
		{"responder fin only", with(tcp(0.03, false, FA, 0)), S3, false, "ShAf", EndEOF, true},
		{"syn then own reset", []pkt{tcp(0, true, S, 0), tcp(0.5, true, R, 0)}, RSTOS0, false, "SR", EndRST, true},
		{"syn then own fin", []pkt{tcp(0, true, S, 0), tcp(0.5, true, reader.FIN, 0)}, SH, false, "SF", EndEOF, true},
		// Without a SYN, the receiver of the SYN-ACK is the originator.
		{"syn-ack only", []pkt{tcp(0, false, SA, 0)}, OTH, false, "h", EndEOF, true},
		{"syn-ack then reset", []pkt{tcp(0, false, SA, 0), tcp(0.1, false, R, 0)}, RSTRH, false, "hr", EndRST, true},
		{"syn-ack then fin", []pkt{tcp(0, false, SA, 0), tcp(0.1, false, FA, 0)}, SHR, false, "hf", EndEOF, true},
		// Midstream: the lower port (80) is the responder, whoever spoke first.
		{"midstream from server", []pkt{tcp(0, false, PA, 100), tcp(0.1, true, A, 0)}, OTH, false, "dA", EndEOF, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := run(t, Options{}, tc.pkts)
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.State != tc.state || r.HalfOpen != tc.halfOpen || r.History.String() != tc.history || r.EndReason != tc.end {
				t.Errorf("state %v half_open %v history %q end %v; want %v %v %q %v",
					r.State, r.HalfOpen, r.History, r.EndReason, tc.state, tc.halfOpen, tc.history, tc.end)
			}
			if (r.SrcIP.Addr() == client) != tc.srcIsCli {
				t.Errorf("src = %v, want the client %v: %v", r.SrcIP, tc.srcIsCli, client)
			}
			var cli, srv uint64
			for _, p := range tc.pkts {
				if p.fromCli {
					cli++
				} else {
					srv++
				}
			}
			fwd, rev := cli, srv
			if !tc.srcIsCli {
				fwd, rev = srv, cli
			}
			if r.Packets != [2]uint64{fwd, rev} {
				t.Errorf("packets %v, want [%d %d]", r.Packets, fwd, rev)
			}
		})
	}
}

func TestCompleteFlowCounters(t *testing.T) {
	recs := run(t, Options{}, []pkt{
		tcp(0, true, S, 0), tcp(0.5, true, S, 0), tcp(0.6, false, SA, 0), tcp(0.7, true, A, 0),
		tcp(1, true, PA, 100), tcp(2, false, FA, 0), tcp(2.1, true, FA, 0), tcp(2.2, false, A, 0),
	})
	if len(recs) != 1 {
		t.Fatalf("got %d records", len(recs))
	}
	r := recs[0]
	if r.SYNs != 2 || r.SYNACKs != 1 || r.RSTs != 0 {
		t.Errorf("syn %d synack %d rst %d", r.SYNs, r.SYNACKs, r.RSTs)
	}
	// The RTT runs from the first SYN, as the retransmission's answer cannot
	// be told apart.
	if r.HandshakeRTT != int64(0.6*float64(sec)) {
		t.Errorf("handshake rtt %d", r.HandshakeRTT)
	}
	if r.Bytes != [2]uint64{5*40 + 100, 3 * 40} {
		t.Errorf("bytes %v", r.Bytes)
	}
	if r.TCPFlags[Fwd] != S|A|PA|FA || r.TCPFlags[Rev] != SA|FA {
		t.Errorf("flags %#x %#x", r.TCPFlags[Fwd], r.TCPFlags[Rev])
	}
	if r.Duration() != 2.2 || r.FirstSeen != t0 {
		t.Errorf("duration %v first %d", r.Duration(), r.FirstSeen)
	}
}

func TestFlowEnds(t *testing.T) {
	closeSeq := []pkt{tcp(0, true, S, 0), tcp(0.1, false, SA, 0), tcp(0.2, true, A, 0), tcp(1, true, FA, 0), tcp(1.1, false, FA, 0)}
	t.Run("final ack within linger joins", func(t *testing.T) {
		recs := run(t, Options{}, append(append([]pkt{}, closeSeq...), tcp(2.5, true, A, 0)))
		if len(recs) != 1 || recs[0].Packets[Fwd] != 4 || recs[0].EndReason != EndFIN {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("packet after linger starts a new flow", func(t *testing.T) {
		recs := run(t, Options{}, append(append([]pkt{}, closeSeq...), tcp(4, true, A, 0)))
		if len(recs) != 2 || recs[0].Packets[Fwd] != 3 || recs[1].State != OTH {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("new syn during linger starts a new flow", func(t *testing.T) {
		recs := run(t, Options{}, append(append([]pkt{}, closeSeq...), tcp(1.5, true, S, 0), tcp(1.6, false, SA, 0)))
		if len(recs) != 2 || recs[0].State != SF || recs[1].State != S1 || recs[1].FirstSeen != t0+int64(1.5*float64(sec)) {
			t.Fatalf("%+v", recs)
		}
		if recs[0].ID == recs[1].ID {
			t.Error("two flows share an id")
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		recs := run(t, Options{IdleTimeout: 5 * time.Second}, []pkt{tcp(0, true, S, 0), tcp(4, true, S, 0), tcp(10, true, S, 0)})
		if len(recs) != 2 || recs[0].EndReason != EndIdle || recs[0].Packets[Fwd] != 2 || recs[1].EndReason != EndEOF {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("a packet an idle timeout older than the flow starts another", func(t *testing.T) {
		// The clock went back years (corpus/babel_update_oobr.pcap): one
		// flow would span them, and the report's windows with it.
		years := 68 * 365 * 24 * 3600.0
		recs := run(t, Options{IdleTimeout: 5 * time.Second}, []pkt{tcp(years, true, S, 0), tcp(years-4, true, S, 0), tcp(0, true, S, 0)})
		if len(recs) != 2 || recs[0].Packets[Fwd] != 2 || recs[0].EndReason != EndIdle || recs[1].Packets[Fwd] != 1 ||
			recs[0].LastSeen-recs[0].FirstSeen != 4*sec {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("active timeout cuts and keeps orientation", func(t *testing.T) {
		pkts := append([]pkt{}, closeSeq[:3]...)
		for i := 1; i <= 25; i++ {
			pkts = append(pkts, tcp(float64(i), false, PA, 10))
		}
		recs := run(t, Options{ActiveTimeout: 10 * time.Second}, pkts)
		if len(recs) != 3 {
			t.Fatalf("got %d records, want 3", len(recs))
		}
		for i, r := range recs {
			if r.SrcIP.Addr() != client || r.State != S1 {
				t.Errorf("record %d: src %v state %v", i, r.SrcIP, r.State)
			}
		}
		if recs[0].EndReason != EndActive || recs[2].EndReason != EndEOF {
			t.Errorf("end reasons %v %v", recs[0].EndReason, recs[2].EndReason)
		}
		// The handshake is in the first piece: the others did not see it.
		if got := []int64{recs[0].HandshakeRTT, recs[1].HandshakeRTT, recs[2].HandshakeRTT}; !slices.Equal(got, []int64{sec / 10, -1, -1}) {
			t.Errorf("handshake RTTs %v, want [%d -1 -1]", got, sec/10)
		}
		var total uint64
		for _, r := range recs {
			total += r.Packets[Fwd] + r.Packets[Rev]
		}
		if total != uint64(len(pkts)) {
			t.Errorf("packets %d, want %d", total, len(pkts))
		}
	})
}

func udp(at float64, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) reader.Packet {
	return reader.Packet{Time: t0 + int64(at*float64(sec)), IPVersion: 4, Proto: reader.ProtoUDP,
		Src: src.As16(), Dst: dst.As16(), SrcPort: sport, DstPort: dport, IPLen: 100}
}

func collect(opts Options, pkts ...reader.Packet) []Record {
	var out []Record
	tab := New(opts, func(r *Record, _ []Window) { out = append(out, *r) })
	for i := range pkts {
		tab.Add(&pkts[i])
	}
	tab.Flush(0)
	return out
}

func TestUDPOrientation(t *testing.T) {
	t.Run("first sender originates", func(t *testing.T) {
		recs := collect(Options{}, udp(0, client, 5353, server, 5000), udp(1, server, 5000, client, 5353))
		if len(recs) != 1 || recs[0].SrcIP.Addr() != client || recs[0].State != SF {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("service port first is the responder", func(t *testing.T) {
		recs := collect(Options{}, udp(0, server, 161, client, 40000))
		if len(recs) != 1 || recs[0].SrcIP.Addr() != client || recs[0].DstPort != 161 || recs[0].State != SHR {
			t.Fatalf("%+v", recs)
		}
	})
	t.Run("one way", func(t *testing.T) {
		recs := collect(Options{}, udp(0, client, 40000, server, 53))
		if len(recs) != 1 || recs[0].State != S0 || recs[0].DstPort != 53 {
			t.Fatalf("%+v", recs)
		}
	})
}

func TestICMPEcho(t *testing.T) {
	echo := func(at float64, src, dst netip.Addr, typ uint8) reader.Packet {
		return reader.Packet{Time: t0 + int64(at*float64(sec)), IPVersion: 4, Proto: reader.ProtoICMP,
			Src: src.As16(), Dst: dst.As16(), SrcPort: 77, DstPort: 0, ICMPType: typ, IPLen: 84}
	}
	// The reply comes first (capture started late): the request's sender is
	// still the originator.
	recs := collect(Options{}, echo(0, server, client, 0), echo(1, client, server, 8), echo(1.01, server, client, 0))
	if len(recs) != 1 {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.SrcIP.Addr() != client || r.SrcPort != 77 || r.DstPort != 0 || r.Packets != [2]uint64{1, 2} || r.State != SF {
		t.Errorf("%+v", r)
	}
	unreach := reader.Packet{Time: t0, IPVersion: 4, Proto: reader.ProtoICMP, Src: server.As16(), Dst: client.As16(),
		SrcPort: 3, DstPort: 3, ICMPType: 3, ICMPError: true, IPLen: 56}
	var stats Stats
	tab := New(Options{}, func(r *Record, _ []Window) {
		if r.SrcPort != 3 || r.DstPort != 3 || r.SrcIP.Addr() != server {
			t.Errorf("unreachable record %+v", r)
		}
	})
	tab.Add(&unreach)
	tab.Flush(0)
	if stats = tab.Stats(); stats.ICMPErrors != 1 || stats.Flows != 1 {
		t.Errorf("stats %+v", stats)
	}
}

func TestFragments(t *testing.T) {
	first := udp(0, server, 53, client, 40000)
	first.Frag, first.FragID, first.IPLen = reader.FirstFrag, 9, 1500
	later := reader.Packet{Time: t0 + sec/100, IPVersion: 4, Proto: reader.ProtoUDP, Src: server.As16(), Dst: client.As16(),
		Frag: reader.LaterFrag, FragID: 9, IPLen: 700}
	orphan := later
	orphan.FragID = 10
	early := later
	early.FragID, early.Time = 11, t0
	firstOfEarly := first
	firstOfEarly.FragID, firstOfEarly.Time = 11, t0+sec/50

	var recs []Record
	tab := New(Options{}, func(r *Record, _ []Window) { recs = append(recs, *r) })
	for _, p := range []reader.Packet{first, later, orphan, early, firstOfEarly} {
		tab.Add(&p)
	}
	tab.Flush(0)
	if len(recs) != 1 {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Packets[Rev] != 4 || r.Bytes[Rev] != 1500+700+700+1500 || r.DstPort != 53 {
		t.Errorf("%+v", r)
	}
	if s := tab.Stats(); s.Fragments != 5 || s.OrphanFragments != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestWindows(t *testing.T) {
	recs, windows := runWindows(t, Options{Interval: 10 * time.Second}, []pkt{
		tcp(0, true, S, 0), tcp(0.1, false, SA, 0), tcp(0.2, true, A, 0), tcp(25, true, PA, 60),
	})
	start := t0 - t0%(10*sec)
	want := []Window{{Start: start, Packets: 3, Bytes: 120, RespPackets: 1, RespBytes: 40, SYNs: 1, SYNACKs: 1}, {Start: start + 20*sec, Packets: 1, Bytes: 100}}
	if len(recs) != 1 || !slices.Equal(windows[0], want) {
		t.Fatalf("windows %+v, want %+v", windows, want)
	}
}

// TestWindowsMatchPackets holds a flow's per-interval counts to a count of
// its packets by interval, over random packets that go back in time across
// interval boundaries: a flow in one interval has its counts made from its
// totals, one that reaches another keeps them per interval.
func TestWindowsMatchPackets(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	flagsOf := []uint8{S, SA, A, PA}
	for round := range 300 {
		interval := []time.Duration{time.Second, 10 * time.Second}[round%2]
		pkts := []pkt{tcp(rng.Float64()*30, true, S, 0)}
		for range rng.IntN(12) {
			at := pkts[len(pkts)-1].at + rng.Float64()*4 - 1.5 // sometimes earlier than the one before
			pkts = append(pkts, tcp(max(at, 0), rng.IntN(2) == 0, flagsOf[rng.IntN(len(flagsOf))], uint32(rng.IntN(3))*100))
		}
		recs, windows := runWindows(t, Options{Interval: interval}, pkts)
		if len(recs) != 1 {
			t.Fatalf("round %d: %d records, want 1", round, len(recs))
		}
		byStart := map[int64]*Window{}
		var want []Window
		var syns uint32
		for _, p := range pkts {
			at := t0 + int64(p.at*float64(sec))
			start := at - at%int64(interval)
			w := byStart[start]
			if w == nil {
				want = append(want, Window{Start: start})
				w = &Window{Start: start}
				byStart[start] = w
			}
			w.Packets++
			w.Bytes += uint64(40 + p.payload)
			if !p.fromCli {
				w.RespPackets++
				w.RespBytes += uint64(40 + p.payload)
			}
			if p.flags == S {
				syns++
			}
			if p.flags == S && p.fromCli { // the client is the originator: its first packet is a SYN
				w.SYNs++
			}
			if p.flags == SA && !p.fromCli {
				w.SYNACKs++
			}
		}
		for i := range want {
			want[i] = *byStart[want[i].Start]
		}
		slices.SortFunc(want, func(a, b Window) int { return cmp.Compare(a.Start, b.Start) })
		if !slices.Equal(windows[0], want) || recs[0].SYNs != syns {
			t.Fatalf("round %d, packets %+v:\nwindows %+v\nwant    %+v (SYNs %d, want %d)", round, pkts, windows[0], want, recs[0].SYNs, syns)
		}
	}
}

func TestFlowIDDeterministic(t *testing.T) {
	pkts := []pkt{tcp(0, true, S, 0), tcp(0.1, false, SA, 0)}
	a, b := run(t, Options{}, pkts), run(t, Options{}, pkts)
	if a[0].ID != b[0].ID || a[0].ID == 0 {
		t.Errorf("ids %d %d", a[0].ID, b[0].ID)
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	tab := New(Options{}, func(*Record, []Window) {})
	p := reader.Packet{Time: t0, IPVersion: 4, Proto: reader.ProtoTCP, Src: client.As16(), Dst: server.As16(),
		SrcPort: 40000, DstPort: 80, TCPFlags: A, IPLen: 40}
	tab.Add(&p)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Time += 1000
		tab.Add(&p)
	})
	if allocs != 0 {
		t.Errorf("Add allocates %.1f times per packet of a known flow", allocs)
	}
}

func TestCheckpoint(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			var mu sync.Mutex
			var recs []Record
			sh := NewSharded(n, Options{}, func(_ int, r *Record, _ []Window) { mu.Lock(); recs = append(recs, *r); mu.Unlock() })
			add := func(at float64, fromCli bool, flags uint8) {
				p := reader.Packet{Time: t0 + int64(at*float64(sec)), IPVersion: 4, Proto: reader.ProtoTCP, TCPFlags: flags, IPLen: 40}
				if fromCli {
					p.Src, p.Dst, p.SrcPort, p.DstPort = client.As16(), server.As16(), 40000, 80
				} else {
					p.Src, p.Dst, p.SrcPort, p.DstPort = server.As16(), client.As16(), 80, 40000
				}
				sh.Add(&p)
			}
			add(0, true, S)
			add(0.1, false, SA)
			sh.Checkpoint()
			add(1, true, A)
			add(2, true, FA)
			add(2.1, false, FA)
			sh.Close(nil)
			if len(recs) != 2 {
				t.Fatalf("got %d records: %+v", len(recs), recs)
			}
			open, final := recs[0], recs[1]
			if open.EndReason != EndOpen || open.State != S1 || open.Packets != [2]uint64{1, 1} {
				t.Errorf("checkpoint record %+v", open)
			}
			if final.ID != open.ID || final.EndReason != EndFIN || final.State != SF || final.Packets != [2]uint64{3, 2} {
				t.Errorf("final record %+v", final)
			}
		})
	}
}

// TestMaxFlowsEvictsLongestSilent fills a table of three flows and checks
// which flows new ones push out: the one silent for longest, an idle one
// as idle, and that nothing is lost.
func TestMaxFlowsEvictsLongestSilent(t *testing.T) {
	var recs []Record
	tab := New(Options{MaxFlows: 3, IdleTimeout: 60 * time.Second}, func(r *Record, _ []Window) { recs = append(recs, *r) })
	send := func(at float64, port uint16) {
		p := udp(at, client, port, server, 53)
		tab.Add(&p)
	}
	send(0, 1)  // flow 1
	send(5, 2)  // flow 2
	send(10, 3) // flow 3
	send(15, 1) // flow 1 is busy again: flow 2 is now silent for longest
	send(20, 4) // full: evicts flow 2
	send(25, 5) // full: evicts flow 3
	if len(recs) != 2 || recs[0].SrcPort != 2 || recs[1].SrcPort != 3 ||
		recs[0].EndReason != EndEvicted || recs[1].EndReason != EndEvicted {
		t.Fatalf("evicted %+v, want the flows from ports 2 then 3, evicted", recs)
	}
	if tab.Len() != 3 {
		t.Errorf("table holds %d flows, want 3", tab.Len())
	}
	// 65 s after flow 1's last packet it is idle: a new flow ends it as
	// idle (the wheel has not visited it yet), not as evicted.
	send(80, 6)
	if r := recs[len(recs)-1]; len(recs) != 3 || r.SrcPort != 1 || r.EndReason != EndIdle || r.Packets[Fwd] != 2 {
		t.Fatalf("records %+v, want flow 1 ended as idle with its 2 packets", recs)
	}
	tab.Flush(tab.Now())
	var pkts uint64
	for _, r := range recs {
		pkts += r.Packets[Fwd] + r.Packets[Rev]
	}
	if len(recs) != 6 || pkts != 7 {
		t.Errorf("%d records with %d packets, want 6 with all 7", len(recs), pkts)
	}
}

// TestMaxFlowsBoundsTheTable sends many short-lived and long-lived flows
// through a small table: it never holds more than its bound, and every
// packet lands in some record.
func TestMaxFlowsBoundsTheTable(t *testing.T) {
	var recs []Record
	tab := New(Options{MaxFlows: 100}, func(r *Record, _ []Window) { recs = append(recs, *r) })
	sent := 0
	for i := 0; i < 10000; i++ {
		p := udp(float64(i)/100, client, uint16(i%997), server, uint16(1000+i%13))
		tab.Add(&p)
		sent++
		if tab.Len() > 100 {
			t.Fatalf("after packet %d the table holds %d flows", i, tab.Len())
		}
	}
	tab.Flush(tab.Now())
	var pkts, evicted uint64
	for _, r := range recs {
		pkts += r.Packets[Fwd] + r.Packets[Rev]
		if r.EndReason == EndEvicted {
			evicted++
		}
	}
	if pkts != uint64(sent) || evicted == 0 {
		t.Errorf("records hold %d of %d packets, %d evicted", pkts, sent, evicted)
	}
}

// TestAddBatchEqualsAdd feeds the same packets to sharded tables one by
// one and in batches split by shard: the records and counts are the same.
func TestAddBatchEqualsAdd(t *testing.T) {
	var pkts []reader.Packet
	for i := 0; i < 20000; i++ {
		p := udp(float64(i)/50, netip.AddrFrom4([4]byte{10, 0, byte(i % 7), byte(i % 251)}), uint16(i%97), server, 53)
		if i%100 == 99 {
			p.Time -= 3 * sec // out of order
		}
		if i%2 == 1 {
			p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
		}
		pkts = append(pkts, p)
	}
	collect := func(feed func(*Sharded)) ([]Record, Stats) {
		var mu sync.Mutex
		var recs []Record
		sh := NewSharded(3, Options{}, func(_ int, r *Record, _ []Window) { mu.Lock(); recs = append(recs, *r); mu.Unlock() })
		feed(sh)
		st := sh.Close(nil)
		slices.SortFunc(recs, func(a, b Record) int { return cmp.Or(cmp.Compare(a.FirstSeen, b.FirstSeen), cmp.Compare(a.ID, b.ID)) })
		return recs, st
	}
	one, st1 := collect(func(sh *Sharded) {
		for i := range pkts {
			sh.Add(&pkts[i])
		}
	})
	batched, st2 := collect(func(sh *Sharded) {
		for start := 0; start < len(pkts); start += 3000 {
			batches := make([][]reader.Packet, 3)
			var times []int64
			for _, p := range pkts[start:min(start+3000, len(pkts))] {
				i := sh.Shard(&p)
				batches[i] = append(batches[i], p)
				times = append(times, p.Time)
			}
			sh.Observe(times)
			for i, b := range batches {
				sh.AddBatch(i, b)
			}
		}
	})
	if !slices.Equal(one, batched) || st1 != st2 || st1.OutOfOrder == 0 {
		t.Errorf("batched: %d records, stats %+v; one by one: %d records, stats %+v", len(batched), st2, len(one), st1)
	}
}

// TestSlabBeyondTheHeap grows a table past its chunks in the Go heap into
// mapped memory (slab.go), ends half its flows as idle so that their
// entries are reused, flushes it (which unmaps that memory) and uses it
// again: every flow has one record, with its own packets.
func TestSlabBeyondTheHeap(t *testing.T) {
	const n = 3 * heapChunks << chunkBits // flows at once: 8 chunks in mappings
	server := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	recs := map[netip.Addr]Record{}
	tab := New(Options{IdleTimeout: 10 * time.Second}, func(r *Record, _ []Window) {
		dst := r.DstIP.Addr()
		if _, dup := recs[dst]; dup {
			t.Fatalf("two records for %v: %+v and %+v", dst, recs[dst], *r)
		}
		recs[dst] = *r
	})
	send := func(at float64, i int, count int) {
		for range count {
			p := udp(at, client, 50000, server(i), 53)
			tab.Add(&p)
		}
	}
	for round, at := range []float64{0, 100} {
		clear(recs)
		for i := range n {
			send(at, i, 1+i%3)
		}
		if tab.Len() != n {
			t.Fatalf("round %d: the table holds %d flows, want %d", round, tab.Len(), n)
		}
		// The even flows send again; the odd ones are idle from at+10 and
		// reclaimed once packet time passes at+20: new flows (n and
		// above) take their entries.
		for i := 0; i < n; i += 2 {
			send(at+5, i, 1)
			send(at+12, i, 1)
		}
		for i := n; i < n+n/2; i++ {
			send(at+21, i, 1)
		}
		if tab.Len() != n {
			t.Fatalf("round %d: the table holds %d flows after reuse, want %d", round, tab.Len(), n)
		}
		tab.Flush(tab.Now())
		if tab.Len() != 0 || len(recs) != n+n/2 {
			t.Fatalf("round %d: %d flows left after Flush, %d records, want 0 and %d", round, tab.Len(), len(recs), n+n/2)
		}
		for i := range n + n/2 {
			want := uint64(1)
			switch {
			case i < n && i%2 == 0:
				want = uint64(1+i%3) + 2
			case i < n:
				want = uint64(1 + i%3)
			}
			r := recs[server(i)]
			if r.Packets[Fwd] != want || r.Packets[Rev] != 0 || r.SrcPort != 50000 {
				t.Fatalf("round %d: flow %d: record %+v, want %d packets from port 50000", round, i, r, want)
			}
		}
	}
}

// TestFlowEntrySize guards the size of the flow table's entry: four cache
// lines, which a packet's update mostly touches.
func TestFlowEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(flow{}); got != 256 {
		t.Errorf("a flow entry takes %d bytes, want 256", got)
	}
}

// TestRecordSize guards the size of a Record, which its field order keeps
// free of padding.
func TestRecordSize(t *testing.T) {
	if got := unsafe.Sizeof(Record{}); got != 232 {
		t.Errorf("a Record takes %d bytes, want 232", got)
	}
}
