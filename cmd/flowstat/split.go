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

// chunkPackets is one chunk read and decoded: its packets for the flow
// table, in order, and its counts.
type chunkPackets struct {
	packets []reader.Packet
	sink    *sink
}

// readSplit reads a split trace: workers read, filter and decode chunks
// concurrently, and the chunks' packets go to the flow table in file
// order, exactly those of a sequential pass (see reader.ReadSplit).
func readSplit(ctx context.Context, cfg *analyzeConfig, split *reader.Split, t *reader.Trace, filter *reader.Filter,
	table *flows.Sharded, main *sink, bar *progress) error {
	// One filter per goroutine: the last one is the caller's.
	filters := make([]*reader.Filter, cfg.workers+1)
	for w := range filters {
		filters[w] = filter.Clone()
	}
	ahead := 2 * cfg.workers
	free := make(chan []reader.Packet, ahead+cfg.workers+1) // packet slices handed back for reuse
	read := func(c *reader.ChunkReader, worker int) chunkPackets {
		res := chunkPackets{sink: newSink(cfg, filters[worker], 1)}
		select {
		case res.packets = <-free:
		default:
		}
		var fr reader.Frame
		for c.Next(&fr) == nil {
			if p := res.sink.take(&fr, 0); p != nil {
				res.packets = append(res.packets, *p)
			}
		}
		return res
	}
	use := func(res chunkPackets) error {
		for j := range res.packets {
			table.Add(&res.packets[j])
		}
		main.merge(res.sink)
		select {
		case free <- res.packets[:0]:
		default:
		}
		bar.update(main.counts.Read)
		if ctx.Err() != nil {
			return errInterrupted
		}
		return nil
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
