package report

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"

	"flowstat/extsort"
	"flowstat/tables"
)

// WriteTables writes intervals.parquet, destinations.parquet, cdf.parquet,
// the findings' tables and hosts.parquet into dir, each atomically.
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
		intervals <- tables.WriteRowsFrom(filepath.Join(dir, tables.IntervalsFile), tables.IntervalSchema, next, func(ws []intervalRow, _ bool) []tables.WindowRow {
			rows.fill(ws)
			return rows.rows
		})
	}()
	others := writeDestinationsAndCDF(dir, st)
	return cmp.Or(<-intervals, others, writeFindings(dir, st.Findings), writeFindingSources(dir, st.Findings), writeHosts(dir, st),
		writeTimelines(dir, st), writeHostWindows(dir, st))
}

// writeTimelines writes timelines.parquet: the windows with packets of
// each timeline whose traffic both ways is known, in report.md's order.
func writeTimelines(dir string, st *Stats) error {
	type at struct{ timeline, window int }
	var rows []at
	for i := range st.Timelines {
		for j := range st.Timelines[i].Exchange {
			rows = append(rows, at{i, j})
		}
	}
	return tables.WriteTable(filepath.Join(dir, tables.TimelinesFile), tables.TimelineSchema, len(rows), func(b *array.RecordBuilder, i int) {
		tl := &st.Timelines[rows[i].timeline]
		e := &tl.Exchange[rows[i].window]
		b.Field(0).(*array.StringBuilder).Append(tl.Name)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(e.Start))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(e.Start + st.Interval))
		for k, v := range []uint64{e.PacketsIn, e.PacketsOut, e.BytesIn, e.BytesOut, e.SYNsIn, e.SYNsOut, e.SYNACKsIn, e.SYNACKsOut} {
			b.Field(3 + k).(*array.Uint64Builder).Append(v)
		}
	})
}

// readTimelines reads timelines.parquet, by target; an empty map when the
// directory has none (written before it existed). The targets analyze was
// given (in s) and that had no packet have no rows: they get an empty list,
// as they had.
func readTimelines(path string, s *tables.Summary) (map[string][]Exchange, error) {
	out := map[string][]Exchange{}
	t, err := tables.OpenTable(path, tables.TimelineColumns)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, target := range s.Options.Targets {
		if p, err := netip.ParsePrefix(target); err == nil {
			out[prefixName(p)] = []Exchange{}
		}
	}
	err = t.Each(func(v []parquet.Value) error {
		g := func(name string) uint64 { return t.Get(v, name).Uint64() }
		name := string(t.Get(v, "target").ByteArray())
		out[name] = append(out[name], Exchange{Start: t.Get(v, "window_start").Int64(),
			PacketsIn: g("packets_in"), PacketsOut: g("packets_out"), BytesIn: g("bytes_in"), BytesOut: g("bytes_out"),
			SYNsIn: g("syn_in"), SYNsOut: g("syn_out"), SYNACKsIn: g("synack_in"), SYNACKsOut: g("synack_out")})
		return nil
	})
	return out, err
}

// writeFindingSources writes finding_sources.parquet: each finding's
// sources kept, the most active first. A SYN flood's sources have no
// packet counts (NULL), a reflector its service port.
func writeFindingSources(dir string, fs []Finding) error {
	type at struct{ finding, source int }
	var rows []at
	for i := range fs {
		for j := range fs[i].Sources {
			rows = append(rows, at{i, j})
		}
	}
	return tables.WriteTable(filepath.Join(dir, tables.FindingSources), tables.FindingSourceSchema, len(rows), func(b *array.RecordBuilder, i int) {
		f := &fs[rows[i].finding]
		src := &f.Sources[rows[i].source]
		b.Field(0).(*array.Uint32Builder).Append(uint32(rows[i].finding + 1))
		b.Field(1).(*array.StringBuilder).Append(src.IP.String())
		if k := f.vector(); k == Reflection || k == SYNACKReflection {
			b.Field(2).(*array.Uint16Builder).Append(src.Port)
		} else {
			b.Field(2).AppendNull()
		}
		if f.Kind.IsVolume() {
			b.Field(4).(*array.Uint64Builder).Append(src.Packets)
			b.Field(5).(*array.Uint64Builder).Append(src.Bytes)
		} else {
			b.Field(4).AppendNull()
			b.Field(5).AppendNull()
		}
		b.Field(3).(*array.Uint64Builder).Append(src.Flows)
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(src.FirstSeen))
		b.Field(7).(*array.TimestampBuilder).Append(arrow.Timestamp(src.LastSeen))
	})
}

// writeFindings writes findings.parquet: each finding's numbers that
// apply to its kind, the others NULL.
func writeFindings(dir string, fs []Finding) error {
	attackOf := make([]int, len(fs)) // 1-based, 0 for none
	for k, a := range Attacks(fs) {
		for _, i := range a.Findings {
			attackOf[i] = k + 1
		}
	}
	return tables.WriteTable(filepath.Join(dir, tables.FindingsFile), tables.FindingSchema, len(fs), func(b *array.RecordBuilder, i int) {
		f := &fs[i]
		col := 0
		next := func() array.Builder { col++; return b.Field(col - 1) }
		count := func(v uint64, applies bool) {
			if applies {
				next().(*array.Uint64Builder).Append(v)
			} else {
				next().AppendNull()
			}
		}
		scan := f.Kind == PortScan || f.Kind == HostScan
		volume := f.Kind.IsVolume()
		flood := f.Kind == SYNFlood || f.vector().isFlood()
		next().(*array.Uint32Builder).Append(uint32(i + 1))
		if attack := next().(*array.Uint32Builder); attackOf[i] > 0 {
			attack.Append(uint32(attackOf[i]))
		} else {
			attack.AppendNull()
		}
		next().(*array.StringBuilder).Append(f.Kind.Name())
		if method := next().(*array.StringBuilder); scan || f.Kind == TCPFlood || f.Kind == CarpetBombing {
			method.Append(f.Method)
		} else {
			method.AppendNull()
		}
		if f.Kind == CarpetBombing {
			next().(*array.StringBuilder).Append(f.Prefix.String())
		} else {
			next().(*array.StringBuilder).Append(f.Host.String())
		}
		if port := next().(*array.Uint16Builder); f.Kind == PortScan {
			port.AppendNull()
		} else if f.Kind == HostScan {
			if len(f.Targets) == 1 && f.Method != "echo" {
				port.Append(f.Targets[0].Port)
			} else {
				port.AppendNull()
			}
		} else if f.vector().isFlood() && f.Ports != 1 || f.Kind == FragmentFlood {
			port.AppendNull()
		} else {
			port.Append(f.Port)
		}
		next().(*array.Uint8Builder).Append(findingProto(f))
		next().(*array.TimestampBuilder).Append(arrow.Timestamp(f.First))
		next().(*array.TimestampBuilder).Append(arrow.Timestamp(f.Last))
		next().(*array.Float64Builder).Append(float64(f.Last-f.First) / 1e9)
		count(f.Flows, true)
		count(f.Peers, !scan)
		count(f.Peers, scan)
		count(f.Ports, f.vector() == UDPFlood || f.vector() == TCPFlood)
		count(f.Hosts, f.Kind == CarpetBombing)
		count(f.Failed, f.Kind != SYNFlood)
		count(f.PacketsIn, volume || scan)
		count(f.BytesIn, volume || scan)
		count(f.PacketsOut, volume)
		count(f.BytesOut, volume)
		count(f.SYNs, f.Kind == SYNFlood)
		count(f.SYNACKs, f.Kind == SYNFlood || f.vector() == SYNACKReflection)
		for _, ttl := range []uint8{f.Spoofing.MinTTL, f.Spoofing.MaxTTL} {
			if b := next().(*array.Uint8Builder); flood {
				b.Append(ttl)
			} else {
				b.AppendNull()
			}
		}
		count(f.Spoofing.SingleFlowSources, flood)
		count(f.Spoofing.BogonSources, flood)
		next().(*array.Float64Builder).Append(f.PeakPPS)
		next().(*array.Float64Builder).Append(f.PeakBPS)
	})
}

// findingProto is the protocol of a finding's traffic.
func findingProto(f *Finding) uint8 {
	switch f.vector() {
	case SYNFlood:
		return f.Dest.Proto
	case Reflection:
		return protoUDP
	case SYNACKReflection:
		return protoTCP
	}
	return f.Proto
}

// writeDestinationsAndCDF writes destinations.parquet and cdf.parquet.
func writeDestinationsAndCDF(dir string, st *Stats) error {
	appendDestination := func(b *array.RecordBuilder, d *Destination) {
		appendDest(b, 0, d.Dest)
		appendTime(b, 3, d.FirstSeen)
		appendTime(b, 4, d.LastSeen)
		appendCounts(b, 5, &d.Counts)
	}
	path := filepath.Join(dir, tables.DestinationsFile)
	var err error
	if st.spilledDestinations != nil {
		err = writeSpilled(path, tables.DestinationSchema, st.spilledDestinations, compareDests, func(b *array.RecordBuilder, r *intervalRow) {
			d := r.destination()
			appendDestination(b, &d)
		})
	} else {
		err = tables.WriteTable(path, tables.DestinationSchema, len(st.Destinations), func(b *array.RecordBuilder, i int) {
			appendDestination(b, &st.Destinations[i])
		})
	}
	if err != nil {
		return err
	}
	return tables.WriteTable(filepath.Join(dir, tables.CDFFile), tables.CDFSchema, len(st.CDF), func(b *array.RecordBuilder, i int) {
		p := &st.CDF[i]
		b.Field(0).(*array.StringBuilder).Append(p.Scope)
		b.Field(1).(*array.Float64Builder).Append(p.Duration)
		b.Field(2).(*array.Float64Builder).Append(p.Fraction)
	})
}

// intervalsInOrder returns the intervals of st a row group at a time, from
// memory or merged from their spilled runs, for tables.WriteRowsFrom: as
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
	return tables.RowGroupsFrom(fill), nil
}

// windowRows makes rows of intervals.parquet in reused memory, as
// the flow rows of tables are: their destinations point into text, their quantiles
// into quantiles.
type windowRows struct {
	rows      []tables.WindowRow
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
		row := tables.WindowRow{
			Start: w.Start, End: w.End, DstIP: tables.TextString(b.text, start, b.ends[i]), DstPort: w.Port, Proto: w.Proto,
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
	return tables.WriteBatches(path, schema, func(b *array.RecordBuilder) (bool, error) {
		for rows := 0; rows < tables.RowGroupRows; {
			n, err := m.Fill(buf[:min(len(buf), tables.RowGroupRows-rows)])
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
	s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Summary: *s, Interval: nanos(s.Options.IntervalS)}
	if ds.Flows, err = tables.ReadFlows(filepath.Join(dir, tables.FlowsFile)); err != nil {
		return nil, err
	}
	if err := readTraffic(filepath.Join(dir, tables.IntervalsFile), ds); err != nil {
		return nil, err
	}
	if ds.Exchanges, err = readTimelines(filepath.Join(dir, tables.TimelinesFile), s); err != nil {
		return nil, err
	}
	if ds.HostWindows, err = readHostWindows(filepath.Join(dir, tables.HostWindowsFile)); err != nil {
		return nil, err
	}
	return ds, nil
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
	t, err := tables.OpenTable(path, tables.TrafficColumns)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w (the directory was written with --no-report: run analyze again without it)", err)
	}
	if err != nil {
		return 0, err
	}
	start(t.NumRows())
	err = t.Each(func(v []parquet.Value) error {
		g := func(name string) parquet.Value { return t.Get(v, name) }
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
