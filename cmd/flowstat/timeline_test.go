package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"flowstat/scripts/gen"
)

// TestTimelinesAsTshark holds the timelines of real attacks' targets to
// tshark's count of the packets that reached them and that they sent, window
// by window: a reflection's victim, the originator of the flows that flood
// it, shows the reflected packets; a SYN-ACK reflection's, the SYN-ACKs;
// a SYN flood's destination, the SYNs and no SYN-ACK.
func TestTimelinesAsTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent count to compare with")
	}
	tests := []struct {
		trace, target string
		in, out       string // tshark filters of the packets to and from the target
		synACKsIn     bool   // also compare the SYN-ACKs that reached it
	}{
		{"amp.UDP.snmp.src161.pcapng", "10.10.10.10", "ip.dst == 10.10.10.10", "ip.src == 10.10.10.10", false},
		{"amp.TCP.reflection.SYNACK.pcap", "10.10.10.10", "ip.dst == 10.10.10.10", "ip.src == 10.10.10.10", true},
		{"pkt.TCP.synflood.spoofed.pcap", "10.10.10.10:25565/tcp", "ip.dst == 10.10.10.10 && tcp.dstport == 25565",
			"ip.src == 10.10.10.10 && tcp.srcport == 25565", false},
	}
	for _, tt := range tests {
		t.Run(tt.trace, func(t *testing.T) {
			trace := realTrace(t, tt.trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
				t.Fatalf("analyze exited %d", code)
			}
			query := fmt.Sprintf(`SELECT epoch_ns(window_start), epoch_ns(window_end) - epoch_ns(window_start), packets_in, packets_out, synack_in
				FROM read_parquet('%s/timelines.parquet') WHERE target = '%s' ORDER BY window_start`, dir, tt.target)
			rows, err := openDuckDB(t).Query(query)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			defer rows.Close()
			type counts struct{ in, out, synACKsIn int64 }
			got := map[int64]counts{}
			var width int64
			for rows.Next() {
				var start int64
				var c counts
				if err := rows.Scan(&start, &width, &c.in, &c.out, &c.synACKsIn); err != nil {
					t.Fatal(err)
				}
				got[start] = c
			}
			if len(got) == 0 {
				t.Fatalf("timelines.parquet has no window of %s", tt.target)
			}
			want := map[int64]counts{}
			for _, at := range tsharkTimes(t, trace, tt.in) {
				c := want[at-at%width]
				c.in++
				want[at-at%width] = c
			}
			for _, at := range tsharkTimes(t, trace, tt.out) {
				c := want[at-at%width]
				c.out++
				want[at-at%width] = c
			}
			if tt.synACKsIn {
				for _, at := range tsharkTimes(t, trace, "("+tt.in+") && tcp.flags.syn == 1 && tcp.flags.ack == 1") {
					c := want[at-at%width]
					c.synACKsIn++
					want[at-at%width] = c
				}
			}
			var in int64
			for start, w := range want {
				if g := got[start]; g != w {
					t.Errorf("window %d: in %d, out %d, SYN-ACKs in %d; tshark %d, %d, %d", start, g.in, g.out, g.synACKsIn, w.in, w.out, w.synACKsIn)
				}
				in += w.in
			}
			if len(got) != len(want) {
				t.Errorf("%d windows, tshark's packets are in %d", len(got), len(want))
			}
			t.Logf("%s: %d packets in over %d windows of %d ns, as tshark counts", tt.target, in, len(want), width)
		})
	}
}

// tsharkTimes returns the times, in nanoseconds since the epoch, of the
// frames of trace that filter shows (IP fragments not reassembled).
func tsharkTimes(t *testing.T, trace, filter string) []int64 {
	t.Helper()
	out, err := exec.Command("tshark", "-o", "ip.defragment:FALSE", "-r", trace, "-Y", filter, "-T", "fields", "-e", "frame.time_epoch").Output()
	if err != nil {
		t.Fatalf("tshark -Y %q: %v", filter, err)
	}
	var times []int64
	for line := range strings.Lines(string(out)) {
		sec, frac, _ := strings.Cut(strings.TrimSpace(line), ".")
		frac = (frac + "000000000")[:9]
		s, err1 := strconv.ParseInt(sec, 10, 64)
		ns, err2 := strconv.ParseInt(frac, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark printed time %q", line)
		}
		times = append(times, s*1e9+ns)
	}
	return times
}

// A report for a target analyze did not choose has no rows of it in
// timelines.parquet: it shows the target's windows as a destination and
// says how to count it both ways, rather than counting it one way as if
// that were all.
func TestTimelineOfANewTarget(t *testing.T) {
	trace := generatedTrace(t, t.TempDir(), gen.Config{Seed: 3, Flows: 2000})
	dir, out := t.TempDir(), t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
		t.Fatalf("analyze exited %d", code)
	}
	if code := run([]string{"report", "-q", "--no-plots", "--target", "198.51.100.0/24", "-o", out, dir}); code != exitOK {
		t.Fatalf("report exited %d", code)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "timelines.parquet has no rows for this target") ||
		!strings.Contains(string(md), "`flowstat analyze --target 198.51.100.0/24`") {
		t.Errorf("report.md does not say that 198.51.100.0/24 is counted one way:\n%s", md)
	}
}

// host_windows.parquet (--hosts) adds up to hosts.parquet for every host,
// each flow counting in at least one window, and on the SNMP reflection its
// rows of the victim are the victim's timeline, which TestTimelinesAsTshark
// holds to tshark.
func TestHostWindows(t *testing.T) {
	traces := []string{generatedTrace(t, t.TempDir(), gen.Config{Seed: 21, Flows: 5000, Mix: "default,udp_reflect=5"})}
	snmp := filepath.Join(sharedDir(), "real", "amp.UDP.snmp.src161.pcapng")
	if _, err := os.Stat(snmp); err == nil {
		traces = append(traces, snmp)
	} else {
		t.Logf("%s is absent: the generated trace only", snmp)
	}
	for _, trace := range traces {
		t.Run(filepath.Base(trace), func(t *testing.T) {
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-plots", "--hosts", trace); code != exitOK {
				t.Fatalf("analyze exited %d", code)
			}
			db := openDuckDB(t)
			var hosts, wrong int
			query := fmt.Sprintf(`WITH w AS (SELECT ip, sum(packets_in) AS pin, sum(packets_out) AS pout, sum(bytes_in) AS bin,
					sum(bytes_out) AS bout, sum(flows_as_originator) AS fo, sum(flows_as_responder) AS fr
				FROM read_parquet('%[1]s/host_windows.parquet') GROUP BY ip)
				SELECT count(*), count(*) FILTER (WHERE w.ip IS NULL OR pin != packets_received OR pout != packets_sent
					OR bin != bytes_received OR bout != bytes_sent OR fo < flows_as_originator OR fr < flows_as_responder)
				FROM read_parquet('%[1]s/hosts.parquet') h LEFT JOIN w USING (ip)`, dir)
			if err := db.QueryRow(query).Scan(&hosts, &wrong); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if hosts == 0 || wrong != 0 {
				t.Errorf("%d of %d hosts' windows do not add up to their row of hosts.parquet", wrong, hosts)
			}
			if trace != snmp {
				return
			}
			query = fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE h.ip IS NULL OR (h.packets_in, h.packets_out, h.bytes_in, h.bytes_out,
					h.syn_in, h.synack_in) != (t.packets_in, t.packets_out, t.bytes_in, t.bytes_out, t.syn_in, t.synack_in))
				FROM read_parquet('%[1]s/timelines.parquet') t
				LEFT JOIN (SELECT * FROM read_parquet('%[1]s/host_windows.parquet') WHERE ip = '10.10.10.10') h USING (window_start)
				WHERE t.target = '10.10.10.10'`, dir)
			var windows int
			if err := db.QueryRow(query).Scan(&windows, &wrong); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if windows == 0 || wrong != 0 {
				t.Errorf("%d of the victim's %d windows differ from its timeline", wrong, windows)
			}
		})
	}
}
