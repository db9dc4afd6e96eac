package flows

import (
	"encoding/binary"
	"sync"

	"flowstat/reader"
)

// Sharded spreads packets over several tables, each run by its own
// goroutine. A packet goes to the table of its host pair, so both
// directions of a flow, and the fragments of a datagram, always meet in one
// table. Since a flow's fate depends only on its own packets (see expiry.go)
// and the input's newest time, the records are those one Table would emit;
// only the order of emission differs.
type Sharded struct {
	shards []*shard
	free   chan []reader.Packet
	wg     sync.WaitGroup
	now    int64
	stats  Stats
}

type shard struct {
	table   *Table
	in      chan []reader.Packet
	control chan func() // run in the shard's goroutine after the batches sent before
	batch   []reader.Packet
}

// batchSize is how many packets cross to a shard's goroutine at once:
// enough that the channel operation is lost in the work.
const batchSize = 1024

// queuedBatches is how many batches a shard's queue holds. A shard's work
// comes in spikes (a chunk of records sorted and spilled) that a queue of
// a few batches cannot absorb: the other shards, and the reader handing
// out batches in turn, would stand idle meanwhile.
const queuedBatches = 64

// freeBatches is how many processed batches are kept for reuse: as many as
// a parallel reader has in flight (a few chunks of some 40 batches each),
// so that batches are not allocated over and over.
const freeBatches = 512

// NewSharded starts n tables. emit receives each ended flow with the index
// of the table that ended it; calls for one index come from one goroutine,
// calls for different indexes concurrently.
//
// opts.MaxFlows is shared out among the tables. Only then do records depend
// on n: which flow a full table evicts depends on what else it holds.
func NewSharded(n int, opts Options, emit func(shard int, r *Record, windows []Window)) *Sharded {
	s := &Sharded{free: make(chan []reader.Packet, freeBatches+queuedBatches*n)}
	if opts.MaxFlows > 0 {
		opts.MaxFlows = (opts.MaxFlows + n - 1) / n
	}
	for i := 0; i < n; i++ {
		i := i
		sh := &shard{table: New(opts, func(r *Record, ws []Window) { emit(i, r, ws) })}
		s.shards = append(s.shards, sh)
		if n == 1 {
			continue // one table runs in the caller's goroutine
		}
		sh.in = make(chan []reader.Packet, queuedBatches)
		sh.control = make(chan func())
		sh.batch = s.newBatch()
		s.wg.Add(1)
		go sh.run(s.free, &s.wg)
	}
	return s
}

// run processes batches until the input closes; a control function runs
// once every batch sent before it has been processed.
func (sh *shard) run(free chan []reader.Packet, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case batch, ok := <-sh.in:
			if !ok {
				return
			}
			sh.process(batch, free)
		case fn := <-sh.control:
			// Drain what was queued before the control function.
			for n := len(sh.in); n > 0; n-- {
				sh.process(<-sh.in, free)
			}
			fn()
		}
	}
}

func (sh *shard) process(batch []reader.Packet, free chan []reader.Packet) {
	for j := range batch {
		sh.table.Add(&batch[j])
	}
	select {
	case free <- batch[:0]:
	default:
	}
}

func (s *Sharded) newBatch() []reader.Packet {
	select {
	case b := <-s.free:
		return b
	default:
		return make([]reader.Packet, 0, batchSize)
	}
}

// Add hands a packet to its table. The packet is copied.
func (s *Sharded) Add(p *reader.Packet) {
	if p.Time > s.now {
		s.now = p.Time
	} else if p.Time < s.now {
		s.stats.OutOfOrder++
	}
	if len(s.shards) == 1 {
		s.shards[0].table.Add(p)
		return
	}
	sh := s.shards[shardOf(p, len(s.shards))]
	sh.batch = append(sh.batch, *p)
	if len(sh.batch) == batchSize {
		sh.in <- sh.batch
		sh.batch = s.newBatch()
	}
}

// Shard returns the index of the table p goes to, for AddBatch.
func (s *Sharded) Shard(p *reader.Packet) int { return shardOf(p, len(s.shards)) }

// Batch returns an empty batch to fill for AddBatch, reusing the memory of
// batches processed before.
func (s *Sharded) Batch() []reader.Packet { return s.newBatch() }

// AddBatch hands table i a batch of packets that Shard assigned to it, in
// input order; the batch belongs to the table from now on. Readers that
// decode in parallel split their packets by table themselves, sparing the
// copy Add makes; they report the packets' times, in input order, to
// Observe.
func (s *Sharded) AddBatch(i int, batch []reader.Packet) {
	sh := s.shards[i]
	if sh.in == nil {
		sh.process(batch, s.free)
		return
	}
	if len(sh.batch) > 0 {
		sh.in <- sh.batch
		sh.batch = s.newBatch()
	}
	sh.in <- batch
}

// Observe takes the times of packets given to AddBatch, in input order,
// as Add does: the input's newest time, and packets older than it.
func (s *Sharded) Observe(times []int64) {
	for _, t := range times {
		if t > s.now {
			s.now = t
		} else if t < s.now {
			s.stats.OutOfOrder++
		}
	}
}

// shardOf hashes the unordered host pair, protocol and VLAN. XOR makes the
// hash the same for both directions without ordering the addresses.
func shardOf(p *reader.Packet, n int) int {
	a, b := &p.Src, &p.Dst
	h := binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(b[:8]) ^
		binary.LittleEndian.Uint64(a[8:]) ^ binary.LittleEndian.Uint64(b[8:]) ^
		uint64(p.Proto)<<40 ^ uint64(p.VLAN)<<48
	h *= 0x9E3779B97F4A7C15
	return int((h >> 32) * uint64(n) >> 32)
}

// Close processes what is pending, ends every flow as the end of input
// does, and returns the tables' combined counts. ending, when not nil, is
// told how many flows are left open before they are ended: millions
// after a flood, which take seconds.
func (s *Sharded) Close(ending func(open int)) Stats {
	s.drain()
	if ending != nil {
		open := 0
		for _, sh := range s.shards {
			open += sh.table.Len()
		}
		ending(open)
	}
	// Each table ends its flows on a goroutine of its own, as it ended
	// them while processing: a capture that stops during a flood or a
	// scan leaves millions open.
	var flushing sync.WaitGroup
	for _, sh := range s.shards {
		flushing.Go(func() { sh.table.Flush(s.now) })
	}
	flushing.Wait()
	return s.tableStats()
}

// Now returns the time of the newest packet the tables were given: the
// time flows are ended at when the input ends (Close).
func (s *Sharded) Now() int64 { return s.now }

// CloseOpen processes what is pending and hands every flow still open to
// open (valid only during the call), with the index of its table, rather
// than ending it: a map task's input is not the end of the archive
// (join.go). It returns the tables' combined counts.
func (s *Sharded) CloseOpen(open func(shard int, o *OpenFlow)) Stats {
	s.drain()
	for i, sh := range s.shards {
		sh.table.OpenFlows(func(o *OpenFlow) { open(i, o) })
	}
	return s.tableStats()
}

// LogJoinable has each table give fn, with its index, each packet of a
// joinable flow (Table.LogJoinable); calls for one index come from one
// goroutine.
func (s *Sharded) LogJoinable(fn func(shard int, jp *JoinPacket)) {
	for i, sh := range s.shards {
		sh.table.LogJoinable(func(jp *JoinPacket) { fn(i, jp) })
	}
}

// drain has the tables process every packet given and stops their
// goroutines.
func (s *Sharded) drain() {
	for _, sh := range s.shards {
		if sh.in != nil {
			if len(sh.batch) > 0 {
				sh.in <- sh.batch
			}
			close(sh.in)
		}
	}
	s.wg.Wait()
}

// tableStats returns the tables' combined counts.
func (s *Sharded) tableStats() Stats {
	st := Stats{OutOfOrder: s.stats.OutOfOrder}
	for _, sh := range s.shards {
		ts := sh.table.Stats()
		st.ICMPErrors += ts.ICMPErrors
		st.Fragments += ts.Fragments
		st.OrphanFragments += ts.OrphanFragments
		st.Flows += ts.Flows
	}
	return st
}

// Orphans returns the tables' orphan fragments by source and destination
// (see Table.Orphans), after Close.
func (s *Sharded) Orphans() []Orphans {
	var out []Orphans
	for _, sh := range s.shards {
		out = append(out, sh.table.Orphans()...)
	}
	return out
}

// Checkpoint waits until every table has processed what it was given, then
// has each emit its open flows as Table.Checkpoint does. The tables go on
// afterwards.
func (s *Sharded) Checkpoint() {
	s.sync(func(t *Table) { t.Checkpoint() })
}

// sync sends each shard its pending packets and runs fn on its table in
// the shard's own goroutine, waiting for all of them.
func (s *Sharded) sync(fn func(*Table)) {
	if len(s.shards) == 1 {
		fn(s.shards[0].table)
		return
	}
	var wg sync.WaitGroup
	for _, sh := range s.shards {
		if len(sh.batch) > 0 {
			sh.in <- sh.batch
			sh.batch = s.newBatch()
		}
		wg.Add(1)
		sh.control <- func() { fn(sh.table); wg.Done() }
	}
	wg.Wait()
}
