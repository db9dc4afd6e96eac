package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/reader"
)

// File names in an output directory.
const (
	FlowsFile        = "flows.parquet"
	SummaryFile      = "summary.json"
	IntervalsFile    = "intervals.parquet"
	DestinationsFile = "destinations.parquet"
	CDFFile          = "cdf.parquet"
	MarkdownFile     = "report.md"
)

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

// WriteTables writes intervals.parquet, destinations.parquet and
// cdf.parquet into dir, each atomically.
func WriteTables(dir string, st *Stats) error {
	// intervals.parquet is the largest table by far: the others are
	// written beside it.
	intervals := make(chan error, 1)
	go func() {
		next, err := intervalsInOrder(st)
		if err != nil {
			intervals <- err
			return
		}
		var rows windowRows
		intervals <- writeRowsFrom(filepath.Join(dir, IntervalsFile), IntervalSchema, next, func(ws []intervalRow, _ bool) []windowRow {
			rows.fill(ws)
			return rows.rows
		})
	}()
	others := writeDestinationsAndCDF(dir, st)
	return cmp.Or(<-intervals, others)
}

// writeDestinationsAndCDF writes destinations.parquet and cdf.parquet.
func writeDestinationsAndCDF(dir string, st *Stats) error {
	appendDestination := func(b *array.RecordBuilder, d *Destination) {
		appendDest(b, 0, d.Dest)
		appendTime(b, 3, d.FirstSeen)
		appendTime(b, 4, d.LastSeen)
		appendCounts(b, 5, &d.Counts)
	}
	path := filepath.Join(dir, DestinationsFile)
	var err error
	if st.spilledDestinations != nil {
		err = writeSpilled(path, DestinationSchema, st.spilledDestinations, compareDests, func(b *array.RecordBuilder, r *intervalRow) {
			d := r.destination()
			appendDestination(b, &d)
		})
	} else {
		err = writeTable(path, DestinationSchema, len(st.Destinations), func(b *array.RecordBuilder, i int) {
			appendDestination(b, &st.Destinations[i])
		})
	}
	if err != nil {
		return err
	}
	return writeTable(filepath.Join(dir, CDFFile), CDFSchema, len(st.CDF), func(b *array.RecordBuilder, i int) {
		p := &st.CDF[i]
		b.Field(0).(*array.StringBuilder).Append(p.Scope)
		b.Field(1).(*array.Float64Builder).Append(p.Duration)
		b.Field(2).(*array.Float64Builder).Append(p.Fraction)
	})
}

// intervalsInOrder returns the intervals of st a row group at a time, from
// memory or merged from their spilled runs, for writeRowsFrom: as
// intervalRows, which hold no pointers for the collector to follow
// (Intervals do, in their addresses: a row group of them made it mark
// for most of the time the table took).
func intervalsInOrder(st *Stats) (func() ([]intervalRow, error), error) {
	left := st.Intervals
	fill := func(dst []intervalRow) (int, error) {
		n := min(len(dst), len(left))
		for i := range dst[:n] {
			dst[i] = intervalRowOf(&left[i])
		}
		left = left[n:]
		return n, nil
	}
	if st.spilledIntervals != nil {
		m, err := extsort.NewMerger(compareRows, []*extsort.Runs[intervalRow]{st.spilledIntervals})
		if err != nil {
			return nil, err
		}
		fill = m.Fill
	}
	return RowGroupsFrom(fill), nil
}

// RowGroupsFrom returns the values fill puts in order into the slice it is
// given (0 at the end), a row group at a time, for writeRowsFrom: in two
// batches taken in turn, one made while the other is written.
func RowGroupsFrom[T any](fill func([]T) (int, error)) func() ([]T, error) {
	var batches [2][]T
	made := 0
	return func() ([]T, error) {
		batch := &batches[made%2]
		made++
		if *batch == nil {
			*batch = make([]T, RowGroupRows)
		}
		n, err := fill(*batch)
		return (*batch)[:n], err
	}
}

// windowRow is a row of intervals.parquet, written by parquet-go's
// GenericWriter straight into columns, as flowRow is: its tags give
// IntervalSchema's Parquet schema exactly (TestRowSchemas).
type windowRow struct {
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

// windowRows makes rows of intervals.parquet in reused memory, as
// flowRows does: their destinations point into text, their quantiles
// into quantiles.
type windowRows struct {
	rows      []windowRow
	text      []byte
	ends      []int // where each row's destination ends in text
	quantiles []Quantiles
}

// fill makes the rows of ws.
func (b *windowRows) fill(ws []intervalRow) {
	b.rows, b.text, b.ends, b.quantiles = b.rows[:0], b.text[:0], b.ends[:0], b.quantiles[:0]
	for i := range ws {
		b.text = ws[i].IP.Addr().AppendTo(b.text)
		b.ends = append(b.ends, len(b.text))
		b.quantiles = append(b.quantiles, ws[i].Durations)
	}
	// The strings are taken once text has stopped growing.
	start := 0
	for i := range ws {
		w, c := &ws[i], &ws[i].Counts
		row := windowRow{
			Start: w.Start, End: w.End, DstIP: textString(b.text, start, b.ends[i]), DstPort: w.Port, Proto: w.Proto,
			Packets: c.Packets, Bytes: c.Bytes, Flows: c.Flows, New: c.New, Sources: c.Sources,
			SYNs: c.SYNs, SYNACKs: c.SYNACKs, HalfOpen: c.HalfOpen, SYNOnly: c.SYNOnly,
			EndedComplete: c.Ended[Complete], EndedReset: c.Ended[Reset], EndedRejected: c.Ended[Rejected],
			EndedFINNoSYN: c.Ended[FINNoSYN], EndedTimeout: c.Ended[Timeout], EndedOther: c.Ended[OtherEnd],
			Ongoing: c.Ongoing,
		}
		if q := &b.quantiles[i]; q.N > 0 {
			row.P10, row.P25, row.P50, row.P75, row.P90, row.P99, row.Max = &q.P10, &q.P25, &q.P50, &q.P75, &q.P90, &q.P99, &q.Max
		}
		b.rows = append(b.rows, row)
		start = b.ends[i]
	}
}

// writeSpilled writes a table from the spilled runs of a partitioned
// build, merged in order.
func writeSpilled(path string, schema *arrow.Schema, runs *extsort.Runs[intervalRow], compare func(a, b *intervalRow) int,
	appendRow func(*array.RecordBuilder, *intervalRow)) error {
	m, err := extsort.NewMerger(compare, []*extsort.Runs[intervalRow]{runs})
	if err != nil {
		return err
	}
	buf := make([]intervalRow, 4096)
	return writeBatches(path, schema, func(b *array.RecordBuilder) (bool, error) {
		for rows := 0; rows < RowGroupRows; {
			n, err := m.Fill(buf[:min(len(buf), RowGroupRows-rows)])
			if err != nil || n == 0 {
				return rows > 0, err
			}
			for i := range buf[:n] {
				appendRow(b, &buf[i])
			}
			rows += n
		}
		return true, nil
	})
}

// writeTable writes n rows, appended by row, in row groups of RowGroupRows.
func writeTable(path string, schema *arrow.Schema, n int, row func(*array.RecordBuilder, int)) error {
	start := 0
	return writeBatches(path, schema, func(b *array.RecordBuilder) (bool, error) {
		if start >= n {
			return false, nil
		}
		for i := start; i < min(start+RowGroupRows, n); i++ {
			row(b, i)
		}
		start += RowGroupRows
		return true, nil
	})
}

// writeBatches writes the row groups that fill appends to a builder, until
// it returns false, atomically. Each row group's buffers are those of the
// one before, grown by the same steps: fresh ones, for the millions of
// rows of a long trace in short windows, were gigabytes of garbage.
func writeBatches(path string, schema *arrow.Schema, fill func(*array.RecordBuilder) (bool, error)) error {
	pool := newBufferPool()
	return writePipelined(path, schema, func() (arrow.Record, error) {
		b := array.NewRecordBuilder(pool, schema)
		defer b.Release()
		if more, err := fill(b); err != nil || !more {
			return nil, err
		}
		return b.NewRecord(), nil
	})
}

// writePipelined writes the batches next returns, a row group each, until
// it returns nil, to path as Parquet, atomically. Building a batch (merging
// spilled runs, filling Arrow arrays) and encoding the previous one take
// about the same time, so they run side by side.
func writePipelined(path string, schema *arrow.Schema, next func() (arrow.Record, error)) error {
	w, err := CreateParquet(path, schema)
	if err != nil {
		return err
	}
	err = pipelined(next,
		func(batch arrow.Record) error { defer batch.Release(); return w.Write(batch) },
		arrow.Record.Release)
	if err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// pipelined hands the batches next makes, on a goroutine of its own, to
// write, until next returns a nil batch or an error, or write an error
// (the first error is returned). The channel between them is unbuffered:
// one batch is made while one is written and no third waits (a
// flows.parquet batch is about 30 MB), so that next may reuse the memory
// of the batch before the last it returned. drop discards the batches
// made but not written after an error.
func pipelined[B comparable](next func() (B, error), write func(B) error, drop func(B)) error {
	var none B
	batches := make(chan B)
	stop := make(chan struct{})
	var nextErr error // set before batches closes
	go func() {
		defer close(batches)
		for {
			batch, err := next()
			if err != nil || batch == none {
				nextErr = err
				return
			}
			select {
			case batches <- batch:
			case <-stop:
				drop(batch)
				return
			}
		}
	}()
	for batch := range batches {
		if err := write(batch); err != nil {
			close(stop)
			for b := range batches {
				drop(b)
			}
			return err
		}
	}
	return nextErr
}

func appendTime(b *array.RecordBuilder, col int, t int64) {
	b.Field(col).(*array.TimestampBuilder).Append(arrow.Timestamp(t))
}

func appendDest(b *array.RecordBuilder, col int, d Dest) {
	b.Field(col).(*array.StringBuilder).Append(d.IP.String())
	b.Field(col + 1).(*array.Uint16Builder).Append(d.Port)
	b.Field(col + 2).(*array.Uint8Builder).Append(d.Proto)
}

func appendCounts(b *array.RecordBuilder, col int, c *Counts) {
	u := func(v uint64) {
		b.Field(col).(*array.Uint64Builder).Append(v)
		col++
	}
	u(c.Packets)
	u(c.Bytes)
	u(c.Flows)
	u(c.Sources)
	u(c.SYNs)
	u(c.SYNACKs)
	u(c.HalfOpen)
	u(c.SYNOnly)
	for _, n := range c.Ended {
		u(n)
	}
	u(c.Ongoing)
	q := c.Durations
	for _, v := range []float64{q.P10, q.P25, q.P50, q.P75, q.P90, q.P99, q.Max} {
		fb := b.Field(col).(*array.Float64Builder)
		if q.N == 0 {
			fb.AppendNull()
		} else {
			fb.Append(v)
		}
		col++
	}
}

// Load reads the dataset of an output directory: summary.json, the flow
// records of flows.parquet and the traffic columns of intervals.parquet.
// The traffic's interval is that of intervals.parquet's windows, which is
// the analysed interval unless the report was re-rendered with another.
func Load(dir string) (*Dataset, error) {
	s, err := ReadSummary(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Summary: *s, Interval: nanos(s.Options.IntervalS)}
	if ds.Flows, err = readFlows(filepath.Join(dir, FlowsFile)); err != nil {
		return nil, err
	}
	if err := readTraffic(filepath.Join(dir, IntervalsFile), ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// column names a column a reader needs and its Parquet physical type.
type column struct {
	name string
	kind parquet.Kind
}

// pqTable is a Parquet file open for reading rows.
type pqTable struct {
	path  string
	file  *os.File
	pf    *parquet.File
	index map[string]int // column name -> leaf column index
}

func openTable(path string, cols []column) (*pqTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	t := &pqTable{path: path, file: f, pf: pf, index: map[string]int{}}
	for _, c := range cols {
		leaf, ok := pf.Schema().Lookup(c.name)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("cannot read %s: no column %q", path, c.name)
		}
		if k := leaf.Node.Type().Kind(); k != c.kind {
			f.Close()
			return nil, fmt.Errorf("cannot read %s: column %q is %v, want %v", path, c.name, k, c.kind)
		}
		t.index[c.name] = leaf.ColumnIndex
	}
	return t, nil
}

// each calls fn for every row with the row's values indexed by leaf column.
func (t *pqTable) each(fn func(vals []parquet.Value) error) error {
	defer t.file.Close()
	r := parquet.NewReader(t.pf)
	defer r.Close()
	rows := make([]parquet.Row, 256)
	vals := make([]parquet.Value, len(t.pf.Schema().Columns()))
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(vals) {
					vals[c] = v
				}
			}
			if ferr := fn(vals); ferr != nil {
				return fmt.Errorf("cannot read %s: %w", t.path, ferr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", t.path, err)
		}
	}
}

func (t *pqTable) get(vals []parquet.Value, name string) parquet.Value { return vals[t.index[name]] }

var flowColumns = []column{
	{"flow_id", parquet.Int64}, {"proto", parquet.Int32}, {"ip_version", parquet.Int32}, {"vlan", parquet.Int32},
	{"src_ip", parquet.ByteArray}, {"src_port", parquet.Int32}, {"dst_ip", parquet.ByteArray}, {"dst_port", parquet.Int32},
	{"first_seen", parquet.Int64}, {"last_seen", parquet.Int64},
	{"packets_fwd", parquet.Int64}, {"packets_rev", parquet.Int64}, {"bytes_fwd", parquet.Int64}, {"bytes_rev", parquet.Int64},
	{"payload_bytes_fwd", parquet.Int64}, {"payload_bytes_rev", parquet.Int64},
	{"ip_len_min_fwd", parquet.Int32}, {"ip_len_max_fwd", parquet.Int32}, {"ip_len_min_rev", parquet.Int32}, {"ip_len_max_rev", parquet.Int32},
	{"icmp_type", parquet.Int32}, {"icmp_code", parquet.Int32},
	{"ttl_min_fwd", parquet.Int32}, {"ttl_max_fwd", parquet.Int32}, {"ttl_min_rev", parquet.Int32}, {"ttl_max_rev", parquet.Int32},
	{"retrans_packets_fwd", parquet.Int32}, {"retrans_packets_rev", parquet.Int32},
	{"retrans_bytes_fwd", parquet.Int64}, {"retrans_bytes_rev", parquet.Int64},
	{"zero_windows_fwd", parquet.Int32}, {"zero_windows_rev", parquet.Int32},
	{"tunnel", parquet.ByteArray}, {"tunnel_id", parquet.Int32}, {"tunnel_src", parquet.ByteArray}, {"tunnel_dst", parquet.ByteArray},
	{"tcp_flags_fwd", parquet.Int32}, {"tcp_flags_rev", parquet.Int32},
	{"syn_packets", parquet.Int32}, {"synack_packets", parquet.Int32}, {"rst_packets", parquet.Int32},
	{"handshake_rtt_s", parquet.Double}, {"state", parquet.ByteArray}, {"half_open", parquet.Boolean},
	{"history", parquet.ByteArray}, {"end_reason", parquet.ByteArray},
}

// readFlows reads flows.parquet back into records (without Windows).
func readFlows(path string) ([]flows.Record, error) {
	var recs []flows.Record
	err := eachFlow(path, func(rows int64) { recs = make([]flows.Record, 0, rows) }, func(r *flows.Record) error {
		recs = append(recs, *r)
		return nil
	})
	return recs, err
}

// eachFlow reads flows.parquet back, calling start with the number of
// records, then fn for each, in the file's order.
func eachFlow(path string, start func(rows int64), fn func(*flows.Record) error) error {
	t, err := openTable(path, flowColumns)
	if err != nil {
		return err
	}
	start(t.pf.NumRows())
	return t.each(func(v []parquet.Value) error {
		g := func(name string) parquet.Value { return t.get(v, name) }
		r := flows.Record{
			ID:             g("flow_id").Uint64(),
			Proto:          uint8(g("proto").Int32()),
			IPVersion:      uint8(g("ip_version").Int32()),
			VLAN:           uint16(g("vlan").Int32()),
			SrcPort:        uint16(g("src_port").Int32()),
			DstPort:        uint16(g("dst_port").Int32()),
			FirstSeen:      g("first_seen").Int64(),
			LastSeen:       g("last_seen").Int64(),
			Packets:        [2]uint64{g("packets_fwd").Uint64(), g("packets_rev").Uint64()},
			Bytes:          [2]uint64{g("bytes_fwd").Uint64(), g("bytes_rev").Uint64()},
			PayloadBytes:   [2]uint64{g("payload_bytes_fwd").Uint64(), g("payload_bytes_rev").Uint64()},
			MinIPLen:       [2]uint32{g("ip_len_min_fwd").Uint32(), g("ip_len_min_rev").Uint32()},
			MaxIPLen:       [2]uint32{g("ip_len_max_fwd").Uint32(), g("ip_len_max_rev").Uint32()},
			MinTTL:         [2]uint8{uint8(g("ttl_min_fwd").Int32()), uint8(g("ttl_min_rev").Int32())},
			MaxTTL:         [2]uint8{uint8(g("ttl_max_fwd").Int32()), uint8(g("ttl_max_rev").Int32())},
			RetransPackets: [2]uint32{g("retrans_packets_fwd").Uint32(), g("retrans_packets_rev").Uint32()},
			RetransBytes:   [2]uint64{g("retrans_bytes_fwd").Uint64(), g("retrans_bytes_rev").Uint64()},
			ZeroWindows:    [2]uint32{g("zero_windows_fwd").Uint32(), g("zero_windows_rev").Uint32()},
			TCPFlags:       [2]uint8{uint8(g("tcp_flags_fwd").Int32()), uint8(g("tcp_flags_rev").Int32())},
			SYNs:           g("syn_packets").Uint32(),
			SYNACKs:        g("synack_packets").Uint32(),
			RSTs:           g("rst_packets").Uint32(),
			HalfOpen:       g("half_open").Boolean(),
			History:        flows.ParseHistory(string(g("history").ByteArray())),
		}
		src, err := netip.ParseAddr(string(g("src_ip").ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		dst, err := netip.ParseAddr(string(g("dst_ip").ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		r.SrcIP, r.DstIP = flows.IPOf(src), flows.IPOf(dst)
		if err := readTunnel(&r, g); err != nil {
			return err
		}
		if typ := g("icmp_type"); !typ.IsNull() {
			r.ICMPType, r.ICMPCode = uint8(typ.Int32()), uint8(g("icmp_code").Int32())
			r.Echo = flows.IsEcho(r.Proto, r.ICMPType)
		}
		r.HandshakeRTT = -1
		if rtt := g("handshake_rtt_s"); !rtt.IsNull() {
			r.HandshakeRTT = nanos(rtt.Double())
		}
		var ok bool
		if r.State, ok = flows.ParseState(string(g("state").ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown state %q", r.ID, g("state").ByteArray())
		}
		if r.EndReason, ok = flows.ParseEndReason(string(g("end_reason").ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown end reason %q", r.ID, g("end_reason").ByteArray())
		}
		return fn(&r)
	})
}

// readTunnel sets a record's tunnel from its row's columns.
func readTunnel(r *flows.Record, g func(name string) parquet.Value) error {
	kind := g("tunnel")
	if kind.IsNull() {
		return nil
	}
	var tn flows.Tunnel
	for t := reader.TunnelNone + 1; t.String() != "tunnel"+strconv.Itoa(int(t)); t++ {
		if t.String() == string(kind.ByteArray()) {
			tn.Kind = t
		}
	}
	if tn.Kind == reader.TunnelNone {
		return fmt.Errorf("flow %d: unknown tunnel %q", r.ID, kind.ByteArray())
	}
	tn.ID = g("tunnel_id").Uint32()
	for _, end := range []struct {
		column string
		ip     *flows.IP
	}{{"tunnel_src", &tn.Src}, {"tunnel_dst", &tn.Dst}} {
		if v := g(end.column); !v.IsNull() {
			a, err := netip.ParseAddr(string(v.ByteArray()))
			if err != nil {
				return fmt.Errorf("flow %d: %w", r.ID, err)
			}
			*end.ip = flows.IPOf(a)
		}
	}
	r.Tunnel = flows.RefTunnel(tn)
	return nil
}

var trafficColumns = []column{
	{"window_start", parquet.Int64}, {"window_end", parquet.Int64},
	{"dst_ip", parquet.ByteArray}, {"dst_port", parquet.Int32}, {"proto", parquet.Int32},
	{"packets", parquet.Int64}, {"bytes", parquet.Int64},
	{"syn_packets", parquet.Int64}, {"synack_packets", parquet.Int64},
}

// readTraffic reads the traffic columns of intervals.parquet into ds,
// setting ds.Interval to the width of its windows.
func readTraffic(path string, ds *Dataset) error {
	width, err := eachTraffic(path, func(rows int64) { ds.Traffic = make([]Traffic, 0, rows) }, func(t *Traffic) error {
		ds.Traffic = append(ds.Traffic, *t)
		return nil
	})
	if err != nil {
		return err
	}
	if width > 0 {
		ds.Interval = width
	}
	sortTraffic(ds.Traffic)
	return nil
}

// eachTraffic reads the traffic columns of intervals.parquet, calling
// start with the number of rows, then fn for each row with traffic
// (windows without packets are rows of the report, not traffic), and
// returns the width of its windows (0 when there are none).
func eachTraffic(path string, start func(rows int64), fn func(*Traffic) error) (width int64, err error) {
	t, err := openTable(path, trafficColumns)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w (the directory was written with --no-report: run analyze again without it)", err)
	}
	if err != nil {
		return 0, err
	}
	start(t.pf.NumRows())
	err = t.each(func(v []parquet.Value) error {
		g := func(name string) parquet.Value { return t.get(v, name) }
		start, end := g("window_start").Int64(), g("window_end").Int64()
		if width == 0 {
			width = end - start
		}
		if end-start != width || width <= 0 || floorMod(start, width) != 0 {
			return fmt.Errorf("window %d..%d is not one of the aligned %v windows", start, end, width)
		}
		ip, err := netip.ParseAddr(string(g("dst_ip").ByteArray()))
		if err != nil {
			return err
		}
		tr := Traffic{
			Start:   start,
			Dest:    Dest{IP: ip, Port: uint16(g("dst_port").Int32()), Proto: uint8(g("proto").Int32())},
			Packets: g("packets").Uint64(),
			Bytes:   g("bytes").Uint64(),
			SYNs:    g("syn_packets").Uint64(),
			SYNACKs: g("synack_packets").Uint64(),
		}
		if tr.Packets > 0 || tr.SYNs > 0 || tr.SYNACKs > 0 || tr.Bytes > 0 {
			return fn(&tr)
		}
		return nil
	})
	return width, err
}
