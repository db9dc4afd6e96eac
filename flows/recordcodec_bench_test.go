package flows

import "testing"

// BenchmarkRecordCodec encodes and decodes a block of typical records, as
// the spill of flow records does.
func BenchmarkRecordCodec(b *testing.B) {
	recs := codecRecords()
	var block []Record
	for range 100 {
		block = append(block, recs["udp"], recs["tcp6"], recs["icmp"])
	}
	var buf []byte
	out := make([]Record, len(block))
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range block {
			buf = AppendRecord(buf, &block[i])
		}
		rest := buf
		for i := range out {
			rest, _ = ReadRecord(rest, &out[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(block)), "ns/record")
}
