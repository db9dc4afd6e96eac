package pipeline

import (
	"cmp"
	"path/filepath"

	"flowstat/flows"
	"flowstat/markdown"
	"flowstat/plots"
	"flowstat/report"
	"flowstat/tables"
)

// WriteOutputs writes the output files, each atomically: the flows and the
// summary, then the report built from nothing but what they and
// intervals.parquet hold, so that 'flowstat report' can reproduce it.
func WriteOutputs(cfg *Config, res *Result) error {
	cfg = cfg.withDefaults()
	// flows.parquet and the report only read the records: write the one
	// while building the other, each on its own core.
	bar := cfg.Progress.Output(res.Summary.Flows.Total, !cfg.NoReport)
	if cfg.Dataset != nil {
		if err := cfg.Dataset.begin(&res.Summary); err != nil {
			return err
		}
	}
	flowsDone := make(chan error, 1)
	go func() {
		defer phase("flows.parquet")()
		defer removeSpills(res.spilled)
		err := writeFlows(filepath.Join(cfg.Out, tables.FlowsFile), cfg.CommunityIDSeed, res, bar)
		if err == nil && cfg.Dataset != nil {
			err = stageFlows(cfg, res)
		}
		flowsDone <- err
	}()
	err := writeReport(cfg, res, bar)
	if err == nil && cfg.Dataset != nil && !cfg.NoReport {
		err = cfg.Dataset.stageIntervals(cfg.Out)
	}
	ferr := <-flowsDone
	bar.Finish()
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	return tables.WriteJSON(filepath.Join(cfg.Out, tables.SummaryFile), &res.Summary)
}

// writeFlows writes flows.parquet from the records, or from the runs they
// were spilled in.
func writeFlows(path string, seed uint16, res *Result, bar OutputProgress) error {
	if res.spilled == nil {
		return tables.WriteFlows(path, seed, res.records, res.inputs...)
	}
	merge, err := spilledRecords(res.spilled)
	if err != nil {
		return err
	}
	merged := tables.RowGroupsFrom(merge.Fill)
	var rows int64
	return tables.WriteFlowsFrom(path, seed, func() ([]flows.Record, error) {
		bar.WroteRows(rows) // those given before, now written
		recs, err := merged()
		rows += int64(len(recs))
		return recs, err
	}, res.inputs...)
}

// writeReport builds the report from the records' parts, or from the
// records and their traffic, and the summary, and writes its tables,
// Markdown and plots.
func writeReport(cfg *Config, res *Result, bar OutputProgress) error {
	if res.parts != nil {
		defer res.parts.Remove()
	}
	if cfg.NoReport {
		return nil
	}
	build := func() (*report.Stats, error) {
		ds, err := report.NewDatasetWithTraffic(res.records, res.traffic, res.Summary)
		if err != nil {
			return nil, err
		}
		return report.Build(ds, reportOptions(cfg))
	}
	if res.parts != nil {
		// The report's files are its last step.
		steps := res.parts.Steps() + 1
		res.parts.Progress = func(done, _ int) { bar.Built(done, steps) }
		build = func() (*report.Stats, error) { return res.parts.Build(res.Summary) }
		defer bar.Built(steps, steps)
	}
	_, err := Render(cfg.Out, build, cfg.NoPlots)
	return err
}

func reportOptions(cfg *Config) report.BuildOptions {
	return report.BuildOptions{Thresholds: cfg.Thresholds, NoPlots: cfg.NoPlots, Hosts: cfg.Hosts, Version: cfg.Version}
}

// Render builds the report of a dataset and writes its tables, plots and
// report.md into dir, report.md last so that it never names a plot that
// is not there yet.
func Render(dir string, build func() (*report.Stats, error), noPlots bool) (*report.Stats, error) {
	endBuild := phase("build")
	st, err := build()
	endBuild()
	if err != nil {
		return nil, err
	}
	defer phase("report files")()
	// The tables and the plots only read st: write them at once.
	tables := make(chan error, 1)
	go func() { tables <- report.WriteTables(dir, st) }()
	var plotErr error
	if !noPlots {
		plotErr = plots.Write(dir, st.Figures)
	}
	if err := cmp.Or(<-tables, plotErr); err != nil {
		return nil, err
	}
	if err := markdown.Write(dir, st); err != nil {
		return nil, err
	}
	return st, nil
}
