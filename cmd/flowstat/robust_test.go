package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"flowstat/report"
	"flowstat/scripts/gen"
	"flowstat/tables"
)

var makeDamaged = flag.Bool("make-damaged", false, "rewrite testdata/damaged from its two base traces")

// damagedDir holds the damaged traces: base.pcap and later.pcap come from
// the generator (see docs/robustness.md), everything else from
// TestRobustMakeDamaged.
const damagedDir = "../../testdata/damaged"

// damagedAt is where the damage of the damaged traces goes: into this
// record (or block) of base.pcap, and the ones after it.
const damagedAt = 40

// pcapRecords returns the offset of every record of a little-endian,
// microsecond classic pcap, and the end of the last.
func pcapRecords(b []byte) []int {
	var offs []int
	off := 24
	for off+16 <= len(b) {
		offs = append(offs, off)
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return append(offs, off)
}

// pcapToPcapng re-encodes a little-endian microsecond pcap as pcapng: a
// section header, one interface and an enhanced packet block per record,
// with extra inserted before the block of record at. It returns the trace
// and the offset of every packet block, and of the end.
func pcapToPcapng(b []byte, at int, extra []byte) ([]byte, []int) {
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) []byte {
		var out []byte
		out = le.AppendUint32(out, typ)
		out = le.AppendUint32(out, uint32(len(body)+12))
		out = append(out, body...)
		return le.AppendUint32(out, uint32(len(body)+12))
	}
	shb := le.AppendUint32(nil, 0x1A2B3C4D)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	out := block(0x0A0D0D0A, shb)
	idb := le.AppendUint16(nil, uint16(le.Uint32(b[20:])))
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, le.Uint32(b[16:]))
	out = append(out, block(1, idb)...)
	recs := pcapRecords(b)
	var offs []int
	for i, off := range recs[:len(recs)-1] {
		if i == at {
			out = append(out, extra...)
		}
		ts := uint64(le.Uint32(b[off:]))*1_000_000 + uint64(le.Uint32(b[off+4:]))
		capLen := int(le.Uint32(b[off+8:]))
		body := le.AppendUint32(nil, 0)
		body = le.AppendUint32(body, uint32(ts>>32))
		body = le.AppendUint32(body, uint32(ts))
		body = le.AppendUint32(body, uint32(capLen))
		body = le.AppendUint32(body, le.Uint32(b[off+12:]))
		body = append(body, b[off+16:off+16+capLen]...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		offs = append(offs, len(out))
		out = append(out, block(6, body)...)
	}
	return out, append(offs, len(out))
}

// noise is deterministic garbage.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func withUint32(b []byte, off int, v uint32) []byte {
	out := append([]byte{}, b...)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func readBase(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(damagedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRobustMakeDamaged writes the damaged traces of testdata/damaged from
// base.pcap and later.pcap. It runs only with -make-damaged.
func TestRobustMakeDamaged(t *testing.T) {
	if !*makeDamaged {
		t.Skip("run with -make-damaged to rewrite testdata/damaged")
	}
	base, later := readBase(t, "base.pcap"), readBase(t, "later.pcap")
	rec := pcapRecords(base)
	n := len(rec) - 1
	ng, _ := pcapToPcapng(base, -1, nil)
	_, epb := pcapToPcapng(base, -1, nil)
	epbLen := epb[damagedAt+1] - epb[damagedAt]
	unknownBlock := concat(binary.LittleEndian.AppendUint32(nil, 0x12345678), binary.LittleEndian.AppendUint32(nil, 20),
		[]byte("future\x00\x00"), binary.LittleEndian.AppendUint32(nil, 20))
	withUnknown, _ := pcapToPcapng(base, damagedAt, unknownBlock)
	withGarbage, _ := pcapToPcapng(base, damagedAt, noise(1000, 3))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(base)
	zw.Close()
	zs, _ := zstd.NewWriter(nil, zstd.WithWindowSize(zstd.MinWindowSize), zstd.WithEncoderConcurrency(1))
	zst := zs.EncodeAll(base, nil)
	swapped := append([]byte{}, base[:rec[20]]...)
	for i := 20; i < 60; i += 2 {
		swapped = append(swapped, base[rec[i+1]:rec[i+2]]...)
		swapped = append(swapped, base[rec[i]:rec[i+1]]...)
	}
	swapped = append(swapped, base[rec[60]:]...)
	files := map[string][]byte{
		"truncated-header.pcap":      base[:rec[n-1]+7],
		"truncated-data.pcap":        base[:rec[n-1]+16+10],
		"record-over-snaplen.pcap":   withUint32(base, rec[damagedAt]+8, 70000),
		"record-over-256k.pcap":      withUint32(withUint32(base, 16, 262144), rec[damagedAt]+8, 300000),
		"garbage-inserted.pcap":      concat(base[:rec[damagedAt]], noise(1000, 1), base[rec[damagedAt]:]),
		"overwritten.pcap":           concat(base[:rec[damagedAt]+21], noise(330, 2), base[rec[damagedAt]+351:]),
		"zeroed.pcap":                concat(base[:rec[damagedAt]+21], make([]byte, 512), base[rec[damagedAt]+533:]),
		"bad-magic.pcap":             concat([]byte{0xd4, 0xc3, 0xb2, 0xa2}, base[4:]),
		"empty.pcap":                 nil,
		"not-a-trace.txt":            []byte("flowstat reads pcap and pcapng traces; this is neither.\n"),
		"truncated.pcap.gz":          gz.Bytes()[:gz.Len()*6/10],
		"truncated.pcap.zst":         zst[:len(zst)*6/10],
		"concatenated.pcap":          concat(base, later),
		"cut-then-concatenated.pcap": concat(base[:len(base)-10], later),
		"out-of-order.pcap":          swapped,
		"unknown-block.pcapng":       withUnknown,
		"bad-block-length.pcapng":    withUint32(ng, epb[damagedAt]+4, uint32(epbLen+2)),
		"bad-block-trailer.pcapng":   withUint32(ng, epb[damagedAt+1]-4, uint32(epbLen+4)),
		"truncated.pcapng":           ng[:epb[n-1]+30],
		"garbage-inserted.pcapng":    withGarbage,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(damagedDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compressedPrefix is what a plain decompressor gets out of a cut stream:
// the records that are whole in it, and the offset of the first that is not.
func compressedPrefix(t *testing.T, name string) (records int, cut int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(damagedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader
	if strings.HasSuffix(name, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	} else {
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	prefix, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("%s decompresses without error", name)
	}
	offs := pcapRecords(prefix)
	for _, off := range offs[:len(offs)-1] {
		if off+16 <= len(prefix) && off+16+int(binary.LittleEndian.Uint32(prefix[off+8:])) <= len(prefix) {
			records++
			continue
		}
		return records, int64(off)
	}
	return records, int64(offs[len(offs)-1])
}

// damage is an expected entry of summary.json's damage list.
type damage struct {
	offset, length int64
	reason         string // a part of the reason
}

// runCaptured runs the command line and returns its exit status and what
// it wrote on stderr.
func runCaptured(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	code := run(args)
	os.Stderr = saved
	w.Close()
	return code, string(<-done)
}

// leftovers lists temporary files left in dir and its subdirectories.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var tmp []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") || strings.HasPrefix(d.Name(), ".flowstat-probe") {
			tmp = append(tmp, path)
		}
		return nil
	})
	return tmp
}

// TestRobustDamaged analyses every damaged trace of testdata/damaged: it
// checks the exit status, the damaged regions that summary.json and stderr
// name, and that every record before and after the damage was read.
func TestRobustDamaged(t *testing.T) {
	base, later := readBase(t, "base.pcap"), readBase(t, "later.pcap")
	rec := pcapRecords(base)
	n := len(rec) - 1
	m := len(pcapRecords(later)) - 1
	_, epb := pcapToPcapng(base, -1, nil)
	at := damagedAt
	// The first record whose header survives a damaged region [from, to).
	firstAfter := func(to int) int {
		i := 0
		for rec[i] < to {
			i++
		}
		return i
	}
	afterOverwrite, afterZeros := firstAfter(rec[at]+351), firstAfter(rec[at]+533)
	gzRecords, gzCut := compressedPrefix(t, "truncated.pcap.gz")
	zstRecords, zstCut := compressedPrefix(t, "truncated.pcap.zst")
	tests := []struct {
		file    string
		status  int
		packets uint64
		damage  []damage
		stderr  string // a part of stderr, for files that give no outputs
	}{
		{"base.pcap", exitOK, uint64(n), nil, ""},
		{"truncated-header.pcap", exitDamaged, uint64(n - 1), []damage{{int64(rec[n-1]), 0, "ends in the middle of a record"}}, ""},
		{"truncated-data.pcap", exitDamaged, uint64(n - 1), []damage{{int64(rec[n-1]), 0, "ends in the middle of a record"}}, ""},
		{"record-over-snaplen.pcap", exitDamaged, uint64(n - 1), []damage{{int64(rec[at]), int64(rec[at+1] - rec[at]), "captured length 70000 exceeds the snap length 64"}}, ""},
		{"record-over-256k.pcap", exitDamaged, uint64(n - 1), []damage{{int64(rec[at]), int64(rec[at+1] - rec[at]), "captured length 300000 exceeds 262144"}}, ""},
		{"garbage-inserted.pcap", exitDamaged, uint64(n), []damage{{int64(rec[at]), 1000, "implausible record header"}}, ""},
		{"overwritten.pcap", exitDamaged, uint64(n - (afterOverwrite - at - 1)),
			[]damage{{int64(rec[at+1]), int64(rec[afterOverwrite] - rec[at+1]), "implausible record header"}}, ""},
		{"zeroed.pcap", exitDamaged, uint64(n - (afterZeros - at - 1)),
			[]damage{{int64(rec[at+1]), int64(rec[afterZeros] - rec[at+1]), "zero lengths"}}, ""},
		{"bad-magic.pcap", exitUsage, 0, nil, "not a pcap or pcapng trace (first bytes d4 c3 b2 a2)"},
		{"empty.pcap", exitUsage, 0, nil, "empty.pcap: not a pcap or pcapng trace: the file is empty"},
		{"not-a-trace.txt", exitUsage, 0, nil, "not-a-trace.txt: not a pcap or pcapng trace"},
		{"truncated.pcap.gz", exitDamaged, uint64(gzRecords), []damage{{gzCut, 0, "damaged compressed stream (gzip): unexpected EOF"}}, ""},
		{"truncated.pcap.zst", exitDamaged, uint64(zstRecords), []damage{{zstCut, 0, "damaged compressed stream (zstd)"}}, ""},
		{"concatenated.pcap", exitDamaged, uint64(n + m), []damage{{int64(len(base)), 24, "concatenated captures"}}, ""},
		{"cut-then-concatenated.pcap", exitDamaged, uint64(n - 1 + m), []damage{
			{int64(rec[n-1]), int64(len(base) - 10 - rec[n-1]), "runs into the next record"},
			{int64(len(base) - 10), 24, "concatenated captures"}}, ""},
		{"out-of-order.pcap", exitOK, uint64(n), nil, ""},
		{"unknown-block.pcapng", exitOK, uint64(n), nil, ""},
		{"bad-block-length.pcapng", exitDamaged, uint64(n - 1), []damage{{int64(epb[at]), int64(epb[at+1] - epb[at]), "malformed pcapng block"}}, ""},
		{"bad-block-trailer.pcapng", exitDamaged, uint64(n - 1), []damage{{int64(epb[at]), int64(epb[at+1] - epb[at]), "at its end"}}, ""},
		{"truncated.pcapng", exitDamaged, uint64(n - 1), []damage{{int64(epb[n-1]), 0, "ends in the middle of a record"}}, ""},
		{"garbage-inserted.pcapng", exitDamaged, uint64(n), []damage{{int64(epb[at]), 1000, "malformed pcapng block"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(damagedDir, tc.file)
			out := filepath.Join(t.TempDir(), "out")
			code, stderr := runCaptured(t, "analyze", "--progress", "never", "-o", out, path)
			if code != tc.status {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.status, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tc.stderr, stderr)
			}
			if tmp := leftovers(t, filepath.Dir(out)); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			if tc.status == exitUsage {
				if _, err := os.Stat(filepath.Join(out, tables.SummaryFile)); err == nil {
					t.Errorf("summary.json written for a file that is not a trace")
				}
				return
			}
			s, err := tables.ReadSummary(filepath.Join(out, tables.SummaryFile))
			if err != nil {
				t.Fatal(err)
			}
			if s.Packets.Read != tc.packets {
				t.Errorf("read %d packets, want %d", s.Packets.Read, tc.packets)
			}
			if len(s.Damage) != len(tc.damage) {
				t.Fatalf("damage %+v, want %+v", s.Damage, tc.damage)
			}
			for i, want := range tc.damage {
				got := s.Damage[i]
				if got.Path != path || got.Offset != want.offset || got.Length != want.length || !strings.Contains(got.Reason, want.reason) {
					t.Errorf("damage %+v, want %s at %d, %d bytes, %q", got, path, want.offset, want.length, want.reason)
				}
				if where := fmt.Sprintf("%s: byte offset %d: ", path, want.offset); !strings.Contains(stderr, where) {
					t.Errorf("stderr does not name %q:\n%s", where, stderr)
				}
			}
		})
	}
}

// flowTotals sums each flow's packets and bytes by its unordered endpoints.
func flowTotals(t *testing.T, dir string) map[string][2]uint64 {
	t.Helper()
	ds, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	totals := map[string][2]uint64{}
	for _, r := range ds.Flows {
		a := netip.AddrPortFrom(r.SrcIP.Addr(), r.SrcPort).String()
		b := netip.AddrPortFrom(r.DstIP.Addr(), r.DstPort).String()
		if a > b {
			a, b = b, a
		}
		k := fmt.Sprintf("%d %s %s", r.Proto, a, b)
		v := totals[k]
		v[0] += r.Packets[0] + r.Packets[1]
		v[1] += r.Bytes[0] + r.Bytes[1]
		totals[k] = v
	}
	return totals
}

// TestRobustOutOfOrder checks that records whose times go back are counted
// and do not change the flows: the same packets and bytes per flow as the
// trace in order.
func TestRobustOutOfOrder(t *testing.T) {
	dirs := map[string]string{}
	for _, name := range []string{"base.pcap", "out-of-order.pcap"} {
		dirs[name] = filepath.Join(t.TempDir(), "out")
		if code := run([]string{"analyze", "-q", "--no-plots", "-o", dirs[name], filepath.Join(damagedDir, name)}); code != exitOK {
			t.Fatalf("%s: exit status %d", name, code)
		}
	}
	s, err := tables.ReadSummary(filepath.Join(dirs["out-of-order.pcap"], tables.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Packets.OutOfOrder == 0 {
		t.Errorf("no packet counted out of order")
	}
	want, got := flowTotals(t, dirs["base.pcap"]), flowTotals(t, dirs["out-of-order.pcap"])
	if len(got) != len(want) {
		t.Errorf("%d flows, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("flow %s: packets, bytes %v, want %v", k, got[k], w)
		}
	}
}

// TestRobustDirectory analyses the whole damaged directory at once: files
// that are not traces are skipped, the rest is read and merged.
func TestRobustDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, stderr := runCaptured(t, "analyze", "--progress", "never", "--no-plots", "-o", out, damagedDir)
	if code != exitDamaged {
		t.Fatalf("exit status %d, want %d:\n%s", code, exitDamaged, stderr)
	}
	s, err := tables.ReadSummary(filepath.Join(out, tables.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var skipped int
	for _, in := range s.Inputs {
		if in.Error != "" {
			skipped++
		}
	}
	if skipped != 3 {
		t.Errorf("%d inputs skipped, want 3 (bad magic, empty, not a trace): %+v", skipped, s.Inputs)
	}
}

// mountTmpfs mounts a tmpfs of the given size (such as "64k") on a new
// directory, or skips the test when it cannot (not root, no mount).
func mountTmpfs(t *testing.T, opts string) string {
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

// TestRobustDiskFull writes the outputs onto a file system too small for
// them: analyze must stop with a message that names the file and the
// reason, and leave no partial or temporary file.
func TestRobustDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "size=48k")
	out := filepath.Join(dir, "out")
	code, stderr := runCaptured(t, "analyze", "--progress", "never", "-o", out, filepath.Join(damagedDir, "base.pcap"))
	if code != exitFailed {
		t.Fatalf("exit status %d, want %d:\n%s", code, exitFailed, stderr)
	}
	if !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "cannot ") || !strings.Contains(stderr, out) {
		t.Errorf("unclear message:\n%s", stderr)
	}
	if tmp := leftovers(t, out); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// What is there is whole: summary.json, if written, parses.
	if _, err := os.Stat(filepath.Join(out, tables.SummaryFile)); err == nil {
		if _, err := tables.ReadSummary(filepath.Join(out, tables.SummaryFile)); err != nil {
			t.Errorf("partial summary.json: %v", err)
		}
	}
	t.Logf("stderr: %s", stderr)
}

// TestRobustDiskFullWhileSpilling fills the disk with the records spilled
// and spread for the report while the trace is read: analyze must say
// which file could not be written and how much space a run needs, and
// leave no spilled or temporary file.
func TestRobustDiskFullWhileSpilling(t *testing.T) {
	dir := mountTmpfs(t, "size=512k")
	trace := generatedTrace(t, t.TempDir(), gen.Config{Seed: 17, Flows: 60000})
	out := filepath.Join(dir, "out")
	// One shard, so that its records fill chunks and spill.
	code, stderr := runCaptured(t, "analyze", "--progress", "never", "-j", "1", "-o", out, trace)
	if code != exitFailed {
		t.Fatalf("exit status %d, want %d:\n%s", code, exitFailed, stderr)
	}
	for _, want := range []string{"no space left on device", "cannot write", out, "bytes per flow of free space"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr has no %q:\n%s", want, stderr)
		}
	}
	if tmp := leftovers(t, out); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	t.Logf("stderr: %s", stderr)
}

// TestRobustReadOnlyOutput gives an output directory that cannot be
// written: analyze must fail before reading anything.
func TestRobustReadOnlyOutput(t *testing.T) {
	dir := mountTmpfs(t, "size=64k,ro")
	code, stderr := runCaptured(t, "analyze", "--progress", "never", "-o", dir, filepath.Join(damagedDir, "base.pcap"))
	if code != exitFailed {
		t.Fatalf("exit status %d, want %d:\n%s", code, exitFailed, stderr)
	}
	if !strings.Contains(stderr, "cannot write in output directory") || !strings.Contains(stderr, "read-only file system") {
		t.Errorf("unclear message:\n%s", stderr)
	}
	if strings.Contains(stderr, "packets") {
		t.Errorf("the trace was read:\n%s", stderr)
	}
}
