package report

import (
	"slices"
	"sync"

	"flowstat/extsort"
)

// DefaultHeldBytes is how much of one part the report holds in memory at
// once by default (Parts.HeldBytes): half a million flows.
const DefaultHeldBytes = 32 << 20

// flowSeq is a group of flows sorted by source address (one destination's,
// or a prefix's), which the statistics read more than once: a slice of the
// flows held in memory, or, for a group too large to hold, sorted values
// that may be on disk.
type flowSeq struct {
	held  []destFlow
	large *extsort.Sorted[destFlow] // instead of held, when not nil
	// What a pass over large flows counts for several statistics, or nil:
	// then each reads the flows.
	counted *largeCounts
}

// largeCounts is what one pass over a group of large flows counts (a
// groupTally) and their durations, in order: made once, by the first
// statistic that needs them, while others may read the flows at the same
// time (see tallied).
type largeCounts struct {
	once      sync.Once
	count     func(*largeCounts)
	tally     groupTally
	durations *extsort.Sorted[float64]
}

func (c *largeCounts) get() *largeCounts {
	c.once.Do(func() { c.count(c) })
	return c
}

// tally returns what the pass over large flows counted, or nil for held
// flows.
func (s flowSeq) tally() *groupTally {
	if s.counted == nil {
		return nil
	}
	return &s.counted.get().tally
}

// remove deletes the durations spilled, if they were counted.
func (c *largeCounts) remove() {
	if c.durations != nil {
		c.durations.Remove()
	}
}

// err returns the error of spilling or reading the durations, if any.
func (c *largeCounts) err() error {
	if c.durations != nil {
		return c.durations.Err()
	}
	return nil
}

func heldFlows(fl []destFlow) flowSeq { return flowSeq{held: fl} }

func (s flowSeq) len() int {
	if s.large != nil {
		return s.large.Len()
	}
	return len(s.held)
}

// all calls yield with every flow in order, until it returns false.
func (s flowSeq) all(yield func(*destFlow) bool) {
	if s.large != nil {
		s.large.Each(yield)
		return
	}
	for i := range s.held {
		if !yield(&s.held[i]) {
			return
		}
	}
}

// quantileStream computes the Quantiles of n sorted values given one at a
// time, keeping only the order statistics QuantilesOf reads.
type quantileStream struct {
	n, seen int
	ranks   []int     // ascending, the ranks to keep
	values  []float64 // at ranks[:len(values)]
}

func newQuantileStream(n int) *quantileStream {
	q := &quantileStream{n: n}
	// The ranks to keep are those quantilesAt reads.
	quantilesAt(n, func(rank int) float64 {
		q.ranks = append(q.ranks, rank)
		return 0
	})
	slices.Sort(q.ranks)
	q.ranks = slices.Compact(q.ranks)
	return q
}

func (q *quantileStream) add(v float64) {
	if len(q.values) < len(q.ranks) && q.ranks[len(q.values)] == q.seen {
		q.values = append(q.values, v)
	}
	q.seen++
}

// quantiles returns the quantiles once the n values were given.
func (q *quantileStream) quantiles() Quantiles {
	at := func(rank int) float64 {
		i, _ := slices.BinarySearch(q.ranks, rank)
		return q.values[i]
	}
	return quantilesAt(q.n, at)
}
