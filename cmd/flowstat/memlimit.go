package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"

	"flowstat/report"
)

// defaultMemoryMiB is about twice the live data of a run on the
// 2-million-flow benchmark trace (docs/performance.md; 190 to 220 MB),
// whose heap is mostly pointer-free, so collecting more often costs
// little: RSS 403 MB for it and 412 MB for a trace twice as long, where
// 512 MiB let the longer one grow to 535 MB, for 3 % more time.
const defaultMemoryMiB = 384

// heldBytes is how much of one part's flows building the report holds in
// memory at once under a limit of memoryMiB (report.Parts.HeldBytes): a
// twelfth, as each core builds a part and holds up to three such buffers
// (its flows in order, a destination's, their durations), or the report's
// default without a limit.
func heldBytes(memoryMiB int) int {
	if memoryMiB <= 0 {
		return report.DefaultHeldBytes
	}
	return memoryMiB << 20 / 12
}

// limitMemory sets a soft limit on the Go heap, so that the garbage
// collector works harder rather than let the heap double over its live
// data (Go's default). When the live data alone comes near the limit, the
// limit is raised: collecting without end would stall the run. It returns
// a function that stops watching and restores Go's defaults. limit <= 0
// keeps Go's defaults.
func limitMemory(limit int64) func() {
	if limit <= 0 {
		return func() {}
	}
	previous := debug.SetMemoryLimit(limit)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			// Keep a fifth of the limit free for new allocations.
			if live := int64(sample[0].Value.Uint64()); live > limit*4/5 {
				limit = live * 5 / 4
				debug.SetMemoryLimit(limit)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		debug.SetMemoryLimit(previous)
	}
}
