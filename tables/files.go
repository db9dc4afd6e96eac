package tables

// File names in an output directory.
const (
	FlowsFile        = "flows.parquet"
	SummaryFile      = "summary.json"
	IntervalsFile    = "intervals.parquet"
	DestinationsFile = "destinations.parquet"
	CDFFile          = "cdf.parquet"
	FindingsFile     = "findings.parquet"
	FindingSources   = "finding_sources.parquet"
	TimelinesFile    = "timelines.parquet"
	HostWindowsFile  = "host_windows.parquet"
	MarkdownFile     = "report.md"
)
