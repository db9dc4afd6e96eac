package main

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"flowstat/tables"
)

// tsharkSide is what one direction of a TCP or UDP 5-tuple carried, as
// tshark dissects it.
type tsharkSide struct {
	payload        uint64
	minTTL, maxTTL int
	packets        int
}

// tsharkFlows sums, per direction of each TCP and UDP 5-tuple
// ("src sport dst dport proto"), the payload (tcp.len, udp.length less its
// header) and the TTL or hop limit range that tshark reads in trace.
func tsharkFlows(t *testing.T, trace string) map[string]*tsharkSide {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent dissection to compare with")
	}
	fields := []string{"ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ipv6.nxt", "tcp.srcport", "tcp.dstport",
		"udp.srcport", "udp.dstport", "tcp.len", "udp.length", "ip.ttl", "ipv6.hlim", "ip.flags.mf", "ip.frag_offset"}
	args := []string{"-r", trace, "-T", "fields", "-E", "separator=,", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	sides := map[string]*tsharkSide{}
	for line := range strings.Lines(string(out)) {
		v := strings.Split(strings.TrimRight(line, "\n"), ",")
		src, dst, proto, ttl := v[0], v[1], v[4], v[12]
		if src == "" {
			src, dst, proto, ttl = v[2], v[3], v[5], v[13]
		}
		if v[14] == "1" || (v[15] != "" && v[15] != "0") {
			t.Fatalf("%s has IP fragments, which this comparison does not reassemble", trace)
		}
		var sport, dport string
		var payload uint64
		switch proto {
		case "6":
			sport, dport = v[6], v[7]
			payload, _ = strconv.ParseUint(v[10], 10, 64)
		case "17":
			sport, dport = v[8], v[9]
			n, _ := strconv.ParseUint(v[11], 10, 64)
			payload = n - 8
		default:
			continue
		}
		key := strings.Join([]string{src, sport, dst, dport, proto}, " ")
		s := sides[key]
		if s == nil {
			s = &tsharkSide{minTTL: 256}
			sides[key] = s
		}
		n, _ := strconv.Atoi(ttl)
		s.payload += payload
		s.minTTL, s.maxTTL = min(s.minTTL, n), max(s.maxTTL, n)
		s.packets++
	}
	return sides
}

// TestPayloadAndTTLsAsTshark compares, on real captures, each TCP and UDP
// flow's payload bytes and TTL range per direction with tshark's
// dissection of the same packets.
func TestPayloadAndTTLsAsTshark(t *testing.T) {
	for _, name := range []string{"cs-httpServerCredentials.pcap", "na-url_redirection.pcapng", "amp.UDP.snmp.src161.pcapng", "pkt.TCP.synflood.spoofed.pcap"} {
		t.Run(name, func(t *testing.T) {
			trace := realTrace(t, name)
			want := tsharkFlows(t, trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-report", trace); code != exitOK {
				t.Fatalf("exit status %d", code)
			}
			db := openDuckDB(t)
			rows, err := db.Query(fmt.Sprintf(`SELECT src_ip, src_port, dst_ip, dst_port, proto,
				sum(packets_fwd), sum(payload_bytes_fwd), min(ttl_min_fwd) FILTER (packets_fwd > 0), max(ttl_max_fwd),
				sum(packets_rev), sum(payload_bytes_rev), min(ttl_min_rev) FILTER (packets_rev > 0), max(ttl_max_rev)
				FROM read_parquet('%s') WHERE proto IN (6, 17) GROUP BY ALL`, filepath.Join(dir, "flows.parquet")))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			compared := 0
			for rows.Next() {
				var src, dst string
				var sport, dport, proto int
				var pk, pay, lo, hi [2]int64
				var nlo [2]*int64
				if err := rows.Scan(&src, &sport, &dst, &dport, &proto, &pk[0], &pay[0], &nlo[0], &hi[0], &pk[1], &pay[1], &nlo[1], &hi[1]); err != nil {
					t.Fatal(err)
				}
				for d := range 2 {
					if nlo[d] != nil {
						lo[d] = *nlo[d]
					}
					key := fmt.Sprintf("%s %d %s %d %d", src, sport, dst, dport, proto)
					if d == 1 {
						key = fmt.Sprintf("%s %d %s %d %d", dst, dport, src, sport, proto)
					}
					w := want[key]
					if pk[d] == 0 {
						if w != nil {
							t.Errorf("%s: tshark sees %d packets, the flows none", key, w.packets)
						}
						continue
					}
					if w == nil {
						t.Errorf("%s: %d packets in the flows, none for tshark", key, pk[d])
						continue
					}
					got := fmt.Sprintf("%d packets, %d payload bytes, TTL %d..%d", pk[d], pay[d], lo[d], hi[d])
					if exp := fmt.Sprintf("%d packets, %d payload bytes, TTL %d..%d", w.packets, w.payload, w.minTTL, w.maxTTL); got != exp {
						t.Errorf("%s: %s, tshark %s", key, got, exp)
					}
					compared++
				}
			}
			if compared == 0 || compared < len(want) {
				t.Errorf("compared %d directions of %d that tshark sees", compared, len(want))
			}
		})
	}
}

// tsharkPairs returns the address pairs of trace's IP packets, each as
// "low high", of the innermost (occurrence l) or the outermost (f) IP
// header.
func tsharkPairs(t *testing.T, trace, occurrence string) map[string]bool {
	t.Helper()
	out, err := exec.Command("tshark", "-r", trace, "-T", "fields", "-E", "separator=,", "-E", "occurrence="+occurrence,
		"-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "frame.protocols").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	pairs := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		v := strings.Split(strings.TrimRight(line, "\n"), ",")
		// The protocols in order say which IP header is the innermost or
		// the outermost, IPv4 or IPv6.
		var families []string
		for _, p := range strings.Split(v[4], ":") {
			if p == "ip" || p == "ipv6" {
				families = append(families, p)
			}
		}
		if len(families) == 0 {
			continue
		}
		family := families[0]
		if occurrence == "l" {
			family = families[len(families)-1]
		}
		a, b := v[0], v[1]
		if family == "ipv6" {
			a, b = v[2], v[3]
		}
		pairs[unorderedPair(a, b)] = true
	}
	return pairs
}

func unorderedPair(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + " " + b
}

// TestTunnelFlowsAsTshark analyses tcpdump's captures of tunnels: the
// flows are between the innermost addresses tshark dissects, each marked
// with its tunnel; with --no-decap they are between the outer ones,
// marked with none.
func TestTunnelFlowsAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent dissection to compare with")
	}
	for name, kind := range map[string]string{"geneve.pcap": "geneve", "gso-ipv4-vxlan-ipv4.pcap": "vxlan", "gso-ipv6-vxlan-ipv6.pcap": "vxlan",
		"gso-ipv6-geneve-ipv4.pcap": "geneve", "erspan-type-ii-1.pcap": "erspan"} {
		t.Run(name, func(t *testing.T) {
			trace := filepath.Join(sharedDir(), "corpus", name)
			if _, err := os.Stat(trace); err != nil {
				t.Skipf("tcpdump's captures are absent (%v)", err)
			}
			for _, decap := range []bool{true, false} {
				dir := t.TempDir()
				args := []string{"--no-report", trace}
				want, wantKind := tsharkPairs(t, trace, "l"), kind
				if !decap {
					args = append([]string{"--no-decap"}, args...)
					want, wantKind = tsharkPairs(t, trace, "f"), "none"
				}
				if code := analyzeInto(t, dir, args...); code != exitOK {
					t.Fatalf("exit status %d", code)
				}
				db := openDuckDB(t)
				rows, err := db.Query(fmt.Sprintf(`SELECT DISTINCT src_ip, dst_ip, coalesce(tunnel, 'none') FROM read_parquet('%s')`,
					filepath.Join(dir, "flows.parquet")))
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]bool{}
				for rows.Next() {
					var src, dst, tunnel string
					if err := rows.Scan(&src, &dst, &tunnel); err != nil {
						t.Fatal(err)
					}
					got[unorderedPair(src, dst)] = true
					if tunnel != wantKind {
						t.Errorf("decap %v: flow %s > %s in tunnel %s, want %s", decap, src, dst, tunnel, wantKind)
					}
				}
				rows.Close()
				if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(sortedKeys(want)) {
					t.Errorf("decap %v: flows between %v, tshark %v", decap, sortedKeys(got), sortedKeys(want))
				}
			}
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestPeakSecondAsTshark checks the peak second of every real capture
// against tshark's frame times: the same second (the one with the most
// frames, the earliest of equals), the same number of frames and bytes on
// the wire, and the part of it that the capture covers.
func TestPeakSecondAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent count to compare with")
	}
	for _, name := range []string{"pkt.TCP.synflood.spoofed.pcap", "amp.UDP.snmp.src161.pcapng", "amp.TCP.reflection.SYNACK.pcap",
		"amp.dns.RRSIG.fragmented.pcap", "cs-httpServerCredentials.pcap", "na-url_redirection.pcapng", "ps-tcp_syn.pcap"} {
		t.Run(name, func(t *testing.T) {
			trace := realTrace(t, name)
			out, err := exec.Command("tshark", "-r", trace, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			type count struct{ frames, bytes uint64 }
			perSecond := map[int64]*count{}
			var first, last float64
			for i, line := range slices.Collect(strings.Lines(string(out))) {
				var at float64
				var size uint64
				if _, err := fmt.Sscan(line, &at, &size); err != nil {
					t.Fatalf("tshark line %q: %v", line, err)
				}
				if i == 0 {
					first, last = at, at
				}
				first, last = min(first, at), max(last, at)
				sec := int64(at) // the captures are after 1970: truncation is the floor
				if perSecond[sec] == nil {
					perSecond[sec] = &count{}
				}
				perSecond[sec].frames++
				perSecond[sec].bytes += size
			}
			var best int64
			for sec, c := range perSecond {
				if b := perSecond[best]; b == nil || c.frames > b.frames || (c.frames == b.frames && sec < best) {
					best = sec
				}
			}
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-report", trace); code != exitOK {
				t.Fatalf("analyze exited %d", code)
			}
			s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
			if err != nil {
				t.Fatal(err)
			}
			p := s.Peak
			if p == nil {
				t.Fatal("summary.json has no peak_second")
			}
			want := perSecond[best]
			if p.Start.Unix() != best || p.Packets != want.frames || p.Bytes != want.bytes {
				t.Errorf("peak second %v: %d frames, %d bytes; tshark: %v, %d frames, %d bytes",
					p.Start, p.Packets, p.Bytes, time.Unix(best, 0).UTC(), want.frames, want.bytes)
			}
			covered := min(float64(best+1), last) - max(float64(best), first)
			if math.Abs(p.CoveredS-covered) > 2e-6 {
				t.Errorf("the capture covers %g s of its peak second, tshark's times say %g s", p.CoveredS, covered)
			}
		})
	}
}

// TestFindingSourcesAsTshark checks the reflectors finding_sources.parquet
// lists for the real SNMP reflection against tshark's count of what each
// sent the victim from port 161: packets and IP bytes, for the 50 most
// active and any of the others.
func TestFindingSourcesAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent count to compare with")
	}
	trace := realTrace(t, "amp.UDP.snmp.src161.pcapng")
	out, err := exec.Command("tshark", "-r", trace, "-Y", "ip.dst == 10.10.10.10 && udp.srcport == 161",
		"-T", "fields", "-e", "ip.src", "-e", "ip.len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type sent struct{ packets, bytes uint64 }
	want := map[string]*sent{}
	for line := range strings.Lines(string(out)) {
		var src string
		var n uint64
		if _, err := fmt.Sscan(line, &src, &n); err != nil {
			t.Fatalf("tshark line %q: %v", line, err)
		}
		if want[src] == nil {
			want[src] = &sent{}
		}
		want[src].packets++
		want[src].bytes += n
	}
	dir := t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
		t.Fatalf("analyze exited %d", code)
	}
	rows, err := openDuckDB(t).Query(fmt.Sprintf(`SELECT src_ip, src_port, packets, bytes FROM read_parquet('%s/finding_sources.parquet')
		WHERE finding_id = 1 ORDER BY packets DESC, flows DESC, src_ip`, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var listed []sent
	for rows.Next() {
		var src string
		var port int
		var s sent
		if err := rows.Scan(&src, &port, &s.packets, &s.bytes); err != nil {
			t.Fatal(err)
		}
		if w := want[src]; port != 161 || w == nil || *w != s {
			t.Errorf("reflector %s port %d: %d packets, %d bytes; tshark: %+v", src, port, s.packets, s.bytes, w)
		}
		listed = append(listed, s)
	}
	// The most active are listed: no reflector left out sent more.
	all := slices.Collect(maps.Values(want))
	slices.SortFunc(all, func(a, b *sent) int { return cmp.Compare(b.packets, a.packets) })
	if len(listed) != min(1000, len(all)) || len(listed) == 0 {
		t.Fatalf("%d reflectors listed of %d", len(listed), len(all))
	}
	for i := range min(50, len(listed)) {
		if listed[i].packets != all[i].packets {
			t.Errorf("the %d-th most active reflector sent %d packets, tshark's %d", i+1, listed[i].packets, all[i].packets)
		}
	}
}

// TestSpoofingHintsAsTshark checks the real SYN flood's spoofing hints in
// findings.parquet against tshark's reading of its SYNs: the range of their
// TTLs and the number of sources.
func TestSpoofingHintsAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent count to compare with")
	}
	trace := realTrace(t, "pkt.TCP.synflood.spoofed.pcap")
	out, err := exec.Command("tshark", "-r", trace, "-Y", "ip.dst == 10.10.10.10 && tcp.dstport == 25565 && tcp.flags.syn == 1 && tcp.flags.ack == 0",
		"-T", "fields", "-e", "ip.ttl", "-e", "ip.src").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	minTTL, maxTTL, sources := 256, 0, map[string]bool{}
	for line := range strings.Lines(string(out)) {
		var ttl int
		var src string
		if _, err := fmt.Sscan(line, &ttl, &src); err != nil {
			t.Fatalf("tshark line %q: %v", line, err)
		}
		minTTL, maxTTL, sources[src] = min(minTTL, ttl), max(maxTTL, ttl), true
	}
	dir := t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
		t.Fatalf("analyze exited %d", code)
	}
	var kind string
	var gotMin, gotMax, gotSources, bogons int
	err = openDuckDB(t).QueryRow(fmt.Sprintf(`SELECT kind, ttl_min, ttl_max, sources, bogon_sources FROM read_parquet('%s/findings.parquet')`, dir)).
		Scan(&kind, &gotMin, &gotMax, &gotSources, &bogons)
	if err != nil {
		t.Fatal(err)
	}
	if kind != "syn_flood" || gotMin != minTTL || gotMax != maxTTL || gotSources != len(sources) || bogons != 0 {
		t.Errorf("%s: TTLs %d..%d, %d sources, %d bogons; tshark: TTLs %d..%d, %d sources", kind, gotMin, gotMax, gotSources, bogons,
			minTTL, maxTTL, len(sources))
	}
}

// TestFindingsAsTshark checks each real capture's findings against
// tshark's reading of the packets that make them (fragments not
// reassembled; those whose first fragment never came are in no flow): the
// packets the sources sent the victim, the number of sources, and the
// peak: the second with the most of those packets, over the part of it the
// capture covers. The peak of a reflection whose reflectors' flows last
// many seconds (the DNS amplification) is an estimate from the flows' mean
// rates, not checked; a SYN flood's counts all traffic of its destination.
func TestFindingsAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent count to compare with")
	}
	tests := []struct {
		trace, kind string
		port        int    // the finding's port, -1 for none
		filter      string // the finding's packets
		source      string // the field naming their source
		checkPeak   bool
	}{
		{"pkt.TCP.synflood.spoofed.pcap", "syn_flood", 25565, "ip.addr == 10.10.10.10 && tcp.port == 25565", "", true},
		{"amp.UDP.snmp.src161.pcapng", "udp_reflection", 161, "ip.dst == 10.10.10.10 && udp.srcport == 161 && !icmp", "ip.src", true},
		{"amp.TCP.reflection.SYNACK.pcap", "tcp_reflection", 80, "ip.dst == 10.10.10.10 && tcp.srcport == 80 && tcp.flags.syn == 1", "ip.src", true},
		{"amp.TCP.reflection.SYNACK.pcap", "tcp_reflection", 443, "ip.dst == 10.10.10.10 && tcp.srcport == 443 && tcp.flags.syn == 1", "ip.src", true},
		{"amp.TCP.reflection.SYNACK.pcap", "tcp_flood", -1, "ip.dst == 10.10.10.10 && tcp && tcp.flags.syn == 0 && !icmp", "ip.src", true},
		{"amp.dns.RRSIG.fragmented.pcap", "udp_reflection", 53, "ip.dst == 10.10.10.10 && (udp.srcport == 53 || ip.frag_offset > 0) && !icmp", "ip.src", false},
	}
	for _, tt := range tests {
		t.Run(tt.trace+"/"+tt.kind, func(t *testing.T) {
			trace := realTrace(t, tt.trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
				t.Fatalf("analyze exited %d", code)
			}
			query := fmt.Sprintf(`SELECT coalesce(packets_in, syn_packets), sources, peak_pps FROM read_parquet('%s/findings.parquet')
				WHERE kind = '%s' AND coalesce(port, -1) = %d`, dir, tt.kind, tt.port)
			var packets, sources int64
			var peak float64
			if err := openDuckDB(t).QueryRow(query).Scan(&packets, &sources, &peak); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			out, err := exec.Command("tshark", "-o", "ip.defragment:FALSE", "-r", trace, "-Y", tt.filter, "-T", "fields", "-E", "separator=,",
				"-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.id", "-e", "ip.frag_offset").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			type packet struct {
				time              float64
				src, id, fragment string
			}
			var seen []packet
			firsts := map[string]bool{} // src and IP ID of the first fragments
			for line := range strings.Lines(string(out)) {
				v := strings.Split(strings.TrimSpace(line), ",")
				ts, _ := strconv.ParseFloat(v[0], 64)
				seen = append(seen, packet{ts, v[1], v[2], v[3]})
				if v[3] == "0" {
					firsts[v[1]+" "+v[2]] = true
				}
			}
			perSecond, srcs := map[int64]int64{}, map[string]bool{}
			var n int64
			for _, p := range seen {
				if p.fragment != "0" && p.fragment != "" && !firsts[p.src+" "+p.id] {
					continue // an orphan fragment: in no flow
				}
				perSecond[int64(math.Floor(p.time))]++
				srcs[p.src] = true
				n++
			}
			if tt.kind == "syn_flood" {
				// A SYN flood counts the SYNs to its destination.
				syns, err := exec.Command("tshark", "-r", trace, "-Y", "ip.dst == 10.10.10.10 && tcp.flags.syn == 1 && tcp.flags.ack == 0").Output()
				if err != nil {
					t.Fatal(err)
				}
				n = int64(strings.Count(string(syns), "\n"))
			}
			if packets != n || (tt.source != "" && sources != int64(len(srcs))) {
				t.Errorf("%d packets from %d sources; tshark: %d from %d", packets, sources, n, len(srcs))
			}
			if !tt.checkPeak {
				return
			}
			first, last := captureSpan(t, trace)
			var best, most int64
			for sec, k := range perSecond {
				if k > most || k == most && sec < best {
					best, most = sec, k
				}
			}
			covered := min(float64(best+1), last) - max(float64(best), first)
			if want := float64(most) / covered; math.Abs(peak-want) > 0.005*want {
				t.Errorf("peak %.1f packets/s; tshark: %d packets in the second from %s, %.6f s of it covered: %.1f",
					peak, most, time.Unix(best, 0).UTC().Format(time.TimeOnly), covered, want)
			}
		})
	}
}

// captureSpan returns the times of a trace's first and last packet, in
// seconds, as tshark reads them.
func captureSpan(t *testing.T, trace string) (first, last float64) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", trace, "-T", "fields", "-e", "frame.time_epoch").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Fields(string(out))
	first, _ = strconv.ParseFloat(lines[0], 64)
	last, _ = strconv.ParseFloat(lines[len(lines)-1], 64)
	return first, last
}
