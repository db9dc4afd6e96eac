package report

import (
	"testing"
)

// BenchmarkBuild builds the report of the made-up attack traffic of the
// golden test, repeated to 100 times its flows (350 k), without plots.
func BenchmarkBuild(b *testing.B) {
	var fs []flow
	base := attackFlows()
	for rep := range 100 {
		for _, f := range base {
			f.sport += uint16(rep)
			pkts := make([]pkt, len(f.pkts))
			for i, p := range f.pkts {
				p.s += float64(rep) * 600
				pkts[i] = p
			}
			f.pkts = pkts
			fs = append(fs, f)
		}
	}
	ds := dataset(b, 60, 60, fs...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Build(ds, BuildOptions{NoPlots: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds.Flows)), "ns/flow")
}
