package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"time"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// Config is what a run of Analyze, or a live capture's window, is asked
// to do.
type Config struct {
	Out      string         // the output directory
	Named    []string       // inputs the user named: one that cannot be opened fails the run, not only a warning
	Interval time.Duration  // statistics window; 0: chosen to fit the inputs' span (AutoInterval)
	Targets  []netip.Prefix // keep only packets with an endpoint in one of them (none: all)
	BPF      string         // Filter's expression, for summary.json
	Filter   *reader.Filter
	Flows    flows.Options
	Workers  int // flow table shards, and goroutines reading, building the report and writing
	// MemoryMiB is the soft memory limit the run is under (LimitMemory),
	// which bounds what building the report holds; 0: none.
	MemoryMiB int
	// The report: findings' thresholds, and what to leave out.
	Thresholds report.Thresholds
	// CommunityIDSeed is the seed of flows.parquet's community_id: the
	// one the Zeek, Suricata or Arkime it is joined with were set up with.
	CommunityIDSeed uint16
	// NoDecap keeps tunnelled packets as they are on the wire: the flows
	// are the tunnels' outer ones (reader.Decoder).
	NoDecap  bool
	NoReport bool
	NoPlots  bool
	Hosts    bool   // hosts.parquet (report.BuildOptions.Hosts)
	Version  string // flowstat's, for summary.json and the report
	// ChunkSize is the size of the pieces a large uncompressed trace file
	// is read in by several goroutines (0: reader.DefaultChunkSize), and
	// BatchFrames how many frames of other inputs are handed to a
	// decoding goroutine at once (0: frameBatchFrames). Tests make them
	// small, to put boundaries inside records, flows and handshakes.
	ChunkSize   int64
	BatchFrames int
	// Progress is told how the run advances (nil: nothing is), and Warn
	// each warning that summary.json records (nil: none is said).
	Progress Progress
	Warn     func(warning string)
	// Dataset, when not nil, is given the run's flows and intervals by
	// WriteOutputs, for its Commit.
	Dataset *Dataset
	// mapTo, when not nil, takes the records, open flows and joinable
	// packets of a map task (Map) instead of the run's outputs.
	mapTo *mapWriter
}

// Result is what reading the traces gave, for WriteOutputs.
type Result struct {
	// The records: in sorted runs on disk (Analyze, see spill.go), or in
	// memory (a live window).
	spilled []recordStore
	records []flows.Record
	// What the report is built from: the records spread over parts on disk
	// (Analyze), or the records in memory and their traffic (a live
	// window). Neither without a report.
	parts   *report.Parts
	traffic *report.TrafficCounter
	// inputs names the inputs records' Input indexes: the paths as given.
	inputs  []string
	Summary tables.Summary
}

// ErrInterrupted is returned when the context given to Analyze was
// cancelled without a cause: the user interrupted the run.
var ErrInterrupted = errors.New("interrupted")

// InputError is an input the user named that cannot be read as a trace:
// theirs to fix.
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }

// shortWindowsWarning warns when the windows are 100 or more times
// shorter than the idle timeout: a flow that goes idle counts as active
// in every window until the timeout ends it, so each destination has
// that many rows more, and intervals.parquet and the report's build grow
// with them. Empty otherwise.
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
func summaryOptions(cfg *Config) tables.Options {
	interval, fo, bpf, workers, targets := cfg.Interval, cfg.Flows, cfg.BPF, cfg.Workers, cfg.Targets
	o := tables.Options{
		IntervalS:       interval.Seconds(),
		IdleTimeoutS:    fo.IdleTimeout.Seconds(),
		ActiveTimeoutS:  fo.ActiveTimeout.Seconds(),
		LingerS:         flows.DefaultLinger.Seconds(),
		BPF:             bpf,
		Workers:         workers,
		MaxFlows:        fo.MaxFlows,
		Targets:         []string{},
		CommunityIDSeed: cfg.CommunityIDSeed,
		NoDecap:         cfg.NoDecap,
	}
	for _, t := range targets {
		o.Targets = append(o.Targets, t.String())
	}
	return o
}

// Analyze reads every trace in paths (merged by time) through the filter,
// decoder and flow table, into flow records and what the report is built
// from, in files of cfg.Out until WriteOutputs. It returns ErrInterrupted
// when ctx is cancelled, or the cause it was cancelled with.
func Analyze(ctx context.Context, cfg *Config, paths []string) (*Result, error) {
	started := time.Now()
	cfg = cfg.withDefaults()
	filter := cfg.Filter
	res := &Result{}
	s := &res.Summary
	s.Tool, s.Version = "flowstat", cfg.Version
	auto := cfg.Interval == 0
	if auto {
		var known bool
		cfg.Interval, known = intervalForInputs(paths)
		if !known {
			warn(cfg, s, fmt.Sprintf("the inputs' time span is not known before reading them (standard input, or compressed beyond %d MiB): windows of %v; --interval sets others",
				reader.SpanReadLimit>>20, cfg.Interval))
		}
		cfg.Flows.Interval = cfg.Interval
	}
	s.Options = summaryOptions(cfg)
	s.Options.IntervalAuto = auto
	if cfg.NoReport && cfg.mapTo == nil {
		// Only the report's tables read a flow's counts per window.
		cfg.Flows.Interval = 0
	}
	if !auto {
		warn(cfg, s, shortWindowsWarning(cfg.Interval, cfg.Flows.IdleTimeout))
	}

	var counter reader.Counter
	traces, err := openTraces(paths, cfg.Named, &counter, s)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range traces {
			t.Close()
		}
	}()
	bar := cfg.Progress.Reading(bytesToRead(paths, cfg.mapTo), &counter)

	col, err := newCollector(cfg, res, cfg.Workers)
	if err != nil {
		return nil, err
	}
	// A spill or part file that cannot be written stops the reading: the
	// run has failed, however much of the trace is left.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	// ending draws the flows ended at the end of input, when many are
	// open; each shard counts its own (in a cache line of its own) and
	// draws them 4096 at a time.
	var ending StepProgress
	ended := make([]struct {
		n int
		_ [56]byte
	}, cfg.Workers)
	table := flows.NewSharded(cfg.Workers, cfg.Flows, func(shard int, r *flows.Record, windows []flows.Window) {
		if ending != nil {
			if ended[shard].n++; ended[shard].n%4096 == 0 {
				ending.Add(4096)
			}
		}
		if err := col.add(shard, r, windows); err != nil {
			fail(err)
		}
	})
	if cfg.mapTo != nil {
		table.LogJoinable(func(shard int, jp *flows.JoinPacket) {
			if err := cfg.mapTo.logJoinable(shard, jp); err != nil {
				fail(err)
			}
		})
	}
	endRead := phase("read")
	whole := newSink(cfg, filter, len(traces))
	var split *reader.Split
	if r := cfg.mapTo.rangeToRead(); r != nil {
		if split, err = reader.SplitRange(paths[0], r.Start, r.End, cmp.Or(cfg.ChunkSize, reader.DefaultChunkSize), &counter); err != nil {
			table.Close(nil)
			col.remove()
			return nil, InputError{err}
		}
		cfg.mapTo.split = split
	} else if len(paths) == 1 && paths[0] != "-" && cfg.Workers > 1 && traces[0].Compression == "" {
		if split, err = reader.SplitTrace(paths[0], cfg.ChunkSize, &counter); err != nil {
			table.Close(nil)
			col.remove()
			return nil, err
		}
	}
	switch {
	case split != nil:
		err = readSplit(ctx, cfg, split, traces[0], filter, table, whole, bar)
	case cfg.Workers > 1:
		err = readStream(ctx, cfg, traces, filter, table, whole, bar)
	default:
		err = readMerged(ctx, traces, table, whole, bar)
	}
	if err != nil {
		bar.Finish(whole.counts.Read)
		table.Close(nil)
		col.remove()
		return nil, err
	}
	c := &s.Packets
	*c = whole.counts
	s.Peak = whole.seconds.peak()
	endRead()
	endClose := phase("close")
	var ts flows.Stats
	if cfg.mapTo != nil {
		bar.Finish(c.Read)
		ts = table.CloseOpen(func(_ int, o *flows.OpenFlow) {
			if err := cfg.mapTo.open(o); err != nil {
				fail(err)
			}
		})
		cfg.mapTo.seconds = &whole.seconds
		cfg.mapTo.tableLast = table.Now()
	} else {
		ts = table.Close(func(open int) {
			bar.Finish(c.Read)
			ending = cfg.Progress.Ending(open)
		})
	}
	if ending != nil {
		ending.Finish()
	}
	endClose()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		col.remove()
		return nil, err
	}
	col.finish(res)
	warn(cfg, s, evictedWarning(s.Flows.ByEnd[flows.EndEvicted.String()], cfg.Flows.MaxFlows))

	c.Fragments, c.OrphanFragments, c.ICMPErrors, c.OutOfOrder = ts.Fragments, ts.OrphanFragments, ts.ICMPErrors, ts.OutOfOrder
	for i, t := range traces {
		res.inputs = append(res.inputs, t.Path)
		s.Inputs = append(s.Inputs, whole.inputs[i].describe(t))
		for _, d := range t.Damages {
			s.Damage = append(s.Damage, tables.DamageEntry{Path: d.Path, Offset: d.Offset, Length: d.Length, Reason: d.Reason})
			if cfg.Warn != nil {
				cfg.Warn(d.Error())
			}
		}
	}
	failed := filter.Errors()
	for _, lt := range slices.Sorted(maps.Keys(failed)) {
		s.Warnings = append(s.Warnings, fmt.Sprintf("frames of link type %d were dropped: %v", lt, failed[lt]))
	}
	setSpan(s)
	s.FragmentTargets = report.FragmentTargets(table.Orphans(), *s)
	if cfg.mapTo != nil {
		cfg.mapTo.orphans = table.Orphans()
	}
	s.ElapsedS = time.Since(started).Seconds()
	if s.ElapsedS > 0 {
		s.PacketsPS = float64(c.Read) / s.ElapsedS
	}
	return res, nil
}

// withDefaults returns cfg with its zero values made the defaults.
func (cfg *Config) withDefaults() *Config {
	c := *cfg
	c.ChunkSize = cmp.Or(c.ChunkSize, reader.DefaultChunkSize)
	c.BatchFrames = cmp.Or(c.BatchFrames, frameBatchFrames)
	if c.Progress == nil {
		c.Progress = noProgress{}
	}
	return &c
}

// warn adds w, unless empty, to the summary's warnings and says it.
func warn(cfg *Config, s *tables.Summary, w string) {
	if w == "" {
		return
	}
	s.Warnings = append(s.Warnings, w)
	if cfg.Warn != nil {
		cfg.Warn(w)
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
	return ErrInterrupted
}

// readMerged reads the traces in one pass, merged by time, and adds their
// packets to the table.
func readMerged(ctx context.Context, traces []*reader.Trace, table *flows.Sharded, sk *sink, bar ReadProgress) error {
	merge := reader.NewMerge(traces)
	for n := 0; ; n++ {
		if n&0xFFFF == 0 {
			if err := stopped(ctx); err != nil {
				return err
			}
			bar.Update(sk.counts.Read)
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
	decoder reader.Decoder
	filter  *reader.Filter
	targets []netip.Prefix
	counts  tables.PacketCounts
	seconds perSecond // the frames the filters let through
	inputs  []inputStats
	pkt     reader.Packet
}

func newSink(cfg *Config, filter *reader.Filter, inputs int) *sink {
	return &sink{decoder: reader.Decoder{NoDecap: cfg.NoDecap}, filter: filter, targets: cfg.Targets, inputs: make([]inputStats, inputs)}
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
	// The frame's number counts every frame of the input, the filtered
	// out and the undecodable too, as tshark's frame.number does. A
	// chunk's sink counts from the chunk's start: use adds what came
	// before.
	p.Time, p.Input, p.Frame, p.Offset = fr.Time, in, sk.inputs[in].packets, fr.Offset
	outcome := sk.decoder.Decode(fr.LinkType, fr.Data, p)
	if outcome == reader.OK && !inTargets(sk.targets, p) {
		c.FilteredOut++
		return nil
	}
	sk.seconds.add(fr.Time, fr.WireLen)
	countPacket(c, outcome, p)
	if outcome != reader.OK {
		return nil
	}
	return p
}

// openTraces opens every path. A file inside a directory that is not a trace
// is skipped with a warning; a named file that cannot be read is an error.
func openTraces(paths, named []string, counter *reader.Counter, s *tables.Summary) ([]*reader.Trace, error) {
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
				return nil, InputError{fmt.Errorf("%w: give pcap or pcapng traces, optionally compressed (gzip, zstd, xz, bzip2, lz4)", err)}
			}
			return nil, InputError{err}
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("skipped %s: %v", p, err))
		s.Inputs = append(s.Inputs, tables.Input{Path: p, Error: err.Error(), LinkTypes: []int{}})
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

func countPacket(c *tables.PacketCounts, outcome reader.Outcome, p *reader.Packet) {
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

func (st *inputStats) describe(t *reader.Trace) tables.Input {
	in := tables.Input{Path: t.Path, Format: t.Format, Compression: t.Compression,
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
func setSpan(s *tables.Summary) {
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
		s.Damage = []tables.DamageEntry{}
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
}

// bytesToRead is the size of the files at paths, or of a map task's byte
// range; -1 when one is not a regular file.
func bytesToRead(paths []string, m *mapWriter) int64 {
	if r := m.rangeToRead(); r != nil {
		return r.End - r.Start
	}
	total := int64(0)
	for _, path := range paths {
		info, err := os.Stat(path)
		if path == "-" || err != nil || !info.Mode().IsRegular() {
			return -1
		}
		total += info.Size()
	}
	return total
}
