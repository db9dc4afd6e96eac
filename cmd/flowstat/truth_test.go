package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"flowstat/scripts/gen"
)

// flowLine renders a flow's every column in one comparable line, from the
// generator's truth or from flows.parquet.
func truthLine(f *gen.Flow) string {
	rtt := "null"
	if f.HandshakeRTTNs != nil {
		rtt = fmt.Sprint(*f.HandshakeRTTNs)
	}
	return fmt.Sprintf("%d %d %d %s:%d>%s:%d %d..%d pk=%d/%d by=%d/%d fl=%d/%d syn=%d/%d/%d rtt=%s %s ho=%v h=%s %s",
		f.ProtoNum, f.IPVersion, f.VLAN, f.SrcIP, f.SrcPort, f.DstIP, f.DstPort, f.FirstSeenNs, f.LastSeenNs,
		f.PacketsFwd, f.PacketsRev, f.BytesFwd, f.BytesRev, f.TCPFlagsFwd, f.TCPFlagsRev,
		f.SynPackets, f.SynAckPackets, f.RstPackets, rtt, f.State, f.HalfOpen, f.History, f.EndReason)
}

// arrowLines reads flows.parquet with Arrow's own Parquet reader (what
// pandas' pyarrow engine uses), checks that it sees nanosecond UTC
// timestamps, and renders each row like truthLine.
func arrowLines(t *testing.T, path string) []string {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	index := map[string]int{}
	for i, f := range tbl.Schema().Fields() {
		index[f.Name] = i
	}
	if typ := tbl.Schema().Field(index["first_seen"]).Type.String(); typ != "timestamp[ns, tz=UTC]" {
		t.Errorf("first_seen is %s for Arrow, want timestamp[ns, tz=UTC]", typ)
	}
	tr := array.NewTableReader(tbl, 4096)
	defer tr.Release()
	var lines []string
	for tr.Next() {
		rec := tr.Record()
		col := func(name string) arrow.Array { return rec.Column(index[name]) }
		for r := 0; r < int(rec.NumRows()); r++ {
			cell := func(name string) string { return col(name).ValueStr(r) }
			ts := func(name string) int64 { return int64(col(name).(*array.Timestamp).Value(r)) }
			rtt := "null"
			if rc := col("handshake_rtt_s").(*array.Float64); rc.IsValid(r) {
				rtt = fmt.Sprint(int64(math.Round(rc.Value(r) * 1e9)))
			}
			lines = append(lines, fmt.Sprintf("%s %s %s %s:%s>%s:%s %d..%d pk=%s/%s by=%s/%s fl=%s/%s syn=%s/%s/%s rtt=%s %s ho=%s h=%s %s",
				cell("proto"), cell("ip_version"), cell("vlan"), cell("src_ip"), cell("src_port"), cell("dst_ip"), cell("dst_port"),
				ts("first_seen"), ts("last_seen"), cell("packets_fwd"), cell("packets_rev"), cell("bytes_fwd"), cell("bytes_rev"),
				cell("tcp_flags_fwd"), cell("tcp_flags_rev"), cell("syn_packets"), cell("synack_packets"), cell("rst_packets"),
				rtt, cell("state"), cell("half_open"), cell("history"), cell("end_reason")))
		}
	}
	return lines
}

// TestGroundTruth compares every flow record with the generator's truth,
// field by field, for several seeds, sizes and timestamp resolutions.
func TestGroundTruth(t *testing.T) {
	cases := []gen.Config{
		{Seed: 1, Flows: 300},
		{Seed: 2, Flows: 2000, Nano: true},
		{Seed: 3, Flows: 5000, Mix: "default,synflood=20"},
		{Seed: 4, Flows: 1500, Snaplen: 1514, Duration: 20 * time.Minute},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, cfg := range cases {
		t.Run(fmt.Sprintf("seed%d-%dflows", cfg.Seed, cfg.Flows), func(t *testing.T) {
			dir := t.TempDir()
			trace := filepath.Join(dir, "trace.pcap")
			f, err := os.Create(trace)
			if err != nil {
				t.Fatal(err)
			}
			truth, err := gen.Write(f, cfg)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			if code := analyzeInto(t, out, "--no-report", trace); code != exitOK {
				t.Fatalf("exit status %d", code)
			}
			want := make([]string, len(truth.Flows))
			for i := range truth.Flows {
				want[i] = truthLine(&truth.Flows[i])
			}
			got := arrowLines(t, filepath.Join(out, "flows.parquet"))
			sort.Strings(want)
			sort.Strings(got)
			diff(t, got, want)
		})
	}
}

// diff reports the lines only one side has, a few at most.
func diff(t *testing.T, got, want []string) {
	t.Helper()
	g, w := map[string]int{}, map[string]int{}
	for _, l := range got {
		g[l]++
	}
	for _, l := range want {
		w[l]++
	}
	shown := 0
	for _, l := range want {
		if g[l] < w[l] && shown < 8 {
			t.Errorf("missing: %s", l)
			shown++
		}
	}
	for _, l := range got {
		if w[l] < g[l] && shown < 16 {
			t.Errorf("unexpected: %s", l)
			shown++
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d flows, truth has %d", len(got), len(want))
	}
}
