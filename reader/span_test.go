package reader

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSpan compares the span Span finds, by the end of a file or by
// reading it through, with the first and last times of a sequential pass:
// a small trace, one large enough to split, and both compressed.
func TestSpan(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.pcap")
	writeTestPcap(t, small, 200)
	large := filepath.Join(dir, "large.pcap")
	writeTestPcap(t, large, 200_000) // several spanChunks
	traces := []string{small, large}
	if _, err := exec.LookPath("gzip"); err == nil {
		for _, p := range []string{small, large} {
			if out, err := exec.Command("gzip", "-k", "-1", p).CombinedOutput(); err != nil {
				t.Fatalf("gzip: %v: %s", err, out)
			}
			traces = append(traces, p+".gz")
		}
	}
	for _, p := range traces {
		first, last, ok := Span(p)
		wantFirst, wantLast := sequentialSpan(t, p)
		if !ok || first != wantFirst || last != wantLast {
			t.Errorf("%s: span %d..%d (%v), a pass reads %d..%d", filepath.Base(p), first, last, ok, wantFirst, wantLast)
		}
	}
	if _, _, ok := Span(filepath.Join(dir, "none.pcap")); ok {
		t.Error("a span for a missing file")
	}
	empty := filepath.Join(dir, "empty.pcap")
	writeTestPcap(t, empty, 0)
	if _, _, ok := Span(empty); ok {
		t.Error("a span for a trace without records")
	}
	if fi, _ := os.Stat(large); fi.Size() <= 2*spanChunk {
		t.Fatalf("the large trace has %d bytes, not enough to be split", fi.Size())
	}
}

func sequentialSpan(t *testing.T, path string) (first, last int64) {
	t.Helper()
	tr, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var f Frame
	for i := 0; tr.Next(&f) == nil; i++ {
		if i == 0 {
			first, last = f.Time, f.Time
		}
		first, last = min(first, f.Time), max(last, f.Time)
	}
	return first, last
}

// writeTestPcap writes n frames of 60 to 120 bytes, 1 ms apart, the last
// two swapped in time (a trace slightly out of order at its end).
func writeTestPcap(t *testing.T, path string, n int) {
	t.Helper()
	frames := make([]testFrame, n)
	for i := range frames {
		frames[i] = testFrame{time: 1_700_000_000e9 + int64(i)*1e6, link: 1, data: make([]byte, 60+i%61)}
	}
	if n >= 2 {
		frames[n-1].time, frames[n-2].time = frames[n-2].time, frames[n-1].time
	}
	if err := os.WriteFile(path, writePcap(binary.LittleEndian, true, 1, frames), 0o644); err != nil {
		t.Fatal(err)
	}
}
