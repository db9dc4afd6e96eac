package pipeline

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"flowstat/report"
)

// DefaultMemoryMiB is about twice the live data of a run on the
// benchmark trace (docs/performance.md), whose heap is mostly
// pointer-free, so collecting more often costs little. What the live data
// holds is bounded (a part's flows, the row groups being written), but a
// longer trace fills more of it: a limit close above it keeps the heap
// from doubling over it, for no time lost; a higher one lets it grow.
const DefaultMemoryMiB = 320

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

// LimitMemory sets a soft limit on the Go heap, so that the garbage
// collector works harder rather than let the heap double over its live
// data (Go's default). When the live data alone comes near the limit, the
// limit is raised: collecting without end would stall the run. It returns
// a function that stops watching and restores Go's defaults. limit <= 0
// keeps Go's defaults.
func LimitMemory(limit int64) func() {
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

// openFlowBytes is what one flow held open costs in memory: its entry in
// the flow table's slab, its slot in the index and the heap around them,
// rounded up for flows over several intervals, whose counts move to the
// heap (40 bytes an interval, and the map's entry).
const openFlowBytes = 400

// DefaultMaxFlows bounds the flows held at once by what 60 % of the
// machine's memory (or of its cgroup's limit, in a container) holds, so
// that a flood of spoofed sources too large for memory has its flows
// silent for longest evicted, and counted, instead of the run killed for
// lack of memory. It is 0 (no bound) when the memory cannot be read.
func DefaultMaxFlows() int {
	return maxFlowsFor(readFile("/proc/meminfo"), readFile("/sys/fs/cgroup/memory.max"),
		readFile("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
}

// maxFlowsFor is DefaultMaxFlows from the contents of /proc/meminfo and
// of the cgroup v2 and v1 memory limits ("" when absent).
func maxFlowsFor(meminfo string, cgroupLimits ...string) int {
	var total int64
	for line := range strings.Lines(meminfo) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				total = kb << 10
			}
		}
	}
	if total <= 0 {
		return 0
	}
	for _, l := range cgroupLimits {
		// "max", or a huge number, means none.
		if limit, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil && limit > 0 {
			total = min(total, limit)
		}
	}
	return int(total / 10 * 6 / openFlowBytes)
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
