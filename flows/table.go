package flows

import (
	"iter"
	"time"

	"flowstat/reader"
)

// Options configure a Table. The zero value works: see withDefaults.
type Options struct {
	// IdleTimeout ends a flow after this much packet time without a packet.
	IdleTimeout time.Duration
	// ActiveTimeout, when positive, cuts a flow into consecutive records of
	// at most this length, as NetFlow does.
	ActiveTimeout time.Duration
	// Linger keeps a closed TCP flow open this long to absorb final ACKs.
	Linger time.Duration
	// Interval, when positive, makes records carry per-interval counts.
	Interval time.Duration
	// FragmentTimeout is how long fragments wait for their first fragment.
	FragmentTimeout time.Duration
	// MaxFlows, when positive, bounds the flows held at once: a new flow
	// in a full table first ends the flow silent for longest (EndEvicted).
	MaxFlows int
	// JoinFrom, when not 0, makes the table a map task's over one input
	// of several that a merge joins, whose first packet came at JoinFrom
	// (join.go).
	JoinFrom int64
}

// Defaults: the idle timeout and linger match common flow meters (and Zeek's
// TCP close linger); 30 s for fragments is the reassembly timeout of Linux.
const (
	DefaultIdleTimeout     = 60 * time.Second
	DefaultLinger          = 2 * time.Second
	DefaultFragmentTimeout = 30 * time.Second
)

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.FragmentTimeout <= 0 {
		o.FragmentTimeout = DefaultFragmentTimeout
	}
	return o
}

// Stats counts what the table saw besides flows.
type Stats struct {
	ICMPErrors      uint64 `json:"icmp_errors"`
	Fragments       uint64 `json:"fragments"`        // packets that were IP fragments
	OrphanFragments uint64 `json:"orphan_fragments"` // non-first fragments whose first fragment never came
	OutOfOrder      uint64 `json:"out_of_order"`     // packets older than one already seen
	Flows           uint64 `json:"flows"`            // records emitted
}

// Table is the flow table. It is not safe for concurrent use: each reader
// goroutine owns its own.
type Table struct {
	opts    Options
	idle    int64
	active  int64
	linger  int64
	fragTTL int64
	window  int64

	// Flows live in a slab of fixed-size chunks (so they never move) and
	// are found by index; neither the index nor the slab holds a pointer.
	flows     flowIndex
	chunks    [][]flow
	locs      [][]location // where each flow's first packet is, indexed as chunks
	mem       slabMemory   // where the chunks beyond the first few live
	used      int32        // entries ever used: those past it are still zero
	free      []int32      // ended entries, reused first
	wheel     wheel
	overflow  map[int32]*windowList // per-interval counts of flows spanning several intervals
	spare     []*windowList         // lists of ended flows, for reuse
	tunnels   map[int32]TunnelRef   // the tunnels of tunnelled flows, beside them: few have one
	oneWindow [1]windowCount        // those of a flow in one interval, made from its totals
	scratch   []Window              // windows of the record being emitted
	rec       Record                // the record being emitted: emit's pointer must not allocate

	frags   map[fragKey]fragEntry
	fragLog []fragLogEntry // fragment entries in arrival order, for expiry
	orphans map[orphanKey]*Orphans

	now   int64 // latest packet time seen
	emit  EmitFunc
	stats Stats

	join // joining inputs: map tasks mark and log flows, a merge joins them
}

// EmitFunc receives an ended flow's record and its traffic per statistics
// interval, in time order (nil when the table has no interval). Both are
// valid only during the call: the windows live in the table's memory.
type EmitFunc func(r *Record, windows []Window)

// New returns a table that hands each ended flow to emit.
func New(opts Options, emit EmitFunc) *Table {
	opts = opts.withDefaults()
	return &Table{
		opts:     opts,
		idle:     int64(opts.IdleTimeout),
		active:   int64(opts.ActiveTimeout),
		linger:   int64(opts.Linger),
		fragTTL:  int64(opts.FragmentTimeout),
		window:   int64(opts.Interval),
		flows:    newFlowIndex(),
		overflow: make(map[int32]*windowList),
		join:     join{joinFrom: opts.JoinFrom},
		frags:    make(map[fragKey]fragEntry),
		wheel:    newWheel(int64(opts.IdleTimeout) + reclaimSlack),
		emit:     emit,
	}
}

// Stats returns the counts so far.
func (t *Table) Stats() Stats { return t.stats }

// Len returns the number of flows in the table.
func (t *Table) Len() int { return t.flows.len() }

// Add accounts one decoded packet (an OK outcome of reader.Decode).
func (t *Table) Add(p *reader.Packet) {
	if p.Time > t.now {
		t.now = p.Time
		if !t.joining {
			t.reclaim(p.Time)
		}
		t.expireFragments(p.Time)
	} else if p.Time < t.now {
		t.stats.OutOfOrder++
	}
	if p.ICMPError {
		t.stats.ICMPErrors++
	}
	var early fragEntry
	if p.Frag != reader.Whole {
		t.stats.Fragments++
		var ok bool
		if early, ok = t.fragment(p); !ok {
			return
		}
	}
	t.place(p, early)
}

// place counts a packet in its flow, starting or ending flows as it
// does; early are fragments of its datagram that came before it.
func (t *Table) place(p *reader.Packet, early fragEntry) {
	echo := isEchoPacket(p)
	k, s := keyOf(p, echo)
	var f *flow
	if i, ok := t.flows.get(&k, t.keyAt); ok {
		f = t.at(i)
	}
	switch {
	case f == nil:
	case f.closedAt != 0 && (p.Time-f.closedAt > t.linger || isNewSYN(p)):
		// The linger is over, or a new connection reuses the 5-tuple.
		t.end(f, f.closedBy)
		f = nil
	case f.closedAt == 0 && (p.Time-f.last >= t.idle || f.first-p.Time >= t.idle):
		// Silent for the idle timeout; or a packet that old when the
		// capture's clock went back, which would stretch the flow over
		// the years between.
		t.end(f, EndIdle)
		f = nil
	}
	if f != nil && f.closedAt == 0 && t.active > 0 && p.Time-f.first >= t.active {
		f = t.cut(f, p, s)
	}
	if f == nil {
		f = t.newFlow(k, echo, p, s)
	}
	if f.has(joinable) && t.logJoinable != nil {
		t.logJoin(p, early)
	}
	if t.window > 0 {
		t.addWindow(f, p, s)
	}
	f.add(p, s)
	if early.waiting > 0 {
		t.addEarlyFragments(f, s, early.waiting, early.waitingBytes)
	}
	if f.closedAt != 0 {
		return // lingering: counted, but the close time stays
	}
	if reason, closed := f.closing(); closed {
		f.closedAt, f.closedBy = p.Time, reason
	}
}

// chunkBits sets the slab's chunk size: 4096 flows, a few hundred KiB.
const chunkBits = 12

// at returns the flow at slab index i.
func (t *Table) at(i int32) *flow { return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

func (t *Table) keyAt(i int32) *Key { return &t.at(i).key }

// location is where a flow's first packet is in the inputs. It lives
// beside the slab, not in the flow: only the flow's record reads it, and
// the entry a packet touches stays four cache lines.
type location struct {
	offset int64
	frame  uint64
	input  int32
}

// locAt returns the first packet's location of the flow at slab index i.
func (t *Table) locAt(i int32) *location { return &t.locs[i>>chunkBits][i&(1<<chunkBits-1)] }

// locate sets r's first packet location from its flow's.
func (t *Table) locate(f *flow, r *Record) {
	l := t.locAt(f.self)
	r.Input, r.FirstFrame, r.FirstOffset = l.input, l.frame, l.offset
}

// liveFlows yields the slab index of every flow in the table, in slab
// order; flows may be ended meanwhile.
func (t *Table) liveFlows() iter.Seq[int32] {
	return func(yield func(int32) bool) {
		for i := range t.used {
			if t.at(i).has(isLive) && !yield(i) {
				return
			}
		}
	}
}

func isEchoType(p *reader.Packet) bool { return IsEcho(p.Proto, p.ICMPType) }

// IsEcho reports whether an ICMP or ICMPv6 type is an echo request or
// reply, whose flows are keyed by their identifier (Record.Echo).
func IsEcho(proto, icmpType uint8) bool {
	if proto == reader.ProtoICMP {
		return icmpType == 8 || icmpType == 0
	}
	return icmpType == 128 || icmpType == 129
}

func isNewSYN(p *reader.Packet) bool {
	return p.Proto == reader.ProtoTCP && p.TCPFlags&(reader.SYN|reader.ACK) == reader.SYN
}

func (t *Table) newFlow(k Key, echo bool, p *reader.Packet, s side) *flow {
	if t.opts.MaxFlows > 0 && t.flows.len() >= t.opts.MaxFlows {
		t.evict()
	}
	f := t.entry()
	f.reset(k, echo, p.Time, s)
	*t.locAt(f.self) = location{offset: p.Offset, frame: p.Frame, input: int32(p.Input)}
	if p.Tunnel != reader.TunnelNone {
		t.setTunnel(f, p)
	}
	t.flows.add(&k, f.self)
	if !t.joining { // a Joiner ends flows at the end of each input
		t.wheel.schedule(f, t.deadline(f))
	}
	if t.joinFrom != 0 && t.mayContinue(&k, p.Time) {
		f.bits |= joinable
	}
	return f
}

// entry returns an unused slab entry: an ended flow's, or one never used.
// Entries are first written here, not when their chunk is added, so that
// a flood's fresh memory is touched once.
func (t *Table) entry() *flow {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return t.at(i)
	}
	if int(t.used) == len(t.chunks)<<chunkBits {
		t.chunks = append(t.chunks, t.mem.chunk(len(t.chunks)))
		t.locs = append(t.locs, t.mem.locations(len(t.locs)))
	}
	f := t.at(t.used)
	f.self = t.used
	t.used++
	return f
}

// cut ends a flow at the active timeout and continues it in a new record
// that keeps the originator and what the handshake established, so the
// pieces of one connection read alike.
func (t *Table) cut(f *flow, p *reader.Packet, s side) *flow {
	orig := int8(f.originator())
	carried := struct {
		sent                                  flowBits
		synSide, synackSide, rstSide, echoReq int8
	}{f.bits & carriedBits, f.synSide, f.synackSide, f.rstSide, f.echoReq}
	k, echo := f.key, f.has(isEcho)
	t.end(f, EndActive)
	n := t.newFlow(k, echo, p, s)
	n.fixedOrig = orig
	n.bits |= carried.sent
	n.synSide, n.synackSide, n.rstSide, n.echoReq = carried.synSide, carried.synackSide, carried.rstSide, carried.echoReq
	return n
}

// end emits a flow's record and recycles its entry.
func (t *Table) end(f *flow, reason EndReason) {
	t.flows.remove(&f.key, f.self)
	t.finish(f, reason)
	t.free = append(t.free, f.self)
}

// finish emits a flow's record and marks its entry unused.
func (t *Table) finish(f *flow, reason EndReason) {
	f.bits &^= isLive
	if f.has(joinable) && reason != EndIdle {
		t.joinableEnded(f)
	}
	var ws []Window
	if t.rec, ws = f.record(reason, t.windowsOf(f), t.scratch); ws != nil {
		t.scratch = ws
	}
	t.locate(f, &t.rec)
	t.rec.Joinable = f.has(joinable)
	if f.nWin == overflowWindows {
		t.dropWindows(f.self)
	}
	if f.has(tunnelled) {
		t.tunnelOf(f, &t.rec)
		delete(t.tunnels, f.self)
	}
	t.stats.Flows++
	t.emit(&t.rec, ws)
}

// setTunnel keeps the tunnel of a new flow's first packet.
func (t *Table) setTunnel(f *flow, p *reader.Packet) {
	if t.tunnels == nil {
		t.tunnels = map[int32]TunnelRef{}
	}
	outer := p.Outer.Endpoints()
	v4 := outer.Version == 4
	tn := Tunnel{Kind: p.Tunnel, ID: p.TunnelID}
	if outer.Version != 0 {
		tn.Src, tn.Dst = ipFrom16(outer.Src, v4), ipFrom16(outer.Dst, v4)
	}
	t.tunnels[f.self] = RefTunnel(tn)
	f.bits |= tunnelled
}

// tunnelOf sets a record's tunnel from its flow's.
func (t *Table) tunnelOf(f *flow, r *Record) {
	r.Tunnel = t.tunnels[f.self]
}

// Flush ends every flow still in the table, as the end of input does: a
// closed flow with its close reason, a flow silent for the idle timeout by
// now with EndIdle, the others with EndEOF. now is the time of the newest
// packet of the whole input, which a shard of a split table may not have
// seen itself.
//
// The table is empty afterwards and gives its memory back: the index and
// the slab are dropped whole rather than flow by flow, which on a flood's
// millions of open flows was a fifth of the time spent ending them.
func (t *Table) Flush(now int64) {
	now = max(now, t.now)
	for i := range t.liveFlows() {
		f := t.at(i)
		t.finish(f, t.endOfInput(f, now))
	}
	t.flows = newFlowIndex()
	t.chunks, t.locs, t.used, t.free = nil, nil, 0, nil
	t.mem.release()
	clear(t.wheel.slots[:])
	clear(t.frags)
	t.fragLog = t.fragLog[:0]
}

// endOfInput is how the end of the input, whose newest packet came at
// now, ends flow f: by its close, as idle, or as open.
func (t *Table) endOfInput(f *flow, now int64) EndReason {
	switch {
	case f.closedAt != 0:
		return f.closedBy
	case now-f.last >= t.idle:
		return EndIdle
	}
	return EndEOF
}

// Now returns the time of the newest packet the table has seen.
func (t *Table) Now() int64 { return t.now }

// fragKey matches IP fragments of one datagram.
type fragKey struct {
	Src, Dst [16]byte
	VLAN     uint16
	Proto    uint8
	ID       uint32
}

// fragEntry is either the ports of a datagram whose first fragment was seen,
// or the later fragments waiting for it.
type fragEntry struct {
	first            bool
	srcPort, dstPort uint16
	icmpType         uint8
	waiting          uint64 // later fragments seen before the first one
	waitingBytes     uint64
	time             int64 // when the entry was made
}

type fragLogEntry struct {
	time int64
	key  fragKey
}

// fragment gives a non-first fragment the ports of its datagram's first
// fragment and reports whether the packet can join a flow. Later fragments
// that arrive before their first fragment wait for it, counted as orphans;
// if it comes within the fragment timeout they stop being orphans and are
// returned so the caller credits them to the flow with the first fragment.
func (t *Table) fragment(p *reader.Packet) (early fragEntry, ok bool) {
	fk := fragKey{Src: p.Src, Dst: p.Dst, VLAN: p.VLAN, Proto: p.Proto, ID: p.FragID}
	e, known := t.frags[fk]
	if known && p.Time-e.time > t.fragTTL {
		// Too old to belong to this datagram: the IP ID was reused.
		e, known = fragEntry{}, false
	}
	if !known {
		e.time = p.Time
		t.fragLog = append(t.fragLog, fragLogEntry{p.Time, fk})
	}
	switch {
	case p.Frag == reader.FirstFrag:
		t.stats.OrphanFragments -= e.waiting
		if e.waiting > 0 {
			t.unorphaned(p.Src, p.Dst, p.Proto, e.waiting, e.waitingBytes)
		}
		t.frags[fk] = fragEntry{first: true, srcPort: p.SrcPort, dstPort: p.DstPort, icmpType: p.ICMPType, time: e.time}
		return e, true
	case e.first:
		p.SrcPort, p.DstPort, p.ICMPType = e.srcPort, e.dstPort, e.icmpType
		return fragEntry{}, true
	}
	e.waiting++
	e.waitingBytes += uint64(p.IPLen)
	t.frags[fk] = e
	t.stats.OrphanFragments++
	t.orphaned(p)
	return fragEntry{}, false
}

func (t *Table) expireFragments(now int64) {
	i := 0
	for ; i < len(t.fragLog) && now-t.fragLog[i].time > t.fragTTL+reclaimSlack; i++ {
		if e, ok := t.frags[t.fragLog[i].key]; ok && e.time == t.fragLog[i].time {
			delete(t.frags, t.fragLog[i].key)
		}
	}
	if i > 0 {
		t.fragLog = append(t.fragLog[:0], t.fragLog[i:]...)
	}
}

// Checkpoint hands every flow still open to emit as a record with reason
// EndOpen, holding what the flow has seen so far, and keeps the flows: a
// live capture writes them at the end of a window and they go on in the
// next one under the same ID. Closed flows waiting out their linger end
// now, as they would at the end of input.
func (t *Table) Checkpoint() {
	for i := range t.liveFlows() {
		f := t.at(i)
		if f.closedAt != 0 {
			t.end(f, f.closedBy)
			continue
		}
		var ws []Window
		if t.rec, ws = f.record(EndOpen, t.windowsOf(f), t.scratch); ws != nil {
			t.scratch = ws
		}
		t.locate(f, &t.rec)
		if f.has(tunnelled) {
			t.tunnelOf(f, &t.rec)
		}
		t.emit(&t.rec, ws)
	}
}
