package tables

// File names in an output directory.
const (
	FlowsFile        = "flows.parquet"
	SummaryFile      = "summary.json"
	IntervalsFile    = "intervals.parquet"
	DestinationsFile = "destinations.parquet"
	CDFFile          = "cdf.parquet"
	MarkdownFile     = "report.md"
)
