package reader

import (
	"bytes"
	"encoding/binary"
	"io"
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
