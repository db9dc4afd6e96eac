package flows

import (
	"net/netip"
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

	flows map[Key]*flow
	open  list // open flows, least recently active first
	ended list // closed TCP flows waiting out their linger, oldest first
	free  []*flow

	frags   map[fragKey]fragEntry
	fragLog []fragLogEntry // fragment entries in arrival order, for expiry

	now   int64 // latest packet time seen
	emit  func(*Record)
	stats Stats
}

// New returns a table that hands each ended flow to emit. The record is
// only valid during the call.
func New(opts Options, emit func(*Record)) *Table {
	opts = opts.withDefaults()
	return &Table{
		opts:    opts,
		idle:    int64(opts.IdleTimeout),
		active:  int64(opts.ActiveTimeout),
		linger:  int64(opts.Linger),
		fragTTL: int64(opts.FragmentTimeout),
		window:  int64(opts.Interval),
		flows:   make(map[Key]*flow),
		frags:   make(map[fragKey]fragEntry),
		emit:    emit,
	}
}

// Stats returns the counts so far.
func (t *Table) Stats() Stats { return t.stats }

// Len returns the number of flows in the table.
func (t *Table) Len() int { return len(t.flows) }

// Add accounts one decoded packet (an OK outcome of reader.Decode).
func (t *Table) Add(p *reader.Packet) {
	if p.Time > t.now {
		t.expire(p.Time)
		t.now = p.Time
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
	echo := (p.Proto == reader.ProtoICMP || p.Proto == reader.ProtoICMPv6) && p.DstPort == 0 && isEchoType(p)
	k, s := keyOf(p, echo)
	f := t.flows[k]
	if f != nil && f.closedAt != 0 && isNewSYN(p) {
		// A new connection reuses the 5-tuple of one that closed.
		t.end(f, f.closedBy)
		f = nil
	}
	if f != nil && f.closedAt == 0 && t.active > 0 && p.Time-f.first >= t.active {
		f = t.cut(f, p, s)
	}
	if f == nil {
		f = t.newFlow(k, echo, p, s)
	}
	f.add(p, s, t.window)
	if early.waiting > 0 {
		f.addEarlyFragments(s, early.waiting, early.waitingBytes)
	}
	if f.closedAt != 0 {
		return // lingering: counted, but the close time stays
	}
	if reason, closed := f.closing(); closed {
		f.closedAt, f.closedBy = p.Time, reason
		t.open.remove(f)
		t.ended.pushBack(f)
		return
	}
	t.open.moveToBack(f)
}

func isEchoType(p *reader.Packet) bool {
	if p.Proto == reader.ProtoICMP {
		return p.ICMPType == 8 || p.ICMPType == 0
	}
	return p.ICMPType == 128 || p.ICMPType == 129
}

func isNewSYN(p *reader.Packet) bool {
	return p.Proto == reader.ProtoTCP && p.TCPFlags&(reader.SYN|reader.ACK) == reader.SYN
}

func (t *Table) newFlow(k Key, echo bool, p *reader.Packet, s side) *flow {
	var f *flow
	if n := len(t.free); n > 0 {
		f, t.free = t.free[n-1], t.free[:n-1]
	} else {
		f = new(flow)
	}
	f.reset(k, echo, p.Time, s, p)
	t.flows[k] = f
	t.open.pushBack(f)
	return f
}

// cut ends a flow at the active timeout and continues it in a new record
// that keeps the originator and what the handshake established, so the
// pieces of one connection read alike.
func (t *Table) cut(f *flow, p *reader.Packet, s side) *flow {
	orig := int8(f.originator())
	carried := struct {
		syn, synack, fin, rst, ack [2]bool
		synSide, synackSide, rstSide int8
	}{f.sawSYN, f.sawSYNACK, f.sawFIN, f.sawRST, f.sawACK, f.synSide, f.synackSide, f.rstSide}
	k, echo := f.key, f.echo
	echoReq := f.echoReq
	t.end(f, EndActive)
	n := t.newFlow(k, echo, p, s)
	n.fixedOrig = orig
	n.sawSYN, n.sawSYNACK, n.sawFIN, n.sawRST, n.sawACK = carried.syn, carried.synack, carried.fin, carried.rst, carried.ack
	n.synSide, n.synackSide, n.rstSide, n.echoReq = carried.synSide, carried.synackSide, carried.rstSide, echoReq
	return n
}

// expire ends the flows whose idle timeout or linger has run out by now.
func (t *Table) expire(now int64) {
	for f := t.ended.head; f != nil && now-f.closedAt > t.linger; f = t.ended.head {
		t.end(f, f.closedBy)
	}
	for f := t.open.head; f != nil && now-f.last >= t.idle; f = t.open.head {
		t.end(f, EndIdle)
	}
	t.expireFragments(now)
}

// end emits a flow's record and recycles its entry.
func (t *Table) end(f *flow, reason EndReason) {
	if f.closedAt != 0 {
		t.ended.remove(f)
	} else {
		t.open.remove(f)
	}
	delete(t.flows, f.key)
	rec := f.record(reason)
	t.stats.Flows++
	t.emit(&rec)
	f.windows, f.winSide = nil, nil // the record may keep them
	t.free = append(t.free, f)
}

// Flush ends every flow still in the table, with reason EndEOF for open
// ones and their close reason for lingering ones, in the order they would
// have ended.
func (t *Table) Flush() {
	for t.ended.head != nil {
		t.end(t.ended.head, t.ended.head.closedBy)
	}
	for t.open.head != nil {
		t.end(t.open.head, EndEOF)
	}
	clear(t.frags)
	t.fragLog = t.fragLog[:0]
}

// list is an intrusive doubly linked list of flows.
type list struct{ head, tail *flow }

func (l *list) pushBack(f *flow) {
	f.prev, f.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = f
	} else {
		l.head = f
	}
	l.tail = f
}

func (l *list) remove(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

func (l *list) moveToBack(f *flow) {
	if l.tail == f {
		return
	}
	l.remove(f)
	l.pushBack(f)
}

// fragKey matches IP fragments of one datagram.
type fragKey struct {
	Src, Dst netip.Addr
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
	if !known {
		t.fragLog = append(t.fragLog, fragLogEntry{p.Time, fk})
	}
	switch {
	case p.Frag == reader.FirstFrag:
		t.stats.OrphanFragments -= e.waiting
		t.frags[fk] = fragEntry{first: true, srcPort: p.SrcPort, dstPort: p.DstPort, icmpType: p.ICMPType}
		return e, true
	case e.first:
		p.SrcPort, p.DstPort, p.ICMPType = e.srcPort, e.dstPort, e.icmpType
		return fragEntry{}, true
	}
	e.waiting++
	e.waitingBytes += uint64(p.IPLen)
	t.frags[fk] = e
	t.stats.OrphanFragments++
	return fragEntry{}, false
}

func (t *Table) expireFragments(now int64) {
	i := 0
	for ; i < len(t.fragLog) && now-t.fragLog[i].time > t.fragTTL; i++ {
		delete(t.frags, t.fragLog[i].key)
	}
	if i > 0 {
		t.fragLog = append(t.fragLog[:0], t.fragLog[i:]...)
	}
}
