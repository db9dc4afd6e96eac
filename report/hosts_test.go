package report

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"flowstat/flows"
)

// randomRecords makes records between a few hosts, IPv4 and IPv6, over
// many ports: some hosts have more peer ports than hostTally searches
// without an index.
func randomRecords(n int) []flows.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	v4 := []string{"192.0.2.1", "192.0.2.2", "198.51.100.7", "203.0.113.9"}
	v6 := []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}
	recs := make([]flows.Record, n)
	for i := range recs {
		hosts := v4
		if i%5 == 0 {
			hosts = v6
		}
		src, dst := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		first := int64(1e18) + rng.Int64N(1e12)
		recs[i] = flows.Record{
			ID: uint64(i + 1), SrcIP: flows.IPOf(netip.MustParseAddr(src)), DstIP: flows.IPOf(netip.MustParseAddr(dst)),
			SrcPort: uint16(1024 + rng.IntN(40)), DstPort: uint16([]int{53, 80, 443}[rng.IntN(3)]),
			Proto: []uint8{protoTCP, protoUDP, protoICMP}[rng.IntN(3)], FirstSeen: first, LastSeen: first + rng.Int64N(1e10),
			Packets: [2]uint64{1 + rng.Uint64N(5), rng.Uint64N(1 << 40)}, Bytes: [2]uint64{rng.Uint64N(1 << 20), rng.Uint64N(1 << 50)},
		}
	}
	return recs
}

// TestHostFlowEncoding checks that the parts' encoding of a host's flow
// gives it back unchanged.
func TestHostFlowEncoding(t *testing.T) {
	recs := randomRecords(200)
	n := 0
	for i := range recs {
		for _, orig := range []bool{true, false} {
			f := hostFlowOf(&recs[i], orig)
			var got hostFlow
			readHostFlow(appendHostFlow(nil, &f), &got)
			if got != f {
				t.Errorf("encoded %+v, read %+v", f, got)
			}
			n++
		}
	}
	if n != 2*len(recs) {
		t.Errorf("%d host flows of %d records, want two each", n, len(recs))
	}
}

// TestHostRows checks the rows of hosts against counts made here from the
// records, host by host: packets and bytes each way, flows by role,
// distinct peers, span and the top peer ports.
func TestHostRows(t *testing.T) {
	recs := randomRecords(3000)
	b := &builder{ds: &Dataset{Flows: recs}}
	st := &Stats{}
	b.hosts(st)

	type tally struct {
		row   hostRow
		peers map[flows.IP]bool
		ports map[[2]int]uint64
	}
	want := map[flows.IP]*tally{}
	side := func(r *flows.Record, host, peer flows.IP, in, out int, orig bool, port uint16) {
		x := want[host]
		if x == nil {
			x = &tally{row: hostRow{IP: host, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}, peers: map[flows.IP]bool{}, ports: map[[2]int]uint64{}}
			want[host] = x
		}
		x.row.Packets[received] += r.Packets[in]
		x.row.Bytes[received] += r.Bytes[in]
		x.row.Packets[sent] += r.Packets[out]
		x.row.Bytes[sent] += r.Bytes[out]
		if orig {
			x.row.Originated++
		} else {
			x.row.Responded++
		}
		x.peers[peer] = true
		x.row.FirstSeen, x.row.LastSeen = min(x.row.FirstSeen, r.FirstSeen), max(x.row.LastSeen, r.LastSeen)
		if r.Proto == protoICMP {
			port = 0
		}
		x.ports[[2]int{int(r.Proto), int(port)}] += r.Packets[0] + r.Packets[1]
	}
	for i := range recs {
		r := &recs[i]
		side(r, r.SrcIP, r.DstIP, flows.Rev, flows.Fwd, true, r.DstPort)
		side(r, r.DstIP, r.SrcIP, flows.Fwd, flows.Rev, false, r.SrcPort)
	}
	if len(st.hosts) != len(want) {
		t.Fatalf("%d rows, want %d", len(st.hosts), len(want))
	}
	manyPorts := 0
	for i, got := range st.hosts {
		if i > 0 && st.hosts[i-1].IP.Compare(got.IP) >= 0 {
			t.Errorf("row %d (%v) is not after %v", i, got.IP, st.hosts[i-1].IP)
		}
		x := want[got.IP]
		if x == nil {
			t.Errorf("row of %v, which has no flow", got.IP)
			continue
		}
		w := x.row
		w.Peers = uint64(len(x.peers))
		var ports []peerPort
		for k, n := range x.ports {
			ports = append(ports, peerPort{Packets: n, Proto: uint8(k[0]), Port: uint16(k[1])})
		}
		slices.SortFunc(ports, func(a, b peerPort) int {
			return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
		})
		copy(w.Top[:], ports)
		if len(ports) > 16 {
			manyPorts++
		}
		if got != w {
			t.Errorf("%v:\n got %s\nwant %s", got.IP, fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", w))
		}
	}
	if manyPorts == 0 {
		t.Errorf("no host has more than 16 peer ports: the index is not tested")
	}
}
