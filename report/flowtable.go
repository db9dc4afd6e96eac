package report

import (
	"cmp"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"flowstat/flows"
)

// RowGroupRows is the number of rows per Parquet row group: large enough for
// fast scans in DuckDB and pandas, small enough to build in memory quickly.
const RowGroupRows = 128 * 1024

var dictionary = arrow.NewMetadata([]string{"encoding"}, []string{"dictionary"})

var delta = arrow.NewMetadata([]string{"encoding"}, []string{"delta"})

var utc = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

// FlowSchema is the Arrow schema of flows.parquet. Its column names and
// types are a contract with users; README.md documents each column.
var FlowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "flow_id", Type: arrow.PrimitiveTypes.Uint64, Metadata: delta},
	{Name: "proto", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "ip_version", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "vlan", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "src_ip", Type: arrow.BinaryTypes.String},
	{Name: "src_port", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "dst_ip", Type: arrow.BinaryTypes.String},
	{Name: "dst_port", Type: arrow.PrimitiveTypes.Uint16},
	{Name: "first_seen", Type: utc, Metadata: delta},
	{Name: "last_seen", Type: utc, Metadata: delta},
	{Name: "duration_s", Type: arrow.PrimitiveTypes.Float64},
	{Name: "packets_fwd", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "packets_rev", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_fwd", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "bytes_rev", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "tcp_flags_fwd", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "tcp_flags_rev", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "syn_packets", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "synack_packets", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "rst_packets", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "handshake_rtt_s", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "state", Type: arrow.BinaryTypes.String, Metadata: dictionary},
	{Name: "half_open", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "history", Type: arrow.BinaryTypes.String},
	{Name: "end_reason", Type: arrow.BinaryTypes.String, Metadata: dictionary},
}, nil)

// SortFlows puts records in the order of flows.parquet: by first packet
// time, then flow id. It sorts small keys, then moves each record once into
// place by following the permutation's cycles, rather than moving whole
// records while sorting.
func SortFlows(recs []flows.Record) {
	type key struct {
		first int64
		id    uint64
		i     int32
	}
	keys := make([]key, len(recs))
	for i := range recs {
		keys[i] = key{recs[i].FirstSeen, recs[i].ID, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.id, b.id))
	})
	from := make([]int32, len(keys))
	for i := range keys {
		from[i] = keys[i].i
	}
	moveInto(recs, from)
}

// moveInto puts s[from[i]] at position i for every i, following the
// permutation's cycles so that each element moves once; from is used up.
func moveInto[T any](s []T, from []int32) {
	for start := range from {
		if from[start] < 0 || int(from[start]) == start {
			continue
		}
		held := s[start]
		at := start
		for {
			next := int(from[at])
			from[at] = -1 // placed
			if next == start {
				s[at] = held
				break
			}
			s[at] = s[next]
			at = next
		}
	}
}

// CompareFlows orders two records as flows.parquet does.
func CompareFlows(a, b *flows.Record) int {
	if c := cmp.Compare(a.FirstSeen, b.FirstSeen); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// FlowBatch builds the Arrow record batch of flows.parquet for recs. The
// caller releases it.
func FlowBatch(recs []flows.Record) arrow.Record {
	return flowBatch(memory.DefaultAllocator, recs)
}

func flowBatch(mem memory.Allocator, recs []flows.Record) arrow.Record {
	b := array.NewRecordBuilder(mem, FlowSchema)
	defer b.Release()
	b.Reserve(len(recs))
	col := func(i int) array.Builder { return b.Field(i) }
	var text []byte // addresses and histories are written through it, not as new strings
	for i := range recs {
		r := &recs[i]
		col(0).(*array.Uint64Builder).UnsafeAppend(r.ID)
		col(1).(*array.Uint8Builder).UnsafeAppend(r.Proto)
		col(2).(*array.Uint8Builder).UnsafeAppend(r.IPVersion)
		col(3).(*array.Uint16Builder).UnsafeAppend(r.VLAN)
		text = r.SrcIP.Addr().AppendTo(text[:0])
		col(4).(*array.StringBuilder).BinaryBuilder.Append(text)
		col(5).(*array.Uint16Builder).UnsafeAppend(r.SrcPort)
		text = r.DstIP.Addr().AppendTo(text[:0])
		col(6).(*array.StringBuilder).BinaryBuilder.Append(text)
		col(7).(*array.Uint16Builder).UnsafeAppend(r.DstPort)
		col(8).(*array.TimestampBuilder).UnsafeAppend(arrow.Timestamp(r.FirstSeen))
		col(9).(*array.TimestampBuilder).UnsafeAppend(arrow.Timestamp(r.LastSeen))
		col(10).(*array.Float64Builder).UnsafeAppend(r.Duration())
		col(11).(*array.Uint64Builder).UnsafeAppend(r.Packets[flows.Fwd])
		col(12).(*array.Uint64Builder).UnsafeAppend(r.Packets[flows.Rev])
		col(13).(*array.Uint64Builder).UnsafeAppend(r.Bytes[flows.Fwd])
		col(14).(*array.Uint64Builder).UnsafeAppend(r.Bytes[flows.Rev])
		col(15).(*array.Uint8Builder).UnsafeAppend(r.TCPFlags[flows.Fwd])
		col(16).(*array.Uint8Builder).UnsafeAppend(r.TCPFlags[flows.Rev])
		col(17).(*array.Uint32Builder).UnsafeAppend(r.SYNs)
		col(18).(*array.Uint32Builder).UnsafeAppend(r.SYNACKs)
		col(19).(*array.Uint32Builder).UnsafeAppend(r.RSTs)
		if r.HandshakeRTT >= 0 {
			col(20).(*array.Float64Builder).Append(float64(r.HandshakeRTT) / 1e9)
		} else {
			col(20).(*array.Float64Builder).AppendNull()
		}
		col(21).(*array.StringBuilder).Append(r.State.String())
		col(22).(*array.BooleanBuilder).Append(r.HalfOpen)
		text = r.History.AppendTo(text[:0])
		col(23).(*array.StringBuilder).BinaryBuilder.Append(text)
		col(24).(*array.StringBuilder).Append(r.EndReason.String())
	}
	return b.NewRecord()
}

// WriteFlows writes recs, which must be sorted with SortFlows, to path as
// flows.parquet, atomically.
func WriteFlows(path string, recs []flows.Record) error {
	start := 0
	return WriteFlowsFrom(path, func() ([]flows.Record, error) {
		part := recs[start:min(start+RowGroupRows, len(recs))]
		start += len(part)
		return part, nil
	})
}

// WriteFlowsFrom writes the records next returns, in SortFlows order, to
// path as flows.parquet, atomically: a row group per call, until it
// returns none. Its records need stay valid only until the next call.
// Building a batch and encoding the previous one overlap: they take about
// the same time.
func WriteFlowsFrom(path string, next func() ([]flows.Record, error)) error {
	pool := newBufferPool()
	return writePipelined(path, FlowSchema, func() (arrow.Record, error) {
		recs, err := next()
		if err != nil || len(recs) == 0 {
			return nil, err
		}
		return flowBatch(pool, recs), nil
	})
}
