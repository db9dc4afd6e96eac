package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"flowstat/reader"
	"flowstat/scripts/gen"
)

// overwrite replaces n bytes of the file at path from offset at with zeros
// or random bytes.
func overwrite(t *testing.T, path string, at, n int64, random bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, n)
	if random {
		rng := rand.NewChaCha8([32]byte{byte(at), byte(n)})
		rng.Read(data)
	}
	if _, err := f.WriteAt(data, at); err != nil {
		t.Fatal(err)
	}
}

// TestAnalyzeDamagedAtSize analyses generated traces of about 45 MB,
// read in chunks of the default size, with large damaged regions: over
// several chunk boundaries in the middle, and at the end. -j 2 must end,
// with the flows, counts and damaged regions of -j 1 and exit status 3.
func TestAnalyzeDamagedAtSize(t *testing.T) {
	if testing.Short() {
		t.Skip("analyses traces of tens of MB")
	}
	dir := t.TempDir()
	clean := generatedTrace(t, dir, gen.Config{Seed: 28, Flows: 70000, Mix: "bench"})
	info, err := os.Stat(clean)
	if err != nil {
		t.Fatal(err)
	}
	chunk := int64(reader.DefaultChunkSize)
	if info.Size() < 4*chunk {
		t.Fatalf("the trace is %d bytes, not several chunks", info.Size())
	}
	for _, c := range []struct {
		name   string
		at, n  int64
		random bool
	}{
		{"20 MB of zeros over chunk boundaries", chunk - 3<<20, 20 << 20, false},
		{"20 MB of random bytes over chunk boundaries", chunk - 3<<20, 20 << 20, true},
		{"a tail of 12 MB of zeros", info.Size() - 12<<20, 12 << 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			trace := filepath.Join(t.TempDir(), "damaged.pcap")
			copyFile(t, clean, trace)
			overwrite(t, trace, c.at, c.n, c.random)
			var first []byte
			var firstDamage, firstPackets string
			for _, j := range []int{1, 2} {
				out := filepath.Join(t.TempDir(), fmt.Sprint(j))
				done := make(chan int, 1)
				go func() { done <- analyzeInto(t, out, "-j", fmt.Sprint(j), "--no-report", trace) }()
				select {
				case code := <-done:
					if code != exitDamaged {
						t.Fatalf("-j %d: exit status %d, want %d", j, code, exitDamaged)
					}
				case <-time.After(2 * time.Minute):
					t.Fatalf("-j %d: analyze did not end in 2 minutes", j)
				}
				data, s := flowsAndSummary(t, out)
				damage, packets := fmt.Sprint(s.Damage), fmt.Sprint(s.Packets)
				// The region starts at the first record header it overwrote.
				if len(s.Damage) != 1 || s.Damage[0].Offset < c.at-16 || s.Damage[0].Offset > c.at+65536+16 {
					t.Errorf("-j %d: damage %s, want one region from about offset %d", j, damage, c.at)
				}
				if first == nil {
					first, firstDamage, firstPackets = data, damage, packets
				} else if !bytes.Equal(data, first) || damage != firstDamage || packets != firstPackets {
					t.Errorf("-j %d: flows, counts %s or damage %s differ from -j 1's %s, %s", j, packets, damage, firstPackets, firstDamage)
				}
			}
		})
	}
}

// TestAnalyzeInterruptedInDamage sends SIGTERM while analyze skips a
// damaged region of 3 GB (a hole of zeros after a few records, which takes
// seconds to scan): it must stop at once with status 130, say so, and
// leave nothing in its output directory.
func TestAnalyzeInterruptedInDamage(t *testing.T) {
	dir := t.TempDir()
	trace := traceWithHole(t, dir)
	bin := flowstatBinary(t)
	for _, j := range []string{"1", "2"} {
		out := filepath.Join(dir, "out"+j)
		code, stderr, took := terminatedAfterASecond(t, exec.Command(bin, "analyze", "-j", j, "-o", out, trace))
		if code != exitInterrupted {
			t.Fatalf("-j %s: exit status %d, want %d (did it end before the signal?); stderr:\n%s", j, code, exitInterrupted, stderr)
		}
		if !strings.Contains(stderr, "interrupted; no output was written") {
			t.Errorf("-j %s: stderr does not say it was interrupted:\n%s", j, stderr)
		}
		left, _ := os.ReadDir(out)
		for _, e := range left {
			t.Errorf("-j %s: left behind: %s", j, e.Name())
		}
		t.Logf("-j %s: exited %v after SIGTERM", j, took.Round(time.Millisecond))
	}
}

// traceWithHole writes a generated trace into dir followed by a damaged
// region of 3 GB (a hole of zeros, which takes seconds to scan), and
// returns its path.
func traceWithHole(t *testing.T, dir string) string {
	t.Helper()
	trace := generatedTrace(t, dir, gen.Config{Seed: 29, Flows: 500})
	info, err := os.Stat(trace)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(trace, info.Size()+3<<30); err != nil {
		t.Fatal(err)
	}
	return trace
}

// terminatedAfterASecond starts cmd, sends it SIGTERM a second later and
// returns its exit status, its stderr and how long it took to end after
// the signal; it fails the test when it is still running 10 s after.
func terminatedAfterASecond(t *testing.T, cmd *exec.Cmd) (int, string, time.Duration) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v: still running 10 s after SIGTERM", cmd.Args)
	}
	return cmd.ProcessState.ExitCode(), stderr.String(), time.Since(sent)
}
