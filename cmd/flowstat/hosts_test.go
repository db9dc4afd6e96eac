package main

import (
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"flowstat/scripts/gen"
	"flowstat/tables"
)

// hostCounts is what one address received and sent: packets and IP bytes.
type hostCounts struct {
	packetsIn, bytesIn, packetsOut, bytesOut uint64
}

// tsharkHosts counts, per address, the packets and IP bytes each IP
// header of trace names it the destination or source of, as tshark reads
// them.
func tsharkHosts(t *testing.T, trace string) map[string]*hostCounts {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent dissection to compare with")
	}
	out, err := exec.Command("tshark", "-r", trace, "-T", "fields", "-E", "separator=,", "-E", "aggregator=|",
		"-e", "ip.src", "-e", "ip.dst", "-e", "ip.len", "-e", "ip.proto", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.plen").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	hosts := map[string]*hostCounts{}
	get := func(ip string) *hostCounts {
		if hosts[ip] == nil {
			hosts[ip] = &hostCounts{}
		}
		return hosts[ip]
	}
	for line := range strings.Lines(string(out)) {
		v := strings.Split(strings.TrimRight(line, "\n"), ",")
		// The outer header, but the inner one of a tunnel (GRE,
		// IP in IP), whose flows are those of the inner packets; an ICMP
		// error's quoted header is not the packet's.
		at := func(field string, last bool) string {
			all := strings.Split(field, "|")
			if last {
				return all[len(all)-1]
			}
			return all[0]
		}
		protos := strings.Split(v[3], "|")
		tunnel := protos[0] == "47" || protos[0] == "4" || protos[0] == "41"
		src, dst, size := at(v[0], tunnel), at(v[1], tunnel), at(v[2], tunnel)
		v6 := src == ""
		if v6 {
			src, dst, size = at(v[4], tunnel), at(v[5], tunnel), at(v[6], tunnel)
		}
		if src == "" {
			continue // not IP
		}
		n, _ := strconv.ParseUint(size, 10, 64)
		if v6 {
			n += 40 // the IPv6 header, which the payload length leaves out
		}
		get(src).packetsOut++
		get(src).bytesOut += n
		get(dst).packetsIn++
		get(dst).bytesIn += n
	}
	return hosts
}

// hostsOf reads the packet and byte columns of hosts.parquet.
func hostsOf(t *testing.T, db *sql.DB, dir string) map[string]hostCounts {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf(`SELECT ip, packets_received, bytes_received, packets_sent, bytes_sent FROM '%s'`,
		filepath.Join(dir, "hosts.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]hostCounts{}
	for rows.Next() {
		var ip string
		var c hostCounts
		if err := rows.Scan(&ip, &c.packetsIn, &c.bytesIn, &c.packetsOut, &c.bytesOut); err != nil {
			t.Fatal(err)
		}
		out[ip] = c
	}
	return out
}

// TestHostsRealTraces checks hosts.parquet on the public attack captures:
// every address's packets and bytes received and sent are tshark's, and
// each row is the sum, over the flows of flows.parquet, of the address's
// side of them, computed here in SQL.
func TestHostsRealTraces(t *testing.T) {
	traces, _ := filepath.Glob(filepath.Join(sharedDir(), "real", "*"))
	if len(traces) == 0 {
		realTrace(t, "amp.UDP.snmp.src161.pcapng") // skips with the reason
	}
	db := openDuckDB(t)
	for _, trace := range traces {
		t.Run(filepath.Base(trace), func(t *testing.T) {
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--hosts", trace); code != 0 {
				t.Fatalf("analyze exited %d", code)
			}
			got := hostsOf(t, db, dir)
			want := tsharkHosts(t, trace)
			s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
			if err != nil {
				t.Fatal(err)
			}
			// Fragments whose first fragment never came are in no flow:
			// they are what tshark counts beyond hosts.parquet.
			var missing uint64
			for ip, w := range want {
				g := got[ip]
				if s.Packets.OrphanFragments == 0 && g != *w {
					t.Errorf("%s: hosts.parquet has %+v, tshark %+v", ip, g, *w)
				}
				if g.packetsIn > w.packetsIn || g.packetsOut > w.packetsOut {
					t.Errorf("%s: hosts.parquet has %+v, more than tshark's %+v", ip, g, *w)
				}
				missing += w.packetsIn - g.packetsIn
			}
			if missing != s.Packets.OrphanFragments {
				t.Errorf("tshark counts %d packets more than hosts.parquet, not the %d orphan fragments", missing, s.Packets.OrphanFragments)
			}
			for ip := range got {
				if want[ip] == nil {
					t.Errorf("hosts.parquet has %s, which tshark does not see", ip)
				}
			}
			// The whole row, from the flows independently.
			cols := `ip, packets_received, bytes_received, packets_sent, bytes_sent, flows_as_originator, flows_as_responder, peers, first_seen, last_seen`
			fromFlows := fmt.Sprintf(`SELECT ip, sum(pr), sum(br), sum(ps), sum(bs), sum(o), sum(r), count(DISTINCT peer), min(first_seen), max(last_seen) FROM (
				SELECT src_ip AS ip, dst_ip AS peer, packets_rev AS pr, bytes_rev AS br, packets_fwd AS ps, bytes_fwd AS bs, 1 AS o, 0 AS r, first_seen, last_seen FROM '%[1]s'
				UNION ALL
				SELECT dst_ip, src_ip, packets_fwd, bytes_fwd, packets_rev, bytes_rev, 0, 1, first_seen, last_seen FROM '%[1]s') GROUP BY ip`,
				filepath.Join(dir, "flows.parquet"))
			hosts := fmt.Sprintf(`SELECT %s FROM '%s'`, cols, filepath.Join(dir, "hosts.parquet"))
			diff := fmt.Sprintf(`SELECT count(*) FROM ((%[1]s EXCEPT %[2]s) UNION ALL (%[2]s EXCEPT %[1]s))`, fromFlows, hosts)
			if n := queryInt(t, db, diff); n != 0 {
				t.Errorf("%d rows of hosts.parquet differ from the sums over flows.parquet", n)
			}
		})
	}
}

// TestHostsVictims checks what hosts.parquet says of the victims of the
// attack captures, against tshark: what hit them and the service it came
// from.
func TestHostsVictims(t *testing.T) {
	tests := []struct {
		trace, victim, filter string // the packets that hit the victim from its top peer port (inner headers of ICMP errors aside)
		port, proto           int
	}{
		{"amp.UDP.snmp.src161.pcapng", "10.10.10.10", "ip.dst==10.10.10.10 && udp.srcport==161 && !icmp", 161, 17},
		{"amp.TCP.reflection.SYNACK.pcap", "10.10.10.10", "ip.dst==10.10.10.10 && tcp.srcport==80 && !icmp", 80, 6},
	}
	db := openDuckDB(t)
	for _, tt := range tests {
		t.Run(tt.trace, func(t *testing.T) {
			trace := realTrace(t, tt.trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--hosts", trace); code != 0 {
				t.Fatalf("analyze exited %d", code)
			}
			out, err := exec.Command("tshark", "-r", trace, "-Y", tt.filter, "-T", "fields", "-e", "frame.number").Output()
			if err != nil {
				t.Skipf("tshark: %v", err)
			}
			want := int64(strings.Count(string(out), "\n"))
			var port, proto, packets int64
			err = db.QueryRow(fmt.Sprintf(`SELECT peer_port_1, peer_proto_1, peer_packets_1 FROM '%s' WHERE ip = '%s'`,
				filepath.Join(dir, "hosts.parquet"), tt.victim)).Scan(&port, &proto, &packets)
			if err != nil {
				t.Fatal(err)
			}
			if port != int64(tt.port) || proto != int64(tt.proto) || packets != want {
				t.Errorf("top peer port %d/%d with %d packets, want %d/%d with %d (tshark)", port, proto, packets, tt.port, tt.proto, want)
			}
		})
	}
}

// TestHostsGroundTruth checks every row of hosts.parquet against the
// generator's flows: each address's side of them, summed here.
func TestHostsGroundTruth(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.pcap")
	f, err := os.Create(trace)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.Write(f, gen.Config{Seed: 3, Flows: 5000, Mix: "default,synflood=20"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if code := analyzeInto(t, out, "--hosts", trace); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	type row struct {
		packetsIn, bytesIn, packetsOut, bytesOut, originated, responded, peers int64
		first, last                                                            int64
	}
	want := map[string]*row{}
	peers := map[[2]string]bool{}
	side := func(host, peer netip.Addr, in, inBytes, out, outBytes int64, orig bool, fl *gen.Flow) {
		r := want[host.String()]
		if r == nil {
			r = &row{first: fl.FirstSeenNs, last: fl.LastSeenNs}
			want[host.String()] = r
		}
		r.packetsIn += in
		r.bytesIn += inBytes
		r.packetsOut += out
		r.bytesOut += outBytes
		if orig {
			r.originated++
		} else {
			r.responded++
		}
		if k := [2]string{host.String(), peer.String()}; !peers[k] {
			peers[k] = true
			r.peers++
		}
		r.first, r.last = min(r.first, fl.FirstSeenNs), max(r.last, fl.LastSeenNs)
	}
	var packets int64
	for i := range truth.Flows {
		fl := &truth.Flows[i]
		side(fl.SrcIP, fl.DstIP, fl.PacketsRev, fl.BytesRev, fl.PacketsFwd, fl.BytesFwd, true, fl)
		side(fl.DstIP, fl.SrcIP, fl.PacketsFwd, fl.BytesFwd, fl.PacketsRev, fl.BytesRev, false, fl)
		packets += fl.Packets()
	}
	db := openDuckDB(t)
	rows, err := db.Query(fmt.Sprintf(`SELECT ip, packets_received, bytes_received, packets_sent, bytes_sent, flows_as_originator,
		flows_as_responder, peers, epoch_ns(first_seen), epoch_ns(last_seen) FROM '%s'`, filepath.Join(out, "hosts.parquet")))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	var received int64
	for rows.Next() {
		var ip string
		var g row
		if err := rows.Scan(&ip, &g.packetsIn, &g.bytesIn, &g.packetsOut, &g.bytesOut, &g.originated, &g.responded, &g.peers, &g.first, &g.last); err != nil {
			t.Fatal(err)
		}
		if w := want[ip]; w == nil || g != *w {
			t.Errorf("%s: hosts.parquet has %+v, the generator %+v", ip, g, w)
		}
		n++
		received += g.packetsIn
	}
	if n != len(want) {
		t.Errorf("hosts.parquet has %d hosts, the generator %d", n, len(want))
	}
	// Every packet is received by one host.
	if received != packets || packets != truth.Packets {
		t.Errorf("hosts received %d packets, the flows carried %d, the generator wrote %d", received, packets, truth.Packets)
	}
}
