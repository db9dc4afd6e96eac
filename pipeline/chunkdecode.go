package pipeline

import (
	"context"
	"slices"

	"flowstat/flows"
	"flowstat/reader"
)

// chunkPackets is one chunk read and decoded: its packets split by flow
// table shard, each shard's in batches in input order, the times of all of
// them in input order, and its counts. Batches of fixed size, reused, spare
// the copies of a slice grown to a whole chunk's packets.
type chunkPackets struct {
	shards [][][]reader.Packet
	times  []int64
	sink   *sink
}

// chunkDecoder filters and decodes chunks of frames on several goroutines
// at once (decode), and hands their packets to the flow table in input
// order (use). A chunk is a byte range of a split file (split.go) or a
// batch of frames copied from a stream (stream.go).
type chunkDecoder struct {
	ctx       context.Context
	cfg       *Config
	filter    *reader.Filter
	filters   []*reader.Filter // one per goroutine: the last one is the caller's
	table     *flows.Sharded
	whole     *sink
	bar       ReadProgress
	ahead     int          // chunks decoded ahead of the one used
	freeTimes chan []int64 // handed back for reuse
}

func newChunkDecoder(ctx context.Context, cfg *Config, filter *reader.Filter, table *flows.Sharded, whole *sink, bar ReadProgress) *chunkDecoder {
	d := &chunkDecoder{ctx: ctx, cfg: cfg, filter: filter, table: table, whole: whole, bar: bar, ahead: 2 * cfg.Workers}
	d.filters = make([]*reader.Filter, cfg.Workers+1)
	for w := range d.filters {
		d.filters[w] = filter.Clone()
	}
	d.freeTimes = make(chan []int64, d.ahead+cfg.Workers+1)
	return d
}

// decode takes the frames next gives, each with its input's index, until
// it returns false, on goroutine worker (below cfg.Workers, or cfg.Workers
// for the caller's).
func (d *chunkDecoder) decode(worker int, next func(fr *reader.Frame) (input int, ok bool)) chunkPackets {
	table := d.table
	res := chunkPackets{sink: newSink(d.cfg, d.filters[worker], len(d.whole.inputs)), shards: make([][][]reader.Packet, d.cfg.Workers)}
	for i := range res.shards {
		res.shards[i] = [][]reader.Packet{table.Batch()}
	}
	select {
	case res.times = <-d.freeTimes:
	default:
	}
	var fr reader.Frame
	for {
		in, ok := next(&fr)
		if !ok {
			return res
		}
		if p := res.sink.take(&fr, in); p != nil {
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
}

// use hands a decoded chunk's packets to the flow table.
func (d *chunkDecoder) use(res chunkPackets) error {
	table := d.table
	table.Observe(res.times)
	// The chunk's frames were numbered from its start: the frames of the
	// chunks before it, which whole has counted, come first.
	for _, batches := range res.shards {
		for _, b := range batches {
			for j := range b {
				b[j].Frame += d.whole.inputs[b[j].Input].packets
			}
		}
	}
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
	d.whole.merge(res.sink)
	select {
	case d.freeTimes <- res.times[:0]:
	default:
	}
	d.bar.Update(d.whole.counts.Read)
	return stopped(d.ctx)
}

// finish gathers what the goroutines' filters met.
func (d *chunkDecoder) finish() {
	for _, f := range d.filters {
		d.filter.MergeErrors(f)
	}
}

// merge adds the counts of a sink that read a later part of the same
// inputs.
func (sk *sink) merge(o *sink) {
	sk.counts.Add(&o.counts)
	sk.seconds.merge(&o.seconds)
	for i := range o.inputs {
		in, part := &sk.inputs[i], &o.inputs[i]
		if part.packets == 0 {
			continue
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
}
