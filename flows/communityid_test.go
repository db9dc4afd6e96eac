package flows

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"flowstat/reader"
)

// communityIDDir holds the Community ID specification's baselines and
// captures (../shared/traces/SOURCES.md).
const communityIDDir = "../../shared/traces/community-id"

// baselineTuple is one entry of a baseline: a flow tuple and its ID. ICMP
// tuples give the type and its counterpart or code as ports.
type baselineTuple struct {
	Proto       uint8
	Saddr       string
	Daddr       string
	Sport       *uint16
	Dport       *uint16
	CommunityID string
}

func readBaseline(t *testing.T, name string) []baselineTuple {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(communityIDDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("the Community ID baselines are absent (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var tuples []baselineTuple
	if err := json.Unmarshal(data, &tuples); err != nil {
		t.Fatal(err)
	}
	return tuples
}

func recordOf(tu baselineTuple) Record {
	src, dst := netip.MustParseAddr(tu.Saddr), netip.MustParseAddr(tu.Daddr)
	r := Record{Proto: tu.Proto, IPVersion: 6, SrcIP: IPOf(src), DstIP: IPOf(dst)}
	if src.Is4() {
		r.IPVersion = 4
	}
	if tu.Sport != nil {
		r.SrcPort, r.DstPort = *tu.Sport, *tu.Dport
	}
	if r.Proto == reader.ProtoICMP || r.Proto == reader.ProtoICMPv6 {
		r.ICMPType, r.ICMPCode = uint8(r.SrcPort), uint8(r.DstPort)
	}
	return r
}

// TestCommunityIDBaselines computes the ID of every tuple of the
// specification's baselines, with seeds 0 and 1.
func TestCommunityIDBaselines(t *testing.T) {
	for name, seed := range map[string]uint16{"baseline_deflt.json": 0, "baseline_seed1.json": 1} {
		tuples := readBaseline(t, name)
		if len(tuples) < 20 {
			t.Fatalf("%s: %d tuples", name, len(tuples))
		}
		for _, tu := range tuples {
			r := recordOf(tu)
			if got := string(r.AppendCommunityID(nil, seed)); got != tu.CommunityID {
				t.Errorf("%s: %+v: got %s, want %s", name, r, got, tu.CommunityID)
			}
		}
	}
}

// TestCommunityIDOfFlows reads the specification's captures into flows:
// each flow's ID must be one of the baseline's, and each of the baseline's
// IDs must be some flow's.
func TestCommunityIDOfFlows(t *testing.T) {
	want := map[string]bool{}
	for _, tu := range readBaseline(t, "baseline_deflt.json") {
		want[tu.CommunityID] = true
	}
	got := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(communityIDDir, "*.pcap"))
	for _, path := range paths {
		tr, err := reader.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		tab := New(Options{}, func(r *Record, _ []Window) {
			id := string(r.AppendCommunityID(nil, 0))
			if !want[id] {
				t.Errorf("%s: flow %s:%d > %s:%d proto %d echo %v: %s is not in the baseline",
					filepath.Base(path), r.SrcIP, r.SrcPort, r.DstIP, r.DstPort, r.Proto, r.Echo, id)
			}
			got[id] = true
		})
		var p reader.Packet
		var fr reader.Frame
		for {
			err := tr.Next(&fr)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if reader.Decode(fr.LinkType, fr.Data, &p) == reader.OK {
				p.Time = fr.Time
				tab.Add(&p)
			}
		}
		tab.Flush(0)
		tr.Close()
	}
	for id := range want {
		if !got[id] {
			t.Errorf("no flow has the baseline's %s", id)
		}
	}
}

// TestCommunityIDEcho: an echo flow, keyed by its identifier, hashes as
// its request, and never shares a key with an unreachable message of the
// same numbers.
func TestCommunityIDEcho(t *testing.T) {
	a, b := netip.MustParseAddr("192.168.0.89"), netip.MustParseAddr("192.168.0.1")
	icmp := func(src, dst netip.Addr, id, typ uint8) reader.Packet {
		p := reader.Packet{Time: t0, IPVersion: 4, Proto: reader.ProtoICMP, Src: src.As16(), Dst: dst.As16(),
			SrcPort: uint16(id), ICMPType: typ, IPLen: 84}
		if typ == 3 {
			p.SrcPort, p.DstPort, p.ICMPError = 3, 0, true
		}
		return p
	}
	recs := collect(Options{}, icmp(b, a, 3, 0), icmp(a, b, 3, 8), icmp(b, a, 3, 3))
	if len(recs) != 2 {
		t.Fatalf("%d records, want the echo and the unreachable apart: %+v", len(recs), recs)
	}
	for _, r := range recs {
		if typ := map[bool]uint8{true: 8, false: 3}[r.Echo]; r.ICMPType != typ || r.ICMPCode != 0 {
			t.Errorf("echo %v: type %d code %d", r.Echo, r.ICMPType, r.ICMPCode)
		}
		got := string(r.AppendCommunityID(nil, 0))
		want := "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" // the baseline's echo between these hosts
		if !r.Echo {
			// pycommunityid's make_icmp("192.168.0.1", "192.168.0.89", 3, 0)
			want = "1:OJ2372gvbJTkCJqnN5Z/BIrIbsg="
		}
		if got != want {
			t.Errorf("echo %v: %s, want %s", r.Echo, got, want)
		}
	}
}
