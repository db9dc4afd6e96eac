package pipeline

import (
	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/report"
	"flowstat/tables"
)

// flows.parquet needs the records in order: each shard's store writes its
// sorted chunks to a spill file as they fill, and the runs are merged from
// disk while flows.parquet is written. Memory then depends on the flows
// open at once, not on the length of the trace.

// newSpill creates a spill file for flow records in the output directory,
// whose runs are merged as they are written: a long trace has thousands.
// The records are written in their compact encoding (flows.AppendRecord),
// which is smaller than S2 makes their memory, in a quarter of its time.
func newSpill(dir string) (*extsort.Runs[flows.Record], error) {
	runs, err := extsort.NewRuns[flows.Record](dir, "flow records", report.SpaceHint)
	if err == nil {
		runs.MergeAsWritten(tables.CompareFlows)
		runs.EncodeWith(recordCodec)
	}
	return runs, err
}

var recordCodec = extsort.Codec[flows.Record]{Append: flows.AppendRecord, Read: flows.ReadRecord, MaxBytes: flows.MaxRecordBytes}

// spilledRecords opens the runs of the stores' spill files, and the
// records still in memory, for merging.
func spilledRecords(stores []recordStore) (*extsort.Merger[flows.Record], error) {
	var spills []*extsort.Runs[flows.Record]
	var last [][]flows.Record
	for i := range stores {
		spills = append(spills, stores[i].spill)
		last = append(last, sortChunk(stores[i].last))
	}
	return extsort.NewMerger(tables.CompareFlows, spills, last...)
}

// removeSpills deletes the stores' spill files.
func removeSpills(stores []recordStore) {
	for i := range stores {
		stores[i].spill.Remove()
		stores[i].spill = nil
	}
}
