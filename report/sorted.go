package report

import (
	"cmp"
	"slices"
	"sync"
	"unsafe"
)

// DefaultHeldBytes is how much of one part the report holds in memory at
// once by default (Parts.HeldBytes): half a million flows.
const DefaultHeldBytes = 32 << 20

// sorted puts values in order, in memory up to a bound and beyond it in
// sorted runs on disk, merged as they are read: how a part of the report
// too large to hold (a flood's victim, a scanner, a reflection's victim)
// and its durations are put in order in bounded memory. Values are added,
// then read in order (each) as many times as needed.
type sorted[T any] struct {
	dir, what string
	compare   func(a, b T) int
	sortBy    func([]T) // sorts in compare's order faster than sorting by compare, if set
	limit     int       // values held before they are spilled
	held      []T
	spilled   *Runs[T] // nil until the first spill
	largest   T        // of the values spilled
	inOrder   bool     // held is sorted: reading needs no write
	n         int
	errs      firstError // spilling or reading back, which may be concurrent
}

// newSorted returns an empty sorted that spills to dir beyond heldBytes
// of values of what ("a flood's flows").
func newSorted[T any](dir, what string, heldBytes int, compare func(a, b T) int) *sorted[T] {
	return &sorted[T]{dir: dir, what: what, compare: compare, limit: max(1, heldBytes/sizeOf[T]())}
}

// expect makes room for n values, or as many as are held.
func (s *sorted[T]) expect(n int) {
	if more := min(n, s.limit) - len(s.held); more > 0 {
		s.held = slices.Grow(s.held, more)
	}
}

func (s *sorted[T]) add(v T) {
	s.inOrder = false
	s.held = append(s.held, v)
	s.n++
	if len(s.held) >= s.limit {
		s.spill()
	}
}

// spill writes the held values as a sorted run.
func (s *sorted[T]) spill() {
	if s.Err() != nil {
		s.held = s.held[:0]
		return
	}
	if s.spilled == nil {
		var err error
		if s.spilled, err = NewRuns[T](s.dir, s.what); err != nil {
			s.errs.keep(err)
			return
		}
		s.spilled.MergeAsWritten(func(a, b *T) int { return s.compare(*a, *b) })
	}
	s.sortHeld()
	first := s.n == len(s.held)
	if !first && s.compare(s.largest, s.held[0]) <= 0 {
		s.spilled.Append(s.held) // after every value spilled: one run
	} else {
		s.spilled.Write(s.held)
	}
	if top := s.held[len(s.held)-1]; first || s.compare(top, s.largest) > 0 {
		s.largest = top
	}
	if err := s.spilled.Err(); err != nil {
		s.errs.keep(err)
	}
	s.held = s.held[:0]
}

// sortHeld sorts the values held, with sortBy when set.
func (s *sorted[T]) sortHeld() {
	if s.inOrder {
		return
	}
	if s.sortBy != nil {
		s.sortBy(s.held)
	} else {
		sortParallel(s.held, s.compare)
	}
	s.inOrder = true
}

// len is how many values were added.
func (s *sorted[T]) len() int { return s.n }

// isSpilled reports whether some values are on disk.
func (s *sorted[T]) isSpilled() bool { return s.spilled != nil }

// each calls yield with every value in order, until it returns false. The
// value is valid during the call. An error reading the runs back ends the
// sequence early and is kept (Err).
func (s *sorted[T]) each(yield func(*T) bool) {
	s.sortHeld() // once: later reads, even concurrent ones, only read
	if s.spilled == nil {
		for i := range s.held {
			if !yield(&s.held[i]) {
				return
			}
		}
		return
	}
	if s.Err() != nil {
		return
	}
	m, err := NewMerger(func(a, b *T) int { return s.compare(*a, *b) }, []*Runs[T]{s.spilled}, s.held)
	if err == nil {
		err = m.each(yield)
	}
	if err != nil {
		s.errs.keep(err)
	}
}

// writeTo writes the values in order to runs, in runs of at most what s
// holds.
func (s *sorted[T]) writeTo(runs *Runs[T]) {
	run := make([]T, 0, min(s.n, s.limit))
	s.each(func(v *T) bool {
		if run = append(run, *v); len(run) == cap(run) {
			runs.Write(run)
			run = run[:0]
		}
		return true
	})
	runs.Write(run)
}

// Err returns the first error spilling the values or reading them back.
func (s *sorted[T]) Err() error { return s.errs.get() }

func sizeOf[T any]() int {
	var zero T
	return int(unsafe.Sizeof(zero))
}

// firstError keeps the first of the errors met by concurrent computations.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (e *firstError) keep(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

func (e *firstError) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// remove deletes what was spilled.
func (s *sorted[T]) remove() {
	if s.spilled != nil {
		s.spilled.Remove()
		s.spilled = nil
	}
}

// cutGroups reads the values of s in order, cut into groups by same, and
// calls held with batches of whole groups that fit in what s holds, and
// large with each group that alone does not, spilled in newGroup's order
// (values come in s's order), with one of its values. next is the value
// after a batch, nil after the last; held is also called, with no values,
// before each large group. What held and large are given is valid during
// the call.
func cutGroups[T any](s *sorted[T], same func(a, b *T) bool, newGroup func() *sorted[T],
	held func(batch []T, next *T) error, large func(group *sorted[T], v *T) error) error {
	buf := make([]T, 0, s.limit) // whole groups, then the start of the current one
	var (
		first int        // where the current group starts in buf
		group *sorted[T] // the current group, once it does not fit in buf
		last  T          // the last value read
		err   error
	)
	giveHeld := func(next *T) {
		err = cmp.Or(err, held(buf[:first], next))
		buf = buf[:copy(buf, buf[first:])]
		first = 0
	}
	giveLarge := func() {
		err = cmp.Or(err, group.Err(), large(group, &last), group.Err())
		group.remove()
		group = nil
	}
	s.each(func(v *T) bool {
		if (len(buf) > 0 || group != nil) && !same(v, &last) {
			if group != nil {
				giveLarge()
			}
			first = len(buf)
		}
		last = *v
		if group == nil && len(buf) == s.limit {
			giveHeld(v)
			if len(buf) == s.limit { // the group alone fills the memory: spill it
				group = newGroup()
				group.expect(s.limit)
				for i := range buf {
					group.add(buf[i])
				}
				buf = buf[:0]
			}
		}
		if group != nil {
			group.add(*v)
		} else {
			buf = append(buf, *v)
		}
		return err == nil
	})
	if group != nil {
		giveLarge()
	}
	first = len(buf)
	giveHeld(nil)
	return cmp.Or(err, s.Err())
}

// flowSeq is a group of flows sorted by source address (one destination's,
// or a prefix's), which the statistics read more than once: a slice of the
// flows held in memory, or, for a group too large to hold, sorted values
// that may be on disk.
type flowSeq struct {
	held  []destFlow
	large *sorted[destFlow] // instead of held, when not nil
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
	durations *sorted[float64]
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
		c.durations.remove()
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
		return s.large.len()
	}
	return len(s.held)
}

// all calls yield with every flow in order, until it returns false.
func (s flowSeq) all(yield func(*destFlow) bool) {
	if s.large != nil {
		s.large.each(yield)
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
