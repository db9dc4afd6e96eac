package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"flowstat/pipeline"
	"flowstat/report"
	"flowstat/scripts/gen"
	"flowstat/tables"
)

// generatedTrace writes a trace made by the generator into dir.
func generatedTrace(t *testing.T, dir string, cfg gen.Config) string {
	t.Helper()
	path, _ := generatedTruth(t, dir, cfg)
	return path
}

// generatedTruth writes a generated trace into dir and returns its path
// and ground truth.
func generatedTruth(t *testing.T, dir string, cfg gen.Config) (string, *gen.Truth) {
	t.Helper()
	path := filepath.Join(dir, "generated.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := gen.Write(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, truth
}

// flowsAndSummary reads the flows.parquet and summary.json of an output
// directory.
func flowsAndSummary(t *testing.T, dir string) ([]byte, *tables.Summary) {
	t.Helper()
	flows, err := os.ReadFile(filepath.Join(dir, tables.FlowsFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tables.ReadSummary(filepath.Join(dir, tables.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	return flows, s
}

// TestWorkersGiveIdenticalOutput runs the same traces with -j 1, 2, 3 and 8
// and requires byte-identical flows.parquet and summary counts.
func TestWorkersGiveIdenticalOutput(t *testing.T) {
	dir := t.TempDir()
	generated := generatedTrace(t, dir, gen.Config{Seed: 11, Flows: 4000, Mix: "default,synflood=10"})
	traces := map[string]string{"generated": generated}
	if _, err := os.Stat(filepath.Join(sharedDir(), "real")); err == nil {
		for _, name := range []string{"amp.dns.RRSIG.fragmented.pcap", "na-url_redirection.pcapng", "amp.UDP.snmp.src161.pcapng",
			"pkt.TCP.synflood.spoofed.pcap"} {
			traces[name] = filepath.Join(sharedDir(), "real", name)
		}
	} else {
		t.Logf("shared traces absent (%v): checking the generated trace only", err)
	}
	// With more than one worker a single classic pcap file is read in
	// chunks; small chunks put their boundaries inside records, flows and
	// handshakes.
	defer func(size int64) { splitChunkSize = size }(splitChunkSize)
	for name, trace := range traces {
		t.Run(name, func(t *testing.T) {
			var first []byte
			for _, run := range []struct {
				j     int
				chunk int64
			}{{1, 0}, {2, 4099}, {3, 65536}, {8, 1000}, {2, 8 << 20}} {
				if run.chunk > 0 {
					splitChunkSize = run.chunk
				}
				out := filepath.Join(t.TempDir(), fmt.Sprint(run.j))
				if code := analyzeInto(t, out, "-j", fmt.Sprint(run.j), "--no-report", trace); code != exitOK {
					t.Fatalf("-j %d: exit status %d", run.j, code)
				}
				data, err := os.ReadFile(filepath.Join(out, "flows.parquet"))
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = data
				} else if !bytes.Equal(first, data) {
					t.Errorf("-j %d, chunks of %d bytes: flows.parquet differs from -j 1's", run.j, run.chunk)
				}
			}
		})
	}
}

// TestWorkersBehindStream reads inputs that are not split, compressed
// ones and several merged by time, one of them damaged, with -j 1, 2, 3
// and 8: with more than one worker their frames are decoded behind the
// reading, in batches as small as one frame, and the flows, the counts,
// the damage and the exit status must be those of one goroutine.
func TestWorkersBehindStream(t *testing.T) {
	dir := t.TempDir()
	generated := generatedTrace(t, dir, gen.Config{Seed: 12, Flows: 3000, Mix: "default,synflood=10"})
	compressed := filepath.Join(dir, "generated.pcap.gz")
	writeGzip(t, generated, compressed)
	inputs := map[string][]string{
		"gzip":                      {compressed},
		"three merged, one damaged": {compressed, "../../testdata/damaged/truncated.pcap.zst", "../../testdata/damaged/garbage-inserted.pcapng"},
	}
	defer func(frames int) { streamBatchFrames = frames }(streamBatchFrames)
	for name, paths := range inputs {
		t.Run(name, func(t *testing.T) {
			var firstFlows []byte
			var firstSummary *tables.Summary
			firstCode := -1
			for _, run := range []struct{ j, frames int }{{1, 8192}, {2, 8192}, {3, 1}, {8, 100}} {
				streamBatchFrames = run.frames
				out := filepath.Join(t.TempDir(), fmt.Sprint(run.j))
				code := analyzeInto(t, out, append([]string{"-j", fmt.Sprint(run.j), "--no-report"}, paths...)...)
				flows, s := flowsAndSummary(t, out)
				if firstCode < 0 {
					firstFlows, firstSummary, firstCode = flows, s, code
					if s.Packets.Read == 0 || (len(paths) > 1 && len(s.Damage) == 0) {
						t.Fatalf("-j 1: %d packets read, damage %v", s.Packets.Read, s.Damage)
					}
					continue
				}
				if code != firstCode {
					t.Errorf("-j %d: exit status %d, -j 1 gave %d", run.j, code, firstCode)
				}
				if !bytes.Equal(flows, firstFlows) {
					t.Errorf("-j %d, batches of %d frames: flows.parquet differs from -j 1's", run.j, run.frames)
				}
				if s.Packets != firstSummary.Packets || !slices.Equal(s.Damage, firstSummary.Damage) ||
					fmt.Sprint(s.Inputs) != fmt.Sprint(firstSummary.Inputs) {
					t.Errorf("-j %d: counts %+v, damage %v, inputs %+v; -j 1 gave %+v, %v, %+v", run.j,
						s.Packets, s.Damage, s.Inputs, firstSummary.Packets, firstSummary.Damage, firstSummary.Inputs)
				}
			}
		})
	}
}

// TestRotatedFilesReadAsOne cuts a trace into rotated files, as tcpdump
// -C does, compresses some and gives them newest first: with -j 1 and 2
// every table is byte for byte the whole trace's (the flows but for where
// their first packets are), and the packets counted the same. The merge reads them one at a time (reader.Merge parks them).
func TestRotatedFilesReadAsOne(t *testing.T) {
	dir := t.TempDir()
	whole := generatedTrace(t, dir, gen.Config{Seed: 13, Flows: 3000, Mix: "default,synflood=10"})
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	// Record boundaries of the classic pcap the generator writes.
	const header = 24
	starts := pcapRecords(data)
	starts = starts[:len(starts)-1] // the end
	const files = 7
	var parts []string
	for k := files - 1; k >= 0; k-- {
		from, to := starts[k*len(starts)/files], len(data)
		if k < files-1 {
			to = starts[(k+1)*len(starts)/files]
		}
		path := filepath.Join(dir, fmt.Sprintf("part%d.pcap", k))
		if err := os.WriteFile(path, slices.Concat(data[:header], data[from:to]), 0o644); err != nil {
			t.Fatal(err)
		}
		if k%3 == 1 {
			writeGzip(t, path, path+".gz")
			path += ".gz"
		}
		parts = append(parts, path)
	}
	wholeOut := filepath.Join(dir, "whole")
	if code := analyzeInto(t, wholeOut, "-j", "1", whole); code != exitOK {
		t.Fatalf("whole trace: exit status %d", code)
	}
	_, want := flowsAndSummary(t, wholeOut)
	for _, j := range []string{"1", "2"} {
		out := filepath.Join(dir, "parts"+j)
		if code := analyzeInto(t, out, append([]string{"-j", j}, parts...)...); code != exitOK {
			t.Fatalf("-j %s: exit status %d", j, code)
		}
		// The flows are the whole trace's, but for where their first
		// packets are: input, first_frame and first_offset, which
		// ReadFlows leaves out.
		a, errA := tables.ReadFlows(filepath.Join(wholeOut, tables.FlowsFile))
		b, errB := tables.ReadFlows(filepath.Join(out, tables.FlowsFile))
		if errA != nil || errB != nil || !slices.Equal(a, b) {
			t.Errorf("-j %s: %s differs from the whole trace's (%v, %v)", j, tables.FlowsFile, errA, errB)
		}
		for _, table := range []string{"intervals.parquet", "destinations.parquet", "cdf.parquet"} {
			a, errA := os.ReadFile(filepath.Join(wholeOut, table))
			b, errB := os.ReadFile(filepath.Join(out, table))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Errorf("-j %s: %s differs from the whole trace's (%v, %v)", j, table, errA, errB)
			}
		}
		if _, s := flowsAndSummary(t, out); s.Packets != want.Packets || len(s.Inputs) != files {
			t.Errorf("-j %s: packets %+v from %d inputs; the whole trace %+v", j, s.Packets, len(s.Inputs), want.Packets)
		}
	}
}

// TestMaxFlows bounds the flow table far below the trace's concurrent
// flows: flows are evicted and counted, and no packet is lost.
func TestMaxFlows(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 12, Flows: 3000, Mix: "default,synflood=10"})
	db := openDuckDB(t)
	packetsIn := func(out string) int64 {
		return queryInt(t, db, fmt.Sprintf("SELECT sum(packets_fwd + packets_rev) FROM '%s/flows.parquet'", out))
	}
	whole := filepath.Join(dir, "whole")
	if code := analyzeInto(t, whole, "--no-report", trace); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	if _, s := flowsAndSummary(t, whole); s.Flows.ByEnd["evicted"] != 0 || len(s.Warnings) != 0 || s.Options.MaxFlows != pipeline.DefaultMaxFlows() {
		t.Errorf("by default: %d flows evicted, warnings %q, max_flows %d", s.Flows.ByEnd["evicted"], s.Warnings, s.Options.MaxFlows)
	}
	for _, j := range []string{"1", "2"} {
		out := filepath.Join(dir, "bounded-"+j)
		if code := analyzeInto(t, out, "-j", j, "--max-flows", "50", trace); code != exitOK {
			t.Fatalf("-j %s: exit status %d", j, code)
		}
		s, err := tables.ReadSummary(filepath.Join(out, tables.SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		evicted := s.Flows.ByEnd["evicted"]
		if evicted == 0 || s.Options.MaxFlows != 50 {
			t.Errorf("-j %s: %d flows evicted, max_flows %d in summary.json", j, evicted, s.Options.MaxFlows)
		}
		if !slices.ContainsFunc(s.Warnings, func(w string) bool {
			return strings.Contains(w, fmt.Sprintf("%d flows were ended early", evicted))
		}) {
			t.Errorf("-j %s: no warning of the evicted flows in %q", j, s.Warnings)
		}
		if n := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM '%s/flows.parquet' WHERE end_reason = 'evicted'", out)); uint64(n) != evicted {
			t.Errorf("-j %s: %d evicted rows, summary.json says %d", j, n, evicted)
		}
		if got, want := packetsIn(out), packetsIn(whole); got != want {
			t.Errorf("-j %s: flows hold %d packets, %d without a bound", j, got, want)
		}
		md, err := os.ReadFile(filepath.Join(out, "report.md"))
		if err != nil || !bytes.Contains(md, []byte("**Evicted:** ")) || !bytes.Contains(md, []byte("(--max-flows 50)")) {
			t.Errorf("-j %s: report.md does not tell of the evicted flows (%v)", j, err)
		}
	}
}

// TestSpilledRecords checks that without a report, when flow records go
// to spill files on their way to flows.parquet, the file is byte for byte
// the one written from memory, the summary counts the same flows, and no
// spill file is left behind.
func TestSpilledRecords(t *testing.T) {
	dir := t.TempDir()
	// Records are sorted and spilled in chunks of 16,384: several of them.
	const records = 3 << 14
	trace := generatedTrace(t, dir, gen.Config{Seed: 13, Flows: records, Mix: "default,synflood=10"})
	inMemory := filepath.Join(dir, "report")
	if code := analyzeInto(t, inMemory, "--no-plots", trace); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	want, wantSummary := flowsAndSummary(t, inMemory)
	for _, j := range []string{"1", "2"} {
		out := filepath.Join(dir, "spilled-"+j)
		if code := analyzeInto(t, out, "-j", j, "--no-report", trace); code != exitOK {
			t.Fatalf("-j %s: exit status %d", j, code)
		}
		got, s := flowsAndSummary(t, out)
		if !bytes.Equal(got, want) {
			t.Errorf("-j %s: flows.parquet from spilled runs differs from the one written from memory", j)
		}
		if fmt.Sprint(s.Flows) != fmt.Sprint(wantSummary.Flows) || s.Flows.Total < records {
			t.Errorf("-j %s: summary flows %+v, want %+v", j, s.Flows, wantSummary.Flows)
		}
		names, _ := filepath.Glob(filepath.Join(out, ".*"))
		if len(names) > 0 {
			t.Errorf("-j %s: left behind %v", j, names)
		}
	}
}

// TestSplitWithFilter reads a trace in small chunks through a BPF filter,
// which each reading goroutine compiles for itself: the flows and the
// packet counts are those of one sequential reader.
func TestSplitWithFilter(t *testing.T) {
	defer func(size int64) { splitChunkSize = size }(splitChunkSize)
	splitChunkSize = 4099
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 14, Flows: 2000, Mix: "default,synflood=10"})
	var first []byte
	var firstCounts tables.PacketCounts
	for _, j := range []string{"1", "2", "3"} {
		out := filepath.Join(dir, j)
		if code := analyzeInto(t, out, "-j", j, "--no-report", "-b", "tcp and not port 443", trace); code != exitOK {
			t.Fatalf("-j %s: exit status %d", j, code)
		}
		data, s := flowsAndSummary(t, out)
		if first == nil {
			first, firstCounts = data, s.Packets
			if s.Packets.FilteredOut == 0 || s.Packets.UDP != 0 {
				t.Fatalf("the filter kept %+v", s.Packets)
			}
			continue
		}
		if !bytes.Equal(data, first) || s.Packets != firstCounts {
			t.Errorf("-j %s: flows or counts differ from -j 1's: %+v, want %+v", j, s.Packets, firstCounts)
		}
	}
}

// TestSplitDamaged analyses every damaged trace of testdata/damaged read in
// small chunks on three workers: exit status, damage list, packet counts
// and flows are those of one sequential reader.
func TestSplitDamaged(t *testing.T) {
	defer func(size int64) { splitChunkSize = size }(splitChunkSize)
	splitChunkSize = 500
	paths, _ := filepath.Glob(filepath.Join(damagedDir, "*"))
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var first []byte
			var firstSummary tables.Summary
			var firstCode int
			for _, j := range []string{"1", "3"} {
				out := filepath.Join(t.TempDir(), j)
				code := analyzeInto(t, out, "-j", j, "--no-report", path)
				if j == "1" {
					firstCode = code
				} else if code != firstCode {
					t.Fatalf("-j 3: exit status %d, -j 1 gave %d", code, firstCode)
				}
				if code != exitOK && code != exitDamaged {
					return // not a trace at all: nothing written
				}
				data, s := flowsAndSummary(t, out)
				if first == nil {
					first, firstSummary = data, *s
					continue
				}
				if !bytes.Equal(data, first) || s.Packets != firstSummary.Packets ||
					fmt.Sprint(s.Damage) != fmt.Sprint(firstSummary.Damage) || fmt.Sprint(s.Inputs[0].LinkTypes) != fmt.Sprint(firstSummary.Inputs[0].LinkTypes) {
					t.Errorf("-j 3: flows, counts %+v or damage %v differ from -j 1's %+v, %v",
						s.Packets, s.Damage, firstSummary.Packets, firstSummary.Damage)
				}
			}
		})
	}
}

// TestAnalyzeInterrupted stops analyze with SIGINT while it reads: it
// exits 130 and leaves nothing in the output directory, neither outputs
// nor the hidden files its records were spilled and spread to.
func TestAnalyzeInterrupted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cmd := startReading(t, 15, out)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit status %d (%v), want %d: did it finish before the signal?", code, err, exitInterrupted)
	}
	left, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind: %s", e.Name())
	}
}

// TestAnalyzeInterruptedWriting stops analyze with SIGINT once it writes
// its outputs (windows of 10 ms make that long): it exits 130 at once,
// says so, and leaves no temporary or spilled file, only outputs written
// whole, if any.
func TestAnalyzeInterruptedWriting(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	trace := generatedTrace(t, t.TempDir(), gen.Config{Seed: 17, Flows: 50000, Mix: "bench"})
	var stderr bytes.Buffer
	cmd := exec.Command(flowstatBinary(t), "analyze", "-q", "-i", "0.01", "-o", out, trace)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if tmp, _ := filepath.Glob(filepath.Join(out, "*.parquet.tmp-*")); len(tmp) > 0 {
			break // writing flows.parquet: the reading is over
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("analyze wrote no output in 30 s")
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit status %d (%v), want %d: did it finish before the signal? stderr:\n%s", code, err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "while writing the outputs") {
		t.Errorf("stderr does not say what was interrupted:\n%s", stderr.String())
	}
	left, _ := filepath.Glob(filepath.Join(out, "*"))
	hidden, _ := filepath.Glob(filepath.Join(out, ".*"))
	for _, name := range append(left, hidden...) {
		base := filepath.Base(name)
		switch {
		case strings.Contains(base, ".tmp"):
			t.Errorf("left behind: %s", base)
		case strings.HasSuffix(base, ".parquet"):
			data, err := os.ReadFile(name)
			if err != nil || !bytes.HasPrefix(data, []byte("PAR1")) || !bytes.HasSuffix(data, []byte("PAR1")) {
				t.Errorf("%s is not a whole Parquet file (%d bytes, %v)", base, len(data), err)
			}
		}
	}
}

// TestProgressBars draws the reading bar, the bar of the flows ended at
// the end of input (when many are open: here, any) and the outputs' bar
// when asked to, each ending at its total, and nothing with --progress
// never.
func TestProgressBars(t *testing.T) {
	dir := t.TempDir()
	trace := generatedTrace(t, dir, gen.Config{Seed: 16, Flows: 2000})
	defer func(n int) { endingShown = n }(endingShown)
	endingShown = 1
	code, stderr := runCaptured(t, "analyze", "--progress", "always", "-o", filepath.Join(dir, "a"), trace)
	if code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	for _, want := range []string{"packets/s 100%", "flows still open 100%", "writing flows.parquet and the report 100%"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr has no %q:\n%s", want, stderr)
		}
	}
	code, stderr = runCaptured(t, "analyze", "--progress", "always", "--no-report", "-o", filepath.Join(dir, "n"), trace)
	if code != exitOK || !strings.Contains(stderr, "writing flows.parquet 100%") {
		t.Errorf("--no-report: exit status %d, stderr:\n%s", code, stderr)
	}
	code, stderr = runCaptured(t, "analyze", "--progress", "never", "-o", filepath.Join(dir, "b"), trace)
	if code != exitOK || strings.Contains(stderr, "%") {
		t.Errorf("--progress never: exit status %d, stderr:\n%s", code, stderr)
	}
}

// TestStaleFilesRemoved kills analyze while it reads: its hidden spill and
// part files stay behind, and the next run in the directory removes them,
// but not the files of a run still going (locked).
func TestStaleFilesRemoved(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cmd := startReading(t, 18, out)
	cmd.Process.Kill()
	cmd.Wait()
	stale, _ := filepath.Glob(filepath.Join(out, ".flowstat-*.tmp"))
	if len(stale) != 2 {
		t.Fatalf("killed run left %v, want a spill and a parts file", stale)
	}
	// Outputs a run killed while writing them left, named as the writers
	// name them, and a file of the user's.
	if err := os.MkdirAll(filepath.Join(out, report.PlotsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flows.parquet.tmp-123", ".report.md.tmp-456", "plots/.flows.png.tmp-789", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(out, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Files of a run still going: locked.
	var running []string
	for _, name := range []string{".flowstat-spill-running.tmp", "destinations.parquet.tmp-1"} {
		running = append(running, filepath.Join(out, name))
		f, err := os.Create(running[len(running)-1])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	small := generatedTrace(t, t.TempDir(), gen.Config{Seed: 18, Flows: 100})
	code, stderr := runCaptured(t, "analyze", "--progress", "never", "-o", out, small)
	if code != exitOK || !strings.Contains(stderr, "removed 5 temporary files") {
		t.Errorf("exit status %d, stderr:\n%s", code, stderr)
	}
	var left []string
	for _, pattern := range []string{"*.tmp*", ".*.tmp*", "plots/.*.tmp*", "notes.txt"} {
		names, _ := filepath.Glob(filepath.Join(out, pattern))
		left = append(left, names...)
	}
	slices.Sort(left)
	left = slices.Compact(left) // the patterns overlap
	want := append(running, filepath.Join(out, "notes.txt"))
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want only the running run's files and the user's", left)
	}
}

// startReading starts analyze as a process on a generated trace of the
// given seed, long enough to read for a while on one core, and returns once
// it reads: when its parts' files, created before the first packet is
// read, are in out.
func startReading(t *testing.T, seed uint64, out string) *exec.Cmd {
	t.Helper()
	trace := generatedTrace(t, t.TempDir(), gen.Config{Seed: seed, Flows: 150000, Mix: "bench"})
	cmd := exec.Command(flowstatBinary(t), "analyze", "-q", "-j", "1", "-o", out, trace)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if parts, _ := filepath.Glob(filepath.Join(out, ".flowstat-parts-*")); len(parts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("analyze created no parts in 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd
}
