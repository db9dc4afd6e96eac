package flows

import (
	"net/netip"
	"testing"

	"flowstat/reader"
)

// benchPackets is a stream of short TCP connections, interleaved: each
// connection is SYN, SYN-ACK, ACK, data, FIN, FIN, spread over many hosts.
func benchPackets(conns int) []reader.Packet {
	out := make([]reader.Packet, 0, conns*6)
	steps := []struct {
		fromCli bool
		flags   uint8
		payload uint32
	}{{true, S, 0}, {false, SA, 0}, {true, A, 0}, {true, PA, 500}, {true, FA, 0}, {false, FA, 0}}
	for step := range steps {
		for c := 0; c < conns; c++ {
			cli := netip.AddrFrom4([4]byte{10, byte(c >> 16), byte(c >> 8), byte(c)})
			p := reader.Packet{Time: t0 + int64(step*conns+c)*1000, IPVersion: 4, Proto: reader.ProtoTCP,
				TCPFlags: steps[step].flags, Payload: steps[step].payload, IPLen: 40 + steps[step].payload}
			if steps[step].fromCli {
				p.Src, p.Dst, p.SrcPort, p.DstPort = cli.As16(), server.As16(), uint16(1024+c), 80
			} else {
				p.Src, p.Dst, p.SrcPort, p.DstPort = server.As16(), cli.As16(), 80, uint16(1024+c)
			}
			out = append(out, p)
		}
	}
	return out
}

func BenchmarkTableAdd(b *testing.B) {
	pkts := benchPackets(100_000)
	b.ReportAllocs()
	var records int
	for b.Loop() {
		tab := New(Options{Interval: 60e9}, func(*Record, []Window) { records++ })
		for i := range pkts {
			tab.Add(&pkts[i])
		}
		tab.Flush(0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
}
