package extsort

import (
	"cmp"
	"slices"
	"sync"
	"unsafe"
)

// Sorted puts values in order, in memory up to a bound and beyond it in
// sorted runs on disk, merged as they are read: how a part of the report
// too large to hold (a flood's victim, a scanner, a reflection's victim)
// and its durations are put in order in bounded memory. Values are added,
// then read in order (each) as many times as needed.
type Sorted[T any] struct {
	dir, what string
	hint      string // ends the errors of spilling
	compare   func(a, b T) int
	SortBy    func([]T) // sorts in compare's order faster than sorting by compare, if set
	limit     int       // values held before they are spilled
	held      []T
	spilled   *Runs[T] // nil until the first spill
	largest   T        // of the values spilled
	inOrder   bool     // held is sorted: reading needs no write
	n         int
	errs      FirstError // spilling or reading back, which may be concurrent
}

// NewSorted returns an empty Sorted that spills to dir beyond heldBytes
// of values of what ("a flood's flows"); hint ends the errors of spilling.
func NewSorted[T any](dir, what, hint string, heldBytes int, compare func(a, b T) int) *Sorted[T] {
	return &Sorted[T]{dir: dir, what: what, hint: hint, compare: compare, limit: max(1, heldBytes/SizeOf[T]())}
}

// Expect makes room for n values, or as many as are held.
func (s *Sorted[T]) Expect(n int) {
	if more := min(n, s.limit) - len(s.held); more > 0 {
		s.held = slices.Grow(s.held, more)
	}
}

func (s *Sorted[T]) Add(v T) {
	s.inOrder = false
	s.held = append(s.held, v)
	s.n++
	if len(s.held) >= s.limit {
		s.spill()
	}
}

// spill writes the held values as a sorted run.
func (s *Sorted[T]) spill() {
	if s.Err() != nil {
		s.held = s.held[:0]
		return
	}
	if s.spilled == nil {
		var err error
		if s.spilled, err = NewRuns[T](s.dir, s.what, s.hint); err != nil {
			s.errs.Keep(err)
			return
		}
		s.spilled.MergeAsWritten(func(a, b *T) int { return s.compare(*a, *b) })
	}
	s.SortHeld()
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
		s.errs.Keep(err)
	}
	s.held = s.held[:0]
}

// SortHeld sorts the values held, with SortBy when set.
func (s *Sorted[T]) SortHeld() {
	if s.inOrder {
		return
	}
	if s.SortBy != nil {
		s.SortBy(s.held)
	} else {
		SortParallel(s.held, s.compare)
	}
	s.inOrder = true
}

// Held returns the values held in memory: all of them unless IsSpilled,
// in order after SortHeld. They are valid until the next Add.
func (s *Sorted[T]) Held() []T { return s.held }

// Len is how many values were added.
func (s *Sorted[T]) Len() int { return s.n }

// IsSpilled reports whether some values are on disk.
func (s *Sorted[T]) IsSpilled() bool { return s.spilled != nil }

// Each calls yield with every value in order, until it returns false. The
// value is valid during the call. An error reading the runs back ends the
// sequence early and is kept (Err).
func (s *Sorted[T]) Each(yield func(*T) bool) {
	s.SortHeld() // once: later reads, even concurrent ones, only read
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
		err = m.Each(yield)
	}
	if err != nil {
		s.errs.Keep(err)
	}
}

// WriteTo writes the values in order to runs, in runs of at most what s
// holds.
func (s *Sorted[T]) WriteTo(runs *Runs[T]) {
	run := make([]T, 0, min(s.n, s.limit))
	s.Each(func(v *T) bool {
		if run = append(run, *v); len(run) == cap(run) {
			runs.Write(run)
			run = run[:0]
		}
		return true
	})
	runs.Write(run)
}

// Err returns the first error spilling the values or reading them back.
func (s *Sorted[T]) Err() error { return s.errs.Get() }

// SizeOf is the size of a T in memory.
func SizeOf[T any]() int {
	var zero T
	return int(unsafe.Sizeof(zero))
}

// FirstError keeps the first of the errors met by concurrent computations.
type FirstError struct {
	mu  sync.Mutex
	err error
}

// Keep keeps err if it is the first.
func (e *FirstError) Keep(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

// Get returns the first error kept, or nil.
func (e *FirstError) Get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Remove deletes what was spilled.
func (s *Sorted[T]) Remove() {
	if s.spilled != nil {
		s.spilled.Remove()
		s.spilled = nil
	}
}

// CutGroups reads the values of s in order, cut into groups by same, and
// calls held with batches of whole groups that fit in what s holds, and
// large with each group that alone does not, spilled in newGroup's order
// (values come in s's order), with one of its values. next is the value
// after a batch, nil after the last; held is also called, with no values,
// before each large group. What held and large are given is valid during
// the call.
func CutGroups[T any](s *Sorted[T], same func(a, b *T) bool, newGroup func() *Sorted[T],
	held func(batch []T, next *T) error, large func(group *Sorted[T], v *T) error) error {
	buf := make([]T, 0, s.limit) // whole groups, then the start of the current one
	var (
		first int        // where the current group starts in buf
		group *Sorted[T] // the current group, once it does not fit in buf
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
		group.Remove()
		group = nil
	}
	s.Each(func(v *T) bool {
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
				group.Expect(s.limit)
				for i := range buf {
					group.Add(buf[i])
				}
				buf = buf[:0]
			}
		}
		if group != nil {
			group.Add(*v)
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
