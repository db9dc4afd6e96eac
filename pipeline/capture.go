package pipeline

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// CaptureConfig is what a live capture is asked to do: Config for each
// window's outputs, and how windows are made.
type CaptureConfig struct {
	Config
	Interface string        // the interface captured on, for summary.json
	Rotate    time.Duration // a window's length, whole seconds; windows start at multiples of it since the epoch
	Keep      int           // keep the newest Keep windows (0: all)
	Duration  time.Duration // stop after this long (0: when the context is done)
	Count     uint64        // stop after this many frames (0: no limit)
	SavePcap  bool          // write each window's frames as packets.pcap
	Capture   reader.LiveOptions
	// Clock reads the wall clock, which only decides when windows close
	// and when Duration is over (STYLE §5).
	Clock func() time.Time
	// Written is told of each window written, and Failed of each that
	// could not be (nil: nothing is; Run's error counts the failed).
	Written func(line string)
	Failed  func(err error)
}

// Capture turns a live source's frames into windows of outputs, each
// written beside the capture into a directory of its own under Out.
type Capture struct {
	c *capturer
	w *windowWriter
}

// NewCapture starts the writer of windows (first removing what a killed
// run left in cfg.Out) and opens the first window at the clock's time.
func NewCapture(cfg *CaptureConfig, src Source, linkType int) *Capture {
	w := newWindowWriter(cfg, linkType)
	w.removeStale()
	return &Capture{newCapturer(cfg, src, w), w}
}

// Run reads the source until it ends (ctx done, Duration, Count), closing
// a window at each boundary, and writes the last, partial window before
// returning.
func (c *Capture) Run(ctx context.Context) error { return c.c.run(ctx) }

// Abort removes every window not yet published and stops any from
// appearing; the process exits after it.
func (c *Capture) Abort() { c.w.abort() }

// Source is what a capture reads: a *reader.Live, or a test's fake.
type Source interface {
	Batches() <-chan *reader.Batch
	Release(*reader.Batch)
	Stop()
	Stats() reader.LiveStats
	Err() error
}

var _ Source = (*reader.Live)(nil)

// RotateGrace is how long after a window's end a quiet capture waits before
// closing it: frames stamped before the end that are still in the kernel's
// buffer, or in libpcap's (its timeout is 100 ms), arrive in time to count
// in their window. Busy captures close a window at the first frame stamped
// after its end.
const RotateGrace = 250 * time.Millisecond

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
	cfg    *CaptureConfig
	src    Source
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
	counts     tables.PacketCounts
	input      inputStats
	backlogMax int64
	pcap       *pcapFile // with --save-pcap
	tmp        string    // its temporary directory, once made
}

func newCapturer(cfg *CaptureConfig, src Source, w *windowWriter) *capturer {
	c := &capturer{cfg: cfg, src: src, w: w, started: cfg.Clock(), shards: make([]shardWindow, cfg.Workers)}
	for i := range c.shards {
		c.shards[i].carry.idle = int64(cfg.Flows.IdleTimeout)
		c.shards[i].reset(cfg)
	}
	c.table = flows.NewSharded(cfg.Workers, cfg.Flows, c.emit)
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

func (sw *shardWindow) reset(cfg *CaptureConfig) {
	sw.records = recordStore{}
	tc, err := report.NewTrafficCounter(tables.Summary{Options: tables.Options{IntervalS: cfg.Interval.Seconds()}})
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
	ns, rot := t.UnixNano(), int64(c.cfg.Rotate)
	start := time.Unix(0, ns-(ns%rot+rot)%rot) // a multiple of rotate since the epoch
	c.win = &liveWindow{start: start, end: start.Add(c.cfg.Rotate), from: t}
	if c.cfg.SavePcap {
		c.win.tmp, c.win.pcap = c.w.openPcap(start)
	}
}

func (c *capturer) batch(b *reader.Batch) {
	c.win.backlogMax = max(c.win.backlogMax, c.src.Stats().Backlog)
	for i := range b.Frames {
		if c.cfg.Count > 0 && c.frames >= c.cfg.Count {
			break // frames captured after --count was reached
		}
		fr := &b.Frames[i]
		// A frame stamped in the next window closes this one; one stamped
		// further ahead (a clock step) stays in this one.
		if end := c.win.end.UnixNano(); fr.Time >= end && fr.Time < end+int64(c.cfg.Rotate) {
			c.rotate(c.win.end)
		}
		c.add(fr)
		c.frames++
	}
	c.src.Release(b)
	if c.cfg.Count > 0 && c.frames >= c.cfg.Count && !c.stopping {
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
	outcome := reader.Decoder{NoDecap: c.cfg.NoDecap}.Decode(fr.LinkType, fr.Data, p)
	if outcome == reader.OK && !inTargets(c.cfg.Targets, p) {
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
	now := c.cfg.Clock()
	if c.cfg.Duration > 0 && !c.stopping && now.Sub(c.started) >= c.cfg.Duration {
		c.stopping = true
		c.src.Stop()
	}
	if now.Sub(c.win.end) < RotateGrace {
		return
	}
	next := c.win.end
	if now.Sub(next.Add(c.cfg.Rotate)) >= RotateGrace {
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
	c.submit(c.cfg.Clock())
}

// submit hands the current window's records and counts to the writer.
func (c *capturer) submit(to time.Time) {
	st := c.src.Stats()
	win := c.win
	job := &windowJob{
		start: win.start, end: win.end, from: win.from, to: to,
		counts: win.counts, input: win.input, tmp: win.tmp,
		capture: CaptureSummary{
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
			w.RespPackets -= p.RespPackets
			w.RespBytes -= p.RespBytes
			w.SYNs -= p.SYNs
			w.SYNACKs -= p.SYNACKs
		}
		if w.Packets > 0 {
			out = append(out, w)
		}
	}
	return out
}
