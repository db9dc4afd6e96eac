package report

import (
	"flowstat/tables"
	"flowstat/tables/tablestest"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
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
