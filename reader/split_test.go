package reader

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// splitFrame is what a test compares of a frame: where it was and what it held.
type splitFrame struct {
	offset int64
	time   int64
	link   int
	wire   int
	data   string
}

func frameOf(f *Frame) splitFrame {
	return splitFrame{f.Offset, f.Time, f.LinkType, f.WireLen, string(f.Data)}
}

// readSequentially reads path with Open, as a single pass does.
func readSequentially(t *testing.T, path string) ([]splitFrame, []Damage) {
	t.Helper()
	tr, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var out []splitFrame
	var f Frame
	for tr.Next(&f) == nil {
		out = append(out, frameOf(&f))
	}
	return out, tr.Damages
}

// readChunks reads s with ReadSplit; worker 0 is slowed down on every other
// chunk so that results arrive out of order.
func readChunks(t *testing.T, s *Split, workers int) (frames []splitFrame, damages []Damage, resumed int) {
	t.Helper()
	read := func(c *ChunkReader, worker int) []splitFrame {
		if worker == workers {
			resumed++ // only the caller's goroutine reads with index workers
		}
		var out []splitFrame
		var f Frame
		for c.Next(&f) == nil {
			out = append(out, frameOf(&f))
		}
		return out
	}
	use := func(part []splitFrame) error {
		frames = append(frames, part...)
		return nil
	}
	var tr Trace
	if err := ReadSplit(s, workers, 2*workers, read, use, &tr); err != nil {
		t.Fatal(err)
	}
	return frames, tr.Damages, resumed
}

// splitAt splits path at the given offsets, which must be ascending and
// after the file header.
func splitAt(t *testing.T, path string, cuts ...int64) *Split {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := SplitTrace(path, info.Size()/3, nil)
	if err != nil || s == nil {
		t.Fatalf("cannot split %s: %v", path, err)
	}
	start := s.Chunks[0].Start
	s.Chunks = nil
	for _, c := range append(cuts, s.Size) {
		s.Chunks = append(s.Chunks, Chunk{start, c})
		start = c
	}
	return s
}

func sameAsSequential(t *testing.T, name string, s *Split, wantFrames []splitFrame, wantDamages []Damage) int {
	t.Helper()
	frames, damages, resumed := readChunks(t, s, 3)
	if !slices.Equal(frames, wantFrames) {
		t.Errorf("%s: %d frames read in %d chunks differ from the %d of a sequential pass", name, len(frames), len(s.Chunks), len(wantFrames))
		for i := range min(len(frames), len(wantFrames)) {
			if frames[i] != wantFrames[i] {
				t.Errorf("%s: first difference at frame %d: offset %d, want %d", name, i, frames[i].offset, wantFrames[i].offset)
				break
			}
		}
	}
	if fmt.Sprint(damageList(damages)) != fmt.Sprint(damageList(wantDamages)) {
		t.Errorf("%s: damages %v, want %v", name, damageList(damages), damageList(wantDamages))
	}
	return resumed
}

func damageList(ds []Damage) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%d+%d %s", d.Offset, d.Length, d.Reason))
	}
	return out
}

// gunzipTo writes the decompressed file src to a temporary file.
func gunzipTo(t *testing.T, src string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, filepath.Base(src[:len(src)-len(".gz")]), data)
}

// TestSplitMatchesSequential reads intact and damaged traces in chunks of
// many sizes, so that boundaries fall inside record headers, inside
// records' data, between the packets of flows and handshakes, and inside
// damaged regions, and requires the frames and damages of one pass.
func TestSplitMatchesSequential(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/damaged/*.pcap*")
	// In these, every 1000 bytes hold the start of a record; the third is
	// big-endian, with nanosecond times.
	var frames []testFrame
	for range 200 {
		frames = append(frames, sampleFrames(LinkEthernet)...)
	}
	smallRecords := []string{gunzipTo(t, "../testdata/sample.pcap.gz"),
		writeTemp(t, "sample.pcapng", writePcapng(binary.LittleEndian, pcapngFrames(600))),
		writeTemp(t, "big-endian.pcap", writePcap(binary.BigEndian, true, LinkEthernet, frames))}
	paths = append(paths, smallRecords...)
	if real, _ := filepath.Glob("../../shared/traces/real/*.pcap*"); len(real) > 0 {
		paths = append(paths, real...)
	} else {
		t.Log("shared traces absent: splitting the bundled traces only")
	}
	for _, path := range paths {
		if _, err := Open(path, nil); err != nil {
			continue // not a trace at all (empty, bad magic): nothing to split
		}
		wantFrames, wantDamages := readSequentially(t, path)
		for _, size := range []int64{17, 64, 100, 1000, 4099, 65536, 1 << 20} {
			s, err := SplitTrace(path, size, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s == nil || len(s.Chunks) > 3000 {
				continue // smaller than two chunks, or too slow to test
			}
			resumed := sameAsSequential(t, fmt.Sprintf("%s in %d-byte chunks", filepath.Base(path), size), s, wantFrames, wantDamages)
			minSize := int64(65536)
			if slices.Contains(smallRecords, path) {
				minSize = 1000
			}
			if len(wantDamages) == 0 && size >= minSize && resumed > 0 {
				// Every chunk holds records: all speculative readers fit.
				t.Errorf("%s in %d-byte chunks: %d chunks read again in an intact trace", filepath.Base(path), size, resumed)
			}
		}
	}
}

// pcapngFrames makes n frames of Ethernet TCP for a pcapng test file.
func pcapngFrames(n int) []testFrame {
	var out []testFrame
	for i := 0; i < n; i++ {
		data := ether(etherIPv4, nil, ipv4TCP("10.0.0.1", "10.0.0.2", uint16(1000+i%50), 80, SYN, 40+i%200))
		out = append(out, testFrame{time: 1_600_000_000_000_000_000 + int64(i)*1_000_000, link: LinkEthernet, data: data})
	}
	return out
}

// TestSplitBoundaries places chunk boundaries on purpose: inside a record
// header, inside a record's data, exactly on a record, between a SYN and
// its SYN-ACK, inside the SYN-ACK, and inside a damaged region.
func TestSplitBoundaries(t *testing.T) {
	path := gunzipTo(t, "../testdata/sample.pcap.gz")
	frames, damages := readSequentially(t, path)
	var syn, synack int = -1, -1
	var p Packet
	for i, f := range frames {
		if Decode(f.link, []byte(f.data), &p) != OK || p.Proto != ProtoTCP {
			continue
		}
		if p.TCPFlags == SYN && syn < 0 {
			syn = i
		}
		if p.TCPFlags == SYN|ACK && syn >= 0 && i > syn {
			synack = i
			break
		}
	}
	if syn < 0 || synack < 0 {
		t.Fatal("the sample has no handshake")
	}
	at := func(i int) int64 { return frames[i].offset }
	cases := map[string][]int64{
		"inside a record header": {at(3) + 3, at(40) + 9},
		"inside a record's data": {at(3) + 20, at(41) + 30},
		"on a record":            {at(3), at(42)},
		"inside a handshake":     {at(synack), at(synack) + 25},
		"one record per chunk":   {at(1), at(2), at(3), at(4), at(5)},
	}
	for name, cuts := range cases {
		sameAsSequential(t, name, splitAt(t, path, cuts...), frames, damages)
	}

	garbage := "../testdata/damaged/garbage-inserted.pcap"
	frames, damages = readSequentially(t, garbage)
	if len(damages) == 0 {
		t.Fatal("garbage-inserted.pcap has no damage")
	}
	d := damages[0]
	for name, cuts := range map[string][]int64{
		"at a damaged region":     {d.Offset},
		"inside a damaged region": {d.Offset + 10, d.Offset + d.Length/2},
		"right after it":          {d.Offset + d.Length},
	} {
		sameAsSequential(t, name, splitAt(t, garbage, cuts...), frames, damages)
	}
}

// TestSplitFalseSync hides a chain of plausible record headers inside a
// record's data: a chunk starting before it finds that chain first, and
// must be read again from where the chunk before stopped.
func TestSplitFalseSync(t *testing.T) {
	order := binary.LittleEndian
	var fake []byte
	for i := 0; i < 4; i++ {
		fake = order.AppendUint32(fake, 1_600_000_100+uint32(i))
		fake = order.AppendUint32(fake, 5)
		fake = order.AppendUint32(fake, 8)
		fake = order.AppendUint32(fake, 8)
		fake = append(fake, "8 bytes!"...)
	}
	frames := sampleFrames(LinkEthernet)
	frames[2].data = append(append(bytes.Clone(frames[2].data), 0, 0, 0, 0), fake...)
	path := writeTemp(t, "false-sync.pcap", writePcap(order, false, LinkEthernet, frames))
	want, wantDamages := readSequentially(t, path)
	if len(want) != 5 || len(wantDamages) != 0 {
		t.Fatalf("sequential pass: %d frames, damages %v", len(want), wantDamages)
	}
	inside := want[2].offset + 20 // before the fake chain, inside record 2
	if resumed := sameAsSequential(t, "false chain", splitAt(t, path, inside), want, wantDamages); resumed != 1 {
		t.Errorf("%d chunks read again, want 1 (the one that synchronised on the fake chain)", resumed)
	}
}

// TestChunkReadingDoesNotAllocate reads records of a chunk, pcap and
// pcapng, and of the whole file as a single pass does, and allocates
// nothing per record (a chunk reader once cloned the pcapng interfaces for
// every record).
func TestChunkReadingDoesNotAllocate(t *testing.T) {
	var frames []testFrame
	for range 400 {
		frames = append(frames, sampleFrames(LinkEthernet)...)
	}
	for name, data := range map[string][]byte{
		"pcap":   writePcap(binary.LittleEndian, false, LinkEthernet, frames),
		"pcapng": writePcapng(binary.LittleEndian, frames),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := SplitTrace(writeTemp(t, name, data), int64(len(data)/3), nil)
			if err != nil || s == nil {
				t.Fatalf("split: %v, %v", s, err)
			}
			c, err := s.open(s.Size, s.Chunks[0].Start, s.header)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var f Frame
			for range 10 { // the window's buffer is made on the first reads
				if err := c.Next(&f); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := c.Next(&f); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%.1f allocations per record", allocs)
			}
			tr, err := Open(s.Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for range 10 {
				if err := tr.Next(&f); err != nil {
					t.Fatal(err)
				}
			}
			allocs = testing.AllocsPerRun(200, func() {
				if err := tr.Next(&f); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("a single pass: %.1f allocations per record", allocs)
			}
		})
	}
}
