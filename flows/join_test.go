package flows

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"flowstat/reader"
)

// TestJoinEqualsOneTable cuts random packet sequences of a few TCP and
// UDP keys (handshakes, closes, resets, silences longer than the idle
// timeout, flows longer than the active timeout) at random times into
// inputs, runs a map task's table on each, passes what they hand out
// through its encodings, and joins them: the records and their windows
// are those of one table over all the packets.
func TestJoinEqualsOneTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 26))
	flagsOf := []uint8{S, SA, A, PA, FA, R, RA}
	for round := range 400 {
		opts := Options{IdleTimeout: 10 * time.Second, Interval: time.Second}
		if round%3 == 0 {
			opts.ActiveTimeout = 25 * time.Second
		}
		var pkts []reader.Packet
		at := t0
		for range 10 + rng.IntN(150) {
			gap := rng.Int64N(3 * sec)
			if rng.IntN(15) == 0 {
				gap = 8*sec + rng.Int64N(6*sec) // about the idle timeout
			}
			at += gap
			p := reader.Packet{Time: at, IPVersion: 4, IPLen: 40, TTL: uint8(rng.IntN(64)), Frame: uint64(len(pkts) + 1)}
			key := rng.IntN(4)
			cli, srv := netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + key%2)}), server
			p.Src, p.Dst, p.SrcPort, p.DstPort = cli.As16(), srv.As16(), 40000, 80
			if rng.IntN(2) == 0 {
				p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
			}
			if key < 2 {
				p.Proto, p.TCPFlags, p.Seq = reader.ProtoTCP, flagsOf[rng.IntN(len(flagsOf))], rng.Uint32N(3000)
				p.Payload = uint32(rng.IntN(3)) * 100
			} else {
				p.Proto, p.Payload = reader.ProtoUDP, uint32(rng.IntN(200))
			}
			p.IPLen += p.Payload
			pkts = append(pkts, p)
		}
		var cuts []int
		for range 1 + rng.IntN(3) {
			cuts = append(cuts, rng.IntN(len(pkts)))
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		want := recordsOf(func(emit EmitFunc) {
			tab := New(opts, emit)
			for i := range pkts {
				tab.Add(&pkts[i])
			}
			tab.Flush(pkts[len(pkts)-1].Time)
		})
		got := recordsOf(func(emit EmitFunc) { joinPieces(t, opts, pkts, cuts, emit) })
		if len(got) != len(want) {
			t.Fatalf("round %d, cuts %v: %d records joined, %d from one table", round, cuts, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d, cuts %v, record %d:\njoined %s\nwant   %s", round, cuts, i, got[i], want[i])
			}
		}
	}
}

// recordsOf returns the records run emits, with their windows, as text in
// the order of their first packets.
func recordsOf(run func(EmitFunc)) []string {
	type rec struct {
		r  Record
		ws []Window
	}
	var out []rec
	run(func(r *Record, ws []Window) { out = append(out, rec{*r, slices.Clone(ws)}) })
	slices.SortFunc(out, func(a, b rec) int {
		return cmp.Or(cmp.Compare(a.r.FirstSeen, b.r.FirstSeen), cmp.Compare(a.r.ID, b.r.ID))
	})
	var s []string
	for _, x := range out {
		x.r.Joinable, x.r.Input = false, 0 // a map task's mark; inputs are numbered apart
		s = append(s, fmt.Sprintf("%+v %+v", x.r, x.ws))
	}
	return s
}

// joinPieces runs a map task's table over each piece of pkts that cuts
// make, hands its records, logged packets and open flows through their
// encodings, and joins them, as flowstat merge does.
func joinPieces(t *testing.T, opts Options, pkts []reader.Packet, cuts []int, emit EmitFunc) {
	t.Helper()
	j := NewJoiner(opts, emit)
	bounds := append(append([]int{0}, cuts...), len(pkts))
	for i := range len(bounds) - 1 {
		piece := pkts[bounds[i]:bounds[i+1]]
		if len(piece) == 0 {
			continue
		}
		o := opts
		o.JoinFrom = piece[0].Time
		var recs []Record
		var windows [][]Window
		var logged, open [][]byte
		tab := New(o, func(r *Record, ws []Window) {
			recs = append(recs, *r)
			windows = append(windows, slices.Clone(ws))
		})
		tab.LogJoinable(func(jp *JoinPacket) { logged = append(logged, AppendJoinPacket(nil, jp)) })
		for k := range piece {
			tab.Add(&piece[k])
		}
		tab.OpenFlows(func(of *OpenFlow) { open = append(open, AppendOpenFlow(nil, of)) })
		j.Begin(i)
		for _, b := range logged {
			var jp JoinPacket
			if rest, err := ReadJoinPacket(b, &jp); err != nil || len(rest) > 0 {
				t.Fatalf("a logged packet reads back with %d bytes left, %v", len(rest), err)
			}
			k := jp.Key()
			if j.Wants(KeyHash(&k)) { // as merge skips the others undecoded
				j.Packet(&jp, &k)
			}
		}
		replaced := j.Replaced()
		for k := range recs {
			if !replaced.Has(&recs[k]) {
				emit(&recs[k], windows[k])
			}
		}
		for _, b := range open {
			var of OpenFlow
			if rest, err := ReadOpenFlow(b, &of); err != nil || len(rest) > 0 {
				t.Fatalf("an open flow reads back with %d bytes left, %v", len(rest), err)
			}
			if err := j.Open(&of); err != nil {
				t.Fatal(err)
			}
		}
		j.End(piece[len(piece)-1].Time)
	}
	j.Flush(pkts[len(pkts)-1].Time)
}
