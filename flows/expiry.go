package flows

// Expiry is decided on a flow's own packets: a packet that comes an idle
// timeout or more after its flow's last one, or after a closed flow's
// linger, starts a new flow. That makes the records independent of how
// packets of different flows interleave, so a table split into shards gives
// the records of one table. Ending flows that receive no more packets, to
// emit their records and reuse their memory, is the wheel's job: it visits
// flows when their deadline may have passed, a little late (reclaimSlack),
// so that a packet slightly out of time order still finds its flow.

// reclaimSlack is how long after its deadline a silent flow is ended. A
// packet out of time order by more than this, relative to the newest packet
// seen, may start a new flow instead of joining a silent one.
const reclaimSlack = 10 * 1e9

// wheelSlots is the number of slots of the timing wheel; each covers
// (idle timeout + slack) / (wheelSlots - 2) of packet time.
const wheelSlots = 64

// wheel is a timing wheel of slab indexes by reclaim deadline.
type wheel struct {
	width  int64 // packet time per slot
	slots  [wheelSlots][]wheelEntry
	cursor int64 // first slot time not yet visited, in units of width
	primed bool
}

type wheelEntry struct {
	index int32
	gen   uint32 // the flow's generation when queued: a reused entry is stale
}

func newWheel(span int64) wheel {
	return wheel{width: max(span/(wheelSlots-2), 1e6)}
}

// schedule queues flow f to be visited once packet time reaches deadline.
func (w *wheel) schedule(f *flow, deadline int64) {
	slot := deadline / w.width
	if w.primed && slot < w.cursor {
		slot = w.cursor
	}
	i := slot % wheelSlots
	w.slots[i] = append(w.slots[i], wheelEntry{f.self, f.gen})
}

// deadline is when a flow may be reclaimed if no packet comes.
func (t *Table) deadline(f *flow) int64 {
	if f.closedAt != 0 {
		return f.closedAt + t.linger + reclaimSlack
	}
	return f.last + t.idle + reclaimSlack
}

// evict ends the flow with the earliest deadline, to the wheel's slot
// width (about a sixtieth of the idle timeout): the flow silent for
// longest, or one lingering after its close. A flow already idle ends as
// idle, a closed one by its close; any other is evicted. Entries whose flow
// saw packets since they were queued move on to their slot on the way.
func (t *Table) evict() {
	w := &t.wheel
	for s := w.cursor; s < w.cursor+wheelSlots; s++ {
		i := s % wheelSlots
		for len(w.slots[i]) > 0 {
			last := len(w.slots[i]) - 1
			e := w.slots[i][last]
			w.slots[i] = w.slots[i][:last]
			f := t.at(e.index)
			if f.gen != e.gen || !f.has(isLive) {
				continue
			}
			// Requeue a flow due later, unless its slot comes round to this
			// one (a deadline a whole turn ahead, as with a linger longer
			// than the idle timeout): popping it again would never end.
			if ds := t.deadline(f) / w.width; ds > s && ds%wheelSlots != i {
				w.schedule(f, t.deadline(f))
				continue
			}
			switch {
			case f.closedAt != 0:
				t.end(f, f.closedBy)
			case t.now-f.last >= t.idle:
				t.end(f, EndIdle)
			default:
				t.end(f, EndEvicted)
			}
			return
		}
	}
}

// reclaim ends the flows whose deadline has passed by now and requeues the
// ones that saw packets since they were queued.
func (t *Table) reclaim(now int64) {
	w := &t.wheel
	target := now / w.width // slots strictly before target are due
	if !w.primed {
		w.cursor, w.primed = target, true
		return
	}
	if target-w.cursor > wheelSlots {
		w.cursor = target - wheelSlots
	}
	for ; w.cursor < target; w.cursor++ {
		i := w.cursor % wheelSlots
		due := w.slots[i]
		w.slots[i] = nil
		for _, e := range due {
			f := t.at(e.index)
			if f.gen != e.gen || !f.has(isLive) {
				continue
			}
			if d := t.deadline(f); d > now {
				w.schedule(f, d)
				continue
			}
			if f.closedAt != 0 {
				t.end(f, f.closedBy)
			} else {
				t.end(f, EndIdle)
			}
		}
		if cap(due) <= 1024 {
			w.slots[i] = due[:0] // keep small buffers, drop large ones
		}
	}
}
