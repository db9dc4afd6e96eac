package report

import (
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"flowstat/tables"
	"flowstat/tables/tablestest"
)

// TestIntervalsParquet writes intervals over several row groups and the
// batches rows are made in, IPv4 and IPv6, with and without durations,
// each count of its own: Arrow's Parquet reader (as pyarrow and DuckDB
// read them) reads back every value, NULL where no flow ended.
func TestIntervalsParquet(t *testing.T) {
	n := tables.RowGroupRows + tables.RowsAtOnce + 10
	st := &Stats{Intervals: make([]Interval, n)}
	for i := range st.Intervals {
		ip := netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)})
		if i%4 == 0 {
			ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		}
		c := Counts{Packets: uint64(i), Bytes: uint64(i) * 3, Flows: uint64(i) * 5, New: uint64(i) * 7, Sources: uint64(i) * 11,
			SYNs: uint64(i) * 13, SYNACKs: uint64(i) * 17, HalfOpen: uint64(i) * 19, SYNOnly: uint64(i) * 23, Ongoing: uint64(i) * 29}
		for k := range c.Ended {
			c.Ended[k] = uint64(i)*31 + uint64(k)
		}
		if i%3 != 0 {
			f := float64(i)
			c.Durations = Quantiles{N: i, P10: f + 0.1, P25: f + 0.25, P50: f + 0.5, P75: f + 0.75, P90: f + 0.9, P99: f + 0.99, Max: f + 1}
		}
		start := int64(1_700_000_000e9) + int64(i/7)*60e9
		st.Intervals[i] = Interval{Start: start, End: start + 60e9, Dest: Dest{IP: ip, Port: uint16(i), Proto: []uint8{6, 17, 1}[i%3]}, Counts: c}
	}
	dir := t.TempDir()
	if err := WriteTables(dir, st); err != nil {
		t.Fatal(err)
	}

	md, table := tablestest.ReadBack(t, filepath.Join(dir, tables.IntervalsFile), tables.IntervalSchema)
	if len(md.RowGroups) != 2 {
		t.Errorf("%d row groups, want 2", len(md.RowGroups))
	}
	// want gives each column's value in interval w as Arrow prints it,
	// or "" for window_end.
	want := func(column string, w *Interval) string {
		c, q := &w.Counts, &w.Counts.Durations
		if strings.HasPrefix(column, "dur_") && q.N == 0 {
			return "(null)"
		}
		var v any
		switch column {
		case "window_start":
			v = arrow.Timestamp(w.Start).ToTime(arrow.Nanosecond).Format("2006-01-02 15:04:05.999999999Z0700")
		case "dst_ip":
			v = w.Dest.IP
		case "dst_port":
			v = w.Dest.Port
		case "proto":
			v = w.Dest.Proto
		case "packets":
			v = c.Packets
		case "bytes":
			v = c.Bytes
		case "flows_active":
			v = c.Flows
		case "flows_new":
			v = c.New
		case "sources":
			v = c.Sources
		case "syn_packets":
			v = c.SYNs
		case "synack_packets":
			v = c.SYNACKs
		case "half_open":
			v = c.HalfOpen
		case "syn_only":
			v = c.SYNOnly
		case "ended_complete":
			v = c.Ended[Complete]
		case "ended_reset":
			v = c.Ended[Reset]
		case "ended_rejected":
			v = c.Ended[Rejected]
		case "ended_fin_no_syn":
			v = c.Ended[FINNoSYN]
		case "ended_timeout":
			v = c.Ended[Timeout]
		case "ended_other":
			v = c.Ended[OtherEnd]
		case "ongoing":
			v = c.Ongoing
		case "dur_p10":
			v = q.P10
		case "dur_p25":
			v = q.P25
		case "dur_p50":
			v = q.P50
		case "dur_p75":
			v = q.P75
		case "dur_p90":
			v = q.P90
		case "dur_p99":
			v = q.P99
		case "dur_max":
			v = q.Max
		default:
			return ""
		}
		return fmt.Sprint(v)
	}
	checked := 0
	for i, f := range tables.IntervalSchema.Fields() {
		if want(f.Name, &st.Intervals[1]) != "" {
			tablestest.CheckValues(t, table, i, n, func(row int) string { return want(f.Name, &st.Intervals[row]) })
			checked++
		}
	}
	if checked != tables.IntervalSchema.NumFields()-1 { // all but window_end
		t.Errorf("checked %d columns of %d", checked, tables.IntervalSchema.NumFields())
	}
}

// TestFindingsParquet writes the findings of the synthetic attack traffic
// and reads them back as Arrow does: a row per finding in report.md's
// order, with the numbers of its kind and NULL in the others. The peaks
// are those of the traffic's busiest second, counted by hand (the SYN
// flood's over a 5 s window: 125 SYNs).
func TestFindingsParquet(t *testing.T) {
	st := build(t, dataset(t, 5, 60, attackFlows()...), BuildOptions{NoPlots: true})
	dir := t.TempDir()
	if err := WriteTables(dir, st); err != nil {
		t.Fatal(err)
	}
	_, table := tablestest.ReadBack(t, filepath.Join(dir, tables.FindingsFile), tables.FindingSchema)
	want := []string{ // finding_id kind method host port proto flows sources targets ports failed_flows packets_in syn_packets peak_pps hosts attack_id
		"1 syn_flood (null) 192.0.2.80 80 6 1500 1500 (null) (null) (null) (null) 1500 25 (null) 1",
		"2 udp_reflection (null) 192.0.2.99 161 17 800 60 (null) (null) 800 1600 (null) 40 (null) 2",
		"3 tcp_reflection (null) 192.0.2.99 443 6 600 600 (null) (null) 600 600 (null) 10 (null) 2",
		"4 port_scan syn 10.66.0.1 (null) 6 150 (null) 150 (null) 150 150 (null) 5 (null) (null)",
		"5 port_scan udp 10.66.0.4 (null) 17 120 (null) 120 (null) 120 120 (null) 10 (null) (null)",
		"6 port_scan ack 10.66.0.5 (null) 6 110 (null) 110 (null) 110 110 (null) 10 (null) (null)",
		"7 host_sweep syn 10.66.0.2 22 6 70 (null) 70 (null) 70 70 (null) 4 (null) (null)",
		"8 host_sweep echo 10.66.0.6 (null) 1 60 (null) 60 (null) 40 60 (null) 20 (null) (null)",
		"9 udp_flood (null) 192.0.2.80 (null) 17 1200 1200 (null) 1200 1200 1200 (null) 1200 (null) 1",
		"10 icmp_flood (null) 192.0.2.80 (null) 1 600 600 (null) (null) 600 1200 (null) 1200 (null) 1",
		"11 tcp_flood ack 192.0.2.80 443 6 1100 1100 (null) 1 1100 1100 (null) 1100 (null) 1",
		"12 carpet_bombing udp_reflection 198.51.100.0/24 123 17 320 100 (null) (null) 320 640 (null) 640 40 3",
	}
	if int(table.NumRows()) != len(want) || len(st.Findings) != len(want) {
		t.Fatalf("%d rows, %d findings, want %d", table.NumRows(), len(st.Findings), len(want))
	}
	columns := []string{"finding_id", "kind", "method", "host", "port", "proto", "flows", "sources", "targets", "ports", "failed_flows", "packets_in", "syn_packets", "peak_pps", "hosts", "attack_id"}
	for row := range want {
		var got []string
		for _, name := range columns {
			i := tables.FindingSchema.FieldIndices(name)[0]
			got = append(got, table.Column(i).Data().Chunk(0).ValueStr(row))
		}
		if g := strings.Join(got, " "); g != want[row] {
			t.Errorf("row %d: %s, want %s", row, g, want[row])
		}
	}
	for row, f := range st.Findings {
		first := table.Column(tables.FindingSchema.FieldIndices("first_seen")[0]).Data().Chunk(0).(*array.Timestamp).Value(row)
		if int64(first) != f.First {
			t.Errorf("row %d: first_seen %d, want %d", row, first, f.First)
		}
	}
	// Sources: the SYN flood's 1,500 one-flow sources cut to 1,000, every
	// reflector, each scanner, the floods' sources up to 1,000, the
	// carpet bombing's 100 reflectors.
	_, sources := tablestest.ReadBack(t, filepath.Join(dir, tables.FindingSources), tables.FindingSourceSchema)
	perFinding := map[string]int{}
	ids := sources.Column(0).Data().Chunk(0)
	for i := range ids.Len() {
		perFinding[ids.ValueStr(i)]++
	}
	if want := map[string]int{"1": 1000, "2": 60, "3": 600, "4": 1, "5": 1, "6": 1, "7": 1, "8": 1, "9": 1000, "10": 600, "11": 1000, "12": 100}; !maps.Equal(perFinding, want) {
		t.Errorf("sources per finding %v, want %v", perFinding, want)
	}
}
