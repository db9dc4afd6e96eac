package flows

import (
	"encoding/binary"
	"errors"

	"flowstat/reader"
)

// Joining inputs read apart (flowstat map, then merge). A map task reads
// one input of an archive alone; a flow the input before left open may
// go on in it. Since a flow's fate depends only on its own packets (see
// expiry.go), the merge can join the two exactly: it resumes the open
// flow and replays the packets the map task saw of its key, and the
// records are those one table over both inputs would have made.
//
// So a map task's table (Options.JoinFrom) marks joinable every flow that
// may continue one: its first packet came within the idle timeout of the
// input's first packet, or within the idle timeout of the last packet of
// a joinable flow of its key that ended otherwise than idle (a close, a
// cut, an eviction: one table over both inputs may have drawn that line
// elsewhere). Their records are marked Joinable, their packets handed to
// the table's log (LogJoinable), and the flows open at the end are handed
// out as OpenFlows (Sharded.CloseOpen) rather than ended. A merge joins
// them with a Joiner, which holds the flows open across inputs.

// join is a table's part in joining inputs.
type join struct {
	joinFrom    int64             // Options.JoinFrom
	joinEnded   map[Key]int64     // last packet of joinable flows ended otherwise than idle
	logJoinable func(*JoinPacket) // given each packet of a joinable flow
	joining     bool              // a merge's table: no reclaim, no eviction
	joinPacket  JoinPacket        // the packet given to logJoinable
}

// mayContinue reports whether a flow of key k starting at time t may
// continue a flow of the input before.
func (t *Table) mayContinue(k *Key, at int64) bool {
	if at-t.joinFrom < t.idle {
		return true
	}
	last, ok := t.joinEnded[*k]
	if ok {
		delete(t.joinEnded, *k)
	}
	return ok && at-last < t.idle
}

// joinableEnded notes that a joinable flow ended otherwise than idle: the
// next flow of its key may be the same one in a table over both inputs.
func (t *Table) joinableEnded(f *flow) {
	if t.joinFrom == 0 {
		return
	}
	if t.joinEnded == nil {
		t.joinEnded = map[Key]int64{}
	}
	t.joinEnded[f.key] = f.last
}

// LogJoinable has the table give fn each packet of a joinable flow, in
// the order it counts them. The packet is valid only during the call.
func (t *Table) LogJoinable(fn func(*JoinPacket)) { t.logJoinable = fn }

// JoinPacket is what a table counts of a packet, to replay it in a merge.
type JoinPacket struct {
	Time, Offset    int64
	Frame           uint64
	Input           int32 // the packet's input among the map task's
	Src, Dst        [16]byte
	IPLen, Payload  uint32
	Seq, TunnelID   uint32
	Outer           reader.Endpoints
	VLAN, SrcPort   uint16
	DstPort, Window uint16
	IPVersion       uint8
	Proto, TCPFlags uint8
	Frag            reader.Fragment
	TTL, ICMPType   uint8
	ICMPError       bool
	Tunnel          reader.Tunnel
	// EarlyPackets and EarlyBytes are later fragments of its datagram
	// that came before it (Frag is reader.FirstFrag).
	EarlyPackets, EarlyBytes uint64
}

// logJoin gives the table's log a packet of a joinable flow.
func (t *Table) logJoin(p *reader.Packet, early fragEntry) {
	t.joinPacket = JoinPacket{Time: p.Time, Offset: p.Offset, Frame: p.Frame, Input: int32(p.Input), Src: p.Src, Dst: p.Dst,
		IPLen: p.IPLen, Payload: p.Payload, Seq: p.Seq, TunnelID: p.TunnelID, Outer: p.Outer.Endpoints(),
		VLAN: p.VLAN, SrcPort: p.SrcPort, DstPort: p.DstPort, Window: p.Window, IPVersion: p.IPVersion,
		Proto: p.Proto, TCPFlags: p.TCPFlags, Frag: p.Frag, TTL: p.TTL, ICMPType: p.ICMPType,
		ICMPError: p.ICMPError, Tunnel: p.Tunnel, EarlyPackets: early.waiting, EarlyBytes: early.waitingBytes}
	t.logJoinable(&t.joinPacket)
}

// Key returns the key of the packet's flow.
func (jp *JoinPacket) Key() Key {
	p := jp.packet(0)
	return PacketKey(&p)
}

// packet returns the packet jp describes, of a map task whose first input
// is number first.
func (jp *JoinPacket) packet(first int) reader.Packet {
	return reader.Packet{Time: jp.Time, Input: first + int(jp.Input), Frame: jp.Frame, Offset: jp.Offset, Src: jp.Src, Dst: jp.Dst,
		IPLen: jp.IPLen, Payload: jp.Payload, Seq: jp.Seq, TunnelID: jp.TunnelID, Outer: reader.OuterOf(jp.Outer),
		VLAN: jp.VLAN, SrcPort: jp.SrcPort, DstPort: jp.DstPort, Window: jp.Window, IPVersion: jp.IPVersion,
		Proto: jp.Proto, TCPFlags: jp.TCPFlags, Frag: jp.Frag, TTL: jp.TTL, ICMPType: jp.ICMPType,
		ICMPError: jp.ICMPError, Tunnel: jp.Tunnel}
}

// AppendJoinPacket appends the encoding of jp to b.
func AppendJoinPacket(b []byte, jp *JoinPacket) []byte {
	e := encoder{b}
	e.int(jp.Time)
	e.int(jp.Offset)
	e.uint(jp.Frame)
	e.uint(uint64(jp.Input))
	e.addr(&jp.Src)
	e.addr(&jp.Dst)
	for _, v := range [...]uint32{jp.IPLen, jp.Payload, jp.Seq, jp.TunnelID} {
		e.uint(uint64(v))
	}
	e.endpoints(jp.Outer)
	for _, v := range [...]uint16{jp.VLAN, jp.SrcPort, jp.DstPort, jp.Window} {
		e.uint(uint64(v))
	}
	e.b = append(e.b, jp.IPVersion, jp.Proto, jp.TCPFlags, byte(jp.Frag), jp.TTL, jp.ICMPType,
		boolByte(jp.ICMPError), byte(jp.Tunnel))
	e.uint(jp.EarlyPackets)
	e.uint(jp.EarlyBytes)
	return e.b
}

// ReadJoinPacket decodes into jp a packet AppendJoinPacket wrote at the
// start of b, and returns the rest of b.
func ReadJoinPacket(b []byte, jp *JoinPacket) ([]byte, error) {
	d := decoder{b: b}
	jp.Time = d.int()
	jp.Offset = d.int()
	jp.Frame = d.uint()
	jp.Input = int32(d.uint())
	jp.Src = d.addr()
	jp.Dst = d.addr()
	for _, v := range [...]*uint32{&jp.IPLen, &jp.Payload, &jp.Seq, &jp.TunnelID} {
		*v = uint32(d.uint())
	}
	jp.Outer = d.endpoints()
	for _, v := range [...]*uint16{&jp.VLAN, &jp.SrcPort, &jp.DstPort, &jp.Window} {
		*v = uint16(d.uint())
	}
	x := d.take(8)
	jp.IPVersion, jp.Proto, jp.TCPFlags, jp.Frag, jp.TTL, jp.ICMPType = x[0], x[1], x[2], reader.Fragment(x[3]), x[4], x[5]
	jp.ICMPError, jp.Tunnel = x[6] != 0, reader.Tunnel(x[7])
	jp.EarlyPackets = d.uint()
	jp.EarlyBytes = d.uint()
	return d.b, d.err
}

// Joiner joins the flows of consecutive inputs read apart, from what
// their map tasks handed out: for each input in time order, Begin, then
// its joinable packets (Packet), its records but those Replaced says,
// its open flows (Open), and End; Flush after the last.
//
// Its table holds the flows open between inputs. It ends flows only on
// their own packets and on End, never by the clock of other flows'
// packets, so that the packets of different keys may come in any order.
type Joiner struct {
	t        *Table
	input    int
	frames   uint64 // of the input before the range being joined
	replayed Replaced
	held     map[uint64]bool // KeyHash of each flow held when the input began
}

// Replaced are the keys whose joinable records and open flows an input's
// map task made are replaced by the joined ones: the keys whose packets
// the Joiner replayed.
type Replaced map[Key]bool

// Has reports whether r is replaced.
func (rp Replaced) Has(r *Record) bool { return r.Joinable && rp[r.Key()] }

// NewJoiner returns a Joiner that hands ended flows to emit, for inputs
// whose map tasks had options opts.
func NewJoiner(opts Options, emit EmitFunc) *Joiner {
	opts.MaxFlows, opts.JoinFrom = 0, 0
	t := New(opts, emit)
	t.joining = true
	return &Joiner{t: t}
}

// Begin starts the inputs of a map task, the first of them number input
// (the others numbered on from it).
func (j *Joiner) Begin(input int) { j.BeginAt(input, 0) }

// BeginAt begins a byte range of input, after frames frames of it read by
// other map tasks: the range's frame numbers count from there. A map task
// of several inputs reads no range: its first is number input.
func (j *Joiner) BeginAt(input int, frames uint64) {
	j.input, j.frames, j.replayed = input, frames, Replaced{}
	clear(j.held)
	if j.held == nil {
		j.held = map[uint64]bool{}
	}
	for i := range j.t.liveFlows() {
		j.held[KeyHash(j.t.keyAt(i))] = true
	}
}

// Wants reports whether a joinable packet of the input whose key has the
// KeyHash h may be replayed: only those of keys held when the input
// began can be (a key is replayed while the flow an input before left
// open goes on, and its open flows come after its packets), so the others
// need not be decoded. A true answer is a maybe; Packet decides.
func (j *Joiner) Wants(h uint64) bool { return j.held[h] }

// KeyHash is a 64-bit hash of a flow key, for Joiner.Wants.
func KeyHash(k *Key) uint64 { return k.id(0) }

// Packet takes a joinable packet of the input, whose flow's key is k: it
// is replayed when an input before left a flow of k open, or when its
// key's packets are being replayed already.
func (j *Joiner) Packet(jp *JoinPacket, k *Key) {
	if !j.replayed[*k] && !j.t.has(k) {
		return
	}
	j.replayed[*k] = true
	p := jp.packet(j.input)
	p.Frame += j.frames
	if p.Time > j.t.now {
		j.t.now = p.Time
	}
	j.t.place(&p, fragEntry{waiting: jp.EarlyPackets, waitingBytes: jp.EarlyBytes})
}

// Replaced returns the input's replaced keys, once its packets are all
// taken; it is not changed afterwards.
func (j *Joiner) Replaced() Replaced { return j.replayed }

// Open takes a flow the input left open, unless replaced.
func (j *Joiner) Open(o *OpenFlow) error {
	k := o.f.key
	if o.Joinable() && j.replayed[k] {
		return nil
	}
	if !o.Joinable() {
		// Its key's flow of the inputs before, if still held, went silent
		// for the idle timeout before it began.
		j.t.endSilent(&k)
	}
	o.loc.input += int32(j.input)
	o.loc.frame += j.frames
	return j.t.resume(o)
}

// End ends the input, whose last packet came at last: the flows that no
// later packet can continue end.
func (j *Joiner) End(last int64) { j.t.expire(last) }

// Flush ends every flow still held, as the end of the last input, at
// now, does. The Joiner keeps its memory, for the next inputs or keys it
// is given (a distributed merge joins one key after another).
func (j *Joiner) Flush(now int64) {
	t := j.t
	for i := range t.liveFlows() {
		f := t.at(i)
		t.end(f, t.endOfInput(f, now))
	}
}

// Holds reports whether flows are held: open at the end of the last input
// taken, and not ended since.
func (j *Joiner) Holds() bool { return j.t.flows.len() > 0 }

// AppendKey appends an encoding of k to b: a flow's key as bytes, for a
// distributed merge to group by.
func AppendKey(b []byte, k *Key) []byte {
	e := encoder{b}
	e.key(k)
	return e.b
}

// has reports whether the table holds a flow of key k.
func (t *Table) has(k *Key) bool {
	_, ok := t.flows.get(k, t.keyAt)
	return ok
}

// endSilent ends the flow of key k, if any: by its close, or as idle.
func (t *Table) endSilent(k *Key) {
	i, ok := t.flows.get(k, t.keyAt)
	if !ok {
		return
	}
	f := t.at(i)
	if f.closedAt != 0 {
		t.end(f, f.closedBy)
	} else {
		t.end(f, EndIdle)
	}
}

// expire ends the flows that no packet after time now can continue: those
// silent for the idle timeout, and those closed longer ago than the
// linger.
func (t *Table) expire(now int64) {
	for i := range t.liveFlows() {
		f := t.at(i)
		switch {
		case f.closedAt != 0 && now-f.closedAt > t.linger:
			t.end(f, f.closedBy)
		case f.closedAt == 0 && now-f.last >= t.idle:
			t.end(f, EndIdle)
		}
	}
}

// OpenFlow is a flow left open at the end of a map task's input: its
// state, windows, tunnel and first packet's location, to resume in a
// merge.
type OpenFlow struct {
	f       flow
	loc     location
	tunnel  Tunnel
	windows []windowCount
}

// Key returns the flow's key.
func (o *OpenFlow) Key() Key { return o.f.key }

// Joinable reports whether the flow may continue one of the input before.
func (o *OpenFlow) Joinable() bool { return o.f.has(joinable) }

// openFlow makes o the flow at slab index i.
func (t *Table) openFlow(i int32, o *OpenFlow) {
	f := t.at(i)
	*o = OpenFlow{f: *f, loc: *t.locAt(i)}
	if f.has(tunnelled) {
		o.tunnel = t.tunnels[i].Get()
	}
	if f.nWin == overflowWindows {
		o.windows = t.overflow[i].ws
	}
}

// resume puts an open flow back into the table, as it was when its input
// ended. The table must hold no flow of its key.
func (t *Table) resume(o *OpenFlow) error {
	k := o.f.key
	if t.has(&k) {
		return errors.New("a flow open at the end of an input is open at the end of another: the inputs overlap in time")
	}
	f := t.entry()
	self, gen := f.self, f.gen
	*f = o.f
	f.self, f.gen = self, gen+1
	f.bits |= isLive
	f.bits &^= joinable | tunnelled
	*t.locAt(self) = o.loc
	if o.tunnel.Kind != reader.TunnelNone {
		if t.tunnels == nil {
			t.tunnels = map[int32]TunnelRef{}
		}
		t.tunnels[self] = RefTunnel(o.tunnel)
		f.bits |= tunnelled
	}
	if f.nWin == overflowWindows {
		t.overflow[self] = &windowList{ws: o.windows}
	}
	t.flows.add(&k, self)
	t.now = max(t.now, f.last)
	return nil
}

// OpenFlows hands fn every flow of the table as an OpenFlow, valid only
// during the call, and empties the table without emitting them.
func (t *Table) OpenFlows(fn func(*OpenFlow)) {
	var o OpenFlow
	for i := range t.liveFlows() {
		t.openFlow(i, &o)
		fn(&o)
	}
	t.flows = newFlowIndex()
	t.chunks, t.locs, t.used, t.free = nil, nil, 0, nil
	t.mem.release()
	clear(t.wheel.slots[:])
	clear(t.overflow)
	clear(t.tunnels)
}

// AppendOpenFlow appends the encoding of o to b. It lives as long as a
// map task's output: merge reads it with the same flowstat.
func AppendOpenFlow(b []byte, o *OpenFlow) []byte {
	e := encoder{b}
	f := &o.f
	e.int(f.first)
	e.int(f.last)
	for s := range 2 {
		for _, v := range [...]uint64{f.packets[s], f.bytes[s], f.payload[s], f.retransBytes[s],
			uint64(f.firstSYN[s]), uint64(f.firstHS[s]), uint64(f.syns[s]), uint64(f.synacks[s]),
			uint64(f.minLen[s]), uint64(f.maxLen[s]), uint64(f.seqEnd[s]), uint64(f.retransPkts[s]),
			uint64(f.zeroWindows[s]), uint64(f.flags[s]), uint64(f.minTTL[s]), uint64(f.maxTTL[s])} {
			e.uint(v)
		}
	}
	e.int(f.closedAt)
	e.uint(uint64(f.history))
	e.uint(uint64(f.rsts))
	e.key(&f.key)
	e.uint(uint64(f.bits))
	for _, v := range [...]int8{f.synSide, f.synackSide, f.rstSide, f.firstSide, f.echoReq, f.fixedOrig} {
		e.int(int64(v))
	}
	e.b = append(e.b, byte(f.closedBy), f.nWin)
	e.int(o.loc.offset)
	e.uint(o.loc.frame)
	e.uint(uint64(o.loc.input))
	e.b = append(e.b, byte(o.tunnel.Kind))
	e.uint(uint64(o.tunnel.ID))
	e.ip(o.tunnel.Src)
	e.ip(o.tunnel.Dst)
	e.uint(uint64(len(o.windows)))
	for _, w := range o.windows {
		e.int(w.start)
		for s := range 2 {
			e.uint(w.packets[s])
			e.uint(w.bytes[s])
			e.uint(uint64(w.syns[s]))
			e.uint(uint64(w.synacks[s]))
		}
	}
	return e.b
}

// ReadOpenFlow decodes into o a flow AppendOpenFlow wrote at the start of
// b, and returns the rest of b.
func ReadOpenFlow(b []byte, o *OpenFlow) ([]byte, error) {
	d := decoder{b: b}
	*o = OpenFlow{}
	f := &o.f
	f.first = d.int()
	f.last = d.int()
	for s := range 2 {
		f.packets[s], f.bytes[s], f.payload[s], f.retransBytes[s] = d.uint(), d.uint(), d.uint(), d.uint()
		f.firstSYN[s], f.firstHS[s] = int64(d.uint()), int64(d.uint())
		f.syns[s], f.synacks[s] = uint32(d.uint()), uint32(d.uint())
		f.minLen[s], f.maxLen[s], f.seqEnd[s] = uint32(d.uint()), uint32(d.uint()), uint32(d.uint())
		f.retransPkts[s], f.zeroWindows[s] = uint32(d.uint()), uint32(d.uint())
		f.flags[s], f.minTTL[s], f.maxTTL[s] = uint8(d.uint()), uint8(d.uint()), uint8(d.uint())
	}
	f.closedAt = d.int()
	f.history = events(d.uint())
	f.rsts = uint32(d.uint())
	f.key = d.key()
	f.bits = flowBits(d.uint())
	for _, v := range [...]*int8{&f.synSide, &f.synackSide, &f.rstSide, &f.firstSide, &f.echoReq, &f.fixedOrig} {
		*v = int8(d.int())
	}
	x := d.take(2)
	f.closedBy, f.nWin = EndReason(x[0]), x[1]
	o.loc.offset = d.int()
	o.loc.frame = d.uint()
	o.loc.input = int32(d.uint())
	o.tunnel.Kind = reader.Tunnel(d.take(1)[0])
	o.tunnel.ID = uint32(d.uint())
	o.tunnel.Src = d.ip()
	o.tunnel.Dst = d.ip()
	n := d.uint()
	if n > uint64(len(d.b)) { // each window takes bytes: a wrong count is damage
		return nil, errShortRecord
	}
	for range n {
		w := windowCount{start: d.int()}
		for s := range 2 {
			w.packets[s], w.bytes[s] = d.uint(), d.uint()
			w.syns[s], w.synacks[s] = uint32(d.uint()), uint32(d.uint())
		}
		o.windows = append(o.windows, w)
	}
	return d.b, d.err
}

// AppendTunnel and ReadTunnel carry a record's tunnel out of the
// process, whose TunnelRef names it only within.
func AppendTunnel(b []byte, tn Tunnel) []byte {
	e := encoder{append(b, byte(tn.Kind))}
	e.uint(uint64(tn.ID))
	e.ip(tn.Src)
	e.ip(tn.Dst)
	return e.b
}

// ReadTunnel decodes a tunnel AppendTunnel wrote at the start of b, and
// returns the rest of b.
func ReadTunnel(b []byte) (Tunnel, []byte, error) {
	d := decoder{b: b}
	tn := Tunnel{Kind: reader.Tunnel(d.take(1)[0])}
	tn.ID = uint32(d.uint())
	tn.Src = d.ip()
	tn.Dst = d.ip()
	return tn, d.b, d.err
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// encoder appends varints and plain bytes; decoder reads them back, and
// zeros past the end with err set.
type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

// addr writes a 16-byte address, in 4 bytes when it is IPv4-mapped.
func (e *encoder) addr(a *[16]byte) {
	if [12]byte(a[:12]) == v4Prefix {
		e.b = append(append(e.b, 4), a[12:]...)
		return
	}
	e.b = append(append(e.b, 6), a[:]...)
}

func (e *encoder) ip(ip IP) {
	e.b = append(e.b, ip.bits)
	e.addr(&ip.b)
}

func (e *encoder) endpoints(ep reader.Endpoints) {
	e.b = append(e.b, ep.Version)
	if ep.Version != 0 {
		e.addr(&ep.Src)
		e.addr(&ep.Dst)
	}
}

func (e *encoder) key(k *Key) {
	e.addr(&k.A)
	e.addr(&k.B)
	e.uint(uint64(k.APort))
	e.uint(uint64(k.BPort))
	e.uint(uint64(k.VLAN))
	e.b = append(e.b, k.Proto, boolByte(k.IPv4))
	e.uint(uint64(k.TunnelID))
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	d.err = errShortRecord
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) addr() [16]byte {
	var a [16]byte
	if d.take(1)[0] == 4 {
		copy(a[:], v4Prefix[:])
		copy(a[12:], d.take(4))
	} else {
		copy(a[:], d.take(16))
	}
	return a
}

func (d *decoder) ip() IP {
	return IP{bits: d.take(1)[0], b: d.addr()}
}

func (d *decoder) endpoints() reader.Endpoints {
	ep := reader.Endpoints{Version: d.take(1)[0]}
	if ep.Version != 0 {
		ep.Src = d.addr()
		ep.Dst = d.addr()
	}
	return ep
}

func (d *decoder) key() Key {
	var k Key
	k.A = d.addr()
	k.B = d.addr()
	k.APort, k.BPort, k.VLAN = uint16(d.uint()), uint16(d.uint()), uint16(d.uint())
	x := d.take(2)
	k.Proto, k.IPv4 = x[0], x[1] != 0
	k.TunnelID = uint32(d.uint())
	return k
}
