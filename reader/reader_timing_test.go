package reader

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchTrace is an in-memory pcap of n header-only TCP frames to many hosts.
func benchTrace(n int) []byte {
	frames := make([]testFrame, n)
	for i := range frames {
		ip := ipv4TCP("10.0.0.1", "10.0.0.2", uint16(i), 80, ACK, 1500)
		ip[15] = byte(i)
		frames[i] = testFrame{time: 1_600_000_000_000_000_000 + int64(i)*1000, link: LinkEthernet, data: ether(etherIPv4, nil, ip)}
	}
	return writePcap(binary.LittleEndian, false, LinkEthernet, frames)
}

func BenchmarkReadPcap(b *testing.B) {
	data := benchTrace(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var f Frame
	for b.Loop() {
		tr := &Trace{}
		if err := tr.open(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		for tr.Next(&f) != io.EOF {
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100_000), "ns/frame")
}

func BenchmarkDecode(b *testing.B) {
	frame := ether(etherIPv4, []uint16{7}, ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, ACK, 1500))
	var p Packet
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		Decode(LinkEthernet, frame, &p)
	}
}

// BenchmarkDecodeKinds decodes frames outside tunnels that BenchmarkDecode
// does not: opening tunnels must not make them slower.
func BenchmarkDecodeKinds(b *testing.B) {
	udp4 := ipv4TCP("10.0.0.1", "10.0.0.2", 5353, 53, 0, 28)
	udp4[9] = ProtoUDP
	tcp6 := ipv6(ProtoTCP, ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, ACK, 40)[20:], "2001:db8::1", "2001:db8::2")
	for _, k := range []struct {
		name string
		data []byte
	}{
		{"udp4", ether(etherIPv4, nil, udp4)},
		{"tcp6", ether(etherIPv6, nil, tcp6)},
	} {
		b.Run(k.name, func(b *testing.B) {
			var p Packet
			b.SetBytes(int64(len(k.data)))
			b.ReportAllocs()
			for b.Loop() {
				Decode(LinkEthernet, k.data, &p)
			}
		})
	}
}

// BenchmarkDecodeTunnels decodes each hand-built tunnel of the tests.
func BenchmarkDecodeTunnels(b *testing.B) {
	for _, tf := range builtTunnelFrames() {
		b.Run(strings.ReplaceAll(tf.name, " ", "_"), func(b *testing.B) {
			var p Packet
			b.SetBytes(int64(len(tf.data)))
			b.ReportAllocs()
			for b.Loop() {
				Decode(LinkEthernet, tf.data, &p)
			}
		})
	}
}

// BenchmarkReadSplit reads a 1M-frame pcap file in 1 MiB chunks on two
// goroutines, putting the chunks back in order: compare with
// BenchmarkReadPcap's ns/frame on one.
func BenchmarkReadSplit(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "bench.pcap")
	if err := os.WriteFile(path, benchTrace(n), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := SplitTrace(path, 1<<20, nil)
	if err != nil || s == nil {
		b.Fatalf("cannot split: %v", err)
	}
	b.SetBytes(s.Size)
	b.ReportAllocs()
	read := func(c *ChunkReader, _ int) int {
		frames := 0
		var f Frame
		for c.Next(&f) == nil {
			frames++
		}
		return frames
	}
	for b.Loop() {
		total := 0
		use := func(frames int) error { total += frames; return nil }
		if err := ReadSplit(s, 2, 4, read, use, &Trace{}); err != nil || total != n {
			b.Fatalf("read %d frames (%v), want %d", total, err, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
}
