package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"

	"flowstat/flows"
	"flowstat/reader"
)

// frameBatch is frames read from the inputs in order, copied out of the
// readers' buffers for a worker to decode.
type frameBatch struct {
	frames []reader.Frame // without Data: frame i's bytes are data[ends[i-1]:ends[i]]
	inputs []int
	ends   []int
	data   []byte
}

// A batch is handed over when it holds this many bytes or frames (by
// default; Config.BatchFrames): a few milliseconds of decoding, long
// against the cost of handing it over.
const (
	frameBatchBytes  = 1 << 20
	frameBatchFrames = 8192
)

func (b *frameBatch) reset() {
	b.frames, b.inputs, b.ends, b.data = b.frames[:0], b.inputs[:0], b.ends[:0], b.data[:0]
}

func (b *frameBatch) add(fr *reader.Frame, in int) {
	f := *fr
	f.Data = nil
	b.frames = append(b.frames, f)
	b.inputs = append(b.inputs, in)
	b.data = append(b.data, fr.Data...)
	b.ends = append(b.ends, len(b.data))
}

func (b *frameBatch) full(maxFrames int) bool {
	return len(b.data) >= frameBatchBytes || len(b.frames) >= maxFrames
}

// each returns the next-frame function of chunkDecoder.decode over the
// batch's frames.
func (b *frameBatch) each() func(fr *reader.Frame) (int, bool) {
	i := 0
	return func(fr *reader.Frame) (int, bool) {
		if i == len(b.frames) {
			return 0, false
		}
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		*fr = b.frames[i]
		fr.Data = b.data[start:b.ends[i]]
		i++
		return b.inputs[i-1], true
	}
}

// readStream reads the traces in one pass, merged by time, as readMerged
// does, and decodes their frames behind the reading on cfg.Workers
// goroutines: the reading goroutine frames the records (a compressed
// input is decompressed in a goroutine of its own, ahead of it) and copies
// them into batches, which workers filter and decode; their packets go to
// the flow table in input order.
func readStream(ctx context.Context, cfg *Config, traces []*reader.Trace, filter *reader.Filter,
	table *flows.Sharded, whole *sink, bar ReadProgress) error {
	d := newChunkDecoder(ctx, cfg, filter, table, whole, bar)
	defer d.finish()
	type job struct {
		batch   *frameBatch
		decoded chan chunkPackets
	}
	jobs := make(chan job)           // to the workers
	order := make(chan job, d.ahead) // to the caller, in input order
	free := make(chan *frameBatch, d.ahead+cfg.Workers+1)
	done := make(chan struct{}) // closed when the caller stops early
	var readErr error           // the reading's, once order is closed

	go func() {
		defer close(order)
		defer close(jobs)
		merge := reader.NewMerge(traces)
		for more := true; more; {
			var b *frameBatch
			select {
			case b = <-free:
				b.reset()
			default:
				b = &frameBatch{}
			}
			for !b.full(cfg.BatchFrames) {
				fr, in, err := merge.Next()
				if err != nil {
					if err != io.EOF {
						readErr = fmt.Errorf("cannot read %s: %w", traces[in].Path, err)
					}
					more = false
					break
				}
				b.add(fr, in)
			}
			j := job{b, make(chan chunkPackets, 1)}
			select {
			case order <- j:
			case <-done:
				return
			}
			select {
			case jobs <- j:
			case <-done:
				return
			}
		}
	}()

	var workers sync.WaitGroup
	for w := range cfg.Workers {
		workers.Go(func() {
			for {
				select {
				case j, ok := <-jobs:
					if !ok {
						return
					}
					j.decoded <- d.decode(w, j.batch.each())
				case <-done:
					return
				}
			}
		})
	}
	defer workers.Wait() // before the table or the traces are closed

	for j := range order {
		res := <-j.decoded
		select {
		case free <- j.batch:
		default:
		}
		if err := d.use(res); err != nil {
			close(done)
			return err
		}
	}
	return readErr
}
