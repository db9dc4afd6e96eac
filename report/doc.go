// Package report turns flow records into what an analyst reads: the
// statistics and findings of an incident, which package markdown renders
// as report.md and package plots as PNG files.
//
// For the report stage, a Dataset holds everything the report is built
// from, all of it stored in an output directory: the flow records, the
// traffic per window and destination, and the summary. NewDataset builds
// one from a run's records; Load reads one back from a directory. Build
// computes every series once (per-window and per-destination counts,
// duration CDFs, findings, timelines, figures); WriteTables writes the
// statistics tables through package tables, which holds their schemas,
// and package markdown and package plots render the rest.
//
// Imports: tables, flows, extsort.
package report
