package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/pflag"

	"flowstat/pipeline"
	"flowstat/tables"
)

const extractUsage = `Usage: flowstat extract (--flow-id N[,M...] | --finding K) -o FILE [flags] DIR

Writes the packets of flows of an output directory of 'flowstat analyze' to a
pcap file, read from the traces analyze read: each flow's input file is read
from its first packet on (flows.parquet's input, first_frame and first_offset;
an uncompressed file from that byte offset, without reading what comes
before), and into the later inputs of the run while the flow goes on. The
pcap has the packets in the order of the inputs, with nanosecond times and the
inputs' link type. It is written to a temporary file and renamed when
complete.

Flags:
%s
Exit status: 0 success; 1 failure (an input moved or changed since analyze);
2 usage error (bad flag, no such flow or finding, DIR not an output directory
of flowstat analyze); 130 interrupted.
`

type extractConfig struct {
	cfg   pipeline.ExtractConfig
	quiet bool
}

func parseExtractFlags(args []string) (*extractConfig, error) {
	fs := pflag.NewFlagSet("extract", pflag.ContinueOnError)
	fs.SortFlags = false
	c := &extractConfig{}
	var ids []string
	fs.StringSliceVar(&ids, "flow-id", nil, "the flows with these flow_id values of flows.parquet (`N,M...`, repeatable)")
	fs.IntVar(&c.cfg.Finding, "finding", 0, "the flows of finding `K` (findings.parquet's finding_id): of its protocol and time, between its host and its listed sources")
	fs.StringVarP(&c.cfg.Out, "out", "o", "", "write the pcap to `FILE` (required)")
	fs.StringVar(&c.cfg.InputDir, "input-dir", "", "read the inputs from `DIR`, by their file names, when they are no longer where analyze read them")
	fs.BoolVarP(&c.quiet, "quiet", "q", false, "print nothing but errors")
	fs.Usage = func() { fmt.Fprintf(os.Stderr, extractUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v (see 'flowstat extract --help')", err)
	}
	if fs.NArg() != 1 {
		return nil, usagef("give one output directory of flowstat analyze (see 'flowstat extract --help')")
	}
	c.cfg.Dir = fs.Arg(0)
	for _, id := range ids {
		n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
		if err != nil {
			return nil, usagef("--flow-id takes flow_id numbers of flows.parquet, not %q", id)
		}
		c.cfg.FlowIDs = append(c.cfg.FlowIDs, n)
	}
	switch {
	case len(c.cfg.FlowIDs) == 0 && c.cfg.Finding == 0:
		return nil, usagef("say which flows: --flow-id N or --finding K")
	case c.cfg.Finding < 0:
		return nil, usagef("--finding takes a finding_id of findings.parquet, from 1")
	case c.cfg.Out == "":
		return nil, usagef("give the pcap to write with -o FILE")
	}
	return c, nil
}

func runExtract(args []string) error {
	c, err := parseExtractFlags(args)
	if err != nil {
		return err
	}
	for _, name := range []string{tables.FlowsFile, tables.SummaryFile} {
		if _, err := os.Stat(filepath.Join(c.cfg.Dir, name)); err != nil {
			return usagef("%s has no %s (is it an output directory of flowstat analyze?): %v", c.cfg.Dir, name, err)
		}
	}
	if c.cfg.Finding > 0 {
		if _, err := os.Stat(filepath.Join(c.cfg.Dir, tables.FindingsFile)); err != nil {
			return usagef("%s has no %s: --finding needs the report's tables (analyze without --no-report, or flowstat report)", c.cfg.Dir, tables.FindingsFile)
		}
	}
	outDir := filepath.Dir(c.cfg.Out)
	if err := checkWritable(outDir); err != nil {
		return err
	}
	removeStale(outDir, c.quiet)
	var res *pipeline.ExtractResult
	err = untilInterrupted(outDir, func(_ context.Context, writing *atomic.Bool) error {
		writing.Store(true)
		var err error
		res, err = pipeline.Extract(c.cfg)
		return err
	})
	if err != nil {
		var nf pipeline.NotFoundError
		if errors.As(err, &nf) {
			return usageError{err}
		}
		return err
	}
	if !c.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %s: %d packets of %d flows\n", c.cfg.Out, res.Packets, res.Flows)
		if len(res.Short) > 0 {
			fmt.Fprintf(os.Stderr, "flowstat: %d flows have fewer packets in the inputs than flows.parquet counts (the first: %d): fragments that came before their first fragment, or inputs changed since analyze\n",
				len(res.Short), res.Short[0])
		}
	}
	return nil
}
