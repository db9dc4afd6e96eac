package report

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

func BenchmarkRuns(b *testing.B) {
	const n, chunk = 256 << 10, 16 << 10
	recs := make([]flows.Record, n)
	for i := range recs {
		r := &recs[i]
		r.ID = uint64(i) * 0x9E3779B97F4A7C15
		r.Proto, r.IPVersion = protoTCP, 4
		r.SrcIP = flows.IPOf(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		r.DstIP = flows.IPOf(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 7)}))
		r.SrcPort, r.DstPort = uint16(1024+i%60000), 443
		r.FirstSeen = 1_700_000_000e9 + int64(i)*1e6
		r.LastSeen = r.FirstSeen + int64(i%1000)*1e6
		r.Packets, r.Bytes = [2]uint64{6, 4}, [2]uint64{400, 3000}
	}
	for i := 0; i < n; i += chunk {
		tables.SortFlows(recs[i : i+chunk])
	}
	dir := b.TempDir()
	out := make([]flows.Record, 4096)
	b.SetBytes(int64(n) * int64(unsafe.Sizeof(flows.Record{})))
	b.ReportAllocs()
	for b.Loop() {
		runs, err := newRuns[flows.Record](dir, "flow records")
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += chunk {
			runs.Write(recs[i : i+chunk])
		}
		m, err := extsort.NewMerger(tables.CompareFlows, []*extsort.Runs[flows.Record]{runs})
		if err != nil {
			b.Fatal(err)
		}
		drain(b, m, out)
		runs.Remove()
	}
}

// BenchmarkMergeMany merges 512 runs of interval rows held in memory, as
// intervals.parquet's final merge does from thousands in short windows:
// the cost is the comparisons per value.
func BenchmarkMergeMany(b *testing.B) {
	const runs, perRun = 512, 512
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([][]intervalRow, runs)
	for i := range in {
		ip := flows.IPOf(netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}))
		start := int64(rng.IntN(1000))
		for j := range perRun {
			in[i] = append(in[i], intervalRow{Start: start + int64(j)*int64(1+rng.IntN(3)), IP: ip, Port: 80, Proto: protoTCP})
		}
	}
	out := make([]intervalRow, 4096)
	b.SetBytes(runs * perRun * int64(unsafe.Sizeof(intervalRow{})))
	for b.Loop() {
		m, err := extsort.NewMerger(compareRows, nil, in...)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, m, out)
	}
}

// drain reads every value of m, a buffer at a time.
func drain[T any](tb testing.TB, m *extsort.Merger[T], buf []T) {
	for {
		n, err := m.Fill(buf)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}
