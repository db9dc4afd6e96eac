package report

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// Parts hold flow records spread over files on disk, so that the report is
// built one part at a time (Parts.Build), holding at most HeldBytes of a
// part's flows: its memory does not depend on the length of the trace.
// Each record goes to the part of its destination address as a destFlow,
// with its per-window counts (its destination's rows, SYN floods,
// timelines and CDFs); every record with windows also goes to the part of
// its originator, as its address and windows (the timelines of hosts, which
// count what reached them whichever side they were); probes go to the part
// of their source as a scanFlow (scans), and candidates for reflections and floods, as
// vectorFlows, to the part of their victim's prefix (carpet bombing). A part is read back and given to the code Build
// runs (as destFlows for the statistics by destination, as records for
// the scans), in batches when it is too large to hold (see batches and
// extsort.CutGroups), and the results are put together in the order Build gives
// them: the report is the one Build makes from all the records at once
// (TestReportReproduces, TestPartsHeldBytes).
type Parts struct {
	dir      string
	opts     BuildOptions
	interval int64 // of the records' windows
	writers  []*PartWriter
	// Made by Build and read by WriteTables; removed by Remove.
	intervals    *extsort.Runs[intervalRow]
	destinations *extsort.Runs[intervalRow] // see destinationRowOf
	durations    *extsort.Runs[float64]
	hostRows     *extsort.Runs[hostRow]
	cdfs         []destCDF // of the candidates for the top destinations by flows
	// persisted are the timelines' windows of timelines.parquet, by
	// target, when the parts were loaded from an output directory.
	persisted map[string][]Exchange
	// hostWindowRows are made by Build with --hosts, from the flows'
	// windows after analyze; persistedHostWindows are
	// host_windows.parquet's after LoadParts.
	hostWindowRows       *extsort.Runs[hostWindow]
	persistedHostWindows []hostWindow

	// HeldBytes bounds how much of one part's flows Build holds in memory
	// at once (DefaultHeldBytes when 0): the flows of a part beyond it, as
	// a flood's victim's, are put in order on disk and read back.
	HeldBytes int

	// Progress, when set, is called from any goroutine as Build finishes
	// each part: done of total.
	Progress func(done, total int)
	done     atomic.Int64
}

// destCDF is the CDF of one destination's durations.
type destCDF struct {
	dest   Dest
	points []CDFPoint
}

// numParts is the number of parts of each kind: a trace of 2 M flows makes
// parts of about 8,000 flows.
const numParts = 256

// Kinds of parts.
const (
	byDestination = iota // every record, by destination address
	bySource             // scan candidates by source; reflection and flood candidates by victim's prefix
	byHost               // every record twice, by each of its addresses (hosts.go)
	// Each record with windows, by originator: only the parts of timeline
	// targets are read, so these are apart from the parts by source that
	// scans read whole.
	byOrigin
	numKinds
	wholeKinds = byOrigin // the kinds Build reads part by part, once each (Steps)
)

// Roles of an entry: in a part by destination, a flow (with its windows
// when analyze wrote it) or the traffic of its destination in a window
// (when read from an output directory); in a part by source, a flow that
// may be part of a scan, or of a reflection or a flood.
const (
	roleFlow byte = iota
	roleTraffic
	roleScan
	roleVector
	roleHost   // in a part by host, a flow as one of its hosts saw it
	roleOrigin // in a part by originator, a flow's originator and its windows (timelines of hosts)
	numRoles
)

// blockBytes is the size of the buffer of each part in each writer: 16 KiB
// (512 buffers, 8 MiB per writer), less with many writers, so that all of
// them take at most 64 MiB.
func blockBytes(writers int) int {
	return min(16<<10, max(4<<10, (64<<20)/(writers*numKinds*numParts)))
}

// entryHeader precedes each value in a part: its number of windows (4
// bytes), its role (1), a spare byte and the value's size (2). The windows
// follow the value in appendWindows' encoding.
const entryHeader = 8

// SpaceHint ends the errors of writing spilled data: what a full disk asks
// for.
const SpaceHint = " (while it runs, flowstat needs about 260 bytes per flow of free space in the output directory; --no-report about 100)"

// NewParts creates the parts in dir, the output directory, with one
// writer for each of writers goroutines. interval is that of the windows
// the records come with; opts are the report's.
func NewParts(dir string, writers int, interval int64, opts BuildOptions) (*Parts, error) {
	ps := &Parts{dir: dir, opts: opts, interval: interval}
	ps.opts.Thresholds = ps.opts.Thresholds.withDefaults()
	for range writers {
		f, err := extsort.CreateLockedTemp(dir, ".flowstat-parts-*.tmp")
		if err != nil {
			ps.Remove()
			return nil, fmt.Errorf("cannot create a file for the report's parts: %w", err)
		}
		ps.writers = append(ps.writers, &PartWriter{f: f, out: extsort.NewBlockWriter(f),
			blockBytes: blockBytes(writers), thresholds: ps.opts.Thresholds, hosts: ps.opts.Hosts})
	}
	return ps, nil
}

// LoadParts reads the records and traffic of an output directory, as Load
// does, into parts made in outDir for a report of opts: the report built
// from them needs memory for one part at a time, not for every record.
// It returns the parts and the directory's summary.
func LoadParts(dir, outDir string, opts BuildOptions) (*Parts, *tables.Summary, error) {
	s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
	if err != nil {
		return nil, nil, err
	}
	ps, err := NewParts(outDir, 1, nanos(s.Options.IntervalS), opts)
	if err != nil {
		return nil, nil, err
	}
	w := ps.writers[0]
	width, err := eachTraffic(filepath.Join(dir, tables.IntervalsFile), func(int64) {}, func(t *Traffic) error {
		w.AddTraffic(t)
		return w.err
	})
	if err == nil {
		err = tables.EachFlow(filepath.Join(dir, tables.FlowsFile), func(int64) {}, func(r *flows.Record) error {
			w.Add(r, nil)
			return w.err
		})
	}
	if err == nil {
		ps.persisted, err = readTimelines(filepath.Join(dir, tables.TimelinesFile), s)
	}
	if err == nil {
		ps.persistedHostWindows, err = readHostWindows(filepath.Join(dir, tables.HostWindowsFile))
	}
	if err != nil {
		ps.Remove()
		return nil, nil, err
	}
	if width > 0 {
		ps.interval = width
	}
	return ps, s, nil
}

// Interval returns the width of the windows of the records' traffic.
func (ps *Parts) Interval() time.Duration { return time.Duration(ps.interval) }

// Writer returns the writer of goroutine i.
func (ps *Parts) Writer(i int) *PartWriter { return ps.writers[i] }

// Remove closes and deletes the files of the parts and of their results.
func (ps *Parts) Remove() {
	for _, w := range ps.writers {
		w.f.Close()
		os.Remove(w.f.Name())
	}
	ps.intervals.Remove()
	ps.destinations.Remove()
	ps.durations.Remove()
	ps.hostRows.Remove()
	ps.hostWindowRows.Remove()
	ps.intervals, ps.destinations, ps.durations, ps.hostRows, ps.hostWindowRows = nil, nil, nil, nil, nil
}

// PartWriter writes records into the parts, for one goroutine.
type PartWriter struct {
	f          *os.File
	out        extsort.BlockWriter
	blockBytes int // of each part's buffer
	thresholds Thresholds
	bufs       [numKinds][numParts][]byte
	blocks     [numKinds][numParts][]extsort.PackedBlock
	entries    [numRoles][numParts]int // how many of each role each part holds, to size what reads it back
	err        error                   // the first write error, reported by Build
	scratch    []byte                  // an entry being encoded
	windowBuf  []byte                  // an entry's windows being encoded
	hosts      bool                    // write every record by each of its hosts
}

// Err returns the first error of writing the parts.
func (w *PartWriter) Err() error { return w.err }

// partOf spreads addresses evenly over the parts.
func partOf(ip flows.IP) int {
	b := ip.Bytes16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])
	return int((h * 0x9E3779B97F4A7C15) >> 56)
}

// Add writes a record and its windows, as the flow table emitted them.
func (w *PartWriter) Add(r *flows.Record, windows []flows.Window) {
	d := destFlowOf(r)
	w.put(byDestination, partOf(r.DstIP), roleFlow, valueBytes(&d), windows)
	if mayProbe(r) {
		s := scanFlowOf(r)
		w.put(bySource, partOf(r.SrcIP), roleScan, valueBytes(&s), nil)
	}
	if windows != nil {
		w.put(byOrigin, partOf(r.SrcIP), roleOrigin, valueBytes(&r.SrcIP), windows)
	}
	var f vectorFlow
	if w.thresholds.reflFlowOf(r, &f) {
		w.put(bySource, w.thresholds.victimPart(f.Victim), roleVector, valueBytes(&f), nil)
	}
	if floodFlowOf(r, &f) {
		w.put(bySource, w.thresholds.victimPart(f.Victim), roleVector, valueBytes(&f), nil)
	}
	if w.hosts && hasHosts(r) {
		for _, orig := range [2]bool{true, false} {
			h := hostFlowOf(r, orig)
			w.scratch = appendHostFlow(w.scratch[:0], &h)
			w.put(byHost, partOf(h.Host), roleHost, w.scratch, nil)
		}
	}
}

// scanFlow is what scans read of a record that may be a probe (TCP, UDP,
// ICMP echo): each is written to the parts by source, and this takes 72
// bytes instead of a record's 232.
type scanFlow struct {
	ID                  uint64
	FirstSeen, LastSeen int64
	// The originator's, at most 4 G each: a probe's are a few; they make
	// the scan's peak.
	Packets, Bytes uint32
	SrcIP, DstIP   flows.IP
	DstPort        uint16
	Proto          uint8
	Flags          uint8 // the TCP flags the originator sent
	State          flows.State
	EndReason      flows.EndReason
}

func scanFlowOf(r *flows.Record) scanFlow {
	return scanFlow{ID: r.ID, SrcIP: r.SrcIP, DstIP: r.DstIP, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		DstPort: r.DstPort, Proto: r.Proto, Flags: r.TCPFlags[flows.Fwd], State: r.State, EndReason: r.EndReason,
		Packets: uint32(min(r.Packets[flows.Fwd], math.MaxUint32)), Bytes: uint32(min(r.Bytes[flows.Fwd], math.MaxUint32))}
}

// reflections finds the reflections and floods of a part's candidates,
// those of a victim whose group alone does not fit in what a part holds
// read from disk, and adds them to found.
func (ps *Parts) reflections(b *builder, refl *extsort.Sorted[vectorFlow], t Thresholds, found *[]Finding) (err error) {
	v := vectors{b: b, t: t, newSpread: func() *extsort.Sorted[vectorFlow] {
		return newSorted(ps.dir, "a prefix's flows of one vector", ps.held(), compareBySender)
	}}
	defer func() {
		err = cmp.Or(err, v.err, v.carpets())
		*found = append(*found, v.found...)
	}()
	if !refl.IsSpilled() {
		v.of(refl.Held())
		return nil
	}
	held := func(batch []vectorFlow, _ *vectorFlow) error {
		v.of(batch)
		return nil
	}
	newGroup := func() *extsort.Sorted[vectorFlow] {
		return newSorted(ps.dir, "a victim's reflection and flood candidates", ps.held(), compareVectorFlows)
	}
	sameGroup := func(x, y *vectorFlow) bool { return x.key() == y.key() }
	return extsort.CutGroups(refl, sameGroup, newGroup, held, func(g *extsort.Sorted[vectorFlow], r *vectorFlow) error {
		if k := r.key(); g.Len() >= v.minFlows(k.kind) {
			v.group(k, g.Each)
		} else {
			v.at(k.victim)
			v.spreadOver(k, g.Each)
		}
		return nil
	})
}

// compareScanFlows orders probes as port scans count them: by source,
// protocol, host, port (and ID, for one order).
func compareScanFlows(x, y scanFlow) int {
	if c := x.SrcIP.Compare(y.SrcIP); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Proto, y.Proto); c != 0 {
		return c
	}
	if c := x.DstIP.Compare(y.DstIP); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(x.DstPort, y.DstPort), cmp.Compare(x.ID, y.ID))
}

// compareScanPorts orders one source's probes as host sweeps count them:
// by protocol, port, host (and ID).
func compareScanPorts(x, y scanFlow) int {
	if c := cmp.Compare(x.Proto, y.Proto); c != 0 {
		return c
	}
	if c := cmp.Compare(x.DstPort, y.DstPort); c != 0 {
		return c
	}
	return cmp.Or(x.DstIP.Compare(y.DstIP), cmp.Compare(x.ID, y.ID))
}

// record is the record with the fields of s; the others are zero.
func (s *scanFlow) record() flows.Record {
	return flows.Record{ID: s.ID, Proto: s.Proto, SrcIP: s.SrcIP, DstIP: s.DstIP, FirstSeen: s.FirstSeen,
		LastSeen: s.LastSeen, DstPort: s.DstPort, TCPFlags: [2]uint8{s.Flags, 0}, State: s.State, EndReason: s.EndReason,
		Echo: s.Proto != protoTCP && s.Proto != protoUDP, Packets: [2]uint64{uint64(s.Packets), 0}, Bytes: [2]uint64{uint64(s.Bytes), 0}}
}

// valueBytes is the memory of a plain value.
func valueBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// AddTraffic writes what the flows of one destination carried in one
// window, for records written without their windows (LoadParts).
func (w *PartWriter) AddTraffic(t *Traffic) {
	d := destFlow{DstIP: flows.IPOf(t.Dest.IP), DstPort: t.Dest.Port, Proto: t.Dest.Proto}
	var windows []flows.Window
	// A window's SYN counts are 32-bit: split larger ones.
	syns, synacks := t.SYNs, t.SYNACKs
	for first := true; first || syns > 0 || synacks > 0; first = false {
		win := flows.Window{Start: t.Start, SYNs: uint32(min(syns, math.MaxUint32)), SYNACKs: uint32(min(synacks, math.MaxUint32))}
		if first {
			win.Packets, win.Bytes = t.Packets, t.Bytes
		}
		syns, synacks = syns-uint64(win.SYNs), synacks-uint64(win.SYNACKs)
		windows = append(windows, win)
	}
	w.put(byDestination, partOf(d.DstIP), roleTraffic, valueBytes(&d), windows)
}

// put appends an entry to a part: its header, value (a destFlow in the
// parts by destination, a scanFlow or a record in those by source) and
// windows.
func (w *PartWriter) put(kind, part int, role byte, value []byte, windows []flows.Window) {
	w.windowBuf = appendWindows(w.windowBuf[:0], windows)
	n := entryHeader + len(value) + len(w.windowBuf)
	buf := w.bufs[kind][part]
	if len(buf)+n > w.blockBytes {
		w.flush(kind, part)
		buf = w.bufs[kind][part]
	}
	if buf == nil {
		buf = make([]byte, 0, max(w.blockBytes, n))
	}
	var h [entryHeader]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(windows)))
	h[4] = role
	binary.LittleEndian.PutUint16(h[6:], uint16(len(value)))
	buf = append(buf, h[:]...)
	buf = append(buf, value...)
	buf = append(buf, w.windowBuf...)
	w.bufs[kind][part] = buf
	w.entries[role][part]++
}

// flush writes a part's buffer to the file.
func (w *PartWriter) flush(kind, part int) {
	buf := w.bufs[kind][part]
	if len(buf) == 0 || w.err != nil {
		return
	}
	blk, err := w.out.Write(buf)
	if err != nil {
		w.err = fmt.Errorf("cannot write the report's parts to %s: %w%s", w.f.Name(), extsort.WithoutPath(err), SpaceHint)
	}
	w.blocks[kind][part] = append(w.blocks[kind][part], blk)
	if cap(buf) > w.blockBytes {
		buf = nil // an entry of many windows: do not keep its large buffer
	}
	w.bufs[kind][part] = buf[:0]
}

// entries calls each for every entry of a part, in no particular order.
// The value and windows are valid during the call.
func (ps *Parts) entries(kind, part int, each func(role byte, value []byte, windows []flows.Window)) error {
	var buf []byte
	var br extsort.BlockReader
	windows := make([]flows.Window, 0, 8) // never nil: a flow with packets has windows
	for _, w := range ps.writers {
		for _, blk := range w.blocks[kind][part] {
			buf = slices.Grow(buf[:0], blk.Raw())[:blk.Raw()]
			if err := br.Read(w.f, blk, buf); err != nil {
				return fmt.Errorf("cannot read the report's parts back from %s: %w", w.f.Name(), err)
			}
			var err error
			for b := buf; len(b) > 0; {
				nwin := int(binary.LittleEndian.Uint32(b))
				role := b[4]
				size := int(binary.LittleEndian.Uint16(b[6:]))
				value := b[entryHeader : entryHeader+size]
				b = b[entryHeader+size:]
				windows = slices.Grow(windows[:0], nwin)[:nwin]
				if b, err = readWindows(b, windows); err != nil {
					return fmt.Errorf("cannot read the report's parts back from %s: %w", w.f.Name(), err)
				}
				each(role, value, windows)
			}
		}
	}
	return nil
}

// count returns how many entries of the roles the parts hold.
func (ps *Parts) count(roles []byte, parts ...int) int {
	n := 0
	for _, part := range parts {
		for _, w := range ps.writers {
			for _, role := range roles {
				n += w.entries[role][part]
			}
		}
	}
	return n
}

// Steps is the number of times Build calls Progress.
func (ps *Parts) Steps() int { return wholeKinds * numParts }

// eachPart runs fn for every part, on every core, and reports progress.
func (ps *Parts) eachPart(fn func(part int) error) error {
	errs := make([]error, numParts)
	extsort.ParallelFor(numParts, func(part int) {
		errs[part] = fn(part)
		if ps.Progress != nil {
			ps.Progress(int(ps.done.Add(1)), wholeKinds*numParts)
		}
	})
	return errors.Join(errs...)
}

// Build computes the report's statistics from the parts, as Build does
// from a dataset of every record. s is the summary of the run; Remove
// deletes what Build spilled, once WriteTables has read it.
func (ps *Parts) Build(s tables.Summary) (*Stats, error) {
	for _, w := range ps.writers {
		for kind := range numKinds {
			for part := range numParts {
				w.flush(kind, part)
				w.bufs[kind][part] = nil
			}
		}
		if err := w.out.Flush(); err != nil && w.err == nil {
			w.err = fmt.Errorf("cannot write the report's parts to %s: %w%s", w.f.Name(), extsort.WithoutPath(err), SpaceHint)
		}
		if w.err != nil {
			return nil, w.err
		}
	}
	empty := &Dataset{Summary: s, Interval: ps.interval}
	b0, st, opts, err := newBuilder(empty, ps.opts)
	if err != nil {
		return nil, err
	}
	others, err := ps.scansAndReflections(s, b0, st.Thresholds)
	if err != nil {
		return nil, err
	}
	if err := ps.byDestination(s, b0, st); err != nil {
		return nil, err
	}
	if ps.opts.Hosts {
		if err := ps.hosts(); err != nil {
			return nil, err
		}
		if ps.persisted != nil { // loaded: the flows have no windows
			st.hostWindows = regroupedHostWindows(ps.persistedHostWindows, st.Interval)
		} else if err := ps.hostWindows(st.Interval); err != nil {
			return nil, err
		}
	}
	st.Findings = append(st.Findings, fragmentFloods(s, st.Thresholds)...)
	st.Findings = append(st.Findings, others...)
	sortFindings(st.Findings)
	targets, err := timelineTargets(st, opts, s)
	if err != nil {
		return nil, err
	}
	if err := ps.cdfsAndTimelines(s, b0, st, targets); err != nil {
		return nil, err
	}
	if !opts.NoPlots {
		st.Figures = figures(st)
	}
	st.spilledIntervals, st.spilledDestinations, st.spilledHosts = ps.intervals, ps.destinations, ps.hostRows
	st.spilledHostWindows = ps.hostWindowRows
	return st, nil
}

// scansAndReflections finds scans, reflections and floods in the parts by source,
// sorted by kind, host and port as Build finds them.
func (ps *Parts) scansAndReflections(s tables.Summary, b0 *builder, t Thresholds) ([]Finding, error) {
	with := func(recs []flows.Record) *builder {
		b := *b0
		b.ds = &Dataset{Summary: s, Interval: ps.interval, Flows: recs}
		return &b
	}
	found := make([][]Finding, numParts)
	err := ps.eachPart(func(part int) error {
		scan := newSorted(ps.dir, "a part's probes by source", ps.held(), compareScanFlows)
		defer scan.Remove()
		scan.Expect(ps.count([]byte{roleScan}, part))
		refl := newSorted(ps.dir, "a part's reflection and flood candidates", ps.held(), compareVectorFlows)
		defer refl.Remove()
		refl.Expect(ps.count([]byte{roleVector}, part))
		var sf scanFlow
		var rf vectorFlow
		err := ps.entries(bySource, part, func(role byte, value []byte, _ []flows.Window) {
			switch role {
			case roleScan:
				copy(valueBytes(&sf), value)
				scan.Add(sf)
			case roleVector:
				copy(valueBytes(&rf), value)
				refl.Add(rf)
			}
		})
		if err != nil {
			return err
		}
		if err := ps.reflections(b0, refl, t, &found[part]); err != nil {
			return err
		}
		// Scans do not depend on the order of the flows, beyond their
		// source's: a part's sources that fit are held, one whose flows
		// alone do not is read from disk.
		held := func(batch []scanFlow, _ *scanFlow) error {
			recs := make([]flows.Record, len(batch))
			for i := range batch {
				recs[i] = batch[i].record()
			}
			found[part] = append(found[part], with(recs).scans(t)...)
			return nil
		}
		if !scan.IsSpilled() {
			return held(scan.Held(), nil)
		}
		newGroup := func() *extsort.Sorted[scanFlow] {
			return newSorted(ps.dir, "a scanner's flows", ps.held(), compareScanFlows)
		}
		return extsort.CutGroups(scan, func(a, b *scanFlow) bool { return a.SrcIP == b.SrcIP }, newGroup, held,
			func(g *extsort.Sorted[scanFlow], _ *scanFlow) error {
				fs, err := with(nil).spilledScans(g, t, ps.dir, ps.held())
				found[part] = append(found[part], fs...)
				return err
			})
	})
	out := slices.Concat(found...)
	slices.SortFunc(out, func(x, y Finding) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), x.Host.Compare(y.Host), cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	})
	return out, err
}

// byDestination computes the totals, destinations, intervals (spilled in
// runs), rates, states and SYN floods from the parts by destination, and
// the durations of every flow (spilled in runs).
func (ps *Parts) byDestination(s tables.Summary, b0 *builder, st *Stats) error {
	var err error
	if ps.intervals, err = newRuns[intervalRow](ps.dir, "report rows"); err != nil {
		return err
	}
	if ps.destinations, err = newRuns[intervalRow](ps.dir, "destination rows"); err != nil {
		return err
	}
	if ps.durations, err = newRuns[float64](ps.dir, "flow durations"); err != nil {
		return err
	}
	type result struct {
		totals Stats // flows, first and last seen, destinations
		floods []Finding
		cdfs   []destCDF // of the part's top destinations by flows
	}
	results := make([][]result, numParts) // of each batch of each part
	// The traffic by window and the flows by state are summed as parts
	// end: a part's rates have an entry per window, and kept for every part
	// until the end they grew with the trace in short windows.
	sums, states := map[int64]Rate{}, map[[2]uint8]uint64{}
	var sumsMu, spill sync.Mutex
	// writeInOrder writes n rows, row(i) the i-th in Stats.Intervals'
	// order, as one run.
	writeInOrder := func(n int, row func(i int) *Interval) {
		spill.Lock()
		defer spill.Unlock()
		ps.intervals.WriteEach(n, func(i int) intervalRow { return intervalRowOf(row(i)) })
	}
	// writeRows writes the rows of destinations as byDestination gives
	// them out (see builder.rowsOut).
	writeRows := func(rows [][]Interval) {
		order := windowOrder(rows, b0.iv)
		writeInOrder(len(order), func(i int) *Interval { return &rows[order[i].dest][order[i].row] })
	}
	err = ps.eachPart(func(part int) error {
		return ps.batches(b0, s, []int{part}, nil, func(b *builder, fl flowSeq) error {
			res := result{}
			b.rowsOut = writeRows
			b.byDestination(&res.totals) // first: it reads a large group's flows on two cores
			b.flowSpan(&res.totals, fl)
			partStates := stateCounts(fl)
			sumsMu.Lock()
			b.addTraffic(sums)
			for k, n := range partStates {
				states[k] += n
			}
			sumsMu.Unlock()
			res.floods = b.synFloods(&res.totals, st.Thresholds)
			// The top destinations are among those of the parts: compute
			// their CDFs now rather than read their parts again.
			for _, i := range topDestinations(res.totals.Destinations, st.Top, func(d *Destination) uint64 { return d.Flows }) {
				d := res.totals.Destinations[i].Dest
				res.cdfs = append(res.cdfs, destCDF{d, b.destCDF(d)})
			}
			held := res.totals.Intervals // in order, when none was given out
			writeInOrder(len(held), func(i int) *Interval { return &held[i] })
			res.totals.Intervals = nil
			// Every destination goes to destinations.parquet from the spilled
			// rows; only those the report may name stay in memory.
			dests := make([]intervalRow, len(res.totals.Destinations))
			for i := range res.totals.Destinations {
				dests[i] = destinationRowOf(&res.totals.Destinations[i])
			}
			res.totals.Destinations = reportedDestinations(res.totals.Destinations, st.Top)
			durs := durations(fl)
			results[part] = append(results[part], res)
			spill.Lock()
			defer spill.Unlock()
			ps.destinations.Write(dests)
			durs.WriteTo(ps.durations)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if err := b0.errs.Get(); err != nil {
		return err
	}
	dests := 0
	for _, res := range slices.Concat(results...) {
		dests += len(res.totals.Destinations)
	}
	st.Destinations = make([]Destination, 0, dests)
	for _, res := range slices.Concat(results...) {
		if t := &res.totals; t.Flows > 0 {
			if st.Flows == 0 || t.FirstSeen < st.FirstSeen {
				st.FirstSeen = t.FirstSeen
			}
			if st.Flows == 0 || t.LastSeen > st.LastSeen {
				st.LastSeen = t.LastSeen
			}
			st.Flows += t.Flows
		}
		st.Destinations = append(st.Destinations, res.totals.Destinations...)
		st.Findings = append(st.Findings, res.floods...)
		ps.cdfs = append(ps.cdfs, res.cdfs...)
	}
	setRates(st, sums)
	st.States = statesOf(states)
	extsort.SortParallel(st.Destinations, func(x, y Destination) int { return x.Dest.Compare(y.Dest) })
	slices.SortFunc(st.Findings, func(x, y Finding) int { return x.Dest.Compare(y.Dest) })
	rank(st)
	return nil
}

// cdfsAndTimelines computes cdf.parquet, from the spilled durations and
// the CDFs of the candidates for the top destinations, and the timelines
// of targets: those of SYN floods were computed with them, the others
// from their parts.
func (ps *Parts) cdfsAndTimelines(s tables.Summary, b0 *builder, st *Stats, targets []timelineTarget) error {
	all := newCDFStream("all", int(st.Flows))
	m, err := extsort.NewMerger(func(a, b *float64) int { return cmp.Compare(*a, *b) }, []*extsort.Runs[float64]{ps.durations})
	if err != nil {
		return err
	}
	err = m.Each(func(v *float64) bool {
		all.add(*v)
		return true
	})
	if err != nil {
		return err
	}
	ps.durations.Remove()
	ps.durations = nil
	st.CDF = all.points()

	// The parts to read again, the destinations needed from them, and
	// what for.
	type job struct {
		dest Dest
		fn   func(b *builder)
	}
	work := map[int][]job{}
	hosts := map[flows.IP]bool{}
	need := func(d Dest, fn func(b *builder)) {
		ip := flows.IPOf(d.IP)
		hosts[ip] = true
		work[partOf(ip)] = append(work[partOf(ip)], job{d, fn})
	}
	top := make([][]CDFPoint, len(st.TopByFlows))
	for k, i := range st.TopByFlows {
		d := st.Destinations[i].Dest
		if c := slices.IndexFunc(ps.cdfs, func(c destCDF) bool { return c.dest == d }); c >= 0 {
			top[k] = ps.cdfs[c].points
		} else { // not a candidate of its part: cannot happen, but costs only a read
			need(d, func(b *builder) { top[k] = b.destCDF(d) })
		}
	}
	ps.cdfs = nil
	st.Timelines = make([]Timeline, len(targets))
	if err := ps.timelineExchanges(st, targets); err != nil {
		return err
	}
	for k, t := range targets {
		st.Timelines[k].Name = t.name
		flood := slices.IndexFunc(st.Findings, func(f Finding) bool { return f.Kind == SYNFlood && f.Dest == t.dest })
		switch {
		case !t.prefix.IsValid() && flood >= 0: // computed with the finding
			st.Timelines[k].Series = st.Findings[flood].Series
		case !t.prefix.IsValid():
			need(t.dest, func(b *builder) { st.Timelines[k].Series = b.destSeries(t.dest) })
		default: // a prefix's flows are in every part, an address's in one
			parts := everyPart()
			if t.prefix.IsSingleIP() {
				parts = []int{partOf(flows.IPOf(t.prefix.Addr()))}
			}
			var err error
			if st.Timelines[k].Series, err = ps.prefixSeries(b0, s, t.prefix, parts); err != nil {
				return err
			}
		}
	}
	parts := slices.Sorted(maps.Keys(work))
	errs := make([]error, len(parts))
	extsort.ParallelFor(len(parts), func(i int) {
		keep := func(d *destFlow) bool { return hosts[d.DstIP] }
		errs[i] = ps.batches(b0, s, parts[i:i+1], keep, func(b *builder, _ flowSeq) error {
			if b.groups == nil {
				b.makeGroups()
			}
			for _, j := range work[parts[i]] {
				if b.has(j.dest) {
					j.fn(b)
				}
			}
			return nil
		})
	})
	for _, pts := range top {
		st.CDF = append(st.CDF, pts...)
	}
	return cmp.Or(errors.Join(errs...), b0.errs.Get())
}

// timelineExchanges sets the windows of each timeline both ways: from the
// flows' windows after analyze, from timelines.parquet after LoadParts.
func (ps *Parts) timelineExchanges(st *Stats, targets []timelineTarget) error {
	for k, t := range targets {
		st.Timelines[k].Victim, st.Timelines[k].IsDest = t.victim, !t.prefix.IsValid()
		if ps.persisted != nil {
			st.Timelines[k].Exchange = persistedExchange(ps.persisted, t.name, st.Interval)
		}
	}
	if ps.persisted != nil {
		return nil
	}
	xs, err := ps.exchanges(targets, st.Interval)
	for k := range xs {
		st.Timelines[k].Exchange = xs[k]
	}
	return err
}

// prefixSeries returns the series of the destinations whose address is in
// p, together, from the flows of parts: they are put in order by source,
// on disk beyond what is held.
func (ps *Parts) prefixSeries(b0 *builder, s tables.Summary, p netip.Prefix, parts []int) (Series, error) {
	fl := newSorted(ps.dir, "a prefix's flows", ps.held(), compareBySource)
	defer fl.Remove()
	ds, err := ps.read(s, parts, func(d *destFlow) bool { return p.Contains(d.DstIP.Addr()) }, fl.Add)
	if err != nil {
		return Series{}, err
	}
	b := ps.batchBuilder(b0, ds, ds.Traffic, nil)
	series := b.seriesOf(Dest{}, flowSeq{large: fl}, b.traffic(func(Dest) bool { return true }))
	return series, fl.Err()
}

func everyPart() []int {
	parts := make([]int, numParts)
	for i := range parts {
		parts[i] = i
	}
	return parts
}

// intervalRow is an Interval as a plain value, to be spilled.
type intervalRow struct {
	Start, End int64
	IP         flows.IP
	Port       uint16
	Proto      uint8
	Counts
}

func intervalRowOf(w *Interval) intervalRow {
	return intervalRow{w.Start, w.End, flows.IPOf(w.Dest.IP), w.Dest.Port, w.Dest.Proto, w.Counts}
}

func (r *intervalRow) interval() Interval {
	return Interval{Start: r.Start, End: r.End, Dest: r.dest(), Counts: r.Counts}
}

// A destination's row is spilled as an interval from its first packet to
// its last.
func destinationRowOf(d *Destination) intervalRow {
	return intervalRow{d.FirstSeen, d.LastSeen, flows.IPOf(d.Dest.IP), d.Dest.Port, d.Dest.Proto, d.Counts}
}

func (r *intervalRow) destination() Destination {
	return Destination{Dest: r.dest(), FirstSeen: r.Start, LastSeen: r.End, Counts: r.Counts}
}

func (r *intervalRow) dest() Dest { return Dest{r.IP.Addr(), r.Port, r.Proto} }

// reportedDestinations returns the destinations of ds, sorted by
// destination, that the report may name: the top n by flows and by
// half-open flows (rank), and the top maxTimelines by packets (timelines:
// fewer are ever looked at). A destination in a top list of every
// destination is in the same list of its own part, as both are in the same
// order (value, then destination): the parts' lists together rank as
// every destination would.
func reportedDestinations(ds []Destination, n int) []Destination {
	keep := map[int]bool{}
	for _, top := range [][]int{
		topDestinations(ds, n, func(d *Destination) uint64 { return d.Flows }),
		topDestinations(ds, n, func(d *Destination) uint64 { return d.HalfOpen + d.SYNOnly }),
		topDestinations(ds, maxTimelines, func(d *Destination) uint64 { return d.Packets }),
	} {
		for _, i := range top {
			keep[i] = true
		}
	}
	var out []Destination
	for i := range ds {
		if keep[i] {
			out = append(out, ds[i])
		}
	}
	return out
}

// compareDests orders destination rows as Stats.Destinations.
func compareDests(a, b *intervalRow) int {
	return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
}

// compareRows orders rows as Stats.Intervals: by start, then destination.
func compareRows(a, b *intervalRow) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c // not cmp.Or: it would compare the addresses of every pair
	}
	return compareDests(a, b)
}

// appendWindows appends the encoding of a flow's windows in a part: the
// first start as a varint, each later one as the varint of its distance
// from the one before (windows come in order of time), then the counts as
// uvarints. A window takes 10 to 20 bytes instead of its 48 in memory:
// fewer bytes for S2 to compress as the parts are written and to
// decompress as they are read back.
func appendWindows(b []byte, windows []flows.Window) []byte {
	var prev int64
	for i := range windows {
		w := &windows[i]
		b = binary.AppendVarint(b, w.Start-prev)
		prev = w.Start
		b = binary.AppendUvarint(b, w.Packets)
		b = binary.AppendUvarint(b, w.Bytes)
		b = binary.AppendUvarint(b, w.RespPackets)
		b = binary.AppendUvarint(b, w.RespBytes)
		b = binary.AppendUvarint(b, uint64(w.SYNs))
		b = binary.AppendUvarint(b, uint64(w.SYNACKs))
	}
	return b
}

// readWindows decodes len(windows) windows that appendWindows encoded at
// the start of b and returns the rest of b.
func readWindows(b []byte, windows []flows.Window) ([]byte, error) {
	d := varints{b: b}
	var start int64
	for i := range windows {
		start += d.varint()
		windows[i] = flows.Window{Start: start, Packets: d.uvarint(), Bytes: d.uvarint(),
			RespPackets: d.uvarint(), RespBytes: d.uvarint(), SYNs: uint32(d.uvarint()), SYNACKs: uint32(d.uvarint())}
	}
	if d.short {
		return nil, errors.New("a window is cut short")
	}
	return d.b, nil
}

// varints reads varints from b; short says one was cut short.
type varints struct {
	b     []byte
	short bool
}

func (d *varints) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.short, n = true, len(d.b)
	}
	d.b = d.b[n:]
	return v
}

func (d *varints) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}
