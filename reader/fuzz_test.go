package reader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// addCorpusSeeds seeds a fuzzer with the traces of ../shared/traces and
// testdata, when present.
func addCorpusSeeds(f *testing.F, limit int) {
	for _, pattern := range []string{"../../shared/traces/corpus/*", "../testdata/*.pcap*", "testdata/fuzz-seeds/*"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err == nil && len(data) <= limit {
				f.Add(data)
			}
		}
	}
}

// FuzzTrace reads arbitrary bytes as a trace: it must never panic or hang,
// offsets must never go backwards, and every damage must wrap a sentinel.
func FuzzTrace(f *testing.F) {
	f.Add(writePcap(binary.LittleEndian, false, LinkEthernet, sampleFrames(LinkEthernet)))
	f.Add(writePcapng(binary.BigEndian, sampleFrames(LinkRaw)))
	addCorpusSeeds(f, 64<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Trace{Path: "fuzz"}
		if err := tr.open(bytes.NewReader(data)); err != nil {
			if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadBlock) {
				t.Fatalf("open error wraps no sentinel: %v", err)
			}
			return
		}
		var fr Frame
		var p Packet
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
			if n > len(data) {
				t.Fatalf("more records than bytes")
			}
			Decode(fr.LinkType, fr.Data, &p)
		}
		for _, d := range tr.Damages {
			if !errors.Is(d, ErrTruncated) && !errors.Is(d, ErrBadRecord) && !errors.Is(d, ErrBadBlock) && !errors.Is(d, ErrCompressed) {
				t.Fatalf("damage wraps no sentinel: %v", d)
			}
		}
	})
}

// FuzzDecode decodes arbitrary frames of every known link type.
func FuzzDecode(f *testing.F) {
	f.Add(LinkEthernet, ether(etherIPv4, []uint16{5}, ipv4TCP("10.0.0.1", "10.0.0.2", 1, 2, SYN, 40)))
	f.Add(LinkRaw, ipv6(ip6HopByHop, []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 8, 0, 0}, "::1", "::2"))
	f.Fuzz(func(t *testing.T, link int, data []byte) {
		var p Packet
		out := Decode(link, data, &p)
		if out == OK && p.IPVersion != 4 && p.IPVersion != 6 {
			t.Fatalf("OK outcome with IP version %d", p.IPVersion)
		}
	})
}
