// Package report turns flow records into what an analyst reads: Parquet
// tables, statistics and findings, which package markdown renders as
// report.md and package plots as PNG files.
//
// It writes flows.parquet (FlowSchema, WriteFlows) and summary.json
// (Summary). For the report stage, a Dataset holds everything the report is
// built from, all of it stored in an output directory: the flow records, the
// traffic per window and destination, and the summary. NewDataset builds one
// from a run's records; Load reads one back from a directory. Build computes
// every series once (per-window and per-destination counts, duration CDFs,
// findings, timelines, figures); WriteTables, package markdown and package
// plots render them. Every file is written to a temporary name and renamed when
// complete.
//
// Imports: flows, extsort, reader (protocol numbers).
package report
