package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"flowstat/export"
	"flowstat/tables"
)

const exportUsage = `Usage: flowstat export --format FORMAT [flags] DIR

Writes a table of an output directory of 'flowstat analyze' for tools that
read no Parquet:
  csv     a header of the column names, a line per row; null is an empty field
  ndjson  a JSON object per line, with the column names as keys
  zeek    the flows as a Zeek conn.log (tab-separated, Zeek's header lines),
          which zeek-cut and tools written for Zeek's logs read

Columns and their meaning are those of the Parquet files (README). The output
is written to a temporary file and renamed when complete.

Flags:
%s
Exit status: 0 success; 1 failure; 2 usage error (bad flag, DIR not an output
directory of flowstat analyze); 130 interrupted.
`

// exportTables are the tables export writes, by the name --table takes.
var exportTables = []string{"flows", "intervals", "destinations", "cdf", "findings", "finding_sources", "timelines", "hosts", "host_windows"}

type exportConfig struct {
	dir, table, format, out string
	quiet                   bool
}

func parseExportFlags(args []string) (*exportConfig, error) {
	fs := pflag.NewFlagSet("export", pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := &exportConfig{}
	fs.StringVarP(&cfg.format, "format", "f", "", "`FORMAT`: csv, ndjson or zeek")
	fs.StringVarP(&cfg.table, "table", "t", "flows", "the `TABLE` to write: flows, intervals, destinations, cdf, findings, finding_sources, timelines, hosts or host_windows (zeek: flows only)")
	fs.StringVarP(&cfg.out, "out", "o", "", "write to `FILE`, - for standard output (default DIR/TABLE.csv, DIR/TABLE.ndjson or DIR/conn.log)")
	fs.BoolVarP(&cfg.quiet, "quiet", "q", false, "print nothing but errors")
	fs.Usage = func() { fmt.Fprintf(os.Stderr, exportUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v (see 'flowstat export --help')", err)
	}
	if fs.NArg() != 1 {
		return nil, usagef("give one output directory of flowstat analyze (see 'flowstat export --help')")
	}
	cfg.dir = fs.Arg(0)
	switch {
	case cfg.format == "":
		return nil, usagef("no --format given: csv, ndjson or zeek")
	case cfg.format != "csv" && cfg.format != "ndjson" && cfg.format != "zeek":
		return nil, usagef("--format takes csv, ndjson or zeek, not %q", cfg.format)
	case !slices.Contains(exportTables, cfg.table):
		return nil, usagef("--table takes flows, intervals, destinations, cdf, findings, finding_sources, timelines, hosts or host_windows, not %q", cfg.table)
	case cfg.format == "zeek" && cfg.table != "flows":
		return nil, usagef("a Zeek conn.log holds flows: --format zeek takes no --table %s", cfg.table)
	}
	if cfg.out == "" {
		name := cfg.table + "." + cfg.format
		if cfg.format == "zeek" {
			name = "conn.log"
		}
		cfg.out = filepath.Join(cfg.dir, name)
	}
	return cfg, nil
}

func runExport(args []string) error {
	cfg, err := parseExportFlags(args)
	if err != nil {
		return err
	}
	table := filepath.Join(cfg.dir, cfg.table+".parquet")
	if _, err := os.Stat(table); err != nil && cfg.table == "hosts" {
		return usagef("%s has no hosts.parquet: 'flowstat analyze --hosts' writes it, or 'flowstat report --hosts -o OUT %[1]s' from the flows", cfg.dir)
	} else if err != nil && cfg.table == "host_windows" {
		return usagef("%s has no host_windows.parquet: 'flowstat analyze --hosts' writes it", cfg.dir)
	} else if err != nil {
		return usagef("%s has no %s (is it an output directory of flowstat analyze?): %v", cfg.dir, filepath.Base(table), err)
	}
	write := func(w io.Writer) error {
		switch cfg.format {
		case "csv":
			return export.CSV(w, table)
		case "ndjson":
			return export.NDJSON(w, table)
		}
		return export.ZeekConn(w, table, time.Now())
	}
	if cfg.out == "-" {
		return write(os.Stdout)
	}
	outDir := filepath.Dir(cfg.out)
	if err := checkWritable(outDir); err != nil {
		return err
	}
	removeStale(outDir, cfg.quiet)
	err = untilInterrupted(outDir, func(_ context.Context, writing *atomic.Bool) error {
		writing.Store(true)
		return tables.WriteFileAtomicFrom(cfg.out, write)
	})
	if err == nil && !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %s\n", cfg.out)
	}
	return err
}
