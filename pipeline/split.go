package pipeline

import (
	"context"

	"flowstat/flows"
	"flowstat/reader"
)

// readSplit reads a split trace: workers read, filter and decode chunks
// concurrently, and the chunks' packets go to the flow table in file
// order, exactly those of a sequential pass (see reader.ReadSplit).
func readSplit(ctx context.Context, cfg *Config, split *reader.Split, t *reader.Trace, filter *reader.Filter,
	table *flows.Sharded, whole *sink, bar ReadProgress) error {
	d := newChunkDecoder(ctx, cfg, filter, table, whole, bar)
	read := func(c *reader.ChunkReader, worker int) chunkPackets {
		return d.decode(worker, func(fr *reader.Frame) (int, bool) { return 0, c.Next(fr) == nil })
	}
	err := reader.ReadSplit(split, cfg.Workers, d.ahead, read, d.use, t)
	d.finish()
	return err
}
