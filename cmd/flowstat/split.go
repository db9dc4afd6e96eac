package main

import (
	"context"
	"slices"

	"flowstat/flows"
	"flowstat/reader"
)

// splitChunkSize is the size of the pieces a large classic pcap file is
// read in: big enough that a chunk's start-up (a seek, finding the first
// record) is lost in its work, small enough that the chunks in flight take
// little memory and a 1 GB trace gives every core many of them. Tests make
// it small.
var splitChunkSize int64 = 8 << 20

// chunkPackets is one chunk read and decoded: its packets split by flow
// table shard, each shard's in batches in input order, the times of all of
// them in input order, and its counts. Batches of fixed size, reused, spare
// the copies of a slice grown to a whole chunk's packets.
type chunkPackets struct {
	shards [][][]reader.Packet
	times  []int64
	sink   *sink
}

// readSplit reads a split trace: workers read, filter and decode chunks
// concurrently, and the chunks' packets go to the flow table in file
// order, exactly those of a sequential pass (see reader.ReadSplit).
func readSplit(ctx context.Context, cfg *analyzeConfig, split *reader.Split, t *reader.Trace, filter *reader.Filter,
	table *flows.Sharded, whole *sink, bar *progress) error {
	// One filter per goroutine: the last one is the caller's.
	filters := make([]*reader.Filter, cfg.workers+1)
	for w := range filters {
		filters[w] = filter.Clone()
	}
	ahead := 2 * cfg.workers
	freeTimes := make(chan []int64, ahead+cfg.workers+1) // handed back for reuse
	read := func(c *reader.ChunkReader, worker int) chunkPackets {
		res := chunkPackets{sink: newSink(cfg, filters[worker], 1), shards: make([][][]reader.Packet, cfg.workers)}
		for i := range res.shards {
			res.shards[i] = [][]reader.Packet{table.Batch()}
		}
		select {
		case res.times = <-freeTimes:
		default:
		}
		var fr reader.Frame
		for c.Next(&fr) == nil {
			if p := res.sink.take(&fr, 0); p != nil {
				i := table.Shard(p)
				batches := res.shards[i]
				if last := batches[len(batches)-1]; len(last) == cap(last) {
					batches = append(batches, table.Batch())
				}
				batches[len(batches)-1] = append(batches[len(batches)-1], *p)
				res.shards[i] = batches
				res.times = append(res.times, p.Time)
			}
		}
		return res
	}
	use := func(res chunkPackets) error {
		table.Observe(res.times)
		// Round robin, so that no table waits while another's queue fills.
		for j, more := 0, true; more; j++ {
			more = false
			for i, batches := range res.shards {
				if j < len(batches) {
					table.AddBatch(i, batches[j])
					more = true
				}
			}
		}
		whole.merge(res.sink)
		select {
		case freeTimes <- res.times[:0]:
		default:
		}
		bar.update(whole.counts.Read)
		return stopped(ctx)
	}
	err := reader.ReadSplit(split, cfg.workers, ahead, read, use, t)
	for _, f := range filters {
		filter.MergeErrors(f)
	}
	return err
}

// merge adds the counts of a sink that read a later part of the same
// single input.
func (sk *sink) merge(o *sink) {
	sk.counts.Add(&o.counts)
	in, part := &sk.inputs[0], &o.inputs[0]
	if part.packets == 0 {
		return
	}
	if in.packets == 0 || part.first < in.first {
		in.first = part.first
	}
	in.last = max(in.last, part.last)
	in.packets += part.packets
	in.bytes += part.bytes
	for _, lt := range part.linkTypes {
		if !slices.Contains(in.linkTypes, lt) {
			in.linkTypes = append(in.linkTypes, lt)
		}
	}
}
