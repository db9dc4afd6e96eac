package main

import (
	"context"

	"flowstat/flows"
	"flowstat/reader"
)

// splitChunkSize is the size of the pieces a large uncompressed trace file
// is read in. Tests make it small.
var splitChunkSize int64 = reader.DefaultChunkSize

// readSplit reads a split trace: workers read, filter and decode chunks
// concurrently, and the chunks' packets go to the flow table in file
// order, exactly those of a sequential pass (see reader.ReadSplit).
func readSplit(ctx context.Context, cfg *analyzeConfig, split *reader.Split, t *reader.Trace, filter *reader.Filter,
	table *flows.Sharded, whole *sink, bar *progress) error {
	d := newChunkDecoder(ctx, cfg, filter, table, whole, bar)
	read := func(c *reader.ChunkReader, worker int) chunkPackets {
		return d.decode(worker, func(fr *reader.Frame) (int, bool) { return 0, c.Next(fr) == nil })
	}
	err := reader.ReadSplit(split, cfg.workers, d.ahead, read, d.use, t)
	d.finish()
	return err
}
