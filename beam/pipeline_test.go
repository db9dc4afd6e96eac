package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/reader"
	"flowstat/scripts/gen"
	"flowstat/tables"
)

// TestMain initializes Beam, as a pipeline's main does.
func TestMain(m *testing.M) { ptest.Main(m) }

// TestBeamEqualsAnalyze cuts a generated trace (long and short flows,
// handshakes, a SYN flood) into rotated files, 6 and 25 of them, 2 read
// in byte ranges (4 each), and 12 mapped in runs of 4 (3 tasks), runs the
// Beam pipeline over them on the
// prism runner, and holds its flows (every shard's) to one flowstat
// analyze over the same files, field by field (frame numbers included)
// and with each flow's input, and its traffic per destination to sums
// over analyze's flows.
func TestBeamEqualsAnalyze(t *testing.T) {
	dir := t.TempDir()
	data, _, err := gen.Generate(gen.Config{Seed: 21, Flows: 3000, Mix: "default,synflood=10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ files, rangesEach, runFiles int }{{6, 1, 1}, {25, 1, 1}, {2, 4, 1}, {12, 1, 4}} {
		t.Run(fmt.Sprintf("%d files, %d ranges each, runs of %d", c.files, c.rangesEach, c.runFiles), func(t *testing.T) {
			n := c.files
			sub := filepath.Join(dir, fmt.Sprint(n))
			parts := cutPcap(t, data, sub, n)
			want := analyzeFlows(t, filepath.Join(sub, "analyze"), parts)
			rangeBytes := int64(0)
			for _, p := range parts {
				if info, err := os.Stat(p); err == nil && c.rangesEach > 1 {
					rangeBytes = max(rangeBytes, (info.Size()+int64(c.rangesEach)-1)/int64(c.rangesEach))
				}
			}
			tasks, err := tasksOf(parts, rangeBytes, c.runFiles)
			if want := c.files * c.rangesEach / c.runFiles; err != nil || len(tasks) != want {
				t.Fatalf("%d map tasks (%v), want %d", len(tasks), err, want)
			}

			out := filepath.Join(sub, "beam")
			if err := os.MkdirAll(filepath.Join(out, "flows"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := build(Options{Out: out, IdleTimeout: int64(flows.DefaultIdleTimeout), Version: version}, tasks)
			if _, err := prism.Execute(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			shards, _ := filepath.Glob(filepath.Join(out, "flows", "*.parquet"))
			var got []located
			for _, s := range shards {
				got = append(got, readLocated(t, s)...)
			}
			sortLocated(got)
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("%d flows in %d shards, analyze %d", len(got), len(shards), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("flow %d:\nbeam    %+v\nanalyze %+v", i, got[i], want[i])
				}
			}
			sums := map[string]traffic{}
			for _, l := range want {
				r := &l.r
				k := fmt.Sprintf("%s|%d|%d", r.DstIP, r.DstPort, r.Proto)
				sums[k] = addTraffic(sums[k], traffic{1, int64(r.Packets[0] + r.Packets[1]), int64(r.Bytes[0] + r.Bytes[1])})
			}
			rows, err := parquet.ReadFile[destinationRow](filepath.Join(out, "destinations.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(sums) {
				t.Errorf("%d destinations, analyze's flows have %d", len(rows), len(sums))
			}
			for _, row := range rows {
				if s := sums[row.Destination]; s != (traffic{row.Flows, row.Packets, row.Bytes}) {
					t.Errorf("destination %s: %+v, analyze's flows %+v", row.Destination, row, s)
				}
			}
		})
	}
}

// located is a flow and the input it came from.
type located struct {
	r     flows.Record
	input string
}

func readLocated(t *testing.T, path string) []located {
	t.Helper()
	var out []located
	err := tables.EachFlowLocated(path, func(r *flows.Record, input string) error {
		out = append(out, located{*r, input})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortLocated(ls []located) {
	slices.SortFunc(ls, func(a, b located) int { return tables.CompareFlows(&a.r, &b.r) })
	for i := range ls {
		ls[i].r.Input = 0 // an index into each file's own list: the path is input
	}
}

// analyzeFlows runs flowstat analyze over paths into out and returns its
// flows.
func analyzeFlows(t *testing.T, out string, paths []string) []located {
	t.Helper()
	filter, err := reader.NewFilter("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &pipeline.Config{Out: out, Workers: 2, Version: version, NoReport: true, Filter: filter,
		Interval: pipeline.DefaultMapInterval, Flows: flows.Options{Interval: pipeline.DefaultMapInterval}}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Analyze(context.Background(), cfg, paths)
	if err == nil {
		err = pipeline.WriteOutputs(cfg, res)
	}
	if err != nil {
		t.Fatal(err)
	}
	ls := readLocated(t, filepath.Join(out, tables.FlowsFile))
	sortLocated(ls)
	return ls
}

// cutPcap cuts a classic pcap into n files of about as many frames,
// written into dir, and returns their paths in time order.
func cutPcap(t *testing.T, data []byte, dir string, n int) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const header = 24
	var starts []int
	for at := header; at < len(data); at += 16 + int(binary.LittleEndian.Uint32(data[at+8:])) {
		starts = append(starts, at)
	}
	var paths []string
	for k := range n {
		from, to := starts[k*len(starts)/n], len(data)
		if k < n-1 {
			to = starts[(k+1)*len(starts)/n]
		}
		p := filepath.Join(dir, fmt.Sprintf("part-%02d.pcap", k))
		if err := os.WriteFile(p, slices.Concat(data[:header], data[from:to]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}
