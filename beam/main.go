// Command flowstat-beam runs flowstat's map and merge as an Apache Beam
// pipeline, for archives beyond one machine: a map task per trace as a
// ParDo on any worker, the flows that the traces' ends cut joined per flow
// key after a GroupByKey, and flows.parquet written in parallel shards,
// with the traffic per destination combined per key. It runs on Beam's
// local prism runner, and unchanged on Flink, Spark or Dataflow through
// Beam's portable runners (README, "Apache Beam").
//
// It lives in a module of its own: Beam's SDK brings hundreds of modules
// that the flowstat command does without. The map and the join are
// flowstat's own (pipeline.Map, flows.Joiner), as flowstat merge runs
// them.
//
//	flowstat-beam --out DIR [--range-mib N] [--run-files N] [--runner prism] TRACE...
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"flowstat/flows"
)

// version names the flowstat whose map outputs the workers exchange.
const version = "beam-0.1.0-dev"

func main() {
	out := flag.String("out", "", "output `DIR`: flows/part-*.parquet and destinations.parquet")
	idle := flag.Duration("idle-timeout", flows.DefaultIdleTimeout, "end a flow after this much silence")
	active := flag.Duration("active-timeout", 0, "cut longer flows into consecutive records (0: off)")
	rangeMiB := flag.Int64("range-mib", 0, "read an uncompressed trace larger than this many `MiB` in byte ranges of about this size, a map task each (0: a map task per trace)")
	runFiles := flag.Int("run-files", 1, "map up to `N` consecutive traces (given in time order) in one task: runs of short rotated files log far fewer packets for the join")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: flowstat-beam --out DIR [Beam flags, e.g. --runner prism] TRACE...\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	beam.Init()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var traces []string
	for _, t := range flag.Args() {
		abs, err := filepath.Abs(t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flowstat-beam: %v\n", err)
			os.Exit(2)
		}
		traces = append(traces, abs)
	}
	outDir, err := filepath.Abs(*out)
	if err == nil {
		err = os.MkdirAll(filepath.Join(outDir, "flows"), 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "flowstat-beam: cannot create output directory: %v\n", err)
		os.Exit(1)
	}
	if path := os.Getenv("FLOWSTAT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	tasks, err := tasksOf(traces, *rangeMiB<<20, *runFiles)
	if err != nil {
		fmt.Fprintf(os.Stderr, "flowstat-beam: %v\n", err)
		os.Exit(1)
	}
	p := build(Options{Out: outDir, IdleTimeout: int64(*idle), ActiveTimeout: int64(*active), Version: version}, tasks)
	started := time.Now()
	if err := beamx.Run(context.Background(), p); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "flowstat-beam: %v\n", err)
		os.Exit(1)
	}
	slog.Info("flowstat-beam done", "traces", len(traces), "out", outDir, "elapsed", time.Since(started).Round(time.Millisecond))
}
