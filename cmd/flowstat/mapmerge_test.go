package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"flowstat/scripts/gen"
	"flowstat/tables"
)

// cutTrace cuts the classic pcap at path into files of the frames
// between the given frame indexes (each cut starts a file), named
// part-N.pcap in dir, and returns their paths in time order.
func cutTrace(t *testing.T, path, dir string, cuts []int) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const header = 24
	starts := pcapRecords(data)
	starts = starts[:len(starts)-1] // the end
	bounds := append(append([]int{0}, cuts...), len(starts))
	var parts []string
	for k := range len(bounds) - 1 {
		from, to := starts[bounds[k]], len(data)
		if bounds[k+1] < len(starts) {
			to = starts[bounds[k+1]]
		}
		p := filepath.Join(dir, fmt.Sprintf("part-%02d.pcap", k))
		if err := os.WriteFile(p, slices.Concat(data[:header], data[from:to]), 0o644); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	return parts
}

// evenCuts returns the frame indexes that cut frames into n files of
// about as many frames.
func evenCuts(frames, n int) []int {
	var cuts []int
	for k := 1; k < n; k++ {
		cuts = append(cuts, k*frames/n)
	}
	return cuts
}

// mapAndMerge runs a map task on each part (with -j mapJ and args), then
// merges their outputs, given newest first, into out with mergeArgs.
func mapAndMerge(t *testing.T, dir, out string, parts []string, mapArgs, mergeArgs []string) {
	t.Helper()
	var maps []string
	for k, p := range parts {
		m := filepath.Join(dir, fmt.Sprintf("map-%02d", k))
		os.RemoveAll(m)
		if code := run(slices.Concat([]string{"map", "-q", "-o", m}, mapArgs, []string{p})); code != exitOK {
			t.Fatalf("map %s: exit status %d", p, code)
		}
		maps = append([]string{m}, maps...)
	}
	if code := run(slices.Concat([]string{"merge", "-q", "-o", out}, mergeArgs, maps)); code != exitOK {
		t.Fatalf("merge: exit status %d", code)
	}
}

// assertSameOutputs checks that the outputs in got are those in want:
// every table byte for byte, and summary.json's counts.
func assertSameOutputs(t *testing.T, want, got string) {
	t.Helper()
	for _, table := range []string{tables.FlowsFile, "intervals.parquet", "destinations.parquet", "cdf.parquet",
		"findings.parquet", "finding_sources.parquet", "timelines.parquet", "report.md"} {
		a, errA := os.ReadFile(filepath.Join(want, table))
		b, errB := os.ReadFile(filepath.Join(got, table))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from analyze's (%v, %v)", table, errA, errB)
		}
	}
	_, a := flowsAndSummary(t, want)
	_, b := flowsAndSummary(t, got)
	if a.Packets != b.Packets || !slices.EqualFunc(a.Inputs, b.Inputs, func(x, y tables.Input) bool { return fmt.Sprint(x) == fmt.Sprint(y) }) {
		t.Errorf("summary: packets %+v of %d inputs, analyze's %+v of %d", b.Packets, len(b.Inputs), a.Packets, len(a.Inputs))
	}
	if fmt.Sprint(a.Flows, a.Peak, a.FragmentTargets, a.Options.IntervalS) != fmt.Sprint(b.Flows, b.Peak, b.FragmentTargets, b.Options.IntervalS) {
		t.Errorf("summary: flows %+v, peak %+v, fragments %+v, interval %v s; analyze's %+v, %+v, %+v, %v s",
			b.Flows, b.Peak, b.FragmentTargets, b.Options.IntervalS, a.Flows, a.Peak, a.FragmentTargets, a.Options.IntervalS)
	}
}

// TestMapMergeEqualsAnalyze cuts a generated trace of long and short
// flows, handshakes and a SYN flood into rotated files, in 7 pieces (the
// last three two minutes later, after an idle gap) and in 40 (files far
// shorter than the idle timeout, which flows cross several of), maps
// each piece alone and merges them: the outputs are
// those of one analyze over the pieces, with the map tasks' windows
// (1 s) and with the merge's own (auto, several seconds), and whatever
// the map tasks' -j.
func TestMapMergeEqualsAnalyze(t *testing.T) {
	dir := t.TempDir()
	whole := generatedTrace(t, dir, gen.Config{Seed: 13, Flows: 4000, Mix: "default,synflood=10"})
	frames := countFrames(t, whole)
	for _, n := range []int{3, 7, 40} {
		sub := filepath.Join(dir, fmt.Sprint(n))
		os.MkdirAll(sub, 0o755)
		parts := cutTrace(t, whole, sub, evenCuts(frames, n))
		if n == 7 {
			for _, p := range parts[4:] {
				delayTrace(t, p, 120)
			}
		}
		for _, iv := range [][]string{{"-i", "1s"}, nil} {
			want := filepath.Join(sub, fmt.Sprint("analyze", len(iv)))
			if code := analyzeInto(t, want, append(slices.Clone(iv), parts...)...); code != exitOK {
				t.Fatalf("analyze: exit status %d", code)
			}
			for _, j := range []string{"1", "2"} {
				t.Run(fmt.Sprintf("%d files, interval %q, map -j %s", n, iv, j), func(t *testing.T) {
					got := filepath.Join(sub, fmt.Sprint("merged", len(iv), j))
					mapAndMerge(t, sub, got, parts, []string{"-j", j}, iv)
					assertSameOutputs(t, want, got)
				})
			}
		}
	}
}

// countFrames counts the records of a classic pcap.
func countFrames(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(pcapRecords(data)) - 1 // and the end
}

// TestMapMergeRealTraces cuts each real capture into 4 files (through
// its handshakes, floods and fragmented answers) and merges their map
// tasks, a task per file and in runs of 1, 2 and 1 files: the outputs are
// one analyze's over the pieces.
func TestMapMergeRealTraces(t *testing.T) {
	for _, name := range []string{"amp.TCP.reflection.SYNACK.pcap", "amp.dns.RRSIG.fragmented.pcap",
		"cs-httpServerCredentials.pcap", "pkt.TCP.synflood.spoofed.pcap", "ps-tcp_syn.pcap"} {
		t.Run(name, func(t *testing.T) {
			trace := realTrace(t, name)
			dir := t.TempDir()
			parts := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 4))
			want := filepath.Join(dir, "analyze")
			if code := analyzeInto(t, want, append([]string{"-i", "1s"}, parts...)...); code != exitOK {
				t.Fatalf("analyze: exit status %d", code)
			}
			got := filepath.Join(dir, "merged")
			mapAndMerge(t, dir, got, parts, nil, []string{"-i", "1s"})
			assertSameOutputs(t, want, got)
			mapMergeSame(t, dir, want, filepath.Join(dir, "runs"), [][]string{parts[:1], parts[1:3], parts[3:]}, "-i", "1s")
		})
	}
}

// TestMergeRefuses: outputs that cannot be joined are refused with exit
// status 2 and nothing written: the same trace mapped twice (inputs that
// overlap in time), map tasks of different options, a directory that is
// no finished map task's, and map's own misuse.
func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 5, Flows: 300})
	parts := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 2))
	mapped := func(name string, args ...string) string {
		m := filepath.Join(dir, name)
		if code := run(slices.Concat([]string{"map", "-q", "-o", m}, args)); code != exitOK {
			t.Fatalf("map %v: exit status %d", args, code)
		}
		return m
	}
	a, again := mapped("a", parts[0]), mapped("again", parts[0])
	b, b5 := mapped("b", parts[1]), mapped("b5", "--idle-timeout", "5s", parts[1])
	for _, c := range []struct {
		name string
		args []string
	}{
		{"an input mapped twice", []string{a, again}},
		{"overlapping inputs", []string{a, mapped("whole", trace)}},
		{"other options", []string{a, b5}},
		{"not a map task's output", []string{a, b, dir}},
		{"interval not a multiple", []string{"-i", "1500ms", a, b}},
		{"a flow option", []string{"--idle-timeout", "5s", a, b}},
	} {
		assertMergeRefused(t, filepath.Join(dir, "out-"+c.name), c.name, c.args)
	}
	if code := run([]string{"map", "-q", "-o", a, parts[1]}); code != exitUsage {
		t.Errorf("map into a finished map task's directory: exit status %d", code)
	}
	if code := run([]string{"map", "-q", "-o", filepath.Join(dir, "stdin"), "-"}); code != exitUsage {
		t.Errorf("map of standard input: exit status %d, want %d", code, exitUsage)
	}
	for _, args := range [][]string{{"--synflood-flows", "5"}, {"--community-id-seed", "1"}, {"--no-report"}} {
		if code := run(slices.Concat([]string{"map", "-q", "-o", filepath.Join(dir, "report-flag")}, args, []string{parts[1]})); code != exitUsage {
			t.Errorf("map %v: exit status %d, want %d", args, code, exitUsage)
		}
	}
	// Each lists its own flags, not the other's.
	for cmd, c := range map[string]struct{ has, lacks string }{"map": {"--bpf", "--synflood-flows"}, "merge": {"--synflood-flows", "--bpf"}} {
		_, help := runCaptured(t, cmd, "--help")
		if !strings.Contains(help, c.has) || strings.Contains(help, c.lacks) {
			t.Errorf("%s --help: want %s listed, %s not:\n%s", cmd, c.has, c.lacks, help)
		}
	}
	out := filepath.Join(dir, "merged")
	if code := run([]string{"merge", "-q", "-o", out, b, a}); code != exitOK {
		t.Errorf("merge of a and b: exit status %d", code)
	}
}

// TestMergeIntoDataset: merge --dataset adds the merged flows to a
// partitioned dataset, which DuckDB reads as flows.parquet's rows; the
// inputs are known there by their identities, which the map tasks
// recorded, so merging them again, or analyzing one of them into it, is
// refused.
func TestMergeIntoDataset(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 6, Flows: 500})
	parts := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 3))
	ds, out := filepath.Join(dir, "ds"), filepath.Join(dir, "out")
	mapAndMerge(t, dir, out, parts, nil, []string{"--dataset", ds})
	db := openDuckDB(t)
	rows := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s/flows/**/*.parquet', hive_partitioning = true)", ds))
	if want := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM '%s'", filepath.Join(out, tables.FlowsFile))); rows != want || rows == 0 {
		t.Errorf("the dataset has %d flows, flows.parquet %d", rows, want)
	}
	maps := []string{filepath.Join(dir, "map-00"), filepath.Join(dir, "map-01"), filepath.Join(dir, "map-02")}
	if code := run(slices.Concat([]string{"merge", "-q", "-o", filepath.Join(dir, "again"), "--dataset", ds}, maps)); code != exitUsage {
		t.Errorf("merging the same map tasks into the dataset again: exit status %d, want %d", code, exitUsage)
	}
	if code := analyzeInto(t, filepath.Join(dir, "one"), "--dataset", ds, parts[1]); code != exitUsage {
		t.Errorf("analyzing a merged input into the dataset: exit status %d, want %d", code, exitUsage)
	}
}

// delayTrace moves every frame of the classic pcap at path by seconds.
func delayTrace(t *testing.T, path string, seconds uint32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := pcapRecords(data)
	for _, at := range recs[:len(recs)-1] {
		binary.LittleEndian.PutUint32(data[at:], binary.LittleEndian.Uint32(data[at:])+seconds)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMapMergeDamagedAndCompressed: a map task reads a gzipped piece and
// a damaged one as analyze does; map and merge exit 3 (outputs written,
// some input damaged) as analyze does, and merge's outputs are analyze's,
// the damage listed in both summaries.
func TestMapMergeDamagedAndCompressed(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 17, Flows: 2000})
	parts := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 3))
	writeGzip(t, parts[1], parts[1]+".gz")
	parts[1] += ".gz"
	data, err := os.ReadFile(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		data[len(data)/2+i] = byte(i*7 + 13)
	}
	if err := os.WriteFile(parts[2], data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "analyze")
	if code := analyzeInto(t, want, append([]string{"-i", "1s"}, parts...)...); code != exitDamaged {
		t.Fatalf("analyze: exit status %d, want %d", code, exitDamaged)
	}
	var maps []string
	for k, p := range parts {
		m := filepath.Join(dir, fmt.Sprint("map", k))
		want := exitOK
		if k == 2 {
			want = exitDamaged
		}
		if code := run([]string{"map", "-q", "-o", m, p}); code != want {
			t.Fatalf("map %s: exit status %d, want %d", p, code, want)
		}
		maps = append(maps, m)
	}
	got := filepath.Join(dir, "merged")
	if code := run(slices.Concat([]string{"merge", "-q", "-i", "1s", "-o", got}, maps)); code != exitDamaged {
		t.Fatalf("merge: exit status %d, want %d", code, exitDamaged)
	}
	assertSameOutputs(t, want, got)
	_, a := flowsAndSummary(t, want)
	_, b := flowsAndSummary(t, got)
	if len(a.Damage) == 0 || fmt.Sprint(a.Damage) != fmt.Sprint(b.Damage) {
		t.Errorf("damage %+v, analyze's %+v", b.Damage, a.Damage)
	}
}

// TestMapInterrupted stops a map task with SIGTERM inside a long damaged
// region: it exits 130 at once and leaves nothing of its own, while a
// temporary directory of another map task writing beside it stays.
func TestMapInterrupted(t *testing.T) {
	dir := t.TempDir()
	trace := traceWithHole(t, dir)
	maps := filepath.Join(dir, "maps")
	other := filepath.Join(maps, ".flowstat-map-other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stderr, _ := terminatedAfterASecond(t, exec.Command(flowstatBinary(t), "map", "-o", filepath.Join(maps, "m"), trace))
	if code != exitInterrupted {
		t.Fatalf("exit status %d, want %d (did it end before the signal?); stderr:\n%s", code, exitInterrupted, stderr)
	}
	left, _ := os.ReadDir(maps)
	if len(left) != 1 || left[0].Name() != filepath.Base(other) {
		t.Errorf("left in the map tasks' directory: %v; want only the other task's temporary", left)
	}
}
