// Package pipeline runs flowstat's analysis end to end, for the command
// line and for any Go program: Analyze reads traces into flow records and
// what the report is built from, WriteOutputs writes flows.parquet,
// summary.json, the tables, plots and report.md, and a Capture does the
// same for each window of a live capture. Extract writes the packets of
// chosen flows back out of the inputs into a pcap, reading each input from
// the flow's first packet (flows.parquet's input, first_frame and
// first_offset) on. A Dataset adds a run's flows and intervals to a
// partitioned Parquet dataset (analyze --dataset). Map reads one input of
// an archive, anywhere, and Merge joins map tasks' outputs into Analyze's
// Result over all their inputs (mapmerge.go; MapOutput reads one for a
// merge that runs elsewhere, as on Apache Beam).
//
// It chooses how to read: a large uncompressed file in chunks on every
// core (split.go), other inputs framed in one goroutine and decoded on the
// others (stream.go), or all in one goroutine with one worker. Packets go
// through the BPF filter, the decoder and the targets into a sharded flow
// table. Analyze sends its records to sorted runs on disk (spill.go) and,
// for the report, to parts on disk, so that memory depends on the flows
// open at once, not on the length of the input; a live window keeps its
// records in memory. LimitMemory and DefaultMaxFlows bound the memory a
// run takes.
//
// It says nothing itself: progress goes to a Progress, warnings to
// Config.Warn, and errors are returned (ErrInterrupted, InputError).
//
// Imports: reader, flows, report, plots.
package pipeline
