package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"flowstat/pipeline"
	"flowstat/reader"
	"flowstat/tables"
)

const mapUsage = `Usage: flowstat map -o DIR [flags] TRACE...

Reads traces of an archive, on any machine, into a map task's output
directory DIR (new or empty), for 'flowstat merge': their flow records with
their windows, the flows still open at their end, and the packets of flows
that may continue one the traces before left open. Any number of map tasks
run at once; 'flowstat merge' then writes what one 'flowstat analyze' over all
the traces writes.

A task reads one trace, or a run of consecutive ones (several TRACEs, or a
directory), merged in time order as analyze reads them. The packets it logs
for merge are those of the idle timeout after its first one: an archive of
short rotated files (a file a minute) is best mapped in runs of many files,
one run per task, rather than a task per file.

Map every trace of an archive with the same flags (the interval, timeouts,
--bpf, --target, --no-decap); the report's flags go to merge. The windows
are --interval's (default 1s): merge's are multiples of them. Traces must not
overlap in time; a trace's path is recorded as given, for 'flowstat extract'.

A large uncompressed trace can be read by several map tasks, each a byte
range of it (--range START:END or --part I/N): a task reads the records that
start in its range, from the first position where a chain of records starts.
merge checks that the ranges of a file cover it and meet where one pass over
it goes from one to the next; where damage crosses a boundary it names the
range to map instead of two.

Flags:
%s
Exit status as analyze's.
`

const mergeUsage = `Usage: flowstat merge [-o OUT] [flags] MAPDIR...

Joins the outputs of 'flowstat map' tasks into OUT, as one 'flowstat analyze'
over their traces writes it: flows cut at the traces' ends are joined, and the
statistics, findings and report are those of the whole archive. The inputs are
taken in time order whatever the order given. Flow options (timeouts, filters)
are the map tasks'; --interval (default: chosen for the whole span, as
analyze's auto) must be a multiple of theirs.

Flags:
%s
Exit status as analyze's; 2 also for map task outputs that cannot be merged
(another flowstat, other flow options, traces overlapping in time, byte
ranges of a file that leave bytes out, overlap or do not meet).
`

func runMap(args []string) error {
	cfg, err := parseRunFlags("map", mapUsage, args)
	if err != nil {
		return err
	}
	if !cfg.set("out") {
		return usagef("give the map task's output directory with -o DIR")
	}
	if entries, err := os.ReadDir(cfg.Out); err == nil && len(entries) > 0 {
		return usagef("%s is not empty: a map task writes into a new directory (remove it to map again)", cfg.Out)
	}
	if cfg.Filter, err = reader.NewFilter(cfg.BPF); err != nil {
		return usagef("invalid --bpf expression %q: %v", cfg.BPF, unwrapAll(err))
	}
	paths, err := reader.Expand(cfg.Named)
	if err != nil {
		return usageError{err}
	}
	if slices.Contains(paths, "-") {
		return usagef("map reads trace files, not standard input")
	}
	if len(paths) > 1 && (cfg.byteRange != "" || cfg.part != "") {
		return usagef("--range and --part read one trace (%d given)", len(paths))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Workers))
	defer pipeline.LimitMemory(int64(cfg.MemoryMiB) << 20)()
	cfg.Progress = newBars(cfg.progress, cfg.quiet)
	cfg.Warn = warner(cfg.quiet)
	var s *tables.Summary
	// Map removes its temporary directory when interrupted; it is waited
	// for, since other map tasks may be writing beside it, whose
	// temporaries are not this one's to remove.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := mapRange(cfg, paths[0])
	if err != nil {
		return err
	}
	s, err = pipeline.Map(ctx, &cfg.Config, paths, r)
	if ctx.Err() != nil {
		return errInterrupted
	}
	if err != nil {
		return err
	}
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %d packets, %d flows ended in %s; map task output in %s\n",
			s.Packets.Read, s.Flows.Total, strings.Join(paths, ", "), cfg.Out)
	}
	return damaged(s, filepath.Join(cfg.Out, "map.json"))
}

func runMerge(args []string) error {
	cfg, err := parseRunFlags("merge", mergeUsage, args)
	if err != nil {
		return err
	}
	if !cfg.set("out") {
		cfg.Out = filepath.Join("flowstat-out", "merged")
	}
	openDS := func() (*pipeline.Dataset, error) {
		ids, err := pipeline.MapInputs(cfg.Named, cfg.Version)
		if err != nil {
			return nil, err
		}
		return pipeline.OpenDatasetFor(cfg.dataset, ids)
	}
	res, err := runAndWrite(cfg, openDS, func(ctx context.Context) (*pipeline.Result, error) {
		return pipeline.Merge(ctx, &cfg.Config, cfg.Named)
	})
	if err != nil {
		return err
	}
	s := &res.Summary
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %d packets, %d flows from %d map task outputs in %.2fs; outputs in %s\n",
			s.Packets.Read, s.Flows.Total, len(cfg.Named), s.ElapsedS, cfg.Out)
	}
	return damaged(s, filepath.Join(cfg.Out, "summary.json"))
}

// minPartBytes is the smallest part --part cuts a file into: a range is
// read in chunks of reader.DefaultChunkSize, and each starts where a chain
// of records does, which a file of a few records may not have. Tests make
// it small.
var minPartBytes int64 = 16 << 20

// mapRange returns the byte range of path that --range or --part give,
// or nil for the whole file.
func mapRange(cfg *analyzeConfig, path string) (*pipeline.ByteRange, error) {
	if cfg.byteRange == "" && cfg.part == "" {
		return nil, nil
	}
	if cfg.byteRange != "" && cfg.part != "" {
		return nil, usagef("give --range or --part, not both")
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read trace: %w", err)
	}
	size := info.Size()
	if cfg.part != "" {
		var i, n int64
		if _, err := fmt.Sscanf(cfg.part, "%d/%d", &i, &n); err != nil || n < 1 || i < 1 || i > n {
			return nil, usagef("invalid --part %q: give I/N, the I-th of N parts (1 <= I <= N)", cfg.part)
		}
		// Parts are no smaller than minPartBytes: a smaller file has
		// fewer, and the parts past them are empty, at its end, so that
		// a scheduler can give --part I/N to every file of an archive.
		n = min(n, max(1, size/minPartBytes))
		if i > n {
			return &pipeline.ByteRange{Start: size, End: size}, nil
		}
		return &pipeline.ByteRange{Start: size * (i - 1) / n, End: size * i / n}, nil
	}
	start, end, ok := strings.Cut(cfg.byteRange, ":")
	r := pipeline.ByteRange{End: size}
	var errs [2]error
	if start != "0" {
		errs[0] = sizeValue{&r.Start}.Set(start)
	}
	if ok && end != "" {
		errs[1] = sizeValue{&r.End}.Set(end)
	}
	if !ok || errs[0] != nil || errs[1] != nil {
		return nil, usagef("invalid --range %q: give START:END in bytes (K, M, G: binary multiples; END empty: to the end)", cfg.byteRange)
	}
	if r.Start >= r.End || r.End > size {
		return nil, usagef("--range %s is empty or outside %s (%d bytes)", cfg.byteRange, path, size)
	}
	return &r, nil
}
