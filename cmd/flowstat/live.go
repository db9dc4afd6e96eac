package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/reader"
)

const liveUsage = `Usage: flowstat live -i IFACE [flags]

Captures on a network interface and writes what 'flowstat analyze' writes for
each window of --rotate (aligned to multiples of it since the Unix epoch, UTC)
into DIR/<window start, e.g. 20260102T150405Z>/:
  flows.parquet, summary.json, report.md, plots/, intervals.parquet,
  destinations.parquet, cdf.parquet, and packets.pcap with --save-pcap
A window's directory appears complete or not at all, then DIR/latest points
at it. Writing happens beside the capture, which never waits for it.

A flow still open when its window closes is written with end_reason "open"
and goes on in the next window under the same flow_id, with counts since its
first packet: take each flow's row from the newest window that has it. Its
traffic per interval (intervals.parquet) counts only the window's packets.

summary.json ("capture") and report.md (Capture) give the packets the kernel
received and dropped, those the interface dropped and those flowstat dropped
because it fell behind, and flowstat's backlog.

Capturing needs root, or the capabilities CAP_NET_RAW and CAP_NET_ADMIN:
  sudo setcap cap_net_raw,cap_net_admin=eip "$(command -v flowstat)"

SIGINT or SIGTERM writes the current, partial window and exits with status 0;
a second one exits at once with status 130, leaving no partial window. Run one
flowstat live per output directory.

Flags:
%s
Exit status: 0 success, also after SIGINT or SIGTERM; 1 failure; 2 usage error
(bad flag, bad filter, no such interface, no permission to capture); 130
interrupted twice.
`

// liveConfig is what the live command line asks for.
type liveConfig struct {
	pipeline.CaptureConfig
	quiet bool
}

// liveStarted, when set, is called once the capture runs: tests wait for it
// before sending traffic.
var liveStarted func()

func parseLiveFlags(args []string) (*liveConfig, error) {
	fs := pflag.NewFlagSet("live", pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := &liveConfig{CaptureConfig: pipeline.CaptureConfig{Rotate: 60 * time.Second, Clock: time.Now}}
	cfg.Version = version
	idle := flows.DefaultIdleTimeout
	var active time.Duration
	var targets []string
	var bufferMiB int
	var noPromisc bool
	fs.StringVarP(&cfg.Interface, "interface", "i", "", "capture on network interface `IFACE` (see 'ip link')")
	fs.StringVarP(&cfg.BPF, "bpf", "b", "", "tcpdump filter `EXPR`, run in the kernel")
	fs.StringArrayVarP(&targets, "target", "d", nil, "keep only flows with an endpoint in this `IP|CIDR` (repeatable)")
	fs.StringVarP(&cfg.Out, "out", "o", "", "output `DIR` (default flowstat-out/live-IFACE)")
	fs.Var(durationValue{&cfg.Rotate}, "rotate", "close a window every `DURATION` (whole seconds; e.g. 60s, 5m)")
	fs.Var(durationValue{&cfg.Interval}, "interval", "statistics interval within a window (`DURATION`; default 10s, 5s or 1s, the longest dividing --rotate)")
	fs.IntVar(&cfg.Keep, "keep", 0, "keep the newest `N` windows (default all)")
	fs.Var(durationValue{&cfg.Duration}, "duration", "stop after `DURATION` (default: run until SIGINT or SIGTERM)")
	fs.Uint64Var(&cfg.Count, "count", 0, "stop after `N` packets (default: no limit)")
	fs.BoolVar(&cfg.SavePcap, "save-pcap", false, "also write each window's packets as packets.pcap")
	fs.Var(durationValue{&idle}, "idle-timeout", "end a flow after this much silence (`DURATION`)")
	fs.Var(durationValue{&active}, "active-timeout", "cut longer flows into consecutive records (`DURATION`; default off)")
	fs.IntVarP(&cfg.Workers, "workers", "j", 1, "flow table workers (`N`); capture, decoding and writing have their own")
	var maxFlows int
	fs.IntVar(&maxFlows, "max-flows", pipeline.DefaultMaxFlows(), "hold at most `N` flows at once: a new flow in a full table ends the flow silent for longest (end_reason evicted; the default is what 60% of this machine's memory holds; 0: unbounded)")
	fs.IntVar(&cfg.Capture.Snaplen, "snaplen", reader.DefaultSnaplen, "keep at most `BYTES` of each frame")
	fs.IntVar(&bufferMiB, "buffer", reader.DefaultBufferSize>>20, "kernel capture buffer in `MIB`; raise it when the kernel drops packets")
	fs.BoolVar(&noPromisc, "no-promisc", false, "leave the interface out of promiscuous mode")
	fs.BoolVar(&cfg.NoReport, "no-report", false, "write only flows.parquet and summary.json per window")
	fs.BoolVar(&cfg.NoPlots, "no-plots", false, "write no plots")
	fs.BoolVar(&cfg.NoDecap, "no-decap", false, "leave tunnels closed (GRE, ERSPAN, VXLAN, Geneve, GTP-U, MPLS, IP in IP): flows of the outer packets")
	fs.Uint16Var(&cfg.CommunityIDSeed, "community-id-seed", 0, "seed `N` of flows.parquet's community_id: the one Zeek, Suricata or Arkime use, to join their logs")
	addFindingFlags(fs, &cfg.Thresholds)
	fs.BoolVarP(&cfg.quiet, "quiet", "q", false, "print nothing but errors")
	fs.Usage = func() { fmt.Fprintf(os.Stderr, liveUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v (see 'flowstat live --help')", err)
	}
	switch {
	case fs.NArg() > 0:
		return nil, usagef("unexpected argument %q: live captures from an interface, given with -i (see 'flowstat live --help')", fs.Arg(0))
	case cfg.Interface == "":
		return nil, usagef("no interface given: name one with -i, e.g. -i eth0 (see 'ip link')")
	case cfg.Rotate < time.Second || cfg.Rotate%time.Second != 0:
		return nil, usagef("--rotate must be a whole number of seconds, at least 1s, not %v", cfg.Rotate)
	case fs.Changed("interval") && (cfg.Interval <= 0 || cfg.Rotate%cfg.Interval != 0):
		return nil, usagef("--interval %v must be positive and divide --rotate %v", cfg.Interval, cfg.Rotate)
	case cfg.Keep < 0:
		return nil, usagef("--keep must not be negative")
	case fs.Changed("duration") && cfg.Duration <= 0:
		return nil, usagef("--duration must be positive")
	case fs.Changed("count") && cfg.Count == 0:
		return nil, usagef("--count must be positive")
	case idle <= 0:
		return nil, usagef("--idle-timeout must be positive")
	case active < 0:
		return nil, usagef("--active-timeout must not be negative")
	case cfg.Workers < 1:
		return nil, usagef("--workers must be at least 1")
	case maxFlows < 0:
		return nil, usagef("--max-flows must not be negative")
	case cfg.Capture.Snaplen < 64:
		return nil, usagef("--snaplen must be at least 64 bytes, to hold the headers")
	case bufferMiB < 1:
		return nil, usagef("--buffer must be at least 1 MiB")
	}
	if err := cfg.Thresholds.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	if cfg.Interval == 0 {
		cfg.Interval = defaultLiveInterval(cfg.Rotate)
	}
	for _, t := range targets {
		p, err := parseTarget(t)
		if err != nil {
			return nil, err
		}
		cfg.Targets = append(cfg.Targets, p)
	}
	cfg.Capture.BPF = cfg.BPF
	cfg.Capture.BufferSize = bufferMiB << 20
	cfg.Capture.NoPromisc = noPromisc
	cfg.Flows = flows.Options{IdleTimeout: idle, ActiveTimeout: active, Interval: cfg.Interval, MaxFlows: maxFlows}
	if cfg.Out == "" {
		cfg.Out = filepath.Join("flowstat-out", "live-"+cfg.Interface)
	}
	cfg.Warn = warner(cfg.quiet)
	cfg.Failed = func(err error) { fmt.Fprintf(os.Stderr, "flowstat: %v\n", err) }
	if !cfg.quiet {
		cfg.Written = func(line string) { fmt.Fprintf(os.Stderr, "flowstat: %s\n", line) }
	}
	return cfg, nil
}

// defaultLiveInterval is the longest of 10 s, 5 s and 1 s that divides the
// rotation, so that every window holds whole intervals.
func defaultLiveInterval(rotate time.Duration) time.Duration {
	for _, iv := range []time.Duration{10 * time.Second, 5 * time.Second} {
		if rotate%iv == 0 {
			return iv
		}
	}
	return time.Second
}

func runLive(args []string) error {
	cfg, err := parseLiveFlags(args)
	if err != nil {
		return err
	}
	if _, err := reader.NewFilter(cfg.BPF); err != nil {
		return usagef("invalid --bpf expression %q: %v", cfg.BPF, unwrapAll(err))
	}
	if err := checkWritable(cfg.Out); err != nil {
		return err
	}
	src, err := reader.OpenLive(cfg.Interface, cfg.Capture)
	if err != nil {
		return liveOpenError(cfg, err)
	}
	defer src.Close()

	capture := pipeline.NewCapture(&cfg.CaptureConfig, src, src.LinkType)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sigs:
		case <-finished:
			return
		}
		if !cfg.quiet {
			fmt.Fprintln(os.Stderr, "flowstat: writing the current window; interrupt again to exit at once")
		}
		cancel()
		select {
		case <-sigs:
			// Exit here rather than through main: a second signal means
			// now, and the writer may be in the middle of a window.
			capture.Abort()
			fmt.Fprintln(os.Stderr, "flowstat: interrupted; the current window was not written")
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	if !cfg.quiet {
		filter := ""
		if cfg.BPF != "" {
			filter = fmt.Sprintf(" (filter %q)", cfg.BPF)
		}
		fmt.Fprintf(os.Stderr, "flowstat: capturing on %s%s; a window every %v into %s; Ctrl-C writes the current window and stops\n",
			cfg.Interface, filter, cfg.Rotate, cfg.Out)
	}
	if liveStarted != nil {
		liveStarted()
	}
	return capture.Run(ctx)
}

// liveOpenError turns the reasons a capture cannot start into usage errors
// that name the fix.
func liveOpenError(cfg *liveConfig, err error) error {
	switch {
	case errors.Is(err, reader.ErrPermission):
		exe, xerr := os.Executable()
		if xerr != nil {
			exe = "flowstat"
		}
		return usagef("%v: capturing needs root or the capabilities CAP_NET_RAW and CAP_NET_ADMIN; run as root, or grant them once with: sudo setcap cap_net_raw,cap_net_admin=eip %s", err, exe)
	case errors.Is(err, reader.ErrNoDevice):
		var names []string
		if ifaces, ierr := net.Interfaces(); ierr == nil {
			for _, in := range ifaces {
				names = append(names, in.Name)
			}
		}
		return usagef("%v: choose one of: %s, any (see 'ip link')", err, strings.Join(names, ", "))
	case errors.Is(err, reader.ErrFilter):
		return usagef("invalid --bpf expression for %s: %v", cfg.Interface, err)
	}
	return err
}
