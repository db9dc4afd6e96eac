package reader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// seedPatterns are the traces fuzzers start from: tcpdump's test suite,
// the repository's damaged captures and earlier fuzz findings kept as files.
var seedPatterns = []string{"../../shared/traces/corpus/*", "../testdata/*.pcap*", "../testdata/damaged/*", "testdata/fuzz-seeds/*", "testdata/*.bz2", "decompress/testdata/*.bz2"}

// addCorpusSeeds seeds a fuzzer with the traces of seedPatterns that are at
// most limit bytes long and that keep returns true for.
func addCorpusSeeds(f *testing.F, limit int, keep func([]byte) bool) {
	for _, data := range corpusSeeds(limit, keep) {
		f.Add(data)
	}
}

func corpusSeeds(limit int, keep func([]byte) bool) [][]byte {
	var seeds [][]byte
	for _, pattern := range seedPatterns {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err == nil && len(data) <= limit && keep(data) {
				seeds = append(seeds, data)
			}
		}
	}
	return seeds
}

func isPcapng(data []byte) bool {
	return len(data) >= 4 && binary.LittleEndian.Uint32(data) == blockSHB
}

// FuzzTrace reads arbitrary bytes as a trace of any format, compressed or
// not, seeded with every trace at hand.
func FuzzTrace(f *testing.F) {
	f.Add(writePcap(binary.LittleEndian, false, LinkEthernet, sampleFrames(LinkEthernet)))
	f.Add(writePcapng(binary.BigEndian, sampleFrames(LinkRaw)))
	f.Add(gzipped(writePcap(binary.BigEndian, true, LinkEthernet, sampleFrames(LinkEthernet))))
	f.Add(xzed(writePcap(binary.LittleEndian, false, LinkEthernet, sampleFrames(LinkEthernet))))
	f.Add(lz4ed(writePcapng(binary.LittleEndian, sampleFrames(LinkEthernet)), false))
	addCorpusSeeds(f, 64<<10, func([]byte) bool { return true })
	f.Fuzz(checkTrace)
}

// FuzzPcapng reads arbitrary bytes as a trace, seeded with pcapng traces
// only, so that mutations mostly exercise block framing, sections,
// interfaces and resynchronisation on blocks.
func FuzzPcapng(f *testing.F) {
	f.Add(writePcapng(binary.LittleEndian, sampleFrames(LinkEthernet)))
	f.Add(writePcapng(binary.BigEndian, sampleFrames(LinkRaw)))
	addCorpusSeeds(f, 64<<10, isPcapng)
	f.Fuzz(checkTrace)
}

// FuzzSplit reads arbitrary bytes as an uncompressed trace file in one
// pass, and in chunks of a size the fuzzer picks on three goroutines, and
// requires the same frames and damaged regions from both: any divergence
// between the split reader and the sequential one is a defect.
func FuzzSplit(f *testing.F) {
	for _, chunk := range []uint16{17, 100, 1000} {
		f.Add(writePcap(binary.LittleEndian, false, LinkEthernet, sampleFrames(LinkEthernet)), chunk)
		f.Add(writePcapng(binary.BigEndian, sampleFrames(LinkRaw)), chunk)
		for _, data := range corpusSeeds(64<<10, func([]byte) bool { return true }) {
			f.Add(data, chunk)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		size := int64(chunk%8192) + 1
		if int64(len(data))/size > 2000 {
			return // too many chunks to be quick
		}
		// A hang is a failure too, with the goroutines' stacks.
		hung := time.AfterFunc(10*time.Second, func() {
			stacks := make([]byte, 1<<20)
			panic(fmt.Sprintf("reading did not end in 10 s:\n%s", stacks[:runtime.Stack(stacks, true)]))
		})
		defer hung.Stop()
		path := writeTemp(t, "fuzz", data)
		s, err := SplitTrace(path, size, nil)
		if err != nil || s == nil {
			return // not a trace that is split: too short, compressed, not a trace
		}
		want, wantDamages, err := sumSequentially(path)
		if err != nil {
			return
		}
		got, damages, err := sumSplit(s, 3)
		if err != nil {
			t.Fatalf("split reading: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d frames read in %d-byte chunks differ from the %d of a sequential pass", len(got), size, len(want))
		}
		if g, w := fmt.Sprint(damageList(damages)), fmt.Sprint(damageList(wantDamages)); g != w {
			t.Fatalf("damages read in %d-byte chunks %s, want %s", size, g, w)
		}
	})
}

// checkTrace reads data as a trace: it must never panic or hang, offsets
// must never go backwards, every error must wrap a sentinel, and no frame
// may come from a region reported as damaged.
func checkTrace(t *testing.T, data []byte) {
	tr := &Trace{Path: "fuzz"}
	if err := tr.open(bytes.NewReader(data)); err != nil {
		if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadBlock) && !errors.Is(err, ErrCompressed) {
			t.Fatalf("open error wraps no sentinel: %v", err)
		}
		return
	}
	var fr Frame
	var p Packet
	var offsets []int64
	last := int64(-1)
	for n := 0; ; n++ {
		err := tr.Next(&fr)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if fr.Offset <= last {
			t.Fatalf("record %d at offset %d, after %d", n, fr.Offset, last)
		}
		last = fr.Offset
		offsets = append(offsets, fr.Offset)
		if tr.Compression == "" && (fr.Offset+int64(len(fr.Data)) > int64(len(data)) || fr.WireLen < len(fr.Data)) {
			t.Fatalf("record %d at offset %d: %d bytes (%d on the wire) in a trace of %d", n, fr.Offset, len(fr.Data), fr.WireLen, len(data))
		}
		if tr.Compression == "" && n > len(data) { // compressed, 611 bytes hold 5,000 records
			t.Fatalf("more records than bytes")
		}
		Decode(fr.LinkType, fr.Data, &p)
	}
	damages := len(tr.Damages)
	if err := tr.Next(&fr); err != io.EOF || len(tr.Damages) != damages {
		t.Fatalf("Next after the end: %v, damages %v", err, tr.Damages)
	}
	end := int64(-1)
	for _, d := range tr.Damages {
		if !errors.Is(d, ErrTruncated) && !errors.Is(d, ErrBadRecord) && !errors.Is(d, ErrBadBlock) &&
			!errors.Is(d, ErrCompressed) && !errors.Is(d, ErrConcatenated) {
			t.Fatalf("damage wraps no sentinel: %v", d)
		}
		if d.Offset < end || d.Length < 0 || (tr.Compression == "" && d.Offset+d.Length > int64(len(data))) {
			t.Fatalf("damage %v after one ending at %d in a trace of %d bytes", d, end, len(data))
		}
		end = d.Offset + d.Length
		for _, o := range offsets {
			if o >= d.Offset && (o < d.Offset+d.Length || d.Length == 0) {
				t.Fatalf("record at offset %d inside damage %v", o, d)
			}
		}
	}
}

// FuzzDecode decodes arbitrary frames of every known link type.
func FuzzDecode(f *testing.F) {
	f.Add(LinkEthernet, ether(etherIPv4, []uint16{5}, ipv4TCP("10.0.0.1", "10.0.0.2", 1, 2, SYN, 40)))
	f.Add(LinkRaw, ipv6(ip6HopByHop, []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 8, 0, 0}, "::1", "::2"))
	f.Add(LinkPPP, append([]byte{0xFF, 0x03, 0x00, 0x21}, ipv4TCP("10.0.0.1", "10.0.0.2", 1, 2, SYN, 40)...))
	f.Add(LinkCHDLC, append([]byte{0x0F, 0x00, 0x86, 0xDD}, ipv6(ProtoUDP, udpHeader(1, 2, 8), "::1", "::2")...))
	for _, tf := range builtTunnelFrames() {
		f.Add(LinkEthernet, tf.data)
	}
	f.Fuzz(func(t *testing.T, link int, data []byte) {
		var p Packet
		out := Decode(link, data, &p)
		if out == OK && p.IPVersion != 4 && p.IPVersion != 6 {
			t.Fatalf("OK outcome with IP version %d", p.IPVersion)
		}
		ends := p.Outer.Endpoints()
		if p.Tunnel == TunnelNone && (p.Outer != NoOuter || p.TunnelID != 0) ||
			p.Tunnel != TunnelNone && (out != OK || ends.Version != 0 && ends.Version != 4 && ends.Version != 6) {
			t.Fatalf("%v outcome with tunnel %v %d from IP version %d", out, p.Tunnel, p.TunnelID, ends.Version)
		}
		var outer Packet
		if got := (Decoder{NoDecap: true}).Decode(link, data, &outer); got == OK && outer.Tunnel != TunnelNone {
			t.Fatalf("a tunnel opened without decapsulation: %v", outer.Tunnel)
		}
	})
}
