package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// errHelp is returned after --help was printed.
var errHelp = pflag.ErrHelp

const analyzeUsage = `Usage: flowstat analyze [flags] TRACE...

Reads packet traces and writes, into the output directory:
  flows.parquet         one bidirectional flow record per connection, with its TCP state
  summary.json          inputs, packet outcomes, flows by protocol and state, damage
  intervals.parquet     per window and destination: traffic, flows by outcome, durations
  destinations.parquet  the same per destination over the whole input
  cdf.parquet           duration CDFs, overall and per top destination
  findings.parquet      a row per finding of the report: kind, method, host, port, sizes
  finding_sources.parquet  each finding's most active sources or reflectors
  timelines.parquet     per window, what reached each report target and what it sent
  hosts.parquet, host_windows.parquet  per address, and per address and window (--hosts)
  report.md, plots/     the incident report and its PNG plots (--no-report, --no-plots)
and, with --dataset DIR, adds the flows and intervals to the Parquet dataset in
DIR, partitioned by date and hour, and the inputs to DIR/_inputs.jsonl.

TRACE is a pcap or pcapng file, optionally compressed with gzip, zstd, xz,
bzip2 or lz4 (formats are detected from the content, not the name), a directory (every trace in it), or -
for standard input. Several traces are merged in timestamp order.

Flags:
%s
Exit status: 0 success; 1 nothing could be produced; 2 usage error (bad flag,
bad BPF expression, missing input, an input already in --dataset's dataset);
3 outputs written but some input was damaged (see summary.json and stderr);
130 interrupted.
`

// analyzeConfig is what the command line asks for: a run of the pipeline,
// and how to show it.
type analyzeConfig struct {
	pipeline.Config
	progress string
	quiet    bool
	// dataset is --dataset's directory ("": none), datasetFileBytes the
	// size its files are rolled at.
	dataset          string
	datasetFileBytes int64
	// byteRange and part are map's --range and --part.
	byteRange, part string
	// set reports whether a flag was given.
	set func(name string) bool
}

// Tests make these small, to put chunk and batch boundaries inside
// records, flows and handshakes (pipeline.Config; 0: the default).
var (
	splitChunkSize    int64
	streamBatchFrames int
)

func parseAnalyzeFlags(args []string) (*analyzeConfig, error) {
	return parseRunFlags("analyze", analyzeUsage, args)
}

// flowFlags make the flows, outputFlags (and the findings' thresholds)
// the outputs: map takes the first and merge the second, and each refuses
// and does not list the other's.
var (
	flowFlags   = []string{"bpf", "target", "idle-timeout", "active-timeout", "max-flows", "no-decap"}
	outputFlags = []string{"no-report", "no-plots", "hosts", "community-id-seed", "dataset", "dataset-file-size"}
)

// parseRunFlags parses the flags of analyze, and of map and merge, which
// take its flow and its output flags (command names which, usage is its
// help).
func parseRunFlags(command, usage string, args []string) (*analyzeConfig, error) {
	fs := pflag.NewFlagSet(command, pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := &analyzeConfig{Config: pipeline.Config{Version: version,
		ChunkSize: splitChunkSize, BatchFrames: streamBatchFrames}}
	idle := flows.DefaultIdleTimeout
	var active time.Duration
	var targets []string
	fs.VarP(intervalValue{&cfg.Interval}, "interval", "i", "statistics window: `auto` (at least 100 windows over the capture, 1 ms to 1 h on a 1-2-5 ladder) or a DURATION (e.g. 200ms, 60s, 5m; a bare number is seconds)")
	fs.StringArrayVarP(&targets, "target", "d", nil, "keep only flows with an endpoint in this `IP|CIDR` (repeatable)")
	fs.StringVarP(&cfg.BPF, "bpf", "b", "", "tcpdump filter `EXPR` applied to every frame")
	fs.StringVarP(&cfg.Out, "out", "o", "", "output `DIR` (default flowstat-out/<first trace's name>)")
	fs.Var(durationValue{&idle}, "idle-timeout", "end a flow after this much silence (`DURATION`; 5s reproduces the 2015 script)")
	fs.Var(durationValue{&active}, "active-timeout", "cut longer flows into consecutive records (`DURATION`; default off)")
	fs.IntVarP(&cfg.Workers, "workers", "j", runtime.NumCPU(), "use `N` cores: N flow table shards, and N threads for reading, the report and writing")
	var maxFlows int
	fs.IntVar(&maxFlows, "max-flows", pipeline.DefaultMaxFlows(), "hold at most `N` flows at once: a new flow in a full table ends the flow silent for longest (end_reason evicted; the default is what 60% of this machine's memory holds; 0: unbounded). Records depend on -j once flows are evicted")
	fs.IntVar(&cfg.MemoryMiB, "memory-limit", pipeline.DefaultMemoryMiB, "soft limit on memory, in `MiB`: collect garbage more often to stay below it, and pass it only when the open flows and records need more (0: no limit); the report holds a twelfth of it of one destination's flows and sorts the rest on disk")
	fs.StringVar(&cfg.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	fs.BoolVar(&cfg.NoReport, "no-report", false, "write only flows.parquet and summary.json: no report, tables or plots ('flowstat report' then cannot render one)")
	fs.BoolVar(&cfg.NoPlots, "no-plots", false, "write no plots")
	fs.BoolVar(&cfg.Hosts, "hosts", false, "write hosts.parquet and host_windows.parquet, each address's traffic both ways, in all and by window (about half as much time again on traces of many flows)")
	fs.BoolVar(&cfg.NoDecap, "no-decap", false, "leave tunnels closed (GRE, ERSPAN, VXLAN, Geneve, GTP-U, MPLS, IP in IP): flows of the outer packets")
	fs.Uint16Var(&cfg.CommunityIDSeed, "community-id-seed", 0, "seed `N` of flows.parquet's community_id: the one Zeek, Suricata or Arkime use, to join their logs")
	fs.StringVar(&cfg.dataset, "dataset", "", "also add the flows and intervals to the partitioned Parquet dataset in `DIR` (flows/date=YYYY-MM-DD/hour=H/part-*.parquet, and intervals/); an input already in it is refused")
	cfg.datasetFileBytes = tables.DefaultFileBytes
	fs.Var(sizeValue{&cfg.datasetFileBytes}, "dataset-file-size", "start a new file of --dataset's partitions at about this `SIZE` (bytes, or with K, M or G)")
	findings := pflag.NewFlagSet(command, pflag.ContinueOnError)
	findings.SortFlags = false
	addFindingFlags(findings, &cfg.Thresholds)
	fs.AddFlagSet(findings)
	var others []string // the other command's flags
	switch command {
	case "map":
		others = slices.Clone(outputFlags)
		findings.VisitAll(func(f *pflag.Flag) { others = append(others, f.Name) })
	case "merge":
		others = flowFlags
	}
	for _, name := range others {
		fs.MarkHidden(name)
	}
	if command == "map" {
		fs.StringVar(&cfg.byteRange, "range", "", "read only the records that start in bytes `START:END` of the trace (END empty: to its end; bytes, or with K, M or G): one range of a large file per map task, merge checks that they meet")
		fs.StringVar(&cfg.part, "part", "", "read part `I/N` of the trace: the I-th (from 1) of N byte ranges of equal size (--range's), of 16 MiB at least: a smaller file has fewer parts, and the parts past them are empty")
	}
	fs.BoolVarP(&cfg.quiet, "quiet", "q", false, "print nothing but errors")
	fs.Usage = func() { fmt.Fprintf(os.Stderr, usage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v (see 'flowstat %s --help')", err, command)
	}
	for _, name := range others {
		switch {
		case !fs.Changed(name):
		case command == "map":
			return nil, usagef("--%s is merge's (or analyze's), not map's", name)
		default:
			return nil, usagef("--%s is map's: the flows are made by the map tasks", name)
		}
	}
	cfg.Named = fs.Args()
	if len(cfg.Named) == 0 {
		return nil, usagef("no input given (see 'flowstat %s --help')", command)
	}
	cfg.set = func(name string) bool { return fs.Changed(name) }
	if idle <= 0 {
		return nil, usagef("--idle-timeout must be positive")
	}
	if active < 0 {
		return nil, usagef("--active-timeout must not be negative")
	}
	if cfg.Workers < 1 {
		return nil, usagef("--workers must be at least 1")
	}
	if maxFlows < 0 {
		return nil, usagef("--max-flows must not be negative")
	}
	if cfg.MemoryMiB < 0 {
		return nil, usagef("--memory-limit must not be negative")
	}
	if err := cfg.Thresholds.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	switch cfg.progress {
	case "auto", "always", "never":
	default:
		return nil, usagef("--progress takes auto, always or never, not %q", cfg.progress)
	}
	for _, t := range targets {
		p, err := parseTarget(t)
		if err != nil {
			return nil, err
		}
		cfg.Targets = append(cfg.Targets, p)
	}
	cfg.Flows = flows.Options{IdleTimeout: idle, ActiveTimeout: active, Interval: cfg.Interval, MaxFlows: maxFlows}
	if cfg.Out == "" {
		cfg.Out = filepath.Join("flowstat-out", traceName(cfg.Named[0]))
	}
	return cfg, nil
}

// parseTarget accepts an address or a CIDR prefix.
func parseTarget(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, usagef("--target %q is not an IP address or CIDR prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, usagef("--target %q is not an IP address or CIDR prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// traceName is a trace's file name without directory and trace or
// compression extensions, for the default output directory.
func traceName(path string) string {
	if path == "-" {
		return "stdin"
	}
	name := filepath.Base(filepath.Clean(path))
	for _, ext := range []string{".gz", ".zst", ".pcapng", ".pcap", ".cap", ".dmp"} {
		name = strings.TrimSuffix(name, ext)
	}
	if name == "" || name == "." || name == "/" {
		return "trace"
	}
	return name
}

// durationValue is a pflag.Value for durations that also accepts a bare
// number of seconds, as the 2015 script did.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return "0"
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil {
		*v.d = d
		return nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a duration (try 60s, 5m or 1h)", s)
	}
	*v.d = time.Duration(secs * float64(time.Second))
	return nil
}

func (v durationValue) Type() string { return "duration" }

// intervalValue is --interval: auto (0, chosen to fit the capture) or a
// positive duration.
type intervalValue struct{ d *time.Duration }

func (v intervalValue) String() string {
	if v.d == nil || *v.d == 0 {
		return "auto"
	}
	return v.d.String()
}

func (v intervalValue) Set(s string) error {
	if s == "auto" {
		*v.d = 0
		return nil
	}
	if err := (durationValue{v.d}).Set(s); err != nil {
		return err
	}
	if *v.d <= 0 {
		return fmt.Errorf("must be positive, or auto, not %s", s)
	}
	return nil
}

func (v intervalValue) Type() string { return "interval" }

func runAnalyze(args []string) error {
	cfg, err := parseAnalyzeFlags(args)
	if err != nil {
		return err
	}
	if cfg.Filter, err = reader.NewFilter(cfg.BPF); err != nil {
		return usagef("invalid --bpf expression %q: %v", cfg.BPF, unwrapAll(err))
	}
	paths, err := reader.Expand(cfg.Named)
	if err != nil {
		return usageError{err}
	}
	if cfg.dataset != "" && slices.Contains(paths, "-") {
		return usagef("--dataset needs trace files: standard input cannot be told apart from an input added before")
	}
	openDS := func() (*pipeline.Dataset, error) { return pipeline.OpenDataset(cfg.dataset, paths) }
	res, err := runAndWrite(cfg, openDS, func(ctx context.Context) (*pipeline.Result, error) {
		return pipeline.Analyze(ctx, &cfg.Config, paths)
	})
	if err != nil {
		return err
	}
	s := &res.Summary
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %d packets, %d flows in %.2fs (%.0f packets/s); outputs in %s\n",
			s.Packets.Read, s.Flows.Total, s.ElapsedS, s.PacketsPS, cfg.Out)
	}
	return damaged(s, filepath.Join(cfg.Out, "summary.json"))
}

// runAndWrite runs read (analyze's or merge's) and writes its outputs
// into cfg.Out, and, with --dataset, adds them to the dataset that
// openDS opens first: an input the dataset has is refused before anything
// is read or written.
func runAndWrite(cfg *analyzeConfig, openDS func() (*pipeline.Dataset, error), read func(context.Context) (*pipeline.Result, error)) (*pipeline.Result, error) {
	var ds *pipeline.Dataset
	if cfg.dataset != "" {
		var err error
		if ds, err = openDataset(cfg, openDS); err != nil {
			return nil, err
		}
		defer ds.Close()
		cfg.Dataset = ds
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, err
	}
	removeStale(cfg.Out, cfg.quiet)
	// -j bounds the cores used, not only the shards: -j 1 is one core.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Workers))
	defer pipeline.LimitMemory(int64(cfg.MemoryMiB) << 20)()
	cfg.Progress = newBars(cfg.progress, cfg.quiet)
	cfg.Warn = warner(cfg.quiet)
	var res *pipeline.Result
	err := untilInterrupted(cfg.Out, func(ctx context.Context, writing *atomic.Bool) error {
		var err error
		if res, err = read(ctx); err != nil {
			return err
		}
		writing.Store(true)
		return pipeline.WriteOutputs(&cfg.Config, res)
	})
	if err != nil {
		return nil, err
	}
	if ds != nil {
		if err := commitDataset(ds, cfg.quiet); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// damaged returns errDamaged, saying where, when the run read damaged
// input, whose regions are all listed in the file listed.
func damaged(s *tables.Summary, listed string) error {
	if len(s.Damage) == 0 {
		return nil
	}
	d := s.Damage[0]
	return fmt.Errorf("%w: %d damaged region(s), the first in %s at byte offset %d (%s); all are listed in %s",
		errDamaged, len(s.Damage), d.Path, d.Offset, d.Reason, listed)
}

// warner says warnings on stderr, unless quiet.
func warner(quiet bool) func(string) {
	if quiet {
		return nil
	}
	return func(w string) { fmt.Fprintf(os.Stderr, "flowstat: warning: %s\n", w) }
}

// unwrapAll returns the innermost error's text: libpcap's own message.
func unwrapAll(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		err = inner
	}
}

// checkWritable creates the output directory and proves a file can be
// written in it, so an unwritable destination fails before any reading.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create output directory: %w (choose another with -o)", err)
	}
	f, err := os.CreateTemp(dir, ".flowstat-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write in output directory %s: %w (choose another with -o)", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// removeStale deletes the temporary files a killed run left in dir,
// and says so.
func removeStale(dir string, quiet bool) {
	if n := report.RemoveStale(dir); n > 0 && !quiet {
		fmt.Fprintf(os.Stderr, "flowstat: removed %d temporary files that a run killed before its end left in %s\n", n, dir)
	}
}
