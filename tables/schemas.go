package tables

import "github.com/apache/arrow/go/v17/arrow"

// countFields are the columns Interval and Destination share after their
// keys: the fields of Counts. Their names and types are a contract with
// users, like FlowSchema's.
func countFields(perWindow bool) []arrow.Field {
	u64 := arrow.PrimitiveTypes.Uint64
	f := []arrow.Field{
		{Name: "packets", Type: u64},
		{Name: "bytes", Type: u64},
	}
	if perWindow {
		f = append(f, arrow.Field{Name: "flows_active", Type: u64}, arrow.Field{Name: "flows_new", Type: u64})
	} else {
		f = append(f, arrow.Field{Name: "flows", Type: u64})
	}
	for _, name := range []string{"sources", "syn_packets", "synack_packets", "half_open", "syn_only",
		"ended_complete", "ended_reset", "ended_rejected", "ended_fin_no_syn", "ended_timeout", "ended_other", "ongoing"} {
		f = append(f, arrow.Field{Name: name, Type: u64})
	}
	for _, name := range quantileColumns {
		f = append(f, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	return f
}

var quantileColumns = []string{"dur_p10", "dur_p25", "dur_p50", "dur_p75", "dur_p90", "dur_p99", "dur_max"}

// IntervalSchema is the Arrow schema of intervals.parquet.
var IntervalSchema = arrow.NewSchema(append([]arrow.Field{
	{Name: "window_start", Type: utc},
	{Name: "window_end", Type: utc},
	{Name: "dst_ip", Type: arrow.BinaryTypes.String, Metadata: dictionary},
	{Name: "dst_port", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "proto", Type: arrow.PrimitiveTypes.Uint8},
}, countFields(true)...), nil)

// DestinationSchema is the Arrow schema of destinations.parquet.
var DestinationSchema = arrow.NewSchema(append([]arrow.Field{
	{Name: "dst_ip", Type: arrow.BinaryTypes.String},
	{Name: "dst_port", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "proto", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "first_seen", Type: utc},
	{Name: "last_seen", Type: utc},
}, countFields(false)...), nil)

// CDFSchema is the Arrow schema of cdf.parquet.
var CDFSchema = arrow.NewSchema([]arrow.Field{
	{Name: "scope", Type: arrow.BinaryTypes.String, Metadata: dictionary},
	{Name: "duration_s", Type: arrow.PrimitiveTypes.Float64},
	{Name: "fraction", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// WindowRow is a row of intervals.parquet, written by parquet-go's
// GenericWriter straight into columns, as flowRow is: its tags give
// IntervalSchema's Parquet schema exactly (TestRowSchemas).
type WindowRow struct {
	Start         int64    `parquet:"window_start,timestamp(nanosecond)"`
	End           int64    `parquet:"window_end,timestamp(nanosecond)"`
	DstIP         string   `parquet:"dst_ip,dict"`
	DstPort       uint16   `parquet:"dst_port"`
	Proto         uint8    `parquet:"proto"`
	Packets       uint64   `parquet:"packets"`
	Bytes         uint64   `parquet:"bytes"`
	Flows         uint64   `parquet:"flows_active"`
	New           uint64   `parquet:"flows_new"`
	Sources       uint64   `parquet:"sources"`
	SYNs          uint64   `parquet:"syn_packets"`
	SYNACKs       uint64   `parquet:"synack_packets"`
	HalfOpen      uint64   `parquet:"half_open"`
	SYNOnly       uint64   `parquet:"syn_only"`
	EndedComplete uint64   `parquet:"ended_complete"`
	EndedReset    uint64   `parquet:"ended_reset"`
	EndedRejected uint64   `parquet:"ended_rejected"`
	EndedFINNoSYN uint64   `parquet:"ended_fin_no_syn"`
	EndedTimeout  uint64   `parquet:"ended_timeout"`
	EndedOther    uint64   `parquet:"ended_other"`
	Ongoing       uint64   `parquet:"ongoing"`
	P10           *float64 `parquet:"dur_p10,optional"`
	P25           *float64 `parquet:"dur_p25,optional"`
	P50           *float64 `parquet:"dur_p50,optional"`
	P75           *float64 `parquet:"dur_p75,optional"`
	P90           *float64 `parquet:"dur_p90,optional"`
	P99           *float64 `parquet:"dur_p99,optional"`
	Max           *float64 `parquet:"dur_max,optional"`
}

// TimelineSchema is the Arrow schema of timelines.parquet: a row per
// window with packets of each timeline target of report.md, what reached
// it and what it sent, whichever side of its flows it was.
var TimelineSchema = arrow.NewSchema([]arrow.Field{
	{Name: "target", Type: arrow.BinaryTypes.String},
	{Name: "window_start", Type: utc},
	{Name: "window_end", Type: utc},
	{Name: "packets_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "packets_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "syn_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "syn_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "synack_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "synack_out", Type: arrow.PrimitiveTypes.Uint64},
}, nil)

// HostWindowSchema is the Arrow schema of host_windows.parquet: a row per
// address and window with packets (with --hosts).
var HostWindowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "ip", Type: arrow.BinaryTypes.String},
	{Name: "window_start", Type: utc},
	{Name: "window_end", Type: utc},
	{Name: "packets_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "packets_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "flows_as_responder", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "flows_as_originator", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "syn_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "syn_out", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "synack_in", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "synack_out", Type: arrow.PrimitiveTypes.Uint64},
}, nil)

// FindingSchema is the Arrow schema of findings.parquet: a row per finding
// of report.md, in its order. Columns that do not apply to a kind are
// NULL.
var FindingSchema = arrow.NewSchema([]arrow.Field{
	{Name: "finding_id", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "attack_id", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "kind", Type: arrow.BinaryTypes.String},
	{Name: "method", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "host", Type: arrow.BinaryTypes.String},
	{Name: "port", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "proto", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "first_seen", Type: utc},
	{Name: "last_seen", Type: utc},
	{Name: "duration_s", Type: arrow.PrimitiveTypes.Float64},
	{Name: "flows", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "sources", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "targets", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "ports", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "hosts", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "failed_flows", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "packets_in", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "bytes_in", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "packets_out", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "bytes_out", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "syn_packets", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "synack_packets", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "ttl_min", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "ttl_max", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "single_flow_sources", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "bogon_sources", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "peak_pps", Type: arrow.PrimitiveTypes.Float64},
	{Name: "peak_bps", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// FindingSourceSchema is the Arrow schema of finding_sources.parquet: the
// most active sources of each finding (up to 1,000), by finding, the most
// active first.
var FindingSourceSchema = arrow.NewSchema([]arrow.Field{
	{Name: "finding_id", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "src_ip", Type: arrow.BinaryTypes.String},
	{Name: "src_port", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "flows", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "packets", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "bytes", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "first_seen", Type: utc},
	{Name: "last_seen", Type: utc},
}, nil)
