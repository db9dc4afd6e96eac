package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/spf13/pflag"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
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
	iface    string
	out      string
	rotate   time.Duration
	interval time.Duration
	keep     int
	duration time.Duration
	count    uint64
	savePcap bool
	targets  []netip.Prefix
	bpf      string
	flowOpts flows.Options
	workers  int
	capture  reader.LiveOptions
	quiet    bool
	// outputs holds what writeOutputs takes besides the directory.
	outputs analyzeConfig
	// clock reads the wall clock, which only decides when windows close
	// and when --duration is over (STYLE §5).
	clock func() time.Time
}

// liveStarted, when set, is called once the capture runs: tests wait for it
// before sending traffic.
var liveStarted func()

func parseLiveFlags(args []string) (*liveConfig, error) {
	fs := pflag.NewFlagSet("live", pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := &liveConfig{rotate: 60 * time.Second, clock: time.Now}
	idle := flows.DefaultIdleTimeout
	var active time.Duration
	var targets []string
	var bufferMiB int
	var noPromisc bool
	fs.StringVarP(&cfg.iface, "interface", "i", "", "capture on network interface `IFACE` (see 'ip link')")
	fs.StringVarP(&cfg.bpf, "bpf", "b", "", "tcpdump filter `EXPR`, run in the kernel")
	fs.StringArrayVarP(&targets, "target", "d", nil, "keep only flows with an endpoint in this `IP|CIDR` (repeatable)")
	fs.StringVarP(&cfg.out, "out", "o", "", "output `DIR` (default flowstat-out/live-IFACE)")
	fs.Var(durationValue{&cfg.rotate}, "rotate", "close a window every `DURATION` (whole seconds; e.g. 60s, 5m)")
	fs.Var(durationValue{&cfg.interval}, "interval", "statistics interval within a window (`DURATION`; default 10s, 5s or 1s, the longest dividing --rotate)")
	fs.IntVar(&cfg.keep, "keep", 0, "keep the newest `N` windows (default all)")
	fs.Var(durationValue{&cfg.duration}, "duration", "stop after `DURATION` (default: run until SIGINT or SIGTERM)")
	fs.Uint64Var(&cfg.count, "count", 0, "stop after `N` packets (default: no limit)")
	fs.BoolVar(&cfg.savePcap, "save-pcap", false, "also write each window's packets as packets.pcap")
	fs.Var(durationValue{&idle}, "idle-timeout", "end a flow after this much silence (`DURATION`)")
	fs.Var(durationValue{&active}, "active-timeout", "cut longer flows into consecutive records (`DURATION`; default off)")
	fs.IntVarP(&cfg.workers, "workers", "j", 1, "flow table workers (`N`); capture, decoding and writing have their own")
	var maxFlows int
	fs.IntVar(&maxFlows, "max-flows", defaultMaxFlows(), "hold at most `N` flows at once: a new flow in a full table ends the flow silent for longest (end_reason evicted; the default is what 60% of this machine's memory holds; 0: unbounded)")
	fs.IntVar(&cfg.capture.Snaplen, "snaplen", reader.DefaultSnaplen, "keep at most `BYTES` of each frame")
	fs.IntVar(&bufferMiB, "buffer", reader.DefaultBufferSize>>20, "kernel capture buffer in `MIB`; raise it when the kernel drops packets")
	fs.BoolVar(&noPromisc, "no-promisc", false, "leave the interface out of promiscuous mode")
	fs.BoolVar(&cfg.outputs.noReport, "no-report", false, "write only flows.parquet and summary.json per window")
	fs.BoolVar(&cfg.outputs.noPlots, "no-plots", false, "write no plots")
	addFindingFlags(fs, &cfg.outputs.thresholds)
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
	case cfg.iface == "":
		return nil, usagef("no interface given: name one with -i, e.g. -i eth0 (see 'ip link')")
	case cfg.rotate < time.Second || cfg.rotate%time.Second != 0:
		return nil, usagef("--rotate must be a whole number of seconds, at least 1s, not %v", cfg.rotate)
	case fs.Changed("interval") && (cfg.interval <= 0 || cfg.rotate%cfg.interval != 0):
		return nil, usagef("--interval %v must be positive and divide --rotate %v", cfg.interval, cfg.rotate)
	case cfg.keep < 0:
		return nil, usagef("--keep must not be negative")
	case fs.Changed("duration") && cfg.duration <= 0:
		return nil, usagef("--duration must be positive")
	case fs.Changed("count") && cfg.count == 0:
		return nil, usagef("--count must be positive")
	case idle <= 0:
		return nil, usagef("--idle-timeout must be positive")
	case active < 0:
		return nil, usagef("--active-timeout must not be negative")
	case cfg.workers < 1:
		return nil, usagef("--workers must be at least 1")
	case maxFlows < 0:
		return nil, usagef("--max-flows must not be negative")
	case cfg.capture.Snaplen < 64:
		return nil, usagef("--snaplen must be at least 64 bytes, to hold the headers")
	case bufferMiB < 1:
		return nil, usagef("--buffer must be at least 1 MiB")
	}
	if err := cfg.outputs.thresholds.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	if cfg.interval == 0 {
		cfg.interval = defaultLiveInterval(cfg.rotate)
	}
	for _, t := range targets {
		p, err := parseTarget(t)
		if err != nil {
			return nil, err
		}
		cfg.targets = append(cfg.targets, p)
	}
	cfg.capture.BPF = cfg.bpf
	cfg.capture.BufferSize = bufferMiB << 20
	cfg.capture.NoPromisc = noPromisc
	cfg.flowOpts = flows.Options{IdleTimeout: idle, ActiveTimeout: active, Interval: cfg.interval, MaxFlows: maxFlows}
	if cfg.out == "" {
		cfg.out = filepath.Join("flowstat-out", "live-"+cfg.iface)
	}
	cfg.outputs.interval = cfg.interval
	cfg.outputs.targets = cfg.targets
	cfg.outputs.bpf = cfg.bpf
	cfg.outputs.flowOpts = cfg.flowOpts
	cfg.outputs.workers = cfg.workers
	cfg.outputs.quiet = cfg.quiet
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
	if _, err := reader.NewFilter(cfg.bpf); err != nil {
		return usagef("invalid --bpf expression %q: %v", cfg.bpf, unwrapAll(err))
	}
	if err := checkWritable(cfg.out); err != nil {
		return err
	}
	src, err := reader.OpenLive(cfg.iface, cfg.capture)
	if err != nil {
		return liveOpenError(cfg, err)
	}
	defer src.Close()

	w := newWindowWriter(cfg, src.LinkType)
	w.removeStale()
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
			w.abort()
			fmt.Fprintln(os.Stderr, "flowstat: interrupted; the current window was not written")
			os.Exit(exitInterrupted)
		case <-finished:
		}
	}()

	if !cfg.quiet {
		filter := ""
		if cfg.bpf != "" {
			filter = fmt.Sprintf(" (filter %q)", cfg.bpf)
		}
		fmt.Fprintf(os.Stderr, "flowstat: capturing on %s%s; a window every %v into %s; Ctrl-C writes the current window and stops\n",
			cfg.iface, filter, cfg.rotate, cfg.out)
	}
	if liveStarted != nil {
		liveStarted()
	}
	return newCapturer(cfg, src, w).run(ctx)
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
		return usagef("invalid --bpf expression for %s: %v", cfg.iface, err)
	}
	return err
}

// liveSource is what the live loop reads: a *reader.Live, or a test's fake.
type liveSource interface {
	Batches() <-chan *reader.Batch
	Release(*reader.Batch)
	Stop()
	Stats() reader.LiveStats
	Err() error
}

var _ liveSource = (*reader.Live)(nil)

// rotateGrace is how long after a window's end a quiet capture waits before
// closing it: frames stamped before the end that are still in the kernel's
// buffer, or in libpcap's (its timeout is 100 ms), arrive in time to count
// in their window. Busy captures close a window at the first frame stamped
// after its end.
const rotateGrace = 250 * time.Millisecond

// tickEvery is how often the live loop looks at the clock.
const tickEvery = 50 * time.Millisecond

// run reads batches until the capture stops (ctx done, --duration,
// --count), closing a window at each boundary, and writes the last, partial
// window before returning.
func (c *capturer) run(ctx context.Context) error {
	src, w := c.src, c.w
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	done := ctx.Done()
	for {
		select {
		case b, ok := <-src.Batches():
			if !ok {
				c.close()
				werr := w.close()
				if err := src.Err(); err != nil {
					return err
				}
				return werr
			}
			c.batch(b)
		case <-tick.C:
			c.tick()
		case <-done:
			done = nil
			src.Stop()
		}
	}
}

// capturer turns batches into flows and closes windows. It runs in one
// goroutine; the flow table's shards and the window writer run in theirs.
type capturer struct {
	cfg    *liveConfig
	src    liveSource
	w      *windowWriter
	table  *flows.Sharded
	shards []shardWindow // per flow table shard
	win    *liveWindow
	// checkpointAt is the end of the window being checkpointed, for the
	// shards' emit to judge idle flows. Shards still busy with earlier
	// packets read it while it is set, hence atomic.
	checkpointAt atomic.Int64
	pkt          reader.Packet
	newest       int64 // newest packet time, to count packets out of order

	started  time.Time
	frames   uint64 // frames processed, for --count
	stopping bool
	last     reader.LiveStats // counters when the current window opened
}

// liveWindow is the window being filled.
type liveWindow struct {
	start, end time.Time // nominal bounds, aligned to --rotate
	from       time.Time // when this window began capturing
	counts     report.PacketCounts
	input      inputStats
	backlogMax int64
	pcap       *pcapFile // with --save-pcap
	tmp        string    // its temporary directory, once made
}

func newCapturer(cfg *liveConfig, src liveSource, w *windowWriter) *capturer {
	c := &capturer{cfg: cfg, src: src, w: w, started: cfg.clock(), shards: make([]shardWindow, cfg.workers)}
	for i := range c.shards {
		c.shards[i].carry.idle = int64(cfg.flowOpts.IdleTimeout)
		c.shards[i].reset(cfg)
	}
	c.table = flows.NewSharded(cfg.workers, cfg.flowOpts, c.emit)
	c.openWindow(c.started)
	return c
}

// shardWindow is a flow table shard's part of the current window. Only
// the shard's goroutine uses it, except between a Checkpoint and the next
// packet, when every shard waits and the capturer hands it to the writer.
type shardWindow struct {
	records recordStore
	traffic *report.TrafficCounter // the records' per-interval counts, their Windows being valid only in emit
	carry   carry                  // a flow always lands in the same shard
}

func (sw *shardWindow) reset(cfg *liveConfig) {
	sw.records = recordStore{}
	tc, err := report.NewTrafficCounter(report.Summary{Options: report.Options{IntervalS: cfg.interval.Seconds()}})
	if err != nil {
		panic("BUG: " + err.Error()) // parseLiveFlags makes the interval positive
	}
	sw.traffic = tc
}

// emit takes a record from a shard of the flow table, in that shard's
// goroutine.
func (c *capturer) emit(shard int, r *flows.Record, windows []flows.Window) {
	sw := &c.shards[shard]
	windows, ok := sw.carry.apply(r, windows, c.checkpointAt.Load())
	if !ok {
		return
	}
	sw.traffic.Add(r, windows)
	sw.records.add(r)
}

// openWindow starts the window that holds t.
func (c *capturer) openWindow(t time.Time) {
	ns, rot := t.UnixNano(), int64(c.cfg.rotate)
	start := time.Unix(0, ns-(ns%rot+rot)%rot) // a multiple of rotate since the epoch
	c.win = &liveWindow{start: start, end: start.Add(c.cfg.rotate), from: t}
	if c.cfg.savePcap {
		c.win.tmp, c.win.pcap = c.w.openPcap(start)
	}
}

func (c *capturer) batch(b *reader.Batch) {
	c.win.backlogMax = max(c.win.backlogMax, c.src.Stats().Backlog)
	for i := range b.Frames {
		if c.cfg.count > 0 && c.frames >= c.cfg.count {
			break // frames captured after --count was reached
		}
		fr := &b.Frames[i]
		// A frame stamped in the next window closes this one; one stamped
		// further ahead (a clock step) stays in this one.
		if end := c.win.end.UnixNano(); fr.Time >= end && fr.Time < end+int64(c.cfg.rotate) {
			c.rotate(c.win.end)
		}
		c.add(fr)
		c.frames++
	}
	c.src.Release(b)
	if c.cfg.count > 0 && c.frames >= c.cfg.count && !c.stopping {
		c.stopping = true
		c.src.Stop()
	}
}

// add accounts one frame, as analyze does.
func (c *capturer) add(fr *reader.Frame) {
	w := c.win
	w.counts.Read++
	w.input.observe(fr)
	if w.pcap != nil {
		w.pcap.write(fr)
	}
	p := &c.pkt
	p.Time, p.Input = fr.Time, 0
	outcome := reader.Decode(fr.LinkType, fr.Data, p)
	if outcome == reader.OK && !inTargets(c.cfg.targets, p) {
		w.counts.FilteredOut++
		return
	}
	countPacket(&w.counts, outcome, p)
	if outcome != reader.OK {
		return
	}
	// The sharded table reports these only when it closes; a window needs
	// its own.
	if p.ICMPError {
		w.counts.ICMPErrors++
	}
	if p.Frag != reader.Whole {
		w.counts.Fragments++
	}
	if p.Time < c.newest {
		w.counts.OutOfOrder++
	}
	c.newest = max(c.newest, p.Time)
	c.table.Add(p)
}

func (c *capturer) tick() {
	now := c.cfg.clock()
	if c.cfg.duration > 0 && !c.stopping && now.Sub(c.started) >= c.cfg.duration {
		c.stopping = true
		c.src.Stop()
	}
	if now.Sub(c.win.end) < rotateGrace {
		return
	}
	next := c.win.end
	if now.Sub(next.Add(c.cfg.rotate)) >= rotateGrace {
		// Behind by more than a window (the machine slept, or the clock
		// stepped): skip the windows nobody captured in.
		next = now
	}
	c.rotate(next)
}

// rotate closes the current window and opens the next at next.
func (c *capturer) rotate(next time.Time) {
	c.checkpointAt.Store(c.win.end.UnixNano())
	c.table.Checkpoint()
	c.submit(c.win.end)
	c.openWindow(next)
}

// close writes the last window, cut short at the current time.
func (c *capturer) close() {
	c.table.Close(nil)
	c.submit(c.cfg.clock())
}

// submit hands the current window's records and counts to the writer.
func (c *capturer) submit(to time.Time) {
	st := c.src.Stats()
	win := c.win
	job := &windowJob{
		start: win.start, end: win.end, from: win.from, to: to,
		counts: win.counts, input: win.input, tmp: win.tmp,
		capture: captureSummary{
			Received:         st.Received - c.last.Received,
			KernelDropped:    st.KernelDropped - c.last.KernelDropped,
			InterfaceDropped: st.InterfaceDropped - c.last.InterfaceDropped,
			Captured:         st.Captured - c.last.Captured,
			FlowstatDropped:  st.Dropped - c.last.Dropped,
			BacklogMax:       win.backlogMax,
		},
	}
	if win.pcap != nil {
		job.pcapErr = win.pcap.close()
	}
	c.last = st
	// Every shard waits (after Checkpoint or Close): take their records.
	for i := range c.shards {
		sw := &c.shards[i]
		job.stores = append(job.stores, sw.records)
		job.traffic = append(job.traffic, sw.traffic)
		sw.reset(c.cfg)
		sw.carry.next()
	}
	c.w.submit(job)
}

// windowJob is a closed window on its way to disk.
type windowJob struct {
	start, end time.Time // nominal bounds
	from, to   time.Time // what was captured
	stores     []recordStore
	traffic    []*report.TrafficCounter // per shard, like stores
	counts     report.PacketCounts
	input      inputStats
	capture    captureSummary
	tmp        string // temporary directory already made, or ""
	pcapErr    error
}

// captureSummary is summary.json's "capture" object: how the window was
// captured and what was lost.
//
// TODO(report): this belongs in report.Summary and report.md's summary;
// until then live adds it to summary.json itself and inserts a Capture
// section into report.md, which 'flowstat report' does not reproduce.
type captureSummary struct {
	Interface   string    `json:"interface"`
	LinkType    int       `json:"link_type"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	From        time.Time `json:"captured_from"`
	To          time.Time `json:"captured_to"`
	Partial     bool      `json:"partial"` // the capture started or stopped inside the window
	RotateS     float64   `json:"rotate_s"`
	Snaplen     int       `json:"snaplen"`
	BufferBytes int       `json:"buffer_bytes"`
	Promisc     bool      `json:"promisc"`
	// Received counts what the kernel's filter passed, dropped or not.
	Received         uint64 `json:"received"`
	KernelDropped    uint64 `json:"kernel_dropped"`
	InterfaceDropped uint64 `json:"interface_dropped"`
	// Captured counts what flowstat read from the kernel; FlowstatDropped
	// what it then dropped because its queue was full.
	Captured        uint64 `json:"captured"`
	FlowstatDropped uint64 `json:"flowstat_dropped"`
	// BacklogMax is the most frames waiting for processing at once.
	BacklogMax int64 `json:"backlog_max"`
	// WindowsPending counts the earlier windows still being written when
	// this one closed.
	WindowsPending int `json:"windows_pending"`
}

func (c *captureSummary) dropped() uint64 {
	return c.KernelDropped + c.InterfaceDropped + c.FlowstatDropped
}

// liveSummary is summary.json of a live window: analyze's, plus "capture".
type liveSummary struct {
	report.Summary
	Capture captureSummary `json:"capture"`
}

// windowWriter writes closed windows in its own goroutine, in order, so
// that the capture never waits for the disk.
type windowWriter struct {
	cfg      *liveConfig
	linkType int
	jobs     chan *windowJob
	done     chan struct{}
	failed   int
	firstErr error

	// mu is held while a window is renamed into place and latest repointed,
	// and by abort, which never releases it: after abort no window appears.
	mu      sync.Mutex
	aborted bool
	temps   map[string]bool // temporary directories in use
}

// pendingWindows is how many closed windows may wait for the writer before
// closing another makes the capture loop wait (the capture goroutine still
// does not: the batch queue and the kernel's buffer take the frames).
const pendingWindows = 4

func newWindowWriter(cfg *liveConfig, linkType int) *windowWriter {
	w := &windowWriter{
		cfg: cfg, linkType: linkType,
		jobs:  make(chan *windowJob, pendingWindows),
		done:  make(chan struct{}),
		temps: map[string]bool{},
	}
	go w.run()
	return w
}

func (w *windowWriter) submit(j *windowJob) {
	j.capture.WindowsPending = len(w.jobs)
	w.jobs <- j
}

// close waits for every window to be written and returns the first error.
func (w *windowWriter) close() error {
	close(w.jobs)
	<-w.done
	if w.failed > 0 {
		return fmt.Errorf("%d window(s) could not be written, the first: %w", w.failed, w.firstErr)
	}
	return nil
}

func (w *windowWriter) run() {
	defer close(w.done)
	for j := range w.jobs {
		name, res, err := w.write(j)
		if err != nil {
			w.failed++
			if w.firstErr == nil {
				w.firstErr = err
			}
			fmt.Fprintf(os.Stderr, "flowstat: cannot write window %s: %v\n", windowName(j.start), err)
			continue
		}
		if !w.cfg.quiet && name != "" {
			c := &j.capture
			fmt.Fprintf(os.Stderr, "flowstat: %s: %d packets, %d flows; dropped %d (kernel %d, interface %d, flowstat %d)\n",
				filepath.Join(w.cfg.out, name), res.summary.Packets.Read, len(res.records),
				c.dropped(), c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped)
		}
	}
}

// windowLayout names window directories: the window's start, UTC.
const windowLayout = "20060102T150405Z"

// windowDir matches window directories, with the suffix that a window
// written twice (flowstat restarted within it) gets.
var windowDir = regexp.MustCompile(`^\d{8}T\d{6}Z(-\d+)?$`)

func windowName(start time.Time) string { return start.UTC().Format(windowLayout) }

// Temporary names in DIR, removed at start: what a killed run left.
const (
	tempPrefix = ".flowstat-tmp-"
	latestLink = "latest"
)

// removeStale removes the temporary directories and links of a run that
// was killed.
func (w *windowWriter) removeStale() {
	ents, err := os.ReadDir(w.cfg.out)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			os.RemoveAll(filepath.Join(w.cfg.out, e.Name()))
		}
	}
}

// tempDir makes a temporary directory for the window starting at start.
func (w *windowWriter) tempDir(start time.Time) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return "", errors.New("aborted")
	}
	dir, err := os.MkdirTemp(w.cfg.out, tempPrefix+windowName(start)+"-*")
	if err != nil {
		return "", fmt.Errorf("cannot create a window directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp makes it private
		os.Remove(dir)
		return "", fmt.Errorf("cannot create a window directory: %w", err)
	}
	w.temps[dir] = true
	return dir, nil
}

// write writes a window into a temporary directory, then publishes it. It
// returns the window's directory name.
func (w *windowWriter) write(j *windowJob) (string, *analysis, error) {
	res := &analysis{records: sortedRecords(j.stores), traffic: j.traffic[0], summary: w.summary(j)}
	for _, tc := range j.traffic[1:] {
		res.traffic.Merge(tc)
	}
	res.summary.Flows.CountFlows(res.records)
	var err error
	c := w.captureOf(j)
	tmp := j.tmp
	if tmp == "" {
		if tmp, err = w.tempDir(j.start); err != nil {
			return "", nil, err
		}
	}
	cfg := w.cfg.outputs
	cfg.out = tmp
	err = writeOutputs(&cfg, res)
	if err == nil {
		err = report.WriteJSON(filepath.Join(tmp, report.SummaryFile), &liveSummary{res.summary, c})
	}
	if err == nil && !cfg.noReport {
		err = insertCaptureSection(filepath.Join(tmp, report.MarkdownFile), &c)
	}
	if err != nil {
		w.drop(tmp)
		return "", nil, err
	}
	name, err := w.publish(tmp, windowName(j.start))
	return name, res, err
}

// summary is summary.json's analyze part for a window.
func (w *windowWriter) summary(j *windowJob) report.Summary {
	cfg := w.cfg
	s := report.Summary{Tool: "flowstat", Version: version, Packets: j.counts}
	s.Options = summaryOptions(cfg.interval, cfg.flowOpts, cfg.bpf, cfg.workers, cfg.targets)
	in := report.Input{Path: cfg.iface, Format: "live capture", LinkTypes: j.input.linkTypes,
		Packets: j.input.packets, Bytes: j.input.bytes}
	if in.LinkTypes == nil {
		in.LinkTypes = []int{}
	}
	if j.input.packets > 0 {
		in.FirstSeen, in.LastSeen = utcTime(j.input.first), utcTime(j.input.last)
	}
	s.Inputs = []report.Input{in}
	if j.pcapErr != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("packets.pcap is incomplete: %v", j.pcapErr))
	}
	c := &j.capture
	if n := c.dropped(); n > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d packets were lost (kernel %d, interface %d, flowstat %d): flows and counts here miss them; see the Capture section",
			n, c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped))
	}
	setSpan(&s)
	s.ElapsedS = j.to.Sub(j.from).Seconds()
	if s.ElapsedS > 0 {
		s.PacketsPS = float64(s.Packets.Read) / s.ElapsedS
	}
	return s
}

func (w *windowWriter) captureOf(j *windowJob) captureSummary {
	c := j.capture
	c.Interface, c.LinkType = w.cfg.iface, w.linkType
	c.WindowStart, c.WindowEnd = j.start.UTC(), j.end.UTC()
	c.From, c.To = j.from.UTC(), j.to.UTC()
	c.Partial = j.from.After(j.start) || j.to.Before(j.end)
	c.RotateS = w.cfg.rotate.Seconds()
	c.Snaplen, c.BufferBytes, c.Promisc = w.cfg.capture.Snaplen, w.cfg.capture.BufferSize, !w.cfg.capture.NoPromisc
	return c
}

// drop removes a temporary directory that will not be published.
func (w *windowWriter) drop(tmp string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	os.RemoveAll(tmp)
	delete(w.temps, tmp)
}

// publish renames a complete window directory into place, repoints latest
// at it and removes windows beyond --keep.
func (w *windowWriter) publish(tmp, name string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return "", errors.New("aborted")
	}
	out := w.cfg.out
	final := name
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(out, final)); errors.Is(err, os.ErrNotExist) {
			break
		}
		final = fmt.Sprintf("%s-%d", name, i)
	}
	if err := os.Rename(tmp, filepath.Join(out, final)); err != nil {
		return "", fmt.Errorf("cannot publish window: %w", err)
	}
	delete(w.temps, tmp)
	// A new link under a temporary name renamed over the old one: readers
	// of latest see the previous window or this one, never nothing.
	link := filepath.Join(out, tempPrefix+latestLink)
	os.Remove(link)
	if err := os.Symlink(final, link); err != nil {
		return final, fmt.Errorf("cannot point %s at %s: %w", latestLink, final, err)
	}
	if err := os.Rename(link, filepath.Join(out, latestLink)); err != nil {
		os.Remove(link)
		return final, fmt.Errorf("cannot point %s at %s: %w", latestLink, final, err)
	}
	syncDir(out)
	return final, w.prune()
}

// prune removes the oldest windows beyond --keep.
func (w *windowWriter) prune() error {
	if w.cfg.keep == 0 {
		return nil
	}
	ents, err := os.ReadDir(w.cfg.out)
	if err != nil {
		return fmt.Errorf("cannot list windows: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && windowDir.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, compareWindows)
	for _, n := range names[:max(0, len(names)-w.cfg.keep)] {
		if err := os.RemoveAll(filepath.Join(w.cfg.out, n)); err != nil {
			return fmt.Errorf("cannot remove old window: %w", err)
		}
	}
	return nil
}

// compareWindows orders window names by start, then by the suffix of a
// window written again.
func compareWindows(a, b string) int {
	const n = len(windowLayout)
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// syncDir makes renames in dir durable; failing to is not worth an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// abort removes every temporary directory and stops any window from
// appearing; the process exits after it.
func (w *windowWriter) abort() {
	w.mu.Lock() // never released
	w.aborted = true
	for dir := range w.temps {
		os.RemoveAll(dir)
	}
	os.Remove(filepath.Join(w.cfg.out, tempPrefix+latestLink))
}

// openPcap makes the temporary directory of the window starting at start
// and opens its packets.pcap. On failure the window has no pcap; the error
// is reported with the window.
func (w *windowWriter) openPcap(start time.Time) (string, *pcapFile) {
	dir, err := w.tempDir(start)
	if err != nil {
		return "", &pcapFile{err: err}
	}
	return dir, newPcapFile(filepath.Join(dir, pcapName), w.linkType, w.cfg.capture.Snaplen)
}

const pcapName = "packets.pcap"

// pcapFile writes a window's frames. Its first error stops it; close
// returns that error.
type pcapFile struct {
	f   *os.File
	buf *bufio.Writer
	w   *pcapgo.Writer
	ci  gopacket.CaptureInfo
	err error
}

func newPcapFile(path string, linkType, snaplen int) *pcapFile {
	p := &pcapFile{}
	p.f, p.err = os.Create(path)
	if p.err != nil {
		return p
	}
	p.buf = bufio.NewWriterSize(p.f, 4<<20)
	p.w = pcapgo.NewWriterNanos(p.buf)
	p.err = p.w.WriteFileHeader(uint32(snaplen), layers.LinkType(linkType))
	return p
}

func (p *pcapFile) write(fr *reader.Frame) {
	if p.err != nil {
		return
	}
	p.ci.Timestamp = time.Unix(0, fr.Time)
	p.ci.CaptureLength, p.ci.Length = len(fr.Data), fr.WireLen
	p.err = p.w.WritePacket(p.ci, fr.Data)
}

func (p *pcapFile) close() error {
	if p.f == nil {
		return p.err
	}
	if p.err == nil {
		p.err = p.buf.Flush()
	}
	if err := p.f.Close(); p.err == nil {
		p.err = err
	}
	if p.err != nil {
		return fmt.Errorf("cannot write %s: %w", pcapName, p.err)
	}
	return nil
}

// insertCaptureSection adds a Capture section to report.md, after its
// Summary section.
//
// TODO(report): render this in report.Markdown from report.Summary.
func insertCaptureSection(path string, c *captureSummary) error {
	md, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read report: %w", err)
	}
	var b strings.Builder
	b.WriteString("## Capture\n\n")
	partial := ""
	if c.Partial {
		partial = " (partial: the capture started or stopped inside it)"
	}
	fmt.Fprintf(&b, "- **Interface** `%s`, window %s to %s UTC%s; captured from %s to %s.\n", c.Interface,
		c.WindowStart.Format(time.DateTime), c.WindowEnd.Format(time.DateTime), partial,
		c.From.Format("15:04:05.000"), c.To.Format("15:04:05.000"))
	fmt.Fprintf(&b, "- **Received** by the kernel's filter: %d packets; read by flowstat: %d.\n", c.Received, c.Captured)
	fmt.Fprintf(&b, "- **Dropped:** %d by the kernel (buffer full), %d by the interface, %d by flowstat (its queue full).\n",
		c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped)
	fmt.Fprintf(&b, "- **Backlog:** at most %d packets waited for processing; %d earlier windows were still being written when this one closed.\n",
		c.BacklogMax, c.WindowsPending)
	if c.dropped() > 0 {
		b.WriteString("\nPackets were lost, so flows and counts in this report miss some traffic. The kernel drops when flowstat reads too slowly: raise --buffer, narrow the capture with -b, or see docs/performance.md.\n")
	}
	b.WriteString("\n")
	section := b.String()
	text := string(md)
	at := len(text)
	if i := strings.Index(text, "## Summary\n"); i >= 0 {
		if j := strings.Index(text[i:], "\n## "); j >= 0 {
			at = i + j + 1
		}
	}
	if at == len(text) {
		section = "\n" + strings.TrimSuffix(section, "\n")
	}
	return report.WriteFileAtomic(path, []byte(text[:at]+section+text[at:]))
}

// carry follows flows across windows. A flow open at a window's end is
// written then with its counts so far; in the next window its traffic per
// interval must count only what came since, or intervals.parquet would
// count it twice.
type carry struct {
	idle int64
	// written holds the per-interval counts of the flows written open in
	// the previous window; open those written open in this one.
	written, open map[uint64][]flows.Window
	// ended holds flows written as ended by the idle timeout that the
	// table still holds.
	//
	// TODO(flows): a table expires flows only when its own packets advance
	// its clock, so a quiet shard keeps idle flows and Checkpoint emits them
	// as open, window after window. A Checkpoint(now) ending flows silent
	// for the idle timeout, as Flush does, would make this unnecessary.
	ended map[uint64]bool
}

// apply makes a record what the window's outputs hold, and reports whether
// it belongs there: its per-interval counts become those since the
// previous window (returned), an open flow idle by the window's end (end,
// in nanoseconds) ends, and a flow already written as ended is left out.
// Records of one flow must come in order.
func (c *carry) apply(r *flows.Record, windows []flows.Window, end int64) ([]flows.Window, bool) {
	if c.open == nil {
		c.open, c.ended = map[uint64][]flows.Window{}, map[uint64]bool{}
	}
	if c.ended[r.ID] {
		if r.EndReason != flows.EndOpen {
			delete(c.ended, r.ID)
		}
		return nil, false
	}
	prev := c.written[r.ID]
	if r.EndReason == flows.EndOpen {
		if r.LastSeen+c.idle <= end {
			r.EndReason = flows.EndIdle
			c.ended[r.ID] = true
		} else {
			c.open[r.ID] = slices.Clone(windows)
		}
	}
	if prev != nil {
		windows = subtractWindows(windows, prev)
	}
	return windows, true
}

// next moves on to the next window: the flows written open in this one are
// those whose counts the next subtracts.
func (c *carry) next() {
	c.written, c.open = c.open, map[uint64][]flows.Window{}
}

// subtractWindows subtracts the intervals of prev from those of cum, both
// sorted by start, in place, and leaves out intervals with nothing left.
func subtractWindows(cum, prev []flows.Window) []flows.Window {
	out := cum[:0]
	j := 0
	for _, w := range cum {
		for j < len(prev) && prev[j].Start < w.Start {
			j++
		}
		if j < len(prev) && prev[j].Start == w.Start {
			p := prev[j]
			w.Packets -= p.Packets
			w.Bytes -= p.Bytes
			w.SYNs -= p.SYNs
			w.SYNACKs -= p.SYNACKs
		}
		if w.Packets > 0 {
			out = append(out, w)
		}
	}
	return out
}
