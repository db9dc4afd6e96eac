package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
