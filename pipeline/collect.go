package pipeline

import (
	"cmp"

	"flowstat/flows"
	"flowstat/report"
	"flowstat/tables"
)

// collector takes a flow table's records to a run's outputs: sorted runs
// on disk for flows.parquet (spill.go), the report's parts, and the
// counts by state and end. Calls for one shard come from one goroutine.
type collector struct {
	stores  []recordStore
	tallies []tables.FlowTally
	parts   *report.Parts
	// interval, when not 0, is the run's window, which the records'
	// windows are summed into: a merge's may be a multiple of its map
	// tasks' (regroup).
	interval int64
	windows  [][]flows.Window // each shard's regrouped windows
	mapTo    *mapWriter       // a map task's output, instead of all the above
}

// newCollector creates the spill files and the report's parts in cfg.Out
// for records from shards goroutines (a map task's output when cfg.mapTo
// is set).
func newCollector(cfg *Config, res *Result, shards int) (*collector, error) {
	c := &collector{mapTo: cfg.mapTo, tallies: make([]tables.FlowTally, shards),
		windows: make([][]flows.Window, shards)}
	if c.mapTo != nil {
		return c, nil
	}
	c.stores = make([]recordStore, shards)
	for i := range c.stores {
		var err error
		if c.stores[i].spill, err = newSpill(cfg.Out); err != nil {
			removeSpills(c.stores[:i])
			return nil, err
		}
	}
	if !cfg.NoReport {
		var err error
		c.parts, err = report.NewParts(cfg.Out, shards, int64(cfg.Interval), reportOptions(cfg))
		if err != nil {
			removeSpills(c.stores)
			return nil, err
		}
		c.parts.HeldBytes = heldBytes(cfg.MemoryMiB)
		res.parts = c.parts
	}
	return c, nil
}

// add takes a record and its windows from the table of shard.
func (c *collector) add(shard int, r *flows.Record, windows []flows.Window) error {
	c.tallies[shard].Count(r)
	if c.mapTo != nil {
		return c.mapTo.record(shard, r, windows)
	}
	if c.interval != 0 {
		c.windows[shard] = regroup(windows, c.interval, c.windows[shard])
		windows = c.windows[shard]
	}
	st := &c.stores[shard]
	st.add(r)
	err := st.spill.Err()
	if c.parts != nil {
		c.parts.Writer(shard).Add(r, windows)
		err = cmp.Or(err, c.parts.Writer(shard).Err())
	}
	return err
}

// remove deletes the files the records went to, when no output is
// written.
func (c *collector) remove() {
	removeSpills(c.stores)
	if c.parts != nil {
		c.parts.Remove()
	}
}

// finish hands the records to res for WriteOutputs, and counts them in
// its summary.
func (c *collector) finish(res *Result) {
	res.spilled = c.stores
	for i := range c.tallies {
		c.tallies[i].AddTo(&res.Summary.Flows)
	}
}

// regroup sums windows, in time order, into windows of interval (a
// multiple of theirs), written into scratch.
func regroup(windows []flows.Window, interval int64, scratch []flows.Window) []flows.Window {
	out := scratch[:0]
	for _, w := range windows {
		w.Start = report.FloorDiv(w.Start, interval) * interval
		n := len(out)
		if n == 0 || out[n-1].Start != w.Start {
			out = append(out, w)
			continue
		}
		o := &out[n-1]
		o.Packets += w.Packets
		o.Bytes += w.Bytes
		o.RespPackets += w.RespPackets
		o.RespBytes += w.RespBytes
		o.SYNs += w.SYNs
		o.SYNACKs += w.SYNACKs
	}
	return out
}
