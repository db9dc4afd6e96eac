package main

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"flowstat/pipeline"
	"flowstat/report"
	"flowstat/scripts/gen"
	"flowstat/tables"
)

var update = flag.Bool("update", false, "rewrite the golden reports in report/testdata/golden")

// goldenDir is where the golden reports live, beside report's own.
func goldenDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "report", "testdata", "golden")
}

// withVersion makes reports independent of the version being built.
func withVersion(t *testing.T) {
	t.Helper()
	old := version
	version = "test"
	t.Cleanup(func() { version = old })
}

// The golden reports of the public traces, reviewed by eye: each attack is
// reported as the right kind of finding on the right target, and the
// ordinary traffic as none. Regenerate with `go test ./cmd/flowstat -update`.
func TestReportGolden(t *testing.T) {
	withVersion(t)
	tests := []struct {
		trace, golden string
		args          []string
	}{
		{"pkt.TCP.synflood.spoofed.pcap", "synflood.md", nil},
		{"pkt.TCP.synflood.spoofed.pcap", "synflood-1s.md", []string{"--interval", "1s"}},
		{"amp.UDP.snmp.src161.pcapng", "snmp-reflection.md", nil},
		{"amp.dns.RRSIG.fragmented.pcap", "dns-amplification.md", []string{"--interval", "5s"}},
		{"amp.TCP.reflection.SYNACK.pcap", "synack-reflection.md", nil},
		{"ps-tcp_syn.pcap", "port-scan.md", []string{"--interval", "1s"}},
		{"na-url_redirection.pcapng", "web.md", nil},
		{"cs-httpServerCredentials.pcap", "http.md", nil},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			trace := realTrace(t, tt.trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, append(tt.args, trace)...); code != exitOK {
				t.Fatalf("analyze exit status %d", code)
			}
			got, err := os.ReadFile(filepath.Join(dir, tables.MarkdownFile))
			if err != nil {
				t.Fatal(err)
			}
			checkPlots(t, dir, got)
			path := filepath.Join(goldenDir(), tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report.md differs from %s (run with -update and review the diff):\n%s", path, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first line that differs.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, a, b)
		}
	}
	return "(no line differs)"
}

// checkPlots decodes every plot report.md names and checks that it is not
// blank, and that no other plot is in the directory.
func checkPlots(t *testing.T, dir string, md []byte) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, report.PlotsDir))
	for _, e := range entries {
		name := report.PlotsDir + "/" + e.Name()
		if !bytes.Contains(md, []byte("]("+name+")")) {
			t.Errorf("%s is not shown in report.md", name)
		}
		checkPNG(t, filepath.Join(dir, name))
	}
	for _, line := range strings.Split(string(md), "\n") {
		if i := strings.Index(line, "](plots/"); i >= 0 {
			name := line[i+2 : strings.Index(line[i:], ")")+i]
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("report.md shows %s: %v", name, err)
			}
		}
	}
}

// checkPNG decodes a PNG and checks it has a sensible size and enough ink
// in more than two colours: titles, axes and data.
func checkPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 600 || b.Dy() < 200 {
		t.Errorf("%s is %dx%d, too small to read", path, b.Dx(), b.Dy())
	}
	ink := 0
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				ink++
			}
			if len(colours) < 64 {
				colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
			}
		}
	}
	if share := float64(ink) / float64(b.Dx()*b.Dy()); share < 0.01 || share > 0.6 {
		t.Errorf("%s: %.1f %% of the pixels are inked: blank or filled", path, share*100)
	}
	if len(colours) < 3 {
		t.Errorf("%s has %d colours: nothing drawn", path, len(colours))
	}
	return img
}

// findingsOf renders an output directory's report again and returns its
// findings as "kind: where".
func findingsOf(t *testing.T, dir string) []string {
	t.Helper()
	ds, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := report.Build(ds, report.BuildOptions{NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range st.Findings {
		out = append(out, f.Kind.String()+": "+f.Where())
	}
	return out
}

func TestReportFindings(t *testing.T) {
	tests := []struct {
		trace string
		want  []string
	}{
		{"pkt.TCP.synflood.spoofed.pcap", []string{"SYN flood: 10.10.10.10:25565/tcp"}},
		{"amp.UDP.snmp.src161.pcapng", []string{"UDP reflection: 10.10.10.10 from port 161/udp (SNMP)"}},
		{"amp.dns.RRSIG.fragmented.pcap", []string{"UDP reflection: 10.10.10.10 from port 53/udp (DNS)"}},
		// SYN-ACKs from web servers to a host that sent no SYN: the host's
		// address is being spoofed, to reflect SYN-ACKs at it or as the
		// source of a SYN flood on the servers (backscatter). Either way
		// the host is the one to name. Beside the SYN-ACKs, 1,030 RSTs
		// without handshakes reach it from 994 sources at 7 k packets/s
		// (tshark: tcp.flags.reset==1 && ip.dst==10.10.10.10): a TCP flood
		// by RSTs, of the same attack.
		{"amp.TCP.reflection.SYNACK.pcap", []string{
			"SYN-ACK reflection: 10.10.10.10 from port 80/tcp",
			"SYN-ACK reflection: 10.10.10.10 from port 443/tcp",
			"TCP flood: 10.10.10.10, 1.01 k TCP ports",
		}},
		{"ps-tcp_syn.pcap", []string{"port scan: 10.0.0.140 (TCP SYN)"}},
		{"na-url_redirection.pcapng", nil},
		{"cs-httpServerCredentials.pcap", nil},
	}
	for _, tt := range tests {
		t.Run(tt.trace, func(t *testing.T) {
			trace := realTrace(t, tt.trace)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, "--no-plots", trace); code != exitOK {
				t.Fatalf("analyze exit status %d", code)
			}
			if got := findingsOf(t, dir); !slices.Equal(got, tt.want) {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
		})
	}
}

// The thresholds are flags: raising one makes its finding go away.
func TestReportThresholdFlags(t *testing.T) {
	trace := realTrace(t, "pkt.TCP.synflood.spoofed.pcap")
	dir := t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", "--synflood-sources", "100000", trace); code != exitOK {
		t.Fatalf("analyze exit status %d", code)
	}
	md, _ := os.ReadFile(filepath.Join(dir, tables.MarkdownFile))
	if !bytes.Contains(md, []byte("None: no destination")) || !bytes.Contains(md, []byte("from at least 100000 sources")) {
		t.Errorf("report.md with --synflood-sources 100000 still has a finding, or does not say the threshold")
	}
	if code := run([]string{"report", "-q", "--synflood-share", "1.5", dir}); code != exitUsage {
		t.Errorf("report --synflood-share 1.5: exit status %d, want %d", code, exitUsage)
	}
}

// `flowstat report DIR` gives the same bytes as analyze wrote, from the
// Parquet files and summary.json alone. Both build the report from parts
// on disk (report.Parts), analyze from the records and their windows,
// report from flows.parquet and intervals.parquet; report.Build, which
// keeps every record in memory (live windows), must give the same bytes
// too: on traces with every kind of finding, and with prefixes as targets,
// whose timelines take flows from every part.
func TestReportReproduces(t *testing.T) {
	withVersion(t)
	type analysis struct {
		name  string
		trace func(t *testing.T) string
		args  []string
	}
	var cases []analysis
	for _, name := range []string{"amp.dns.RRSIG.fragmented.pcap", "pkt.TCP.synflood.spoofed.pcap", "na-url_redirection.pcapng",
		"amp.TCP.reflection.SYNACK.pcap", "amp.UDP.snmp.src161.pcapng", "ps-tcp_syn.pcap", "cs-httpServerCredentials.pcap"} {
		cases = append(cases, analysis{name, func(t *testing.T) string { return realTrace(t, name) }, nil})
	}
	generated := func(t *testing.T) string {
		return generatedTrace(t, t.TempDir(), gen.Config{Seed: 21, Flows: 20000, Mix: "default,synflood=10,udp_reflect=5"})
	}
	cases = append(cases,
		analysis{"generated", generated, nil},
		analysis{"generated with targets", generated, []string{"--target", "192.0.2.0/24", "--target", "203.0.113.86"}},
		// A part holds 1,365 flows: the flood's victim's (about 8,000) are
		// read from disk.
		analysis{"generated flood, 1 MiB", func(t *testing.T) string {
			return generatedTrace(t, t.TempDir(), gen.Config{Seed: 22, Flows: 10000, Mix: "synflood"})
		}, []string{"--memory-limit", "1", "--target", "203.0.113.0/24"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			trace := c.trace(t)
			dir := t.TempDir()
			if code := analyzeInto(t, dir, append([]string{"--interval", "2s", "--hosts", trace}, c.args...)...); code != exitOK {
				t.Fatalf("analyze exit status %d", code)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
				t.Errorf("analyze left %v behind", left)
			}
			before := readOutputs(t, dir)
			inMemory := t.TempDir()
			ds, err := report.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pipeline.Render(inMemory, func() (*report.Stats, error) { return report.Build(ds, report.BuildOptions{Hosts: true}) }, false); err != nil {
				t.Fatal(err)
			}
			built := readOutputs(t, inMemory)
			for name, data := range before {
				if name != tables.FlowsFile && name != tables.SummaryFile && !bytes.Equal(built[name], data) {
					t.Errorf("%s differs between the report by parts and report.Build", name)
				}
			}
			// Re-render elsewhere from a copy without the trace's name around.
			for _, out := range []string{dir, t.TempDir()} {
				if code := run([]string{"report", "-q", "--hosts", "-o", out, dir}); code != exitOK {
					t.Fatalf("report exit status %d", code)
				}
				after := readOutputs(t, out)
				for name, data := range before {
					if name == tables.FlowsFile || name == tables.SummaryFile {
						continue
					}
					if !bytes.Equal(after[name], data) {
						t.Errorf("%s differs after flowstat report -o %s", name, out)
					}
				}
				for name := range after {
					if _, ok := before[name]; !ok {
						t.Errorf("report wrote %s, analyze did not", name)
					}
				}
			}
		})
	}
}

// readOutputs reads every file of an output directory, plots included.
func readOutputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A longer --interval sums the analysed windows: the totals per window of
// the long interval equal the sums of the short ones.
func TestReportLongerInterval(t *testing.T) {
	trace := realTrace(t, "amp.dns.RRSIG.fragmented.pcap")
	dir, out := t.TempDir(), t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", "--interval", "1s", trace); code != exitOK {
		t.Fatalf("analyze exit status %d", code)
	}
	if code := run([]string{"report", "-q", "--no-plots", "--interval", "10s", "-o", out, dir}); code != exitOK {
		t.Fatalf("report exit status %d", code)
	}
	db := openDuckDB(t)
	for _, col := range []string{"packets", "bytes", "syn_packets", "synack_packets", "flows_new",
		"ended_complete", "ended_reset", "ended_rejected", "ended_fin_no_syn", "ended_timeout", "ended_other"} {
		q := `SELECT count(*) FROM (
			SELECT time_bucket(INTERVAL 10 SECOND, window_start) w, dst_ip, dst_port, proto, sum(%[1]s) s
			FROM read_parquet('%[2]s/intervals.parquet') GROUP BY ALL) a
			FULL JOIN (SELECT window_start w, dst_ip, dst_port, proto, %[1]s s FROM read_parquet('%[3]s/intervals.parquet')) b
			USING (w, dst_ip, dst_port, proto) WHERE a.s IS DISTINCT FROM b.s`
		if n := queryInt(t, db, fmt.Sprintf(q, col, dir, out)); n != 0 {
			t.Errorf("%s: %d windows of 10 s differ from the sums of their 1 s windows", col, n)
		}
	}
	// Other windows into the analysed directory would replace its tables:
	// refused, and nothing changes.
	before, err := os.ReadFile(filepath.Join(dir, tables.IntervalsFile))
	if err != nil {
		t.Fatal(err)
	}
	if code, stderr := runCaptured(t, "report", "--interval", "10s", dir); code != exitUsage || !strings.Contains(stderr, "-o DIR") {
		t.Errorf("--interval 10s into the analysed directory: exit status %d, want %d, stderr %q", code, exitUsage, stderr)
	}
	if after, err := os.ReadFile(filepath.Join(dir, tables.IntervalsFile)); err != nil || !bytes.Equal(after, before) {
		t.Errorf("intervals.parquet changed (%v)", err)
	}
	if code := run([]string{"report", "-q", "--no-plots", "--interval", "1s", dir}); code != exitOK {
		t.Errorf("the analysed interval again, in place: exit status %d", code)
	}
	// The long windows make a report; re-rendering at a length that is no
	// multiple of them is a usage error.
	if code := run([]string{"report", "-q", "--interval", "15s", out}); code != exitUsage {
		t.Errorf("--interval 15s over 10 s windows: exit status %d, want %d", code, exitUsage)
	}
}

func TestReportUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"report"},
		{"report", dir},                         // not an output directory
		{"report", dir, dir},                    // two directories
		{"report", "--top", "0", dir},           // bad flag value
		{"report", "--reflect-ports", "x", dir}, // bad port list
	} {
		if code := run(args); code != exitUsage {
			t.Errorf("%q: exit status %d, want %d", args, code, exitUsage)
		}
	}
}

// --no-report writes flows and summary only; report then says why it cannot
// render.
func TestAnalyzeNoReport(t *testing.T) {
	trace := realTrace(t, "cs-httpServerCredentials.pcap")
	dir := t.TempDir()
	if code := analyzeInto(t, dir, "--no-report", trace); code != exitOK {
		t.Fatalf("analyze exit status %d", code)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{tables.FlowsFile, tables.SummaryFile}; !slices.Equal(names, want) {
		t.Errorf("--no-report wrote %q, want %q", names, want)
	}
	if code := run([]string{"report", "-q", dir}); code != exitUsage {
		t.Errorf("report of a --no-report directory: exit status %d, want %d", code, exitUsage)
	}
}

// On a generated trace, every count of intervals.parquet and
// destinations.parquet equals what the ground truth's flows give under the
// report's definitions (computed here the slow, obvious way), and the
// duration quantiles are those of the truth's durations.
func TestReportGroundTruth(t *testing.T) {
	const iv = 20 * time.Second
	dir := t.TempDir()
	trace := filepath.Join(dir, "gen.pcap")
	f, err := os.Create(trace)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.Write(f, gen.Config{Seed: 7, Flows: 2000, Duration: 10 * time.Minute})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if code := analyzeInto(t, out, "--no-plots", "--interval", iv.String(), trace); code != exitOK {
		t.Fatalf("analyze exit status %d", code)
	}
	want := truthIntervals(truth, int64(iv))
	// The comparison is only as good as the variety of the truth. (The
	// generator has no active timeout, so nothing ends as "other".)
	var nonzero [16]int
	for _, c := range want.windows {
		for i, n := range c.n {
			if n != 0 {
				nonzero[i]++
			}
		}
	}
	for i, n := range nonzero {
		if n == 0 && !slices.Contains([]int{2, 3, 5, 6, 14}, i) {
			t.Errorf("the truth has no window with %s: choose another seed or mix", countNames[i])
		}
	}
	t.Logf("%d windows and %d destinations compared; windows with a non-zero count: %v", len(want.windows), len(want.dests), nonzero)
	db := openDuckDB(t)
	got := readCounts(t, db, fmt.Sprintf(`SELECT epoch_ns(window_start), dst_ip, dst_port, proto, %s
		FROM read_parquet('%s/intervals.parquet')`, countColumns("flows_active, flows_new"), out))
	// Packets, bytes, SYNs and SYN-ACKs per window are not in the truth:
	// packets are checked against the trace below, and all four per
	// destination.
	compareCounts(t, "intervals", got, want.windows, 2, 3, 5, 6)
	got = readCounts(t, db, fmt.Sprintf(`SELECT 0, dst_ip, dst_port, proto, %s
		FROM read_parquet('%s/destinations.parquet')`, countColumns("flows, flows"), out))
	compareCounts(t, "destinations", got, want.dests)

	// Packets per window: the trace's own records, counted by timestamp.
	perWindow := pcapWindows(t, trace, int64(iv))
	rows, err := db.Query(fmt.Sprintf(`SELECT epoch_ns(window_start), sum(packets) FROM read_parquet('%s/intervals.parquet') GROUP BY 1`, out))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var w, n int64
		if err := rows.Scan(&w, &n); err != nil {
			t.Fatal(err)
		}
		if n != perWindow[w] {
			t.Errorf("window %v: %d packets in intervals.parquet, %d in the trace", time.Unix(0, w).UTC(), n, perWindow[w])
		}
		seen++
	}
	if nonEmpty := len(perWindow); seen < nonEmpty {
		t.Errorf("%d windows in intervals.parquet, the trace has packets in %d", seen, nonEmpty)
	}
	if n := queryInt(t, db, fmt.Sprintf(`SELECT sum(bytes) FROM read_parquet('%s/intervals.parquet')`, out)); n != truth.Bytes {
		t.Errorf("%d bytes in intervals.parquet, truth %d", n, truth.Bytes)
	}
}

// countColumns lists the compared columns, flow counts first.
func countColumns(flowCols string) string {
	return flowCols + `, packets, bytes, sources, syn_packets, synack_packets, half_open, syn_only,
		ended_complete, ended_reset, ended_rejected, ended_fin_no_syn, ended_timeout, ended_other, ongoing,
		dur_p10, dur_p25, dur_p50, dur_p75, dur_p90, dur_p99, dur_max`
}

// counts is one row's numbers in countColumns order; quantiles are NaN
// when absent.
type counts struct {
	n [16]int64
	q [7]float64
}

type rowKey struct {
	window int64
	dest   string
}

func readCounts(t *testing.T, db *sql.DB, query string) map[rowKey]counts {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[rowKey]counts{}
	for rows.Next() {
		var k rowKey
		var ip string
		var port, proto int
		var c counts
		var q [7]sql.NullFloat64
		dst := []any{&k.window, &ip, &port, &proto}
		for i := range c.n {
			dst = append(dst, &c.n[i])
		}
		for i := range q {
			dst = append(dst, &q[i])
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		for i, v := range q {
			c.q[i] = math.NaN()
			if v.Valid {
				c.q[i] = v.Float64
			}
		}
		k.dest = netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)).String() + "/" + tables.ProtoName(uint8(proto)) // as the truth keys them
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var countNames = strings.Fields(`flows flows_new packets bytes sources syn_packets synack_packets half_open syn_only
	ended_complete ended_reset ended_rejected ended_fin_no_syn ended_timeout ended_other ongoing`)

// compareCounts compares every column but those in skip.
func compareCounts(t *testing.T, table string, got, want map[rowKey]counts, skip ...int) {
	t.Helper()
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no row for %s at %v", table, k.dest, time.Unix(0, k.window).UTC())
			bad++
			continue
		}
		for i := range w.n {
			if g.n[i] != w.n[i] && !slices.Contains(skip, i) {
				t.Errorf("%s %s at %v: %s = %d, truth %d", table, k.dest, time.Unix(0, k.window).UTC(), countNames[i], g.n[i], w.n[i])
				bad++
			}
		}
		for i := range w.q {
			if !(math.IsNaN(g.q[i]) && math.IsNaN(w.q[i])) && math.Abs(g.q[i]-w.q[i]) > 1e-9 {
				t.Errorf("%s %s at %v: quantile %d = %g, truth %g", table, k.dest, time.Unix(0, k.window).UTC(), i, g.q[i], w.q[i])
				bad++
			}
		}
		if bad > 20 {
			t.Fatal("too many differences")
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: row for %s at %v, not in the truth", table, k.dest, time.Unix(0, k.window).UTC())
		}
	}
}

type truthTables struct {
	windows, dests map[rowKey]counts
}

// truthIntervals computes the report's tables from the truth's flows, one
// flow and one window at a time, following the definitions in report.md's
// Method section.
func truthIntervals(tr *gen.Truth, iv int64) truthTables {
	idle := tr.Options.IdleTimeoutNs
	type flowEnd struct {
		f     *gen.Flow
		end   int64 // end time; for flows open at the end, the trace's last packet, an idle timeout after theirs at most
		ended bool
	}
	var traceEnd int64
	for i := range tr.Flows {
		traceEnd = max(traceEnd, tr.Flows[i].LastSeenNs)
	}
	byDest := map[string][]flowEnd{}
	for i := range tr.Flows {
		f := &tr.Flows[i]
		fe := flowEnd{f: f, end: f.LastSeenNs, ended: true}
		switch f.EndReason {
		case "idle":
			fe.end += idle
		case "eof":
			fe.end, fe.ended = min(traceEnd, fe.end+idle), false
		}
		byDest[f.DestKey()] = append(byDest[f.DestKey()], fe)
	}
	out := truthTables{windows: map[rowKey]counts{}, dests: map[rowKey]counts{}}
	div := func(t int64) int64 { return int64(math.Floor(float64(t) / float64(iv))) }
	for dest, fs := range byDest {
		// Windows where a flow to dest was active.
		wins := map[int64]bool{}
		for _, fe := range fs {
			for w := div(fe.f.FirstSeenNs); w <= div(fe.end); w++ {
				wins[w] = true
			}
		}
		for w := range wins {
			ws, we := w*iv, (w+1)*iv
			var c counts
			sources := map[netip.Addr]bool{}
			var durs []float64
			for _, fe := range fs {
				f := fe.f
				if f.FirstSeenNs < we && fe.end >= ws {
					c.n[0]++
					sources[f.SrcIP] = true
				}
				if f.FirstSeenNs >= ws && f.FirstSeenNs < we {
					c.n[1]++
				}
				if fe.ended && fe.end >= ws && fe.end < we {
					c.n[9+outcome(f)]++
					durs = append(durs, float64(f.LastSeenNs-f.FirstSeenNs)/1e9)
				}
				if f.FirstSeenNs < we && (!fe.ended || fe.end >= we) {
					c.n[15]++
					if f.HalfOpen {
						c.n[7]++
					}
					if f.Proto == "tcp" && f.State == "S0" {
						c.n[8]++
					}
				}
			}
			c.n[4] = int64(len(sources))
			c.q = quantiles(durs)
			out.windows[rowKey{ws, dest}] = c
		}
		var c counts
		sources := map[netip.Addr]bool{}
		var durs []float64
		for _, fe := range fs {
			f := fe.f
			c.n[0]++
			c.n[1]++
			c.n[2] += f.Packets()
			c.n[3] += f.Bytes()
			sources[f.SrcIP] = true
			if f.Proto == "tcp" {
				c.n[5] += f.SynPackets
				c.n[6] += f.SynAckPackets
			}
			if f.HalfOpen {
				c.n[7]++
			}
			if f.Proto == "tcp" && f.State == "S0" {
				c.n[8]++
			}
			if fe.ended {
				c.n[9+outcome(f)]++
			} else {
				c.n[15]++
			}
			durs = append(durs, float64(f.LastSeenNs-f.FirstSeenNs)/1e9)
		}
		c.n[4] = int64(len(sources))
		c.q = quantiles(durs)
		out.dests[rowKey{0, dest}] = c
	}
	return out
}

// outcome classifies an ended truth flow as report.md's Method says.
func outcome(f *gen.Flow) int {
	if f.Proto == "tcp" {
		switch f.State {
		case "SF":
			return 0
		case "RSTO", "RSTR", "RSTOS0", "RSTRH":
			return 1
		case "REJ":
			return 2
		}
		if f.EndReason == "rst" {
			return 1
		}
		if (f.TCPFlagsFwd|f.TCPFlagsRev)&1 != 0 && f.SynPackets == 0 {
			return 3
		}
	}
	if f.EndReason == "idle" {
		return 4
	}
	return 5
}

// quantiles are the type-7 quantiles of durations, computed here with
// sort and interpolation; NaN when there are none.
func quantiles(durs []float64) [7]float64 {
	var q [7]float64
	if len(durs) == 0 {
		for i := range q {
			q[i] = math.NaN()
		}
		return q
	}
	slices.Sort(durs)
	for i, p := range []float64{0.10, 0.25, 0.50, 0.75, 0.90, 0.99} {
		h := p * float64(len(durs)-1)
		lo := math.Floor(h)
		hi := math.Min(lo+1, float64(len(durs)-1))
		q[i] = durs[int(lo)] + (h-lo)*(durs[int(hi)]-durs[int(lo)])
	}
	q[6] = durs[len(durs)-1]
	return q
}

// pcapWindows counts a classic pcap's records per window, from the record
// headers alone.
func pcapWindows(t *testing.T, path string, iv int64) map[int64]int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := func(b []byte) int64 {
		return int64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	}
	frac := int64(1000) // microseconds
	if le(data[0:4]) == 0xa1b23c4d {
		frac = 1
	}
	out := map[int64]int64{}
	for off := 24; off+16 <= len(data); {
		ts := le(data[off:])*1e9 + le(data[off+4:])*frac
		out[ts-ts%iv]++
		off += 16 + int(le(data[off+8:]))
	}
	return out
}

// TestIntervalRelations checks intervals.parquet against README's
// definitions on every real capture, in the chosen windows and in 1 s
// ones: flows open at a window's end, and those half-open or SYN-only
// among them, are active in it, as are those that started or ended in it
// and their sources; and a destination with flows open at a window's end
// has a row for the next window, unless the input ended in it.
func TestIntervalRelations(t *testing.T) {
	db := openDuckDB(t)
	for _, name := range []string{"pkt.TCP.synflood.spoofed.pcap", "amp.UDP.snmp.src161.pcapng", "amp.TCP.reflection.SYNACK.pcap",
		"amp.dns.RRSIG.fragmented.pcap", "cs-httpServerCredentials.pcap", "na-url_redirection.pcapng", "ps-tcp_syn.pcap"} {
		for _, interval := range []string{"auto", "1s"} {
			t.Run(name+"/"+interval, func(t *testing.T) {
				dir := t.TempDir()
				if code := analyzeInto(t, dir, "--no-plots", "-i", interval, realTrace(t, name)); code != exitOK {
					t.Fatalf("analyze exited %d", code)
				}
				s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
				if err != nil {
					t.Fatal(err)
				}
				var broken, missing int
				err = db.QueryRow(fmt.Sprintf(`SELECT count(*) FILTER (WHERE ongoing > flows_active OR half_open + syn_only > ongoing
					OR flows_new > flows_active OR sources > flows_active
					OR ended_complete + ended_reset + ended_rejected + ended_fin_no_syn + ended_timeout + ended_other > flows_active)
					FROM read_parquet('%s/intervals.parquet')`, dir)).Scan(&broken)
				if err != nil {
					t.Fatal(err)
				}
				err = db.QueryRow(fmt.Sprintf(`WITH w AS (SELECT * FROM read_parquet('%[1]s/intervals.parquet'))
					SELECT count(*) FROM w a WHERE a.ongoing > 0 AND a.window_end <= TIMESTAMPTZ '%[2]s'
					AND NOT EXISTS (SELECT 1 FROM w b WHERE b.dst_ip = a.dst_ip AND b.dst_port = a.dst_port AND b.proto = a.proto
					AND b.window_start = a.window_end)`, dir, s.LastSeen.Format(time.RFC3339Nano))).Scan(&missing)
				if err != nil {
					t.Fatal(err)
				}
				if broken > 0 || missing > 0 {
					t.Errorf("%d rows break the definitions, %d windows with open flows have no row after them", broken, missing)
				}
			})
		}
	}
}

// TestOpenFlowsWithinIdle: a capture that goes on with non-IP frames for
// hours after its last IP packet (the flow table never sees them) ends
// its open flows at eof, and intervals.parquet counts them active up to
// the input's end, but no longer than an idle timeout after their last
// packet: not in every 1 s window of the hours after.
func TestOpenFlowsWithinIdle(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 41, Flows: 600})
	appendARP(t, trace, 300)
	out := filepath.Join(dir, "out")
	if code := analyzeInto(t, out, "-i", "1s", "--no-plots", trace); code != exitOK {
		t.Fatalf("analyze: exit status %d", code)
	}
	_, s := flowsAndSummary(t, out)
	db := openDuckDB(t)
	lastPacket := queryInt(t, db, fmt.Sprintf("SELECT epoch_ns(max(last_seen)) FROM '%s'", filepath.Join(out, tables.FlowsFile)))
	if s.Flows.ByEnd["eof"] == 0 || s.LastSeen.UnixNano()-lastPacket < int64(time.Hour) {
		t.Fatalf("no case: %d flows end at eof, the input ends %v after the last IP packet", s.Flows.ByEnd["eof"], time.Duration(s.LastSeen.UnixNano()-lastPacket))
	}
	lastWindow := queryInt(t, db, fmt.Sprintf("SELECT epoch_ns(max(window_start)) FROM '%s'", filepath.Join(out, tables.IntervalsFile)))
	if idle := int64(time.Minute); lastWindow > lastPacket+idle {
		t.Errorf("intervals.parquet has windows up to %v after the last IP packet, past the idle timeout", time.Duration(lastWindow-lastPacket))
	}
}
