package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"flowstat/scripts/gen"
	"flowstat/tables"
)

// mapTasks runs a map task per argument list (each ends with its trace)
// into dir and returns their output directories, last task first.
func mapTasks(t *testing.T, dir string, tasks [][]string, wantCode int) []string {
	t.Helper()
	var maps []string
	for k, args := range tasks {
		m := filepath.Join(dir, fmt.Sprintf("map-%02d", k))
		os.RemoveAll(m)
		if code := run(slices.Concat([]string{"map", "-q", "-o", m}, args)); code != wantCode {
			t.Fatalf("map %v: exit status %d, want %d", args, code, wantCode)
		}
		maps = append([]string{m}, maps...)
	}
	return maps
}

// inParts returns the arguments of n map tasks that read trace in n
// byte ranges (--part), each with args.
func inParts(trace string, n int, args ...string) [][]string {
	var tasks [][]string
	for i := 1; i <= n; i++ {
		tasks = append(tasks, slices.Concat(args, []string{"--part", fmt.Sprintf("%d/%d", i, n), trace}))
	}
	return tasks
}

// mergeInto merges map task outputs into out and returns the exit status
// and what merge wrote on stderr.
func mergeInto(t *testing.T, out string, maps []string, args ...string) (int, string) {
	t.Helper()
	return runCaptured(t, slices.Concat([]string{"merge", "-q", "-o", out}, args, maps)...)
}

// assertMergeRefused merges with args (map task outputs and flags) into
// out, for the case name: merge must refuse them (exit 2) and write no
// flows.parquet.
func assertMergeRefused(t *testing.T, out, name string, args []string) {
	t.Helper()
	if code, stderr := mergeInto(t, out, args); code != exitUsage {
		t.Errorf("%s: exit status %d, want %d (%s)", name, code, exitUsage, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, tables.FlowsFile)); err == nil {
		t.Errorf("%s: %s written", name, tables.FlowsFile)
	}
}

// mapMergeSame runs the map tasks into dir, merges their outputs into
// got with args, and checks that the merge writes what analyze wrote into
// want.
func mapMergeSame(t *testing.T, dir, want, got string, tasks [][]string, args ...string) {
	t.Helper()
	maps := mapTasks(t, dir, tasks, exitOK)
	if code, stderr := mergeInto(t, got, maps, args...); code != exitOK {
		t.Fatalf("merge: exit status %d: %s", code, stderr)
	}
	assertSameOutputs(t, want, got)
}

// TestMapRangesEqualsAnalyze reads a trace in byte ranges, each by a map
// task of its own, cut anywhere (inside records, handshakes and long
// flows; the split reader's chunks made small, so that each range is read
// in many): the merge writes what one analyze of the whole trace writes,
// frame numbers included, for -j 1 and 2, for 2 to 13 ranges, beside a
// file mapped whole, and for pcapng.
func TestMapRangesEqualsAnalyze(t *testing.T) {
	defer func(size, part int64) { splitChunkSize, minPartBytes = size, part }(splitChunkSize, minPartBytes)
	splitChunkSize, minPartBytes = 4099, 1
	dir := t.TempDir()
	whole := generatedTrace(t, dir, gen.Config{Seed: 19, Flows: 3000, Mix: "default,synflood=10"})
	want := filepath.Join(dir, "analyze")
	if code := analyzeInto(t, want, "-i", "1s", whole); code != exitOK {
		t.Fatalf("analyze: exit status %d", code)
	}
	for _, n := range []int{2, 5, 13} {
		for _, j := range []string{"1", "2"} {
			t.Run(fmt.Sprintf("%d ranges, -j %s", n, j), func(t *testing.T) {
				sub := filepath.Join(dir, fmt.Sprint(n, j))
				mapMergeSame(t, sub, want, filepath.Join(sub, "merged"), inParts(whole, n, "-j", j), "-i", "1s")
			})
		}
	}
	t.Run("a file whole, the next in ranges", func(t *testing.T) {
		sub := filepath.Join(dir, "two")
		os.MkdirAll(sub, 0o755)
		parts := cutTrace(t, whole, sub, evenCuts(countFrames(t, whole), 2))
		want := filepath.Join(sub, "analyze")
		if code := analyzeInto(t, want, "-i", "1s", parts[0], parts[1]); code != exitOK {
			t.Fatalf("analyze: exit status %d", code)
		}
		mapMergeSame(t, sub, want, filepath.Join(sub, "merged"), append([][]string{{parts[0]}}, inParts(parts[1], 3)...), "-i", "1s")
	})
	t.Run("pcapng", func(t *testing.T) {
		trace := realTrace(t, "amp.UDP.snmp.src161.pcapng")
		sub := filepath.Join(dir, "ng")
		want := filepath.Join(sub, "analyze")
		if code := analyzeInto(t, want, "-i", "1s", trace); code != exitOK {
			t.Fatalf("analyze: exit status %d", code)
		}
		mapMergeSame(t, sub, want, filepath.Join(sub, "merged"), inParts(trace, 4), "-i", "1s")
	})
}

// TestMapRangesDamaged: damage inside a range is what analyze makes of
// it (exit 3, the same outputs and damage list); damage across two
// ranges' boundary, where the range after cannot know where a pass
// would have gone on, is refused by merge, which names the range to map
// instead of the two, and that range merges as analyze reads the file.
func TestMapRangesDamaged(t *testing.T) {
	defer func(size, part int64) { splitChunkSize, minPartBytes = size, part }(splitChunkSize, minPartBytes)
	splitChunkSize, minPartBytes = 4099, 1
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 23, Flows: 2000})
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	damage := func(at int) {
		for i := range 3000 {
			data[at+i] = byte(i*7 + 13)
		}
	}
	third := len(data) / 3
	damage(third + third/2) // inside the second of three ranges
	damage(2*third - 1500)  // across the second and the third
	if err := os.WriteFile(trace, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "analyze")
	if code := analyzeInto(t, want, "-i", "1s", trace); code != exitDamaged {
		t.Fatalf("analyze: exit status %d, want %d", code, exitDamaged)
	}

	tasks := inParts(trace, 3)
	var maps []string
	for k, task := range tasks {
		code := exitOK
		if k == 1 {
			code = exitDamaged
		}
		maps = append(maps, mapTasks(t, filepath.Join(dir, fmt.Sprint("part", k)), [][]string{task}, code)...)
	}
	code, stderr := mergeInto(t, filepath.Join(dir, "refused"), maps, "-i", "1s")
	union := fmt.Sprintf("map %d:%d as one range", third, len(data))
	if code != exitUsage || !strings.Contains(stderr, union) {
		t.Fatalf("merge over damage across ranges: exit status %d, want %d, and %q in:\n%s", code, exitUsage, union, stderr)
	}
	last := mapTasks(t, filepath.Join(dir, "union"), [][]string{{"--range", fmt.Sprintf("%d:", third), trace}}, exitDamaged)
	got := filepath.Join(dir, "merged")
	if code, stderr := mergeInto(t, got, append(last, maps[0]), "-i", "1s"); code != exitDamaged {
		t.Fatalf("merge: exit status %d, want %d: %s", code, exitDamaged, stderr)
	}
	assertSameOutputs(t, want, got)
	_, a := flowsAndSummary(t, want)
	_, b := flowsAndSummary(t, got)
	if len(a.Damage) != 2 || fmt.Sprint(a.Damage) != fmt.Sprint(b.Damage) {
		t.Errorf("damage %+v, analyze's %+v", b.Damage, a.Damage)
	}
}

// TestMapRangesRefused: ranges that leave bytes out, overlap, or beside
// the whole file mapped too, are refused with exit status 2; so are
// ranges outside the file and of a compressed one, and ranges whose
// packets are not in time order across their boundary. Merged into a dataset,
// a file's ranges are one input of it, which cannot be added again.
func TestMapRangesRefused(t *testing.T) {
	defer func(part int64) { minPartBytes = part }(minPartBytes)
	minPartBytes = 1
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 29, Flows: 500})
	info, err := os.Stat(trace)
	if err != nil {
		t.Fatal(err)
	}
	size := info.Size()
	half := fmt.Sprint(size / 2)
	ranges := mapTasks(t, filepath.Join(dir, "ranges"), [][]string{
		{"--range", "0:" + half, trace}, {"--range", half + ":", trace}, {"--part", "2/3", trace}, {trace}}, exitOK)
	first, second, middle, whole := ranges[3], ranges[2], ranges[1], ranges[0]
	for _, c := range []struct {
		name string
		maps []string
		says string
	}{
		{"a range left out", []string{first}, "were not mapped"},
		{"the first range left out", []string{second}, "were not mapped"},
		{"overlapping ranges", []string{first, middle, second}, "mapped twice"},
		{"ranges and the whole file", []string{first, second, whole}, "mapped twice"},
	} {
		code, stderr := mergeInto(t, filepath.Join(dir, "out"), c.maps)
		if code != exitUsage || !strings.Contains(stderr, c.says) {
			t.Errorf("%s: exit status %d, want %d, and %q in:\n%s", c.name, code, exitUsage, c.says, stderr)
		}
	}
	if code, stderr := mergeInto(t, filepath.Join(dir, "out"), []string{second, first}); code != exitOK {
		t.Errorf("the two halves: exit status %d: %s", code, stderr)
	}
	// Into a dataset, the file is one input, whose ranges cannot be added
	// again.
	ds := filepath.Join(dir, "dataset")
	if code, stderr := mergeInto(t, filepath.Join(dir, "out-ds"), []string{second, first}, "--dataset", ds); code != exitOK {
		t.Errorf("the two halves into a dataset: exit status %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(ds, "_inputs.jsonl")); err != nil || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("the dataset's inputs: %q, %v; want the file once", b, err)
	}
	if code, stderr := mergeInto(t, filepath.Join(dir, "out-ds2"), []string{second, first}, "--dataset", ds); code != exitUsage || !strings.Contains(stderr, "already in dataset") {
		t.Errorf("the two halves into the dataset again: exit status %d, want %d: %s", code, exitUsage, stderr)
	}
	// A file whose second half came before its first in time, in a range
	// each: one pass goes back in time from one to the other.
	halves := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 2))
	a, errA := os.ReadFile(halves[0])
	b, errB := os.ReadFile(halves[1])
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	swapped := filepath.Join(dir, "swapped.pcap")
	if err := os.WriteFile(swapped, slices.Concat(b, a[24:]), 0o644); err != nil {
		t.Fatal(err)
	}
	junction := fmt.Sprint(len(b))
	maps := mapTasks(t, filepath.Join(dir, "swapped"), [][]string{{"--range", "0:" + junction, swapped}, {"--range", junction + ":", swapped}}, exitOK)
	if code, stderr := mergeInto(t, filepath.Join(dir, "out"), maps); code != exitUsage || !strings.Contains(stderr, "not in time order") {
		t.Errorf("ranges out of time order: exit status %d, want %d: %s", code, exitUsage, stderr)
	}
	gz := trace + ".gz"
	writeGzip(t, trace, gz)
	for _, args := range [][]string{
		{"--range", fmt.Sprintf("0:%d", size+1), trace}, {"--range", "5:5", trace}, {"--part", "4/3", trace},
		{"--part", "1/2", "--range", "0:10", trace}, {"--part", "1/2", gz},
	} {
		if code := run(slices.Concat([]string{"map", "-q", "-o", filepath.Join(dir, "bad")}, args)); code != exitUsage {
			t.Errorf("map %v: exit status %d, want %d", args, code, exitUsage)
		}
	}
}

// appendARP appends n ARP frames to the classic pcap at path, a minute
// apart after its last record: frames that make no packet for the flow
// table, which keep a capture going after its last IP packet.
func appendARP(t *testing.T, path string, n int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := pcapRecords(data)
	last := binary.LittleEndian.Uint32(data[recs[len(recs)-2]:])
	frame := make([]byte, 42) // Ethernet and an ARP request
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1})
	for i := 1; i <= n; i++ {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], last+uint32(60*i))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(frame)))
		data = append(append(data, h[:]...), frame...)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMapRangesNonIPTail: a capture that goes on with non-IP frames for
// minutes after its last IP packet ends its open flows as analyze does
// (at the table's newest packet: end reason eof, not idle), whether its
// ranges or files are mapped, the last range or file holding only those
// frames.
func TestMapRangesNonIPTail(t *testing.T) {
	defer func(part int64) { minPartBytes = part }(minPartBytes)
	minPartBytes = 1
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 31, Flows: 600})
	parts := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 2))
	appendARP(t, trace, 200)
	appendARP(t, parts[1], 3)
	tail := filepath.Join(dir, "tail.pcap") // ARP frames alone, after parts[1]
	data, err := os.ReadFile(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	recs := pcapRecords(data)
	if err := os.WriteFile(tail, slices.Concat(data[:24], data[recs[len(recs)-4]:]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(parts[1], data[:recs[len(recs)-4]], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		inputs []string
		tasks  [][]string
	}{
		{"ranges", []string{trace}, inParts(trace, 3)},
		{"files", []string{parts[0], parts[1], tail}, [][]string{{parts[0]}, {parts[1]}, {tail}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, c.name)
			want := filepath.Join(sub, "analyze")
			if code := analyzeInto(t, want, append([]string{"-i", "1s"}, c.inputs...)...); code != exitOK {
				t.Fatalf("analyze: exit status %d", code)
			}
			if _, s := flowsAndSummary(t, want); s.Flows.ByEnd["eof"] == 0 {
				t.Fatalf("no flow ends at eof in analyze's run: the test makes no case (%v)", s.Flows.ByEnd)
			}
			mapMergeSame(t, sub, want, filepath.Join(sub, "merged"), c.tasks, "-i", "1s")
		})
	}
}

// TestMapPartsOfSmallFiles: --part I/N of files smaller than N parts of
// minPartBytes reads them in fewer parts, the parts past them empty, and
// merges as analyze reads them: a scheduler can give every file of an
// archive the same N. So do real captures of a few records, where a range
// of a handful of records may have no chain to start from.
func TestMapPartsOfSmallFiles(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 37, Flows: 400})
	info, err := os.Stat(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer func(part int64) { minPartBytes = part }(minPartBytes)
	minPartBytes = info.Size() / 2 // two parts of it
	inputs := []string{trace}
	if _, err := os.Stat(filepath.Join(sharedDir(), "real")); err == nil {
		inputs = append(inputs, realTrace(t, "cs-httpServerCredentials.pcap"))
	}
	for k, in := range inputs {
		sub := filepath.Join(dir, fmt.Sprint(k))
		want := filepath.Join(sub, "analyze")
		if code := analyzeInto(t, want, "-i", "1s", in); code != exitOK {
			t.Fatalf("analyze %s: exit status %d", in, code)
		}
		maps := mapTasks(t, sub, inParts(in, 5), exitOK)
		empty := 0
		for _, m := range maps {
			b, err := os.ReadFile(filepath.Join(m, "map.json"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(`"first": -1`)) {
				empty++
			}
		}
		if k == 0 && empty != 3 {
			t.Errorf("%s: %d empty parts of 5, want 3 (two parts of minPartBytes)", in, empty)
		}
		got := filepath.Join(sub, "merged")
		if code, stderr := mergeInto(t, got, maps, "-i", "1s"); code != exitOK {
			t.Fatalf("merge %s: exit status %d: %s", in, code, stderr)
		}
		assertSameOutputs(t, want, got)
	}
}
