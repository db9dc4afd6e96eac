//go:build linux

package report

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// smallDisk mounts a tmpfs of the given options (such as "size=64k") on a
// new directory, or skips the test when it cannot (not root, no mount).
func smallDisk(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// limitFileSize makes writes beyond n bytes into any file of the process
// fail with EFBIG until the test ends: a full disk without root. Go ignores
// SIGXFSZ, so the write returns the error instead of killing the process.
func limitFileSize(t *testing.T, n uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("cannot read the file size limit: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: old.Max}); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) })
}

// onlyFiles checks that dir holds exactly the files named: no temporary or
// partial file beside them.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// manyFlows is enough flow records to fill a small disk.
func manyFlows(n int) []flows.Record {
	recs := make([]flows.Record, n)
	for i := range recs {
		recs[i] = flows.Record{
			ID: uint64(i), Proto: 6, IPVersion: 4,
			SrcIP: flows.IPOf(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})), SrcPort: uint16(i),
			DstIP: flows.IPOf(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})), DstPort: 443,
			FirstSeen: int64(i) * 1e9, LastSeen: int64(i)*1e9 + 5e8, Packets: [2]uint64{uint64(i), 1},
			Bytes: [2]uint64{uint64(i) * 1500, 40}, HandshakeRTT: -1,
		}
	}
	return recs
}

// TestAtomicWriteFailure fills the disk under each kind of output: the
// error names the output and the cause, and the directory holds nothing
// new, while a file written before is left as it was.
func TestAtomicWriteFailure(t *testing.T) {
	big := bytes.Repeat([]byte("flowstat "), 1<<17) // 1.1 MB
	type full struct {
		name  string
		dir   func(t *testing.T) string
		cause error
	}
	disks := []full{
		{"tmpfs full", func(t *testing.T) string { return smallDisk(t, "size=64k") }, syscall.ENOSPC},
		{"file size limit", func(t *testing.T) string {
			dir := t.TempDir()
			limitFileSize(t, 64<<10)
			return dir
		}, syscall.EFBIG},
	}
	writers := []struct {
		name  string
		write func(path string) error
	}{
		{"tables.WriteFileAtomic", func(path string) error { return tables.WriteFileAtomic(path, big) }},
		{"tables.WriteFlows", func(path string) error { return tables.WriteFlows(path, 0, manyFlows(100_000)) }},
	}
	for _, disk := range disks {
		for _, w := range writers {
			t.Run(disk.name+"/"+w.name, func(t *testing.T) {
				dir := disk.dir(t)
				kept := filepath.Join(dir, "kept")
				if err := tables.WriteFileAtomic(kept, []byte("earlier run\n")); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "out")
				err := w.write(path)
				if !errors.Is(err, disk.cause) {
					t.Fatalf("error %v, want %v", err, disk.cause)
				}
				if want := "cannot write " + path + ": " + disk.cause.Error(); err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				onlyFiles(t, dir, "kept")
				if b, _ := os.ReadFile(kept); string(b) != "earlier run\n" {
					t.Errorf("earlier file now holds %q", b)
				}
			})
		}
	}
}

// TestAtomicReplaceFailure fails to replace an existing output: the old one
// stays whole.
func TestAtomicReplaceFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, tables.SummaryFile)
	if err := tables.WriteFileAtomic(path, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	limitFileSize(t, 4<<10)
	if err := tables.WriteFileAtomic(path, bytes.Repeat([]byte(" "), 64<<10)); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("error %v, want EFBIG", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{}\n" {
		t.Errorf("%s now holds %d bytes", tables.SummaryFile, len(b))
	}
	onlyFiles(t, dir, tables.SummaryFile)
}

// TestAtomicReadOnlyDir cannot create the temporary file at all.
func TestAtomicReadOnlyDir(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		dir = smallDisk(t, "size=64k,ro") // root writes through permissions
	} else {
		dir = t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
	}
	path := filepath.Join(dir, "report.md")
	err := tables.WriteFileAtomic(path, []byte("# report\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "cannot write "+path+": ") {
		t.Fatalf("error %v", err)
	}
	if _, err := tables.CreateParquet(filepath.Join(dir, tables.FlowsFile), tables.FlowSchema); err == nil || !strings.Contains(err.Error(), "cannot write ") {
		t.Fatalf("CreateParquet: error %v", err)
	}
	onlyFiles(t, dir)
}

// TestAtomicMode gives outputs the mode os.WriteFile would, not the 0600 of
// a temporary file.
func TestAtomicMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.md")
	if err := tables.WriteFileAtomic(path, []byte("# report\n")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want -rw-r--r--", info.Mode())
	}
}

// TestRemoveTemporaryStopsNewFiles: once a stopping run's temporary files
// are deleted, a goroutine still writing creates no new one there (it
// would be left behind), while other directories are not affected.
func TestRemoveTemporaryStopsNewFiles(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	runs, err := newRuns[float64](dir, "durations")
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Remove()
	RemoveTemporary(dir)
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := newRuns[float64](dir, "durations"); !errors.Is(err, extsort.ErrStopping) {
		t.Errorf("a spill file created in a stopped run's directory: %v", err)
	}
	if _, err := tables.CreateParquet(filepath.Join(dir, PlotsDir, "x.parquet"), tables.IntervalSchema); !errors.Is(err, extsort.ErrStopping) {
		t.Errorf("a file created in a stopped run's plots: %v", err)
	}
	r, err := newRuns[float64](other, "durations")
	if err != nil {
		t.Fatalf("another directory: %v", err)
	}
	r.Remove()
}
