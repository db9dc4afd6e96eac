package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
)

// analysis is the result of reading the traces.
type analysis struct {
	// The records: in sorted runs on disk (analyze, see spill.go), or in
	// memory (a live window).
	spilled []recordStore
	records []flows.Record
	// What the report is built from: the records spread over parts on disk
	// (analyze), or the records in memory and their traffic (a live
	// window). Neither without a report.
	parts   *report.Parts
	traffic *report.TrafficCounter
	summary report.Summary
}

// shortWindowsWarning warns when the windows are 100 or more times
// shorter than the idle timeout: a flow that goes idle counts as active
// in every window until the timeout ends it, so each destination has
// that many rows more, and intervals.parquet and the report's build grow
// with them (the benchmark trace: 8 s in windows of 60 s, 105 s in
// windows of 100 ms). Empty otherwise.
func shortWindowsWarning(interval, idle time.Duration) string {
	n := idle / interval
	if n < 100 {
		return ""
	}
	return fmt.Sprintf("--interval %v is %d times shorter than the idle timeout (%v): each flow that goes idle counts as active in %d windows after its last packet, and intervals.parquet and the time to build the report grow with them; a longer --interval, or a shorter --idle-timeout, keeps them small",
		interval, n, idle, n)
}

// summaryOptions is summary.json's record of the options that shaped the
// flows and statistics, for analyze and live alike.
func summaryOptions(interval time.Duration, fo flows.Options, bpf string, workers int, targets []netip.Prefix) report.Options {
	o := report.Options{
		IntervalS:      interval.Seconds(),
		IdleTimeoutS:   fo.IdleTimeout.Seconds(),
		ActiveTimeoutS: fo.ActiveTimeout.Seconds(),
		LingerS:        flows.DefaultLinger.Seconds(),
		BPF:            bpf,
		Workers:        workers,
		MaxFlows:       fo.MaxFlows,
		Targets:        []string{},
	}
	for _, t := range targets {
		o.Targets = append(o.Targets, t.String())
	}
	return o
}

// analyze reads every trace through the filter, decoder and flow table.
func analyze(ctx context.Context, cfg *analyzeConfig, paths []string, filter *reader.Filter) (*analysis, error) {
	started := time.Now()
	res := &analysis{}
	s := &res.summary
	s.Tool, s.Version = "flowstat", version
	s.Options = summaryOptions(cfg.interval, cfg.flowOpts, cfg.bpf, cfg.workers, cfg.targets)
	warn(cfg, s, shortWindowsWarning(cfg.interval, cfg.flowOpts.IdleTimeout))

	var counter reader.Counter
	traces, err := openTraces(paths, cfg.inputs, &counter, s)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range traces {
			t.Close()
		}
	}()
	bar := newProgress(cfg, paths, &counter)

	perShard := make([]recordStore, cfg.workers)
	tallies := make([]report.FlowTally, cfg.workers)
	for i := range perShard {
		if perShard[i].spill, err = newSpill(cfg.out); err != nil {
			removeSpills(perShard)
			return nil, err
		}
	}
	if !cfg.noReport {
		res.parts, err = report.NewParts(cfg.out, cfg.workers, int64(cfg.interval), reportOptions(cfg))
		if err != nil {
			removeSpills(perShard)
			return nil, err
		}
		res.parts.HeldBytes = heldBytes(cfg.memoryMiB)
	}
	// removeFiles deletes the files the records went to, when no output is written.
	removeFiles := func() {
		removeSpills(perShard)
		if res.parts != nil {
			res.parts.Remove()
		}
	}
	// A spill or part file that cannot be written stops the reading: the
	// run has failed, however much of the trace is left.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	// ending draws the flows ended at the end of input, when many are
	// open; each shard counts its own (in a cache line of its own) and
	// draws them 4096 at a time.
	var ending *stepProgress
	ended := make([]struct {
		n int
		_ [56]byte
	}, cfg.workers)
	table := flows.NewSharded(cfg.workers, cfg.flowOpts, func(shard int, r *flows.Record, windows []flows.Window) {
		perShard[shard].add(r)
		tallies[shard].Count(r)
		if ending != nil {
			if ended[shard].n++; ended[shard].n%4096 == 0 {
				ending.add(4096)
			}
		}
		err := perShard[shard].spill.Err()
		if res.parts != nil {
			res.parts.Writer(shard).Add(r, windows)
			err = cmp.Or(err, res.parts.Writer(shard).Err())
		}
		if err != nil {
			fail(err)
		}
	})
	endRead := phase("read")
	whole := newSink(cfg, filter, len(traces))
	var split *reader.Split
	if len(paths) == 1 && paths[0] != "-" && cfg.workers > 1 && traces[0].Compression == "" {
		if split, err = reader.SplitTrace(paths[0], splitChunkSize, &counter); err != nil {
			table.Close(nil)
			removeFiles()
			return nil, err
		}
	}
	switch {
	case split != nil:
		err = readSplit(ctx, cfg, split, traces[0], filter, table, whole, bar)
	case cfg.workers > 1:
		err = readStream(ctx, cfg, traces, filter, table, whole, bar)
	default:
		err = readMerged(ctx, traces, table, whole, bar)
	}
	if err != nil {
		bar.finish(whole.counts.Read)
		table.Close(nil)
		removeFiles()
		return nil, err
	}
	c := &s.Packets
	*c = whole.counts
	endRead()
	endClose := phase("close")
	ts := table.Close(func(open int) {
		bar.finish(c.Read)
		if open >= endingShown {
			ending = newStepProgress(cfg, fmt.Sprintf("ending the %s flows still open", humanCount(float64(open))), open)
		}
	})
	ending.finish()
	endClose()
	res.spilled = perShard
	for i := range tallies {
		tallies[i].AddTo(&s.Flows)
	}
	warn(cfg, s, evictedWarning(s.Flows.ByEnd[flows.EndEvicted.String()], cfg.flowOpts.MaxFlows))

	c.Fragments, c.OrphanFragments, c.ICMPErrors, c.OutOfOrder = ts.Fragments, ts.OrphanFragments, ts.ICMPErrors, ts.OutOfOrder
	for i, t := range traces {
		s.Inputs = append(s.Inputs, whole.inputs[i].describe(t))
		for _, d := range t.Damages {
			s.Damage = append(s.Damage, report.DamageEntry{Path: d.Path, Offset: d.Offset, Length: d.Length, Reason: d.Reason})
			if !cfg.quiet {
				fmt.Fprintf(os.Stderr, "flowstat: warning: %v\n", d)
			}
		}
	}
	failed := filter.Errors()
	for _, lt := range slices.Sorted(maps.Keys(failed)) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("frames of link type %d were dropped: %v", lt, failed[lt]))
	}
	setSpan(s)
	s.ElapsedS = time.Since(started).Seconds()
	if s.ElapsedS > 0 {
		s.PacketsPS = float64(c.Read) / s.ElapsedS
	}
	return res, nil
}

// endingShown is how many flows open at the end of input take long
// enough to end for a bar (the 10 M of a flood take some 5 s). A
// variable for tests.
var endingShown = 1 << 20

// warn adds w, unless empty, to the summary's warnings and says it on
// stderr unless quiet.
func warn(cfg *analyzeConfig, s *report.Summary, w string) {
	if w == "" {
		return
	}
	s.Warnings = append(s.Warnings, w)
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: warning: %s\n", w)
	}
}

// evictedWarning tells what evicting flows did to the results, and what
// to change, when a full flow table evicted some.
func evictedWarning(evicted uint64, maxFlows int) string {
	if evicted == 0 {
		return ""
	}
	return fmt.Sprintf("the flow table was full (--max-flows %d): %d flows were ended early as evicted; "+
		"one seen again continues in a new record, so counts of flows and sources are upper bounds and depend on -j. "+
		"Raise --max-flows (0: no bound) if memory allows, or shorten --idle-timeout", maxFlows, evicted)
}

// stopped returns why the reading must stop, if it must: errInterrupted
// after SIGINT or SIGTERM, or the error that cancelled ctx.
func stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		return cause
	}
	return errInterrupted
}

// readMerged reads the traces in one pass, merged by time, and adds their
// packets to the table.
func readMerged(ctx context.Context, traces []*reader.Trace, table *flows.Sharded, sk *sink, bar *progress) error {
	merge := reader.NewMerge(traces)
	for n := 0; ; n++ {
		if n&0xFFFF == 0 {
			if err := stopped(ctx); err != nil {
				return err
			}
			bar.update(sk.counts.Read)
		}
		fr, in, err := merge.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", traces[in].Path, err)
		}
		if p := sk.take(fr, in); p != nil {
			table.Add(p)
		}
	}
}

// sink takes frames through the filter, the decoder and the targets, and
// counts them.
type sink struct {
	filter  *reader.Filter
	targets []netip.Prefix
	counts  report.PacketCounts
	inputs  []inputStats
	pkt     reader.Packet
}

func newSink(cfg *analyzeConfig, filter *reader.Filter, inputs int) *sink {
	return &sink{filter: filter, targets: cfg.targets, inputs: make([]inputStats, inputs)}
}

// take counts the frame fr of input in and returns the packet it makes for
// the flow table, or nil. The packet is valid until the next call.
func (sk *sink) take(fr *reader.Frame, in int) *reader.Packet {
	c := &sk.counts
	c.Read++
	sk.inputs[in].observe(fr)
	if !sk.filter.Match(fr) {
		c.FilteredOut++
		return nil
	}
	p := &sk.pkt
	p.Time, p.Input = fr.Time, in
	outcome := reader.Decode(fr.LinkType, fr.Data, p)
	if outcome == reader.OK && !inTargets(sk.targets, p) {
		c.FilteredOut++
		return nil
	}
	countPacket(c, outcome, p)
	if outcome != reader.OK {
		return nil
	}
	return p
}

// openTraces opens every path. A file inside a directory that is not a trace
// is skipped with a warning; a named file that cannot be read is an error.
func openTraces(paths, named []string, counter *reader.Counter, s *report.Summary) ([]*reader.Trace, error) {
	var traces []*reader.Trace
	for _, p := range paths {
		open := reader.Open
		if len(paths) > 1 {
			open = reader.OpenParked // until the merge reaches it: see reader.Merge
		}
		t, err := open(p, counter)
		if err == nil {
			traces = append(traces, t)
			continue
		}
		if slices.Contains(named, p) || errors.Is(err, os.ErrNotExist) {
			for _, t := range traces {
				t.Close()
			}
			if errors.Is(err, reader.ErrBadMagic) {
				return nil, usagef("%v: give pcap or pcapng traces, optionally compressed (gzip, zstd, xz, bzip2, lz4)", err)
			}
			return nil, usageError{err}
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("skipped %s: %v", p, err))
		s.Inputs = append(s.Inputs, report.Input{Path: p, Error: err.Error(), LinkTypes: []int{}})
	}
	if len(traces) == 0 {
		return nil, fmt.Errorf("no trace could be opened among %d files", len(paths))
	}
	return traces, nil
}

func inTargets(targets []netip.Prefix, p *reader.Packet) bool {
	if len(targets) == 0 {
		return true
	}
	for _, t := range targets {
		if t.Contains(p.SrcAddr()) || t.Contains(p.DstAddr()) {
			return true
		}
	}
	return false
}

func countPacket(c *report.PacketCounts, outcome reader.Outcome, p *reader.Packet) {
	switch outcome {
	case reader.NonIP:
		c.NonIP++
		return
	case reader.Truncated:
		c.Truncated++
		return
	case reader.DecodeError:
		c.DecodeErrors++
		return
	case reader.UnknownLink:
		c.UnknownLink++
		return
	}
	if p.IPVersion == 4 {
		c.IPv4++
	} else {
		c.IPv6++
	}
	switch p.Proto {
	case reader.ProtoTCP:
		c.TCP++
	case reader.ProtoUDP:
		c.UDP++
	case reader.ProtoICMP, reader.ProtoICMPv6:
		c.ICMP++
	default:
		c.Other++
	}
	c.Bytes += uint64(p.IPLen)
}

// inputStats describes one input as it is read.
type inputStats struct {
	first, last int64
	packets     uint64
	bytes       uint64
	linkTypes   []int
}

func (st *inputStats) observe(fr *reader.Frame) {
	if st.packets == 0 || fr.Time < st.first {
		st.first = fr.Time
	}
	if fr.Time > st.last {
		st.last = fr.Time
	}
	st.packets++
	st.bytes += uint64(fr.WireLen)
	if !slices.Contains(st.linkTypes, fr.LinkType) {
		st.linkTypes = append(st.linkTypes, fr.LinkType)
	}
}

func (st *inputStats) describe(t *reader.Trace) report.Input {
	in := report.Input{Path: t.Path, Format: t.Format, Compression: t.Compression,
		LinkTypes: st.linkTypes, Packets: st.packets, Bytes: st.bytes}
	if in.LinkTypes == nil {
		in.LinkTypes = []int{}
	}
	if st.packets > 0 {
		in.FirstSeen, in.LastSeen = utcTime(st.first), utcTime(st.last)
	}
	return in
}

func utcTime(ns int64) *time.Time {
	t := time.Unix(0, ns).UTC()
	return &t
}

// setSpan sets the summary's time span from its inputs.
func setSpan(s *report.Summary) {
	for _, in := range s.Inputs {
		if in.FirstSeen == nil {
			continue
		}
		if s.FirstSeen == nil || in.FirstSeen.Before(*s.FirstSeen) {
			s.FirstSeen = in.FirstSeen
		}
		if s.LastSeen == nil || in.LastSeen.After(*s.LastSeen) {
			s.LastSeen = in.LastSeen
		}
	}
	if s.Damage == nil {
		s.Damage = []report.DamageEntry{}
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
}

// writeOutputs writes the output files, each atomically: the flows and the
// summary, then the report built from nothing but what they and
// intervals.parquet hold, so that 'flowstat report' can reproduce it.
func writeOutputs(cfg *analyzeConfig, res *analysis) error {
	// flows.parquet and the report only read the records: write the one
	// while building the other, each on its own core.
	bar := newOutputProgress(cfg, res.summary.Flows.Total)
	flowsDone := make(chan error, 1)
	go func() {
		defer phase("flows.parquet")()
		flowsDone <- writeFlows(filepath.Join(cfg.out, report.FlowsFile), res, bar)
	}()
	err := writeReport(cfg, res, bar)
	ferr := <-flowsDone
	bar.finish()
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return report.WriteJSON(filepath.Join(cfg.out, report.SummaryFile), &res.summary)
}

// writeFlows writes flows.parquet from the records, or from the runs they
// were spilled in.
func writeFlows(path string, res *analysis, bar *outputProgress) error {
	if res.spilled == nil {
		return report.WriteFlows(path, res.records)
	}
	defer removeSpills(res.spilled)
	merge, err := spilledRecords(res.spilled)
	if err != nil {
		return err
	}
	merged := report.RowGroupsFrom(merge.Fill)
	var rows int64
	return report.WriteFlowsFrom(path, func() ([]flows.Record, error) {
		bar.wroteRows(rows) // those given before, now written
		recs, err := merged()
		rows += int64(len(recs))
		return recs, err
	})
}

// writeReport builds the report from the records' parts, or from the
// records and their traffic, and the summary, and writes its tables,
// Markdown and plots.
func writeReport(cfg *analyzeConfig, res *analysis, bar *outputProgress) error {
	if res.parts != nil {
		defer res.parts.Remove()
	}
	if cfg.noReport {
		return nil
	}
	build := func() (*report.Stats, error) {
		ds, err := report.NewDatasetWithTraffic(res.records, res.traffic, res.summary)
		if err != nil {
			return nil, err
		}
		return report.Build(ds, reportOptions(cfg))
	}
	if res.parts != nil {
		// The report's files are its last step.
		steps := res.parts.Steps() + 1
		res.parts.Progress = func(done, _ int) { bar.built(done, steps) }
		build = func() (*report.Stats, error) { return res.parts.Build(res.summary) }
		defer bar.built(steps, steps)
	}
	_, err := renderReport(cfg.out, build, cfg.noPlots)
	return err
}

func reportOptions(cfg *analyzeConfig) report.BuildOptions {
	return report.BuildOptions{Thresholds: cfg.thresholds, NoPlots: cfg.noPlots, Version: version}
}
