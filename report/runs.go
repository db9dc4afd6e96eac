package report

import (
	"container/heap"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"
)

// Runs are sorted runs of plain values spilled to a hidden file and merged
// back in order: how flow records, interval rows and durations that do not
// fit in memory are put in order. T must hold no pointer: its bytes are
// written and read back as they are, within one run of the program.
type Runs[T any] struct {
	f    *os.File
	out  blockWriter
	what string          // what the values are, for errors
	runs [][]packedBlock // the blocks of each run
	err  error           // the first write error; reported when the runs are read
}

// NewRuns creates the file for runs of what (as "flow records") in dir, the
// output directory: the system's temporary directory may be memory.
func NewRuns[T any](dir, what string) (*Runs[T], error) {
	f, err := createLockedTemp(dir, ".flowstat-spill-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot create a spill file for %s: %w", what, err)
	}
	return &Runs[T]{f: f, out: newBlockWriter(f), what: what}, nil
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// Write appends a run, which must be sorted in the order it will be merged in.
func (r *Runs[T]) Write(sorted []T) {
	if r.err != nil || len(sorted) == 0 {
		return
	}
	var blocks []packedBlock
	for rest := sorted; len(rest) > 0; {
		n := min(len(rest), valuesPerBlock[T]())
		blk, err := r.out.write(bytesOf(rest[:n]))
		if err != nil {
			r.fail(err)
			return
		}
		blocks = append(blocks, blk)
		rest = rest[n:]
	}
	if err := r.out.flush(); err != nil {
		r.fail(err)
		return
	}
	r.runs = append(r.runs, blocks)
}

func (r *Runs[T]) fail(err error) {
	r.err = fmt.Errorf("cannot write %s to %s: %w%s", r.what, r.f.Name(), withoutPath(err), spaceHint)
}

// withoutPath drops the path from a file's error, for a message that
// names the file already.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Err returns the first error of writing the runs.
func (r *Runs[T]) Err() error { return r.err }

// Remove closes and deletes the file. A nil Runs has nothing to remove.
func (r *Runs[T]) Remove() {
	if r != nil {
		r.f.Close()
		os.Remove(r.f.Name())
	}
}

// runBlockBytes is how much of a run is compressed, and read, at once:
// merging hundreds of runs keeps a block of each in memory.
const runBlockBytes = 32 << 10

// valuesPerBlock is how many values of T a block of a run holds.
func valuesPerBlock[T any]() int {
	var zero T
	return max(1, runBlockBytes/int(unsafe.Sizeof(zero)))
}

// runReader reads one sorted run, a block at a time from a file, or from
// memory when f is nil (buf is then the run, pos its first value).
type runReader[T any] struct {
	f      *os.File
	what   string
	blocks []packedBlock // not yet read from f
	br     blockReader
	buf    []T
	pos    int
}

func (r *runReader[T]) head() *T { return &r.buf[r.pos] }

// next moves to the run's next value and reports whether there is one.
func (r *runReader[T]) next() (bool, error) {
	if r.pos++; r.pos < len(r.buf) {
		return true, nil
	}
	if r.f == nil || len(r.blocks) == 0 {
		return false, nil
	}
	blk := r.blocks[0]
	r.blocks = r.blocks[1:]
	var zero T
	n := int(blk.raw) / int(unsafe.Sizeof(zero))
	if cap(r.buf) < n {
		r.buf = make([]T, n)
	}
	r.buf = r.buf[:n]
	if err := r.br.read(r.f, blk, bytesOf(r.buf)); err != nil {
		return false, fmt.Errorf("cannot read %s back from %s: %w", r.what, r.f.Name(), err)
	}
	r.pos = 0
	return true, nil
}

// Merger merges sorted runs into one sequence.
type Merger[T any] struct {
	runs    []*runReader[T]
	compare func(a, b *T) int
}

// NewMerger merges the runs of every Runs (nil ones are skipped) and the
// sorted slices in memory, in the order of compare.
func NewMerger[T any](compare func(a, b *T) int, spilled []*Runs[T], inMemory ...[]T) (*Merger[T], error) {
	m := &Merger[T]{compare: compare}
	for _, rs := range spilled {
		if rs == nil {
			continue
		}
		if rs.err != nil {
			return nil, rs.err
		}
		for _, blocks := range rs.runs {
			r := &runReader[T]{f: rs.f, what: rs.what, blocks: blocks, pos: -1}
			if ok, err := r.next(); err != nil {
				return nil, err
			} else if ok {
				m.runs = append(m.runs, r)
			}
		}
	}
	for _, s := range inMemory {
		if len(s) > 0 {
			m.runs = append(m.runs, &runReader[T]{buf: s})
		}
	}
	heap.Init((*mergeHeap[T])(m))
	return m, nil
}

// Fill copies the next values in order into dst and returns how many; 0 at
// the end.
func (m *Merger[T]) Fill(dst []T) (int, error) {
	h := (*mergeHeap[T])(m)
	n := 0
	for n < len(dst) && len(m.runs) > 0 {
		r := m.runs[0]
		dst[n] = *r.head()
		n++
		ok, err := r.next()
		if err != nil {
			return n, err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return n, nil
}

// mergeHeap orders the runs by their heads.
type mergeHeap[T any] Merger[T]

func (h *mergeHeap[T]) Len() int { return len(h.runs) }
func (h *mergeHeap[T]) Less(i, j int) bool {
	return h.compare(h.runs[i].head(), h.runs[j].head()) < 0
}
func (h *mergeHeap[T]) Swap(i, j int) { h.runs[i], h.runs[j] = h.runs[j], h.runs[i] }
func (h *mergeHeap[T]) Push(x any)    { h.runs = append(h.runs, x.(*runReader[T])) }
func (h *mergeHeap[T]) Pop() any {
	last := h.runs[len(h.runs)-1]
	h.runs = h.runs[:len(h.runs)-1]
	return last
}
