package main

import (
	"path/filepath"
	"slices"
	"testing"

	"flowstat/scripts/gen"
)

// TestMapRunsEqualsAnalyze maps an archive of 12 rotated files, each
// shorter than the idle timeout, in runs of consecutive files (a map task
// of one file, of three, of five, of two, of one): flows go on across the
// files of a run, which its task joins itself, and across runs, whose
// logged packets and open flows come from any file of the run. The merge
// writes what one analyze of the 12 files writes, byte for byte (input
// names, frame numbers and offsets included), for map -j 1 and 2.
func TestMapRunsEqualsAnalyze(t *testing.T) {
	dir := t.TempDir()
	whole := generatedTrace(t, dir, gen.Config{Seed: 17, Flows: 4000, Mix: "default,synflood=10"})
	parts := cutTrace(t, whole, dir, evenCuts(countFrames(t, whole), 12))
	want := filepath.Join(dir, "analyze")
	if code := analyzeInto(t, want, parts...); code != exitOK {
		t.Fatalf("analyze: exit status %d", code)
	}
	runs := [][]string{parts[:1], parts[1:4], parts[4:9], parts[9:11], parts[11:]}
	for _, j := range []string{"1", "2"} {
		t.Run("map -j "+j, func(t *testing.T) {
			var tasks [][]string
			for _, run := range runs {
				tasks = append(tasks, slices.Concat([]string{"-j", j}, run))
			}
			mapMergeSame(t, dir, want, filepath.Join(dir, "merged-"+j), tasks)
		})
	}
}

// TestMapRunsRefused: a trace mapped in a run and again alone, a run
// that spans another task's trace, and a byte range of several traces are
// refused (exit 2, nothing written).
func TestMapRunsRefused(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 5, Flows: 300})
	p := cutTrace(t, trace, dir, evenCuts(countFrames(t, trace), 4))
	maps := mapTasks(t, dir, [][]string{p[:2], p[1:2], p[2:], p[:1], {p[1], p[3]}, p[2:3]}, exitOK)
	slices.Reverse(maps) // in the order of the tasks
	for _, c := range []struct {
		name string
		maps []string
	}{
		{"a trace in a run and alone", []string{maps[0], maps[1], maps[2]}},
		{"a run over another task's trace", []string{maps[3], maps[4], maps[5]}},
	} {
		assertMergeRefused(t, filepath.Join(dir, "out-"+c.name), c.name, c.maps)
	}
	for _, flag := range []string{"--part=1/2", "--range=0:"} {
		out := filepath.Join(dir, "ranged"+flag)
		if code := run([]string{"map", "-q", "-o", out, flag, p[0], p[1]}); code != exitUsage {
			t.Errorf("map %s of two traces: exit status %d, want %d", flag, code, exitUsage)
		}
	}
	if code, stderr := mergeInto(t, filepath.Join(dir, "merged"), []string{maps[2], maps[0]}); code != exitOK {
		t.Errorf("merge of two runs: exit status %d: %s", code, stderr)
	}
}
