package main

import (
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"flowstat/scripts/gen"
	"flowstat/tables"
)

// realTrace returns the path of a public trace in ../shared/traces/real,
// or skips the test when the shared folder is absent (a user's clone).
func realTrace(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(sharedDir(), "real", name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared trace %s not available (%v): these tests need ../shared/traces beside the repository", name, err)
	}
	return path
}

// sharedDir is ../shared/traces beside the repository.
func sharedDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "traces")
}

// analyzeInto runs `flowstat analyze` with args and -o dir, returning the
// exit status.
func analyzeInto(t *testing.T, dir string, args ...string) int {
	t.Helper()
	return run(append([]string{"analyze", "-q", "-o", dir}, args...))
}

func openDuckDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stateCounts returns "proto/state" -> flows from flows.parquet.
func stateCounts(t *testing.T, db *sql.DB, dir string) map[string]int {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf(`SELECT proto, state, count(*) FROM read_parquet('%s/flows.parquet') GROUP BY ALL`, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var proto, n int
		var state string
		if err := rows.Scan(&proto, &state, &n); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%d/%s", proto, state)] = n
	}
	return out
}

func queryInt(t *testing.T, db *sql.DB, query string) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n.Int64
}

// The expected figures were cross-checked against tshark 4.0
// (`tshark -q -z conv,tcp` and `conv,udp`, and display filters on SYN, FIN
// and RST per tcp.stream). Where they differ, the comment says why.
func TestAnalyzeRealTraces(t *testing.T) {
	tests := []struct {
		trace   string
		packets int64
		states  map[string]int
	}{
		// One-way capture of a spoofed flood: 37,669 distinct source
		// endpoints, each a SYN (some retransmitted) never answered.
		// tshark lists the same 37,669 TCP conversations.
		{"pkt.TCP.synflood.spoofed.pcap", 37841, map[string]int{"6/S0": 37669}},
		// One-way scan: 4,993 SYNs to distinct ports; tshark: 4,993 conversations.
		{"ps-tcp_syn.pcap", 4993, map[string]int{"6/S0": 4993}},
		// SYN-ACKs arriving without a SYN: the receiver is the originator
		// (OTH, or RSTRH when the reflector also reset). tshark: 7,674 TCP
		// and 19 UDP conversations, as here.
		{"amp.TCP.reflection.SYNACK.pcap", 8000, map[string]int{"6/OTH": 7673, "6/S0": 1, "17/S0": 5, "17/SHR": 14, "1/S0": 140}},
		// Reflected SNMP responses from port 161: the victim is the
		// originator and only the responders sent (SHR). tshark lists 4,046
		// UDP conversations: the same 4,045 pairs, one of them twice because
		// its first packet is out of time order.
		{"amp.UDP.snmp.src161.pcapng", 4373, map[string]int{"17/SHR": 4045, "1/S0": 249}},
		// tshark lists 331 TCP rows but the same 297 distinct endpoint pairs
		// (it splits some on reuse). It lists 73 UDP pairs against our 84:
		// the 12 extra are DNS responses whose first fragment carries the
		// ports while reassembly never completes, which tshark shows as IP
		// data; the one pair tshark has alone travels inside a GRE tunnel,
		// which flowstat opens: its inner UDP flow.
		{"amp.dns.RRSIG.fragmented.pcap", 4412, map[string]int{
			"6/OTH": 76, "6/RSTOS0": 31, "6/S0": 181, "6/SH": 3, "6/SHR": 6,
			"17/S0": 61, "17/SHR": 24, "1/S0": 7}}, // the GRE packet is opened: its UDP flow
		// A slice of browsing: 24 streams start with a SYN in the trace
		// (tshark: 24 streams with a SYN, 24 with a SYN-ACK), the other 51
		// started before the capture (OTH). 75 TCP and 66 UDP conversations.
		{"na-url_redirection.pcapng", 1500, map[string]int{
			"6/OTH": 51, "6/RSTO": 3, "6/RSTR": 1, "6/S1": 12, "6/SF": 8, "17/S0": 7, "17/SF": 59}},
		{"cs-httpServerCredentials.pcap", 54, map[string]int{"6/SF": 5}},
	}
	db := openDuckDB(t)
	for _, tc := range tests {
		t.Run(tc.trace, func(t *testing.T) {
			dir := t.TempDir()
			if code := analyzeInto(t, dir, realTrace(t, tc.trace)); code != exitOK {
				t.Fatalf("exit status %d", code)
			}
			got := stateCounts(t, db, dir)
			if fmt.Sprint(got) != fmt.Sprint(tc.states) {
				t.Errorf("flows by proto/state:\n got %v\nwant %v", got, tc.states)
			}
			packets := queryInt(t, db, fmt.Sprintf(`SELECT sum(packets_fwd + packets_rev) FROM read_parquet('%s/flows.parquet')`, dir))
			// Every packet is in a flow, except frames without IP and
			// fragments whose first fragment never came.
			if packets > tc.packets {
				t.Errorf("flows hold %d packets, the trace has %d", packets, tc.packets)
			}
		})
	}
}

func TestSynFloodDetails(t *testing.T) {
	dir := t.TempDir()
	if code := analyzeInto(t, dir, realTrace(t, "pkt.TCP.synflood.spoofed.pcap")); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	db := openDuckDB(t)
	var dst string
	var port, flows, sources, packets int64
	err := db.QueryRow(fmt.Sprintf(`SELECT dst_ip, dst_port, count(*), count(DISTINCT src_ip), sum(packets_fwd)
		FROM read_parquet('%s/flows.parquet') GROUP BY ALL ORDER BY 3 DESC LIMIT 1`, dir)).Scan(&dst, &port, &flows, &sources, &packets)
	if err != nil {
		t.Fatal(err)
	}
	// tshark -T fields -e ip.dst -e tcp.dstport | sort | uniq -c: every SYN
	// goes to 10.10.10.10:25565 (37,841 packets).
	if dst != "10.10.10.10" || port != 25565 || flows != 37669 || packets != 37841 {
		t.Errorf("top destination %s:%d with %d flows, %d packets", dst, port, flows, packets)
	}
	if n := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet') WHERE packets_rev > 0 OR half_open OR end_reason <> 'eof' OR history <> 'S'`, dir)); n != 0 {
		t.Errorf("%d flows are not plain unanswered SYNs", n)
	}
}

// TestFlowsParquetSchema checks the types DuckDB sees and that rows are
// sorted by first_seen, then flow_id.
func TestFlowsParquetSchema(t *testing.T) {
	dir := t.TempDir()
	if code := analyzeInto(t, dir, realTrace(t, "na-url_redirection.pcapng")); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	db := openDuckDB(t)
	rows, err := db.Query(fmt.Sprintf(`DESCRIBE SELECT * FROM read_parquet('%s/flows.parquet')`, dir))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+" "+typ)
	}
	rows.Close()
	want := []string{
		"flow_id UBIGINT", "proto UTINYINT", "ip_version UTINYINT", "vlan USMALLINT",
		"src_ip VARCHAR", "src_port USMALLINT", "dst_ip VARCHAR", "dst_port USMALLINT",
		"icmp_type UTINYINT", "icmp_code UTINYINT",
		"first_seen TIMESTAMP WITH TIME ZONE", "last_seen TIMESTAMP WITH TIME ZONE", "duration_s DOUBLE",
		"packets_fwd UBIGINT", "packets_rev UBIGINT", "bytes_fwd UBIGINT", "bytes_rev UBIGINT",
		"payload_bytes_fwd UBIGINT", "payload_bytes_rev UBIGINT",
		"ip_len_min_fwd UINTEGER", "ip_len_max_fwd UINTEGER", "ip_len_min_rev UINTEGER", "ip_len_max_rev UINTEGER",
		"ttl_min_fwd UTINYINT", "ttl_max_fwd UTINYINT", "ttl_min_rev UTINYINT", "ttl_max_rev UTINYINT",
		"tcp_flags_fwd UTINYINT", "tcp_flags_rev UTINYINT", "syn_packets UINTEGER", "synack_packets UINTEGER",
		"rst_packets UINTEGER", "retrans_packets_fwd UINTEGER", "retrans_packets_rev UINTEGER",
		"retrans_bytes_fwd UBIGINT", "retrans_bytes_rev UBIGINT", "zero_windows_fwd UINTEGER", "zero_windows_rev UINTEGER", "handshake_rtt_s DOUBLE", "state VARCHAR", "half_open BOOLEAN",
		"history VARCHAR", "end_reason VARCHAR", "community_id VARCHAR",
		"tunnel VARCHAR", "tunnel_id UINTEGER", "tunnel_src VARCHAR", "tunnel_dst VARCHAR",
		"input VARCHAR", "first_frame UBIGINT", "first_offset BIGINT",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("columns:\n got %v\nwant %v", got, want)
	}
	unsorted := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM (
		SELECT first_seen, flow_id, lag(first_seen) OVER () AS pf, lag(flow_id) OVER () AS pid
		FROM read_parquet('%s/flows.parquet')) WHERE first_seen < pf OR (first_seen = pf AND flow_id < pid)`, dir))
	if unsorted != 0 {
		t.Errorf("%d rows out of order", unsorted)
	}
	// handshake_rtt_s is null exactly when SYN or SYN-ACK is missing.
	bad := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet')
		WHERE (handshake_rtt_s IS NULL) <> (state IN ('OTH','S0','REJ','RSTOS0','SH','RSTRH','SHR') OR proto <> 6)`, dir))
	if bad != 0 {
		t.Errorf("%d rows with handshake_rtt_s inconsistent with the state", bad)
	}
	ids := queryInt(t, db, fmt.Sprintf(`SELECT count(*) - count(DISTINCT flow_id) FROM read_parquet('%s/flows.parquet')`, dir))
	if ids != 0 {
		t.Errorf("%d duplicate flow ids", ids)
	}
}

// TestInputsAndFilters checks that the same flows come out of a trace
// however it is given: compressed, through a directory, or split in two
// files merged by time, and that --bpf and --target filter as asked.
func TestInputsAndFilters(t *testing.T) {
	trace := realTrace(t, "na-url_redirection.pcapng")
	db := openDuckDB(t)
	flowsOf := func(dir string) string {
		rows, err := db.Query(fmt.Sprintf(`SELECT flow_id, packets_fwd, packets_rev, state FROM read_parquet('%s/flows.parquet')`, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id uint64
			var pf, pr int64
			var st string
			rows.Scan(&id, &pf, &pr, &st)
			fmt.Fprintf(&b, "%d %d %d %s\n", id, pf, pr, st)
		}
		return b.String()
	}
	base := t.TempDir()
	if code := analyzeInto(t, base, trace); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	want := flowsOf(base)

	// Misleading names on purpose.
	gz, xzed, lz4ed := filepath.Join(t.TempDir(), "trace.pcap"), filepath.Join(t.TempDir(), "trace.gz"), filepath.Join(t.TempDir(), "trace.xz")
	writeGzip(t, trace, gz)
	writeCompressed(t, trace, xzed, func(w io.Writer) io.WriteCloser { zw, _ := xz.NewWriter(w); return zw })
	writeCompressed(t, trace, lz4ed, func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) })
	inDir := t.TempDir()
	copyFile(t, trace, filepath.Join(inDir, "a.pcapng"))
	for name, args := range map[string][]string{"gzip": {gz}, "xz": {xzed}, "lz4": {lz4ed}, "directory": {inDir}, "stdin": {"-"}} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			if name == "stdin" {
				f, _ := os.Open(trace)
				old := os.Stdin
				os.Stdin = f
				defer func() { os.Stdin = old; f.Close() }()
			}
			if code := analyzeInto(t, out, args...); code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if got := flowsOf(out); got != want {
				t.Errorf("flows differ from the plain trace's")
			}
		})
	}
	t.Run("bpf", func(t *testing.T) {
		out := t.TempDir()
		if code := analyzeInto(t, out, "-b", "udp port 53", trace); code != exitOK {
			t.Fatalf("exit %d", code)
		}
		n := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet')`, out))
		other := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet') WHERE proto <> 17 OR (src_port <> 53 AND dst_port <> 53)`, out))
		all := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet') WHERE proto = 17 AND (src_port = 53 OR dst_port = 53)`, base))
		if n == 0 || other != 0 || n != all {
			t.Errorf("%d flows, %d not DNS, want %d", n, other, all)
		}
	})
	t.Run("target", func(t *testing.T) {
		out := t.TempDir()
		var target string
		db.QueryRow(fmt.Sprintf(`SELECT dst_ip FROM read_parquet('%s/flows.parquet') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, base)).Scan(&target)
		if code := analyzeInto(t, out, "-d", target+"/32", trace); code != exitOK {
			t.Fatalf("exit %d", code)
		}
		got := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet')`, out))
		want := queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet') WHERE src_ip = '%s' OR dst_ip = '%s'`, base, target, target))
		if got != want || got == 0 {
			t.Errorf("--target %s kept %d flows, want %d", target, got, want)
		}
	})
}

func TestExitStatus(t *testing.T) {
	trace := realTrace(t, "cs-httpServerCredentials.pcap")
	notTrace := filepath.Join(t.TempDir(), "notes.pcap")
	os.WriteFile(notTrace, []byte("hello\n"), 0o644)
	data, _ := os.ReadFile(trace)
	truncated := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(truncated, data[:len(data)-30], 0o644)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"ok", []string{trace}, exitOK},
		{"bad bpf", []string{"-b", "tcp port", trace}, exitUsage},
		{"bad flag", []string{"--no-such-flag", trace}, exitUsage},
		{"no input", nil, exitUsage},
		{"missing input", []string{"/nonexistent/trace.pcap"}, exitUsage},
		{"not a trace", []string{notTrace}, exitUsage},
		{"bad target", []string{"-d", "10.0.0.300", trace}, exitUsage},
		{"truncated trace", []string{truncated}, exitDamaged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if got := analyzeInto(t, out, tc.args...); got != tc.want {
				t.Errorf("exit status %d, want %d", got, tc.want)
			}
			_, err := os.Stat(filepath.Join(out, "flows.parquet"))
			if written := err == nil; written != (tc.want == exitOK || tc.want == exitDamaged) {
				t.Errorf("flows.parquet written: %v", written)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGzip(t *testing.T, from, to string) {
	t.Helper()
	writeCompressed(t, from, to, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

// writeCompressed writes the file from to the file to through the
// compressor newWriter makes.
func writeCompressed(t *testing.T, from, to string, newWriter func(io.Writer) io.WriteCloser) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	zw := newWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// Windows much shorter than the idle timeout make every idle flow count
// in that many windows: analyze says so, on stderr and in summary.json.
func TestShortWindowsWarning(t *testing.T) {
	out := t.TempDir()
	code, stderr := runCaptured(t, "analyze", "-i", "0.1", "-o", out, "../../testdata/sample.pcap.gz")
	if code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	var s tables.Summary
	data, err := os.ReadFile(filepath.Join(out, tables.SummaryFile))
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "--interval 100ms is 600 times shorter than the idle timeout (1m0s)"
	if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("summary.json warnings %q lack %q", s.Warnings, want)
	}
	if !strings.Contains(stderr, "flowstat: warning: "+want) {
		t.Errorf("stderr lacks the warning:\n%s", stderr)
	}
}

// TestIntervalAuto analyses a real SYN flood of 23.7 s without
// --interval: windows of 200 ms (119 over the capture), said in
// summary.json and report.md, with the finding's plot that one 60 s
// window could not show; a given --interval wins.
func TestIntervalAuto(t *testing.T) {
	trace := realTrace(t, "pkt.TCP.synflood.spoofed.pcap")
	dir := t.TempDir()
	if code := analyzeInto(t, dir, trace); code != exitOK {
		t.Fatalf("analyze exited %d", code)
	}
	s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Options.IntervalS != 0.2 || !s.Options.IntervalAuto {
		t.Errorf("interval %g s (auto %v), want 0.2 s chosen", s.Options.IntervalS, s.Options.IntervalAuto)
	}
	md, err := os.ReadFile(filepath.Join(dir, tables.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**Windows** are 200 ms long", "`--interval auto`", "![Finding 1 over time](plots/handshake-10.10.10.10-25565-tcp.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	given := t.TempDir()
	if code := analyzeInto(t, given, "-i", "60s", "--no-report", trace); code != exitOK {
		t.Fatalf("analyze -i 60s exited %d", code)
	}
	if s, err := tables.ReadSummary(filepath.Join(given, tables.SummaryFile)); err != nil || s.Options.IntervalS != 60 || s.Options.IntervalAuto {
		t.Errorf("with -i 60s: %+v, %v", s.Options, err)
	}
}

// TestNoReportFlows: --no-report keeps no counts per window (only the
// report's tables read them), and writes the flows.parquet and flow
// counts of a whole analysis, byte for byte.
func TestNoReportFlows(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 21, Flows: 3000, Mix: "default,synflood=10"})
	full, bare := filepath.Join(dir, "full"), filepath.Join(dir, "bare")
	for out, args := range map[string][]string{full: {"-i", "1s"}, bare: {"-i", "1s", "--no-report"}} {
		if code := analyzeInto(t, out, append(args, trace)...); code != exitOK {
			t.Fatalf("analyze %v: exit status %d", args, code)
		}
	}
	a, errA := os.ReadFile(filepath.Join(full, tables.FlowsFile))
	b, errB := os.ReadFile(filepath.Join(bare, tables.FlowsFile))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("flows.parquet with --no-report differs from the whole analysis' (%v, %v)", errA, errB)
	}
	sa, errA := tables.ReadSummary(filepath.Join(full, tables.SummaryFile))
	sb, errB := tables.ReadSummary(filepath.Join(bare, tables.SummaryFile))
	if errA != nil || errB != nil || !reflect.DeepEqual(sa.Flows, sb.Flows) || sa.Flows.Total == 0 {
		t.Errorf("flow counts: %+v with the report, %+v without (%v, %v)", sa.Flows, sb.Flows, errA, errB)
	}
}
