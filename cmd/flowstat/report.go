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
	"time"

	"github.com/spf13/pflag"

	"flowstat/pipeline"
	"flowstat/report"
	"flowstat/tables"
)

const reportUsage = `Usage: flowstat report [flags] DIR

Renders the report again from an output directory of 'flowstat analyze', from
its flows.parquet, intervals.parquet and summary.json alone (the traces are not
needed), and writes into it:
  report.md             summary, findings, top destinations, timeline, method
  plots/*.png           the report's figures
  intervals.parquet     per window and destination statistics
  destinations.parquet  per destination statistics over the whole input
  cdf.parquet           distribution of flow durations

With the same settings it reproduces what analyze wrote. Another --interval
needs --out: the longer windows go there, and DIR keeps analyze's tables.

Flags:
%s
Exit status: 0 success; 1 failure; 2 usage error (bad flag, DIR not an output
directory of flowstat analyze).
`

// reportConfig is what the report command line asks for.
type reportConfig struct {
	dir     string
	out     string
	opts    report.BuildOptions
	noPlots bool
	quiet   bool
}

func parseReportFlags(args []string) (*reportConfig, error) {
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := &reportConfig{}
	var interval time.Duration
	var targets []string
	fs.StringVarP(&cfg.out, "out", "o", "", "write the report into `DIR` (default: the directory read)")
	fs.VarP(durationValue{&interval}, "interval", "i", "statistics window `DURATION`, a multiple of the analysed one (default: DIR's)")
	fs.StringArrayVarP(&targets, "target", "d", nil, "show the timeline of the destinations in this `IP|CIDR` (repeatable; default: the analysed --target, else the targets of findings and the busiest destinations)")
	fs.IntVarP(&cfg.opts.Top, "top", "n", report.DefaultTop, "list the top `N` destinations")
	fs.BoolVar(&cfg.noPlots, "no-plots", false, "write no plots")
	fs.BoolVar(&cfg.opts.Hosts, "hosts", false, "write hosts.parquet and host_windows.parquet, each address's traffic both ways, in all and by window (about half as much time again on traces of many flows)")
	addFindingFlags(fs, &cfg.opts.Thresholds)
	fs.BoolVarP(&cfg.quiet, "quiet", "q", false, "print nothing but errors")
	fs.Usage = func() { fmt.Fprintf(os.Stderr, reportUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v (see 'flowstat report --help')", err)
	}
	switch fs.NArg() {
	case 1:
		cfg.dir = fs.Arg(0)
	case 0:
		return nil, usagef("no output directory given (see 'flowstat report --help')")
	default:
		return nil, usagef("one output directory, not %d (see 'flowstat report --help')", fs.NArg())
	}
	if fs.Changed("interval") && interval <= 0 {
		return nil, usagef("--interval must be positive")
	}
	if cfg.opts.Top < 1 {
		return nil, usagef("--top must be at least 1")
	}
	if err := cfg.opts.Thresholds.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	for _, t := range targets {
		p, err := parseTarget(t)
		if err != nil {
			return nil, err
		}
		cfg.opts.Targets = append(cfg.opts.Targets, p)
	}
	cfg.opts.Interval = interval
	cfg.opts.NoPlots = cfg.noPlots
	cfg.opts.Version = version
	if cfg.out == "" {
		cfg.out = cfg.dir
	}
	return cfg, nil
}

func runReport(args []string) error {
	cfg, err := parseReportFlags(args)
	if err != nil {
		return err
	}
	analysed, err := tables.ReadSummary(filepath.Join(cfg.dir, tables.SummaryFile))
	if err != nil {
		return usagef("%s is not an output directory of flowstat analyze: %v", cfg.dir, err)
	}
	// Other windows would replace the tables analyze wrote, after which
	// the shorter ones could not be had again without the traces.
	if iv := cfg.opts.Interval; iv > 0 && cfg.out == cfg.dir && iv.Seconds() != analysed.Options.IntervalS {
		return usagef("--interval %v would replace the %v windows of %s, which analyze wrote: write the report elsewhere with -o DIR",
			iv, time.Duration(analysed.Options.IntervalS*float64(time.Second)), filepath.Join(cfg.dir, tables.IntervalsFile))
	}
	if cfg.out != cfg.dir {
		if err := checkWritable(cfg.out); err != nil {
			return err
		}
	}
	removeStale(cfg.out, cfg.quiet)
	var st *report.Stats
	err = untilInterrupted(cfg.out, func(_ context.Context, writing *atomic.Bool) error {
		// The records are spread over parts in the output directory, as
		// analyze does, so that memory does not depend on how many there are.
		parts, s, err := report.LoadParts(cfg.dir, cfg.out, cfg.opts)
		if errors.Is(err, os.ErrNotExist) {
			return usagef("%s is not an output directory of flowstat analyze: %v", cfg.dir, err)
		}
		if err != nil {
			return err
		}
		defer parts.Remove()
		if cfg.opts.Interval > 0 && cfg.opts.Interval%parts.Interval() != 0 {
			return usagef("--interval %v is not a multiple of the %v windows in %s",
				cfg.opts.Interval, parts.Interval(), filepath.Join(cfg.dir, tables.IntervalsFile))
		}
		writing.Store(true)
		st, err = pipeline.Render(cfg.out, func() (*report.Stats, error) { return parts.Build(*s) }, cfg.opts.NoPlots)
		return err
	})
	if err != nil {
		return err
	}
	if !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: %s, %s in %s\n", plural(len(st.Findings), "finding"),
			plural(len(st.Figures), "plot"), filepath.Join(cfg.out, tables.MarkdownFile))
	}
	return nil
}

// addFindingFlags registers the finding thresholds, shared by analyze and
// report.
func addFindingFlags(fs *pflag.FlagSet, t *report.Thresholds) {
	d := report.DefaultThresholds()
	fs.IntVar(&t.SYNFloodFlows, "synflood-flows", d.SYNFloodFlows, "SYN flood: at least `N` SYN-only or half-open flows to one destination port")
	fs.IntVar(&t.SYNFloodSources, "synflood-sources", d.SYNFloodSources, "SYN flood: from at least `N` sources")
	fs.Float64Var(&t.SYNFloodShare, "synflood-share", d.SYNFloodShare, "SYN flood: making at least this `FRACTION` of its TCP flows")
	fs.IntVar(&t.ScanPorts, "scan-ports", d.ScanPorts, "port scan: one source reaching at least `N` ports of a host")
	fs.IntVar(&t.ScanHosts, "scan-hosts", d.ScanHosts, "host sweep: one source reaching at least `N` hosts on a port, or pinging them")
	fs.Float64Var(&t.ScanShare, "scan-share", d.ScanShare, "scans: at least this `FRACTION` of those TCP or UDP flows failed (report.md's Method says how)")
	fs.IntVar(&t.ReflectSources, "reflect-sources", d.ReflectSources, "reflection: from at least `N` sources to one victim")
	fs.IntVar(&t.ReflectPackets, "reflect-packets", d.ReflectPackets, "reflection: at least `N` packets (SYN-ACKs for TCP) to the victim")
	fs.Float64Var(&t.ReflectRatio, "reflect-ratio", d.ReflectRatio, "UDP reflection: replies at least `R` times the bytes of the requests")
	t.ReflectPorts = d.ReflectPorts
	fs.Var(portsValue{&t.ReflectPorts}, "reflect-ports", "UDP reflection: service `PORTS`, comma-separated")
	fs.IntVar(&t.FloodPackets, "flood-packets", d.FloodPackets, "UDP, ICMP and TCP floods: at least `N` packets to one host")
	fs.Float64Var(&t.FloodRate, "flood-rate", d.FloodRate, "floods, and reflections from unlisted ports: at least `R` packets/s in the busiest second")
	fs.IntVar(&t.FloodFlows, "flood-flows", d.FloodFlows, "UDP and TCP floods: in at least `N` flows")
	fs.IntVar(&t.CarpetHosts, "carpet-hosts", d.CarpetHosts, "carpet bombing: a flood or a reflection on at least `N` hosts of one prefix")
	fs.IntVar(&t.CarpetBits4, "carpet-prefix4", d.CarpetBits4, "carpet bombing: IPv4 prefixes of `BITS` bits")
	fs.IntVar(&t.CarpetBits6, "carpet-prefix6", d.CarpetBits6, "carpet bombing: IPv6 prefixes of `BITS` bits")
}

// portsValue is a pflag.Value for a comma-separated list of ports.
type portsValue struct{ ports *[]uint16 }

func (v portsValue) String() string {
	if v.ports == nil {
		return ""
	}
	var s []string
	for _, p := range *v.ports {
		s = append(s, strconv.Itoa(int(p)))
	}
	return strings.Join(s, ",")
}

func (v portsValue) Set(s string) error {
	var ports []uint16
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || p == 0 {
			return fmt.Errorf("%q is not a port number", f)
		}
		ports = append(ports, uint16(p))
	}
	*v.ports = ports
	return nil
}

func (v portsValue) Type() string { return "ports" }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
