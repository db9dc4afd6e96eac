package report

import (
	"cmp"
	"fmt"
	"iter"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// Dest is a destination: the responder's address, port and protocol of a
// flow record. Intervals and destinations are keyed by it. For ICMP and
// ICMPv6, Port is the message the originator sent, type × 256 + code (an
// echo flow's request): its flows have no ports, and their identifiers
// are not services.
type Dest struct {
	IP    netip.Addr
	Port  uint16
	Proto uint8
}

// DestOf returns the destination of a record.
func DestOf(r *flows.Record) Dest { return Dest{IP: r.DstIP.Addr(), Port: destPort(r), Proto: r.Proto} }

// destPort is the Port of a record's Dest.
func destPort(r *flows.Record) uint16 {
	if isICMP(r.Proto) {
		return uint16(r.ICMPType)<<8 | uint16(r.ICMPCode)
	}
	return r.DstPort
}

func isICMP(proto uint8) bool { return proto == protoICMP || proto == protoICMPv6 }

// Compare orders destinations by address, port, then protocol.
func (d Dest) Compare(e Dest) int {
	if c := d.IP.Compare(e.IP); c != 0 {
		return c
	}
	if c := cmp.Compare(d.Port, e.Port); c != 0 {
		return c
	}
	return cmp.Compare(d.Proto, e.Proto)
}

// String writes a destination as 192.0.2.1:80/tcp or [2001:db8::1]:53/udp,
// and ICMP ones by their message: 192.0.2.1 icmp echo, 192.0.2.1 icmp 3/1
// (host unreachable).
func (d Dest) String() string {
	if !isICMP(d.Proto) {
		return netip.AddrPortFrom(d.IP, d.Port).String() + "/" + tables.ProtoName(d.Proto)
	}
	return d.IP.String() + " " + tables.ProtoName(d.Proto) + " " + ICMPMessage(d.Proto, uint8(d.Port>>8), uint8(d.Port))
}

// ICMPMessage names an ICMP or ICMPv6 message by its type and code, with
// the name of the common ones: "echo", "3/1 (host unreachable)", "42/0".
func ICMPMessage(proto, typ, code uint8) string {
	if flows.IsEcho(proto, typ) {
		return "echo"
	}
	names := icmpNames
	if proto == protoICMPv6 {
		names = icmp6Names
	}
	m := fmt.Sprintf("%d/%d", typ, code)
	if name, ok := names[[2]uint8{typ, code}]; ok {
		return m + " (" + name + ")"
	}
	if name, ok := names[[2]uint8{typ, 255}]; ok { // any code
		return m + " (" + name + ")"
	}
	return m
}

// The names of common ICMP and ICMPv6 messages, by type and code (255:
// any code).
var (
	icmpNames = map[[2]uint8]string{
		{3, 0}: "net unreachable", {3, 1}: "host unreachable", {3, 2}: "protocol unreachable", {3, 3}: "port unreachable",
		{3, 4}: "fragmentation needed", {3, 9}: "net prohibited", {3, 10}: "host prohibited", {3, 13}: "administratively prohibited",
		{3, 255}: "unreachable", {4, 255}: "source quench", {5, 255}: "redirect", {11, 0}: "TTL exceeded",
		{11, 1}: "reassembly time exceeded", {12, 255}: "parameter problem", {13, 255}: "timestamp", {14, 255}: "timestamp reply",
	}
	icmp6Names = map[[2]uint8]string{
		{1, 0}: "no route", {1, 1}: "administratively prohibited", {1, 3}: "address unreachable", {1, 4}: "port unreachable",
		{1, 255}: "unreachable", {2, 255}: "packet too big", {3, 0}: "hop limit exceeded", {3, 1}: "reassembly time exceeded",
		{4, 255}: "parameter problem", {133, 255}: "router solicitation", {134, 255}: "router advertisement",
		{135, 255}: "neighbor solicitation", {136, 255}: "neighbor advertisement", {137, 255}: "redirect",
	}
)

// Protocol numbers the statistics treat specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Traffic is what the flows of one destination carried in one window of the
// dataset's interval, in both directions. analyze takes it from the flow
// records' per-window counts; Load reads it back from intervals.parquet.
type Traffic struct {
	Start   int64 // window start, nanoseconds since the epoch, aligned to the interval
	Dest    Dest
	Packets uint64
	Bytes   uint64
	// RespPackets and RespBytes are the destination's share of Packets
	// and Bytes (not in intervals.parquet).
	RespPackets uint64
	RespBytes   uint64
	// Flows are the flows with packets in the window (not in
	// intervals.parquet, whose flows_active counts others too).
	Flows   uint64
	SYNs    uint64 // SYN packets without ACK sent by the originators
	SYNACKs uint64 // SYN-ACK packets sent by the destination
}

// Dataset is everything the report is built from, and all of it is in an
// output directory: the flow records (flows.parquet), the traffic per window
// and destination (the packet columns of intervals.parquet) and summary.json.
// Building the report from a Dataset alone is what lets `flowstat report`
// reproduce what `flowstat analyze` wrote.
type Dataset struct {
	Summary tables.Summary
	// Interval is the width of the Traffic windows, in nanoseconds.
	Interval int64
	// Flows are sorted as by tables.SortFlows.
	Flows []flows.Record
	// Traffic is sorted by window start, then destination.
	Traffic []Traffic
	// Origins are the traffic of the flows each address originated, by
	// window (Dest.IP is the originator), for the timelines of hosts;
	// sorted as Traffic. Empty when read from an output directory, whose
	// timelines.parquet has the windows of the targets analyze chose.
	Origins []Traffic
	// Exchanges are the windows of timeline targets read from
	// timelines.parquet, by target name.
	Exchanges map[string][]Exchange
	// HostWindows are the rows of host_windows.parquet when read from an
	// output directory (nil when it has none).
	HostWindows []hostWindow
}

// fromDirectory reports whether the dataset was read from an output
// directory (Load), whose flows have no windows: Load always sets
// Exchanges.
func (ds *Dataset) fromDirectory() bool { return ds.Exchanges != nil }

// NewDataset builds a dataset from records, their per-window counts
// (windows[i] are those of recs[i], as a flow table given an interval emits
// them) and the summary of the run that made them, whose tables.Options.IntervalS
// is that interval. recs is sorted as by tables.SortFlows and kept, not copied.
func NewDataset(recs []flows.Record, windows [][]flows.Window, s tables.Summary) (*Dataset, error) {
	tc, err := NewTrafficCounter(s)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		tc.Add(&recs[i], windows[i])
	}
	tables.SortFlows(recs)
	return NewDatasetWithTraffic(recs, tc, s)
}

// NewDatasetWithTraffic builds a dataset from records, sorted as by
// tables.SortFlows, and the traffic counted from their windows as they were
// emitted. recs is kept, not copied.
func NewDatasetWithTraffic(recs []flows.Record, tc *TrafficCounter, s tables.Summary) (*Dataset, error) {
	if tc.err != nil {
		return nil, tc.err
	}
	ds := &Dataset{Summary: s, Interval: tc.interval, Flows: recs, Traffic: make([]Traffic, 0, len(tc.sums))}
	for _, t := range tc.sums {
		ds.Traffic = append(ds.Traffic, *t)
	}
	for _, t := range tc.origins {
		ds.Origins = append(ds.Origins, *t)
	}
	sortTraffic(ds.Traffic)
	sortTraffic(ds.Origins)
	return ds, nil
}

// TrafficCounter sums flow records' per-window counts by window and
// destination. Each shard of a flow table can have its own, merged at the
// end, so records need not keep their windows.
type TrafficCounter struct {
	interval int64
	sums     map[trafficKey]*Traffic
	origins  map[trafficKey]*Traffic // by originator address (Dest.IP)
	err      error                   // the first inconsistent record
}

type trafficKey struct {
	start int64
	dest  Dest
}

// NewTrafficCounter counts windows of the interval in s's options.
func NewTrafficCounter(s tables.Summary) (*TrafficCounter, error) {
	iv := nanos(s.Options.IntervalS)
	if iv <= 0 {
		return nil, fmt.Errorf("cannot build dataset: summary has no interval")
	}
	return &TrafficCounter{interval: iv, sums: map[trafficKey]*Traffic{}, origins: map[trafficKey]*Traffic{}}, nil
}

// Add counts a record's windows, as the flow table emitted them.
func (c *TrafficCounter) Add(r *flows.Record, windows []flows.Window) {
	if windows == nil && r.Packets[0]+r.Packets[1] > 0 && c.err == nil {
		c.err = fmt.Errorf("cannot build dataset: flow %d has no per-interval counts", r.ID)
	}
	c.addDest(DestOf(r), windows)
	addWindows(c.origins, Dest{IP: r.SrcIP.Addr()}, windows)
}

// addDest adds the per-window counts of a flow to d.
func (c *TrafficCounter) addDest(d Dest, windows []flows.Window) {
	for _, w := range windows {
		if floorMod(w.Start, c.interval) != 0 && c.err == nil {
			c.err = fmt.Errorf("cannot build dataset: a flow to %v has a window at %d, not aligned to %v", d, w.Start, time.Duration(c.interval))
		}
	}
	addWindows(c.sums, d, windows)
}

// addWindows adds the per-window counts of a flow to those of d in sums.
func addWindows(sums map[trafficKey]*Traffic, d Dest, windows []flows.Window) {
	for _, w := range windows {
		k := trafficKey{w.Start, d}
		t := sums[k]
		if t == nil {
			t = &Traffic{Start: w.Start, Dest: d}
			sums[k] = t
		}
		t.add(&Traffic{Packets: w.Packets, Bytes: w.Bytes, RespPackets: w.RespPackets, RespBytes: w.RespBytes, Flows: 1,
			SYNs: uint64(w.SYNs), SYNACKs: uint64(w.SYNACKs)})
	}
}

// add adds o's counts to t.
func (t *Traffic) add(o *Traffic) {
	t.Packets += o.Packets
	t.Bytes += o.Bytes
	t.RespPackets += o.RespPackets
	t.RespBytes += o.RespBytes
	t.Flows += o.Flows
	t.SYNs += o.SYNs
	t.SYNACKs += o.SYNACKs
}

// Merge adds another counter's sums to c.
func (c *TrafficCounter) Merge(o *TrafficCounter) {
	if c.err == nil {
		c.err = o.err
	}
	for _, pair := range [][2]map[trafficKey]*Traffic{{c.sums, o.sums}, {c.origins, o.origins}} {
		mine, theirs := pair[0], pair[1]
		for k, t := range theirs {
			if m := mine[k]; m != nil {
				m.add(t)
			} else {
				mine[k] = t
			}
		}
	}
}

func sortTraffic(ts []Traffic) {
	slices.SortFunc(ts, func(a, b Traffic) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return a.Dest.Compare(b.Dest)
	})
}

// nanos converts seconds from summary.json to nanoseconds.
func nanos(s float64) int64 { return int64(math.Round(s * 1e9)) }

// FloorDiv and floorMod round towards minus infinity, so times before the
// epoch still fall into aligned windows.
func FloorDiv(t, d int64) int64 {
	q := t / d
	if t%d < 0 {
		q--
	}
	return q
}

func floorMod(t, d int64) int64 {
	m := t % d
	if m < 0 {
		m += d
	}
	return m
}

// Outcome is how an ended flow ended, for the ended_* columns. Each ended
// flow has exactly one: the first that applies.
type Outcome uint8

// Outcomes.
const (
	Complete Outcome = iota // TCP, state SF
	Reset                   // TCP, a RST state (RSTO, RSTR, RSTOS0, RSTRH) or ended by a RST, not REJ
	Rejected                // TCP, state REJ: SYN answered by RST
	FINNoSYN                // TCP, a FIN from either side and no SYN seen
	Timeout                 // ended by the idle timeout, none of the above
	OtherEnd                // anything else, such as the active timeout or a full table
	numOutcomes
)

// OutcomeOf returns how r ended (if it ended).
func OutcomeOf(r *flows.Record) Outcome {
	if r.Proto == protoTCP {
		switch r.State {
		case flows.SF:
			return Complete
		case flows.REJ:
			return Rejected
		case flows.RSTO, flows.RSTR, flows.RSTOS0, flows.RSTRH:
			return Reset
		}
		if r.EndReason == flows.EndRST {
			return Reset // a RST without a handshake seen: state OTH
		}
		if (r.TCPFlags[flows.Fwd]|r.TCPFlags[flows.Rev])&tcpFIN != 0 && r.SYNs == 0 {
			return FINNoSYN
		}
	}
	if r.EndReason == flows.EndIdle {
		return Timeout
	}
	return OtherEnd
}

// TCP flag bits as in flows.Record.TCPFlags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
)

// Quantiles summarise durations, in seconds, by linear interpolation
// between order statistics (the method of numpy's default, R's type 7 and
// DuckDB's quantile_cont). N is the number of durations; when it is 0 the
// quantiles are absent (null in Parquet).
type Quantiles struct {
	N                                 int
	P10, P25, P50, P75, P90, P99, Max float64
}

// QuantilesOf summarises sorted durations.
func QuantilesOf(sorted []float64) Quantiles {
	return quantilesAt(len(sorted), func(rank int) float64 { return sorted[rank] })
}

// quantilesAt summarises n sorted durations, the one of each rank given by at.
func quantilesAt(n int, at func(rank int) float64) Quantiles {
	if n == 0 {
		return Quantiles{}
	}
	q := func(level float64) float64 { return interpolate(n, at, level) }
	return Quantiles{N: n, P10: q(0.10), P25: q(0.25), P50: q(0.50), P75: q(0.75), P90: q(0.90), P99: q(0.99), Max: at(n - 1)}
}

// Quantile returns the q-quantile of sorted values (type 7).
func Quantile(sorted []float64, q float64) float64 {
	return interpolate(len(sorted), func(rank int) float64 { return sorted[rank] }, q)
}

// interpolate returns the q-quantile of n sorted values given by rank
// (type 7): between the values of ranks floor((n-1)q) and the next.
func interpolate(n int, at func(rank int) float64, q float64) float64 {
	h := float64(n-1) * q
	lo := int(math.Floor(h))
	if lo+1 >= n {
		return at(n - 1)
	}
	return at(lo) + (h-float64(lo))*(at(lo+1)-at(lo))
}

// Counts is the breakdown of the flows to one destination, in one window
// (Interval) or over the whole input (Destination).
type Counts struct {
	Packets uint64 // both directions
	Bytes   uint64 // IP bytes, both directions
	// Flows are the flows active in the window (their first packet before
	// the window's end, their end at or after its start); over the whole
	// input, every flow.
	Flows uint64
	// New are the flows whose first packet is in the window.
	New     uint64
	Sources uint64 // distinct originators of those flows
	SYNs    uint64 // SYN packets without ACK to the destination
	SYNACKs uint64 // SYN-ACK packets from it
	// HalfOpen and SYNOnly count flows whose final state is half-open
	// (SYN and SYN-ACK, no ACK from the originator) or TCP S0, still open
	// at the window's end; over the whole input, all such flows.
	HalfOpen uint64
	SYNOnly  uint64
	// Ended counts the flows that ended in the window, by outcome.
	Ended [numOutcomes]uint64
	// Ongoing counts the flows started and not ended by the window's end;
	// over the whole input, the flows still open when it ended.
	Ongoing uint64
	// Durations summarise the durations of the flows that ended in the
	// window; over the whole input, of every flow (as far as it was seen).
	Durations Quantiles
}

// Interval is one row of intervals.parquet: one destination in one window.
type Interval struct {
	Start, End int64 // window, nanoseconds since the epoch
	Dest       Dest
	Counts
}

// Destination is one row of destinations.parquet: one destination over the
// whole input.
type Destination struct {
	Dest                Dest
	FirstSeen, LastSeen int64
	Counts
}

// Rate is the traffic of all flows in one window.
type Rate struct {
	Start   int64
	Packets uint64
	Bytes   uint64
}

// StateCount is the number of flows of one protocol in one state.
type StateCount struct {
	Proto uint8
	State flows.State
	Flows uint64
}

// CDFPoint is one point of an empirical distribution of flow durations: the
// Fraction of the scope's flows that lasted at most Duration seconds.
type CDFPoint struct {
	Scope    string // "all", or a destination as Dest.String writes it
	Duration float64
	Fraction float64
}

// MaxCDFPoints bounds the points of one scope in cdf.parquet.
const MaxCDFPoints = 200

// Timeline is the per-window breakdown of one target: a destination, or
// every destination in a prefix given with --target.
type Timeline struct {
	Name   string
	Series Series // the target's windows as a destination, from its first to its last
	// Exchange has the target's windows with packets, both ways, in time
	// order; nil when not known (`flowstat report` of a target analyze
	// did not choose: timelines.parquet has no rows for it).
	Exchange []Exchange
	Victim   bool   // of a finding: its traffic is plotted
	IsDest   bool   // a destination (address, port, protocol), not a host or a prefix
	Figure   string // handshake plot, "" when there is none
	Traffic  string // plot of the packets to and from it, "" when there is none
}

// BuildOptions are the report's settings. The zero value works: see
// withDefaults.
type BuildOptions struct {
	// Interval is the width of the report's windows. It must be a multiple
	// of the dataset's; 0 means the dataset's.
	Interval time.Duration
	// Top is how many destinations the report lists; 0 means 10.
	Top int
	// Targets select the timeline. Without targets, the summary's
	// (analyze --target) are used, then the destinations of SYN floods and
	// those with the most packets.
	Targets []netip.Prefix
	// Thresholds decide findings.
	Thresholds Thresholds
	// NoPlots leaves out every figure.
	NoPlots bool
	// Hosts computes hosts.parquet, each address's traffic both ways:
	// every flow read twice more, which costs about a quarter more time
	// on traces of many flows.
	Hosts bool
	// Version is the version of flowstat writing the report.
	Version string
}

// Defaults: ten destinations fit a screen; three timelines keep the report
// readable (intervals.parquet has every destination).
const (
	DefaultTop       = 10
	maxTimelines     = 3
	maxCDFLines      = 5
	minCDFFlows      = 20
	minLastingShare  = 0.05
	minSeriesWindows = 2 // a time plot needs two windows to show a change
)

func (o BuildOptions) withDefaults(ds *Dataset) BuildOptions {
	if o.Interval == 0 {
		o.Interval = time.Duration(ds.Interval)
	}
	if o.Top <= 0 {
		o.Top = DefaultTop
	}
	if o.Version == "" {
		o.Version = ds.Summary.Version
	}
	o.Thresholds = o.Thresholds.withDefaults()
	return o
}

// Stats is everything the report says, computed once and shared by the
// Parquet tables, the Markdown and the plots.
type Stats struct {
	Summary      tables.Summary
	Version      string // of the flowstat writing the report
	Interval     int64  // report windows, nanoseconds
	BaseInterval int64  // windows of the dataset
	IdleTimeout  int64  // nanoseconds
	Thresholds   Thresholds
	Top          int
	NoPlots      bool // the report has no figures because none were asked for

	// Span of the flows: first and last packet, nanoseconds.
	FirstSeen, LastSeen int64
	Packets, Bytes      uint64 // in flows, both directions
	Flows               uint64

	Intervals    []Interval    // sorted by start, then destination; nil from Parts.Build (see spilledIntervals)
	Destinations []Destination // sorted by destination; from Parts.Build, only those the report names (see spilledDestinations)
	CDF          []CDFPoint    // "all" first, then top destinations by flows
	Rates        []Rate        // every window from the first to the last (see maxDenseWindows)
	States       []StateCount  // by protocol name, then state
	// TopByFlows and TopByHalfOpen index Destinations: the Top
	// destinations with the most flows, and with the most half-open + S0
	// flows (only those with some).
	TopByFlows    []int
	TopByHalfOpen []int
	Findings      []Finding
	Timelines     []Timeline
	Figures       []Figure

	// spilledIntervals hold the intervals instead of Intervals when the
	// report was built from Parts.
	spilledIntervals *extsort.Runs[intervalRow]
	// spilledDestinations hold every destination's row, from Parts.Build,
	// with Start and End its first and last packet.
	spilledDestinations *extsort.Runs[intervalRow]
	// hosts are the rows of hosts.parquet, sorted by address; from
	// Parts.Build they are spilledHosts.
	hosts        []hostRow
	spilledHosts *extsort.Runs[hostRow]
	withHosts    bool // hosts.parquet was asked for
	// hostWindows are the rows of host_windows.parquet, sorted by address
	// and window; from Parts.Build they are spilledHostWindows.
	hostWindows        []hostWindow
	spilledHostWindows *extsort.Runs[hostWindow]
}

// Build computes the report's statistics from a dataset.
func Build(ds *Dataset, opts BuildOptions) (*Stats, error) {
	b, st, opts, err := newBuilder(ds, opts)
	if err != nil {
		return nil, err
	}
	otherFindings := b.startFindings(st.Thresholds)
	b.totals(st)
	b.byDestination(st)
	if opts.Hosts {
		b.hosts(st)
		st.hostWindows = datasetHostWindows(ds, st.Interval)
		if ds.fromDirectory() {
			// The flows' windows are not in the directory, their sums by
			// host are.
			st.hostWindows = regroupedHostWindows(ds.HostWindows, st.Interval)
		}
	}
	st.States = statesOf(stateCounts(heldFlows(b.fl)))
	rank(st)
	b.cdf(st)
	st.Findings = b.findings(st, otherFindings)
	targets, err := timelineTargets(st, opts, ds.Summary)
	if err != nil {
		return nil, err
	}
	xs := datasetExchanges(ds, targets, st.Interval)
	for k, t := range targets {
		st.Timelines = append(st.Timelines, Timeline{Name: t.name, Series: b.targetSeries(t), Victim: t.victim, IsDest: !t.prefix.IsValid()})
		st.Timelines[k].Exchange = xs[k]
		if ds.Exchanges != nil {
			st.Timelines[k].Exchange = persistedExchange(ds.Exchanges, t.name, st.Interval)
		}
	}
	if !opts.NoPlots {
		st.Figures = figures(st)
	}
	return st, nil
}

// newBuilder checks the options against the dataset, whose flows it may
// leave empty (see Parts), and returns a builder and the Stats to fill.
func newBuilder(ds *Dataset, opts BuildOptions) (*builder, *Stats, BuildOptions, error) {
	opts = opts.withDefaults(ds)
	iv := int64(opts.Interval)
	if ds.Interval <= 0 {
		return nil, nil, opts, fmt.Errorf("cannot build report: dataset has no interval")
	}
	if iv <= 0 || iv%ds.Interval != 0 {
		return nil, nil, opts, fmt.Errorf("cannot build report: interval %v is not a multiple of the analysed %v",
			opts.Interval, time.Duration(ds.Interval))
	}
	if err := opts.Thresholds.Validate(); err != nil {
		return nil, nil, opts, fmt.Errorf("cannot build report: %w", err)
	}
	idle := nanos(ds.Summary.Options.IdleTimeoutS)
	if idle <= 0 {
		idle = int64(flows.DefaultIdleTimeout)
	}
	b := &builder{ds: ds, fl: destFlowsOf(ds.Flows), iv: iv, idle: idle, errs: &extsort.FirstError{}}
	if last := ds.Summary.LastSeen; last != nil {
		b.inputEnd = last.UnixNano()
	}
	st := &Stats{
		Summary: ds.Summary, Version: opts.Version, Interval: iv, BaseInterval: ds.Interval,
		IdleTimeout: idle, Thresholds: opts.Thresholds, Top: opts.Top, NoPlots: opts.NoPlots, withHosts: opts.Hosts,
	}
	return b, st, opts, nil
}

// rank sets the top destinations by flows and by half-open flows.
func rank(st *Stats) {
	st.TopByFlows = topDestinations(st.Destinations, st.Top, func(d *Destination) uint64 { return d.Flows })
	st.TopByHalfOpen = topDestinations(st.Destinations, st.Top, func(d *Destination) uint64 { return d.HalfOpen + d.SYNOnly })
}

// builder holds what the computations share.
type builder struct {
	ds   *Dataset
	iv   int64 // report interval
	idle int64
	// inputEnd is the time of the input's last packet, when the summary
	// has it: flows open then are active up to it.
	inputEnd int64
	// fl are the flows of ds as the statistics by destination read them,
	// sorted by destination then source by byDestination, and cut by
	// destination into groups.
	fl     []destFlow
	groups []destGroup
	// Where a group of flows too large to hold (Parts.HeldBytes) puts its
	// durations in order, and the first error doing so; unset, every
	// group is held.
	dir       string
	heldBytes int
	errs      *extsort.FirstError
	// rowsOut, when set, takes byDestination's rows a batch at a time, once
	// more than heldBytes of them are made: a part's rows, for a long
	// trace in short windows, can be millions. They come by destination,
	// in destination order, each destination's in window order.
	rowsOut func(rows [][]Interval)
}

// destGroup is the flows to one destination.
type destGroup struct {
	dest  Dest
	flows flowSeq
}

// end returns when a flow ended: at its last packet when closed by FIN, RST,
// the active timeout or a full table; an idle timeout after its last packet
// when idle. Flows open at the end of the input never ended (ended false);
// they count as active up to the input's last packet, as they are open at
// the end of every window up to it, but no longer than an idle timeout
// after their own: frames the flow table never saw (not IP, filtered
// out, a clock gone years ahead) would otherwise keep them open over
// windows without end.
func (b *builder) end(reason flows.EndReason, lastSeen int64) (end int64, ended bool) {
	switch reason {
	case flows.EndIdle:
		return lastSeen + b.idle, true
	case flows.EndEOF, flows.EndOpen:
		return max(lastSeen, min(b.inputEnd, lastSeen+b.idle)), false
	}
	return lastSeen, true
}

func (b *builder) totals(st *Stats) {
	b.flowSpan(st, heldFlows(b.fl))
	setRates(st, b.trafficSums())
}

// flowSpan sets the number of flows fl and the time span they cover.
func (b *builder) flowSpan(st *Stats, fl flowSeq) {
	if t := fl.tally(); t != nil {
		if st.Flows = t.row.Flows; st.Flows > 0 {
			st.FirstSeen, st.LastSeen = t.row.FirstSeen, t.row.LastSeen
		}
		return
	}
	st.Flows = 0
	fl.all(func(r *destFlow) bool {
		if st.Flows == 0 || r.FirstSeen < st.FirstSeen {
			st.FirstSeen = r.FirstSeen
		}
		if st.Flows == 0 || r.LastSeen > st.LastSeen {
			st.LastSeen = r.LastSeen
		}
		st.Flows++
		return true
	})
}

// trafficSums sums the dataset's traffic by report window (window start
// divided by the interval).
func (b *builder) trafficSums() map[int64]Rate {
	sums := map[int64]Rate{}
	b.addTraffic(sums)
	return sums
}

// addTraffic adds the packets and bytes of b's traffic to sums, by window.
func (b *builder) addTraffic(sums map[int64]Rate) {
	for _, t := range b.ds.Traffic {
		w := FloorDiv(t.Start, b.iv)
		r := sums[w]
		r.Packets += t.Packets
		r.Bytes += t.Bytes
		sums[w] = r
	}
}

// setRates sets the rates of every window from the first to the last with
// traffic (see maxDenseWindows), and the totals, from sums by window.
func setRates(st *Stats, sums map[int64]Rate) {
	if len(sums) == 0 {
		return
	}
	spans := make([]span, 0, len(sums))
	for w := range sums {
		spans = append(spans, span{w, w})
	}
	wins := windowsOf(spans, true)
	st.Rates = make([]Rate, len(wins))
	for i, w := range wins {
		r := sums[w]
		st.Rates[i] = Rate{Start: w * st.Interval, Packets: r.Packets, Bytes: r.Bytes}
		st.Packets += r.Packets
		st.Bytes += r.Bytes
	}
}

// byDestination computes intervals.parquet and destinations.parquet.
func (b *builder) byDestination(st *Stats) {
	if b.groups == nil { // made already when the flows were spilled
		b.makeGroups()
	}
	traffic := make([]*Traffic, len(b.ds.Traffic))
	for i := range b.ds.Traffic {
		traffic[i] = &b.ds.Traffic[i]
	}
	slices.SortStableFunc(traffic, func(x, y *Traffic) int { return x.Dest.Compare(y.Dest) })

	// Merge the destinations of flows and of traffic, which should be the
	// same, in destination order.
	type part struct {
		dest Dest
		fl   flowSeq
		tr   []*Traffic
	}
	var parts []part
	gi, ti := 0, 0
	for gi < len(b.groups) || ti < len(traffic) {
		var d Dest
		switch {
		case gi == len(b.groups):
			d = traffic[ti].Dest
		case ti == len(traffic):
			d = b.groups[gi].dest
		default:
			d = minBy(b.groups[gi].dest, traffic[ti].Dest, Dest.Compare)
		}
		var fl flowSeq
		if gi < len(b.groups) && b.groups[gi].dest == d {
			fl = b.groups[gi].flows
			gi++
		}
		tj := ti
		for tj < len(traffic) && traffic[tj].Dest == d {
			tj++
		}
		parts = append(parts, part{d, fl, traffic[ti:tj]})
		ti = tj
	}
	// Each destination's rows depend on its own flows only: compute them
	// concurrently, a few destinations a task.
	st.Destinations = make([]Destination, len(parts))
	rows := make([][]Interval, len(parts))
	held := &heldRows{rows: rows, max: max(1, b.heldBytes/extsort.SizeOf[Interval]()), out: b.rowsOut}
	per := max(1, min(256, len(parts)/(8*extsort.Workers()))) // destinations a task
	extsort.ParallelFor((len(parts)+per-1)/per, func(n int) {
		for i := n * per; i < min((n+1)*per, len(parts)); i++ {
			p := &parts[i]
			var whole sync.WaitGroup
			if p.fl.large != nil { // read from disk: the row beside the windows
				whole.Go(func() { st.Destinations[i] = b.whole(p.dest, p.fl, p.tr) })
			}
			b.seriesEach(p.fl, p.tr, false, held.pieceRows(), func(piece []Interval, all bool) {
				for j := range piece {
					piece[j].Dest = p.dest
				}
				if all { // the rule: the destination's rows, held
					rows[i] = piece
				} else {
					held.giveAlone(piece)
				}
			})
			if p.fl.large == nil {
				st.Destinations[i] = b.whole(p.dest, p.fl, p.tr)
			}
			whole.Wait()
			held.keep(i)
		}
	})
	if held.gave {
		held.giveOut()
	} else {
		st.Intervals = inWindowOrder(rows, b.iv)
	}
}

// heldRows gives the rows of a builder's destinations out (rowsOut)
// whenever more than max of them are made and held, from the goroutine
// that made the last: a part in short windows can make millions of rows,
// as a destination active all along has a row for each window. Held
// memory is then max rows, plus a piece of at most max rows for each
// destination being made (seriesEach, pieceRows).
type heldRows struct {
	rows  [][]Interval // by destination; nil once given out
	max   int
	out   func([][]Interval) // nil: every row is held
	mu    sync.Mutex
	dests []int // whose rows are made and held
	n     int   // rows held
	gave  bool  // some rows were given out
}

// keep holds the rows of destination i, made, and gives out those held
// when they are too many.
func (h *heldRows) keep(i int) {
	if h.out == nil {
		return
	}
	h.mu.Lock()
	h.dests = append(h.dests, i)
	h.n += len(h.rows[i])
	if h.n <= h.max {
		h.mu.Unlock()
		return
	}
	batch := h.take()
	h.mu.Unlock()
	h.out(batch)
}

// pieceRows is how many rows of one destination may be made at once: no
// more than may be held, when rows can be given out.
func (h *heldRows) pieceRows() int {
	if h.out == nil {
		return math.MaxInt
	}
	return h.max
}

// giveAlone gives out a piece of one destination's rows (seriesEach), made
// beside the rows held.
func (h *heldRows) giveAlone(piece []Interval) {
	h.mu.Lock()
	h.gave = true
	h.mu.Unlock()
	h.out([][]Interval{piece})
}

// giveOut gives out the rows held.
func (h *heldRows) giveOut() {
	if batch := h.take(); len(batch) > 0 {
		h.out(batch)
	}
}

// take removes the rows held and returns them in destination order, as
// rowsOut expects them. The caller holds h.mu, or no rows are being made.
func (h *heldRows) take() [][]Interval {
	slices.Sort(h.dests)
	batch := make([][]Interval, len(h.dests))
	for k, i := range h.dests {
		batch[k], h.rows[i] = h.rows[i], nil
	}
	h.dests, h.n, h.gave = h.dests[:0], 0, true
	return batch
}

// inWindowOrder returns the rows of destinations (see windowOrder) as one
// slice in the order of Stats.Intervals.
func inWindowOrder(rows [][]Interval, width int64) []Interval {
	order := windowOrder(rows, width)
	out := make([]Interval, len(order))
	for i, at := range order {
		out[i] = rows[at.dest][at.row]
	}
	return out
}

// rowAt is where a row is in the rows of destinations.
type rowAt struct {
	start     int64
	dest, row int32
}

// windowOrder returns where the rows of destinations, given in destination
// order and each destination's in window order, are in the order of
// Stats.Intervals: by start, then destination. The windows are width
// wide: the rows are counted into their windows and placed in one pass
// (a counting sort, stable, so each window's rows stay in destination
// order), unless their windows are far more than the rows; then these
// 16-byte keys are sorted, which takes a fraction of sorting the rows
// themselves (about 250 bytes, compared by address).
func windowOrder(rows [][]Interval, width int64) []rowAt {
	n := 0
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	aligned := width > 0
	for _, ws := range rows {
		n += len(ws)
		for j := range ws {
			first, last = min(first, ws[j].Start), max(last, ws[j].Start)
			aligned = aligned && ws[j].Start%width == 0
		}
	}
	if n > 0 && aligned && (last-first)/width < int64(2*n+1024) {
		return countedWindowOrder(rows, n, first, width, int((last-first)/width)+1)
	}
	order := make([]rowAt, 0, n)
	for d, ws := range rows {
		for j := range ws {
			order = append(order, rowAt{ws[j].Start, int32(d), int32(j)})
		}
	}
	extsort.SortParallel(order, func(x, y rowAt) int {
		if x.start != y.start {
			return cmp.Compare(x.start, y.start)
		}
		return cmp.Compare(x.dest, y.dest)
	})
	return order
}

// countedWindowOrder is windowOrder's counting sort of n rows into
// windows windows of width from first.
func countedWindowOrder(rows [][]Interval, n int, first, width int64, windows int) []rowAt {
	at := make([]int, windows+1) // where each window's rows begin
	for _, ws := range rows {
		for j := range ws {
			at[(ws[j].Start-first)/width+1]++
		}
	}
	for w := 1; w <= windows; w++ {
		at[w] += at[w-1]
	}
	order := make([]rowAt, n)
	for d, ws := range rows {
		for j := range ws {
			w := (ws[j].Start - first) / width
			order[at[w]] = rowAt{ws[j].Start, int32(d), int32(j)}
			at[w]++
		}
	}
	return order
}

// makeGroups sorts the flows by destination, then source, and cuts them
// into groups by destination.
func (b *builder) makeGroups() {
	fl := b.fl
	sortByDestination(fl)
	b.groups = nil
	for k := range fl {
		if k == 0 || !fl[k].sameDest(&fl[k-1]) {
			b.groups = append(b.groups, destGroup{dest: fl[k].dest(), flows: heldFlows(fl[k:k])})
		}
		g := &b.groups[len(b.groups)-1]
		g.flows.held = g.flows.held[:len(g.flows.held)+1]
	}
}

// has reports whether the builder has flows or traffic of d.
func (b *builder) has(d Dest) bool {
	return b.group(d).len() > 0 || slices.ContainsFunc(b.ds.Traffic, func(t Traffic) bool { return t.Dest == d })
}

// group returns the flows to d, sorted by source address.
func (b *builder) group(d Dest) flowSeq {
	i, ok := slices.BinarySearchFunc(b.groups, d, func(g destGroup, d Dest) int { return g.dest.Compare(d) })
	if !ok {
		return flowSeq{}
	}
	return b.groups[i].flows
}

// minBy returns the smaller of two values under compare.
func minBy[T any](a, b T, compare func(T, T) int) T {
	if compare(b, a) < 0 {
		return b
	}
	return a
}

// whole computes one destination's row over the whole input. fl must be
// sorted by source address.
func (b *builder) whole(d Dest, fl flowSeq, traffic []*Traffic) Destination {
	tally := fl.tally()
	if tally == nil {
		tally = &groupTally{}
		fl.all(func(r *destFlow) bool {
			tally.addToRow(b, r)
			return true
		})
	}
	out := tally.row
	out.Dest = d
	for _, t := range traffic {
		out.Packets += t.Packets
		out.Bytes += t.Bytes
		out.SYNs += t.SYNs
		out.SYNACKs += t.SYNACKs
	}
	out.Durations = quantilesOfSorted(durations(fl))
	return out
}

// groupTally is what one pass over a destination's flows, in source
// order, counts for several statistics: its row (whole, without traffic
// and durations), the flows' states, and a SYN flood's counts. A group
// held in memory is read by each statistic that needs it; one read from
// disk (a flood's victim) is tallied once, as its durations are sorted
// (tallied), rather than read again by each.
type groupTally struct {
	row          Destination
	states       map[[2]uint8]uint64
	flood        Finding // the counts of synFlood
	lastSrc      flows.IP
	lastFloodSrc flows.IP
}

// addToRow counts r in the destination's row.
func (t *groupTally) addToRow(b *builder, r *destFlow) {
	out := &t.row
	if out.Flows == 0 || r.FirstSeen < out.FirstSeen {
		out.FirstSeen = r.FirstSeen
	}
	if out.Flows == 0 || r.LastSeen > out.LastSeen {
		out.LastSeen = r.LastSeen
	}
	if out.Flows == 0 || r.SrcIP != t.lastSrc {
		out.Sources++
		t.lastSrc = r.SrcIP
	}
	out.Flows++
	out.New++
	if r.HalfOpen {
		out.HalfOpen++
	}
	if r.isS0() {
		out.SYNOnly++
	}
	if _, ended := b.end(r.EndReason, r.LastSeen); ended {
		out.Ended[r.Outcome]++
	} else {
		out.Ongoing++
	}
}

// addToStates counts r by protocol and state.
func (t *groupTally) addToStates(r *destFlow) {
	if t.states == nil {
		t.states = map[[2]uint8]uint64{}
	}
	t.states[[2]uint8{r.Proto, uint8(r.State)}]++
}

// addToFlood counts r in a SYN flood to its destination if it is half
// open or was never answered.
func (t *groupTally) addToFlood(r *destFlow) {
	if r.State != flows.S0 && !r.HalfOpen {
		return
	}
	f := &t.flood
	if f.Flows == 0 || r.SrcIP != t.lastFloodSrc {
		f.Peers++
		t.lastFloodSrc = r.SrcIP
	}
	if r.HalfOpen {
		f.HalfOpen++
	} else {
		f.SYNOnly++
	}
	f.span(r.FirstSeen, r.LastSeen, f.Flows == 0)
	f.Flows++
}

// tallied returns the flows of a destination too large to hold, read
// from disk once for every statistic groupTally counts and for their
// durations, sorted on disk: when whole first needs them, while series
// reads the flows on another core.
func (b *builder) tallied(group *extsort.Sorted[destFlow]) flowSeq {
	group.SortHeld() // now: the goroutines that read it later only read
	fl := flowSeq{large: group}
	fl.counted = &largeCounts{count: func(c *largeCounts) {
		t := &c.tally
		c.durations = sortedDurations(fl, b.dir, b.heldBytes, func(r *destFlow) {
			t.addToRow(b, r)
			t.addToStates(r)
			t.addToFlood(r)
		})
	}}
	return fl
}

// durations returns the durations of flows in order: those of a group
// held in memory are put in order in memory, those of large flows were
// (largeDurations).
func durations(fl flowSeq) *extsort.Sorted[float64] {
	if fl.counted != nil {
		return fl.counted.get().durations
	}
	return sortedDurations(fl, "", math.MaxInt, nil)
}

// sortedDurations puts the durations of flows in order, spilled to dir
// beyond heldBytes, and gives each flow to also, when not nil.
func sortedDurations(fl flowSeq, dir string, heldBytes int, also func(*destFlow)) *extsort.Sorted[float64] {
	durs := newSorted(dir, "a destination's flow durations", heldBytes, cmp.Compare[float64])
	durs.SortBy = slices.Sort[[]float64] // the faster sort of ordered values
	durs.Expect(fl.len())
	fl.all(func(r *destFlow) bool {
		durs.Add(r.Duration())
		if also != nil {
			also(r)
		}
		return true
	})
	return durs
}

// quantilesOfSorted summarises durations put in order.
func quantilesOfSorted(durs *extsort.Sorted[float64]) Quantiles {
	if !durs.IsSpilled() {
		durs.SortHeld()
		return QuantilesOf(durs.Held())
	}
	q := newQuantileStream(durs.Len())
	durs.Each(func(v *float64) bool {
		q.add(*v)
		return true
	})
	return q.quantiles()
}

// seriesEach computes the per-window breakdown of the flows fl, sorted
// by source address, and their traffic, a piece of at most maxRows rows
// at a time, reading the flows again for each, and gives each piece to
// emit, in window order, with whether it is all of the series. With
// dense, every window from the first to the last has a row; otherwise
// only those in which a flow was active or packets were seen. A
// destination active all along a long trace in short windows has a row
// per window: pieces bound what its rows take.
//
// A flood's victim can have millions of flows: besides the rows, a piece
// keeps only the durations of the flows that ended (8 bytes each), and
// computes a flow's windows again from the flow when it needs them.
func (b *builder) seriesEach(fl flowSeq, traffic []*Traffic, dense bool, maxRows int, emit func(rows []Interval, all bool)) {
	iv := b.iv
	spanOf := func(r *destFlow) span {
		end, _ := b.end(r.EndReason, r.LastSeen)
		return span{FloorDiv(r.FirstSeen, iv), FloorDiv(end, iv)}
	}
	spans := func(yield func(span) bool) {
		more := true
		fl.all(func(r *destFlow) bool {
			more = yield(spanOf(r))
			return more
		})
		for _, t := range traffic { // the traffic's windows come after the flows
			if w := FloorDiv(t.Start, iv); !more || !yield(span{w, w}) {
				return
			}
		}
	}
	wins := coveredWindows(spans, dense)
	n := len(wins)
	contiguous := n > 0 && wins[n-1]-wins[0] == int64(n-1)
	at := func(w int64) int {
		if contiguous {
			return int(w - wins[0])
		}
		j, _ := slices.BinarySearch(wins, w)
		return j
	}
	for first := 0; first < n; first += maxRows {
		last := min(n, first+maxRows) // rows [first, last) of wins
		emit(b.seriesPiece(fl, traffic, wins, first, last, spanOf, at), first == 0 && last == n)
	}
}

// seriesPiece computes rows [first, last) of the series of windows wins,
// from every flow and the traffic: what a flow adds to rows outside the
// piece is left out.
func (b *builder) seriesPiece(fl flowSeq, traffic []*Traffic, wins []int64, first, last int,
	spanOf func(*destFlow) span, at func(int64) int) []Interval {
	n := len(wins)
	rows := make([]Interval, last-first)
	for j := range rows {
		w := wins[first+j]
		rows[j].Start, rows[j].End = w*b.iv, (w+1)*b.iv
	}
	// Flows in each window, and flows at each window's end, as
	// differences to sum up: a flow adds one from its first row to its
	// last, a source one over the union of its flows' rows. Counting
	// window by window cost a flow's span in windows, thousands in
	// windows of 10 ms. Rows are counted from first: add(d, lo, hi) adds
	// one to the rows [lo, hi) of the piece.
	active := make([]int64, len(rows)+1)
	sources := make([]int64, len(rows)+1)
	ongoing := make([]int64, len(rows)+1)
	halfOpen := make([]int64, len(rows)+1)
	synOnly := make([]int64, len(rows)+1)
	add := func(d []int64, lo, hi int) {
		if lo, hi = max(lo, first), min(hi, last); lo < hi {
			d[lo-first]++
			d[hi-first]--
		}
	}
	// The rows of the flows of srcIP, merged whenever they are many: one
	// source's flows to a destination can be millions, their union is at
	// most its rows.
	var srcRows []span
	mergeAt := 1 << 16
	addSource := func() {
		for _, u := range disjoint(srcRows) {
			add(sources, int(u.first), int(u.last)+1)
		}
		srcRows = srcRows[:0]
	}
	var srcIP flows.IP
	ended := 0
	var spilled *extsort.Sorted[rowDuration] // the durations of large flows, by row
	if fl.large != nil {
		spilled = b.rowDurations(fl.len())
		defer spilled.Remove()
	}
	in := func(j int) bool { return first <= j && j < last }
	fl.all(func(r *destFlow) bool {
		if len(srcRows) > 0 && r.SrcIP != srcIP {
			addSource()
		}
		srcIP = r.SrcIP
		s := spanOf(r)
		// Every window of a flow's span is a row: the flow covers it.
		lo, end := at(s.first), at(s.last)
		if in(lo) {
			rows[lo-first].New++
		}
		add(active, lo, end+1)
		if max(lo, first) <= min(end, last-1) {
			if srcRows = append(srcRows, span{int64(max(lo, first)), int64(min(end, last-1))}); len(srcRows) >= mergeAt {
				srcRows = disjoint(srcRows)
				mergeAt = max(mergeAt, 2*len(srcRows))
			}
		}
		// A flow is open at the end of the windows before the one it
		// ended in; one that never ended is open at every later end.
		hi := n
		if _, ok := b.end(r.EndReason, r.LastSeen); ok {
			hi = end
			if in(hi) {
				rows[hi-first].Ended[r.Outcome]++
				ended++
				if spilled != nil {
					spilled.Add(rowDuration{int64(hi - first), r.Duration()})
				}
			}
		}
		add(ongoing, lo, hi)
		if r.HalfOpen {
			add(halfOpen, lo, hi)
		}
		if r.isS0() {
			add(synOnly, lo, hi)
		}
		return true
	})
	addSource()
	var fs, ss, on, ho, so int64
	for j := range rows {
		fs, ss = fs+active[j], ss+sources[j]
		on, ho, so = on+ongoing[j], ho+halfOpen[j], so+synOnly[j]
		rows[j].Flows, rows[j].Sources = uint64(fs), uint64(ss)
		rows[j].Ongoing, rows[j].HalfOpen, rows[j].SYNOnly = uint64(on), uint64(ho), uint64(so)
	}
	for _, t := range traffic {
		if j := at(FloorDiv(t.Start, b.iv)); in(j) {
			row := &rows[j-first]
			row.Packets += t.Packets
			row.Bytes += t.Bytes
			row.SYNs += t.SYNs
			row.SYNACKs += t.SYNACKs
		}
	}
	if spilled != nil {
		b.setRowDurations(rows, spilled)
		return rows
	}
	heldRowDurations(rows, fl, ended, func(r *destFlow) (row int, ok bool) {
		if _, ok := b.end(r.EndReason, r.LastSeen); !ok {
			return 0, false
		}
		if j := at(spanOf(r).last); in(j) {
			return j - first, true
		}
		return 0, false
	})
	return rows
}

// endedCount is how many flows ended in a row.
func endedCount(row *Interval) int {
	n := 0
	for _, k := range row.Ended {
		n += int(k)
	}
	return n
}

// heldRowDurations sets each row's duration quantiles from the flows that
// ended in it (ended flows in all): the durations are placed row by row,
// each row's starting where the counts of ended flows of the rows before
// it end, then each row's are sorted.
func heldRowDurations(rows []Interval, fl flowSeq, ended int, endedIn func(*destFlow) (int, bool)) {
	next := make([]int, len(rows)+1) // where the next duration of each row goes
	for j := range rows {
		next[j+1] = next[j] + endedCount(&rows[j])
	}
	start := slices.Clone(next)
	durs := make([]float64, ended)
	fl.all(func(r *destFlow) bool {
		if j, ok := endedIn(r); ok {
			durs[next[j]] = r.Duration()
			next[j]++
		}
		return true
	})
	for j := range rows {
		if vals := durs[start[j]:start[j+1]]; len(vals) > 0 {
			slices.Sort(vals)
			rows[j].Durations = QuantilesOf(vals)
		}
	}
}

// rowDuration is the duration of a flow that ended in a row.
type rowDuration struct {
	row      int64
	duration float64
}

// rowDurations returns an empty sorted for the durations of n flows too
// many to hold by the rows they ended in (setRowDurations).
func (b *builder) rowDurations(n int) *extsort.Sorted[rowDuration] {
	durs := newSorted(b.dir, "a destination's flow durations by window", b.heldBytes, func(x, y rowDuration) int {
		return cmp.Or(cmp.Compare(x.row, y.row), cmp.Compare(x.duration, y.duration))
	})
	durs.Expect(n)
	return durs
}

// setRowDurations sets each row's duration quantiles as heldRowDurations
// does, for flows too many to hold: from their durations put in order by
// row on disk.
func (b *builder) setRowDurations(rows []Interval, durs *extsort.Sorted[rowDuration]) {
	row := -1
	var q *quantileStream
	durs.Each(func(d *rowDuration) bool {
		if int(d.row) != row {
			if q != nil {
				rows[row].Durations = q.quantiles()
			}
			row = int(d.row)
			q = newQuantileStream(endedCount(&rows[row]))
		}
		q.add(d.duration)
		return true
	})
	if q != nil {
		rows[row].Durations = q.quantiles()
	}
	if err := durs.Err(); err != nil {
		b.errs.Keep(err)
	}
}

// span is a flow's windows, as window indexes (start / interval), inclusive.
type span struct{ first, last int64 }

// maxDenseWindows bounds the windows of a dense series (20 MB of rows): a
// trace spanning a year in 1 s windows gets the windows with something in
// them instead of every one.
const maxDenseWindows = 100_000

// windowsOf returns, ascending, the windows covered by spans, or with
// dense every window from the first to the last.
func windowsOf(spans []span, dense bool) []int64 {
	return coveredWindows(slices.Values(spans), dense)
}

// coveredWindows returns, ascending, the windows covered by spans (read
// twice), or with dense every window from the first to the last.
func coveredWindows(spans iter.Seq[span], dense bool) []int64 {
	n := 0
	var lo, hi int64
	for s := range spans {
		if n == 0 {
			lo, hi = s.first, s.last
		}
		lo, hi = min(lo, s.first), max(hi, s.last)
		n++
	}
	if n == 0 {
		return nil
	}
	if hi-lo < maxDenseWindows {
		// Spans starting and ending in each window, summed up.
		cover := make([]int32, hi-lo+2)
		if dense {
			cover[0], cover[hi-lo+1] = 1, -1
		} else {
			for s := range spans {
				cover[s.first-lo]++
				cover[s.last-lo+1]--
			}
		}
		var wins []int64
		var open int32
		for i, c := range cover[:hi-lo+1] {
			if open += c; open > 0 {
				wins = append(wins, lo+int64(i))
			}
		}
		return wins
	}
	// Too many windows for an array: merge the spans as they come into
	// disjoint ones, which are no more than the windows they cover.
	var merged []span
	compacted := 0
	for s := range spans {
		if merged = append(merged, s); len(merged) > 2*compacted+4096 {
			merged = disjoint(merged)
			compacted = len(merged)
		}
	}
	var wins []int64
	for _, s := range disjoint(merged) {
		for w := s.first; w <= s.last; w++ {
			wins = append(wins, w)
		}
	}
	return wins
}

// disjoint returns the windows of spans as disjoint spans, ascending.
func disjoint(spans []span) []span {
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.first, y.first) })
	out := spans[:0]
	for _, s := range spans {
		if k := len(out) - 1; k >= 0 && s.first <= out[k].last+1 {
			out[k].last = max(out[k].last, s.last)
			continue
		}
		out = append(out, s)
	}
	return out
}

// stateCounts counts the flows by protocol and state.
func stateCounts(fl flowSeq) map[[2]uint8]uint64 {
	if t := fl.tally(); t != nil {
		return t.states
	}
	var t groupTally
	fl.all(func(r *destFlow) bool {
		t.addToStates(r)
		return true
	})
	return t.states
}

// statesOf lists counts by protocol and state.
func statesOf(counts map[[2]uint8]uint64) []StateCount {
	var out []StateCount
	for k, n := range counts {
		out = append(out, StateCount{Proto: k[0], State: flows.State(k[1]), Flows: n})
	}
	slices.SortFunc(out, func(x, y StateCount) int {
		if c := cmp.Compare(tables.ProtoName(x.Proto), tables.ProtoName(y.Proto)); c != 0 {
			return c
		}
		return cmp.Compare(x.State, y.State)
	})
	return out
}

// topDestinations returns the indexes of the n destinations with the
// largest non-zero value, largest first, ties in destination order.
func topDestinations(ds []Destination, n int, value func(*Destination) uint64) []int {
	var idx []int
	for i := range ds {
		if value(&ds[i]) > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(value(&ds[j]), value(&ds[i])) })
	return idx[:min(n, len(idx))]
}

// cdf computes cdf.parquet: every flow, then each top destination by flows.
func (b *builder) cdf(st *Stats) {
	durs := make([]float64, len(b.fl))
	for i := range b.fl {
		durs[i] = b.fl[i].Duration()
	}
	extsort.SortParallel(durs, cmp.Compare[float64])
	st.CDF = append(st.CDF, cdfPoints("all", durs)...)
	for _, i := range st.TopByFlows {
		st.CDF = append(st.CDF, b.destCDF(st.Destinations[i].Dest)...)
	}
}

// destCDF returns the CDF of the durations of the flows to d.
func (b *builder) destCDF(d Dest) []CDFPoint {
	durs := durations(b.destFlows(d))
	c := newCDFStream(d.String(), durs.Len())
	durs.Each(func(v *float64) bool {
		c.add(*v)
		return true
	})
	return c.points()
}

// cdfPoints returns at most MaxCDFPoints points of the empirical CDF of
// sorted durations (see cdfStream).
func cdfPoints(scope string, sorted []float64) []CDFPoint {
	c := newCDFStream(scope, len(sorted))
	for _, v := range sorted {
		c.add(v)
	}
	return c.points()
}

// cdfStream computes the points of an empirical CDF from n sorted values
// given one at a time, so that they need not all be in memory: every
// distinct value when there are few, otherwise the values at evenly spaced
// ranks. The first point is the shortest duration and the last the longest
// (fraction 1), each with its exact fraction.
type cdfStream struct {
	scope    string
	n, seen  int
	rank     int        // the next of the MaxCDFPoints evenly spaced ranks
	run      float64    // the value of the current run of equal values
	distinct []CDFPoint // every distinct value, up to one too many
	ranked   []CDFPoint // the values at the ranks
}

func newCDFStream(scope string, n int) *cdfStream { return &cdfStream{scope: scope, n: n} }

func (c *cdfStream) add(v float64) {
	if c.seen > 0 && v != c.run {
		c.endRun()
	}
	c.run = v
	c.seen++
}

// endRun adds the point of the run of equal values that ends with the
// last value seen: the fraction of values at most that one.
func (c *cdfStream) endRun() {
	last := c.seen - 1
	p := CDFPoint{Scope: c.scope, Duration: c.run, Fraction: float64(c.seen) / float64(c.n)}
	if len(c.distinct) <= MaxCDFPoints {
		c.distinct = append(c.distinct, p)
	}
	hit := false
	for c.rank < MaxCDFPoints && int(math.Round(float64(c.rank)*float64(c.n-1)/float64(MaxCDFPoints-1))) <= last {
		hit = true
		c.rank++
	}
	if hit {
		c.ranked = append(c.ranked, p)
	}
}

// points returns the CDF once every value was given.
func (c *cdfStream) points() []CDFPoint {
	if c.seen == 0 {
		return nil
	}
	c.endRun()
	c.seen = 0
	if len(c.distinct) <= MaxCDFPoints {
		return c.distinct
	}
	return c.ranked
}

// timelineTarget is what a timeline covers: every destination in a
// prefix, or one destination.
type timelineTarget struct {
	name   string
	prefix netip.Prefix // when valid
	dest   Dest
	victim bool // of a finding
}

// timelineTargets returns what the report's timelines cover: the prefixes
// asked for (in opts, else in the summary), or else up to three of, in this
// order, the destinations of SYN floods, the hosts of port scans, the
// victims of reflections that are destination addresses of flows (isDest),
// and the destinations with the most packets. st must have its
// destinations and findings.
func timelineTargets(st *Stats, opts BuildOptions, s tables.Summary) ([]timelineTarget, error) {
	prefixes := opts.Targets
	if prefixes == nil {
		for _, t := range s.Options.Targets {
			p, err := netip.ParsePrefix(t)
			if err != nil {
				return nil, fmt.Errorf("cannot build report: summary has target %q: %w", t, err)
			}
			prefixes = append(prefixes, p)
		}
	}
	var list []timelineTarget
	for _, p := range prefixes {
		list = append(list, timelineTarget{name: prefixName(p), prefix: p})
	}
	if len(prefixes) > 0 {
		return list, nil
	}
	add := func(t timelineTarget) {
		if len(list) < maxTimelines && !slices.ContainsFunc(list, func(u timelineTarget) bool { return u.name == t.name }) {
			list = append(list, t)
		}
	}
	host := func(a netip.Addr) timelineTarget {
		p := netip.PrefixFrom(a, a.BitLen())
		return timelineTarget{name: prefixName(p), prefix: p, victim: true}
	}
	for _, f := range st.Findings {
		switch f.Kind {
		case SYNFlood:
			add(timelineTarget{name: f.Dest.String(), dest: f.Dest, victim: true})
		case PortScan:
			for _, tg := range f.Targets {
				add(host(tg.Host))
			}
		}
	}
	for _, f := range st.Findings {
		// A carpet bombing's prefix would take the flows of every part
		// (its addresses hash to all of them): its finding has a figure
		// of its own, and `--target PREFIX` gives its timeline.
		if f.Kind.IsVolume() && f.Kind != CarpetBombing {
			add(host(f.Host))
		}
	}
	byPackets := topDestinations(st.Destinations, len(st.Destinations), func(d *Destination) uint64 { return d.Packets })
	for _, i := range byPackets {
		d := st.Destinations[i].Dest
		add(timelineTarget{name: d.String(), dest: d})
	}
	return list, nil
}

func prefixName(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// targetSeries returns the series of a timeline's target.
func (b *builder) targetSeries(t timelineTarget) Series {
	if t.prefix.IsValid() {
		return b.prefixSeries(t.prefix)
	}
	return b.destSeries(t.dest)
}

// prefixSeries returns the series of the destinations whose address is in
// p, together.
func (b *builder) prefixSeries(p netip.Prefix) Series {
	var fl []destFlow
	for i := range b.fl {
		if p.Contains(b.fl[i].DstIP.Addr()) {
			fl = append(fl, b.fl[i])
		}
	}
	// One source address is one source across destinations.
	sortBySource(fl)
	return b.seriesOf(Dest{}, heldFlows(fl), b.traffic(func(d Dest) bool { return p.Contains(d.IP) }))
}

// traffic returns the traffic to the destinations keep accepts.
func (b *builder) traffic(keep func(Dest) bool) []*Traffic {
	var tr []*Traffic
	for i := range b.ds.Traffic {
		if keep(b.ds.Traffic[i].Dest) {
			tr = append(tr, &b.ds.Traffic[i])
		}
	}
	return tr
}

// destSeries returns the series of one destination.
func (b *builder) destSeries(d Dest) Series {
	return b.seriesOf(d, b.destFlows(d), b.traffic(func(e Dest) bool { return e == d }))
}

// destFlows returns the flows to d sorted by source address: a group when
// byDestination made them.
func (b *builder) destFlows(d Dest) flowSeq {
	if b.groups != nil {
		return b.group(d)
	}
	ip := flows.IPOf(d.IP)
	var fl []destFlow
	for i := range b.fl {
		if f := &b.fl[i]; f.DstIP == ip && f.DstPort == d.Port && f.Proto == d.Proto {
			fl = append(fl, *f)
		}
	}
	sortBySource(fl)
	return heldFlows(fl)
}
