package extsort

import (
	"container/heap"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"unsafe"
)

// Runs are sorted runs of plain values spilled to a hidden file and merged
// back in order: how flow records, interval rows and durations that do not
// fit in memory are put in order. T must hold no pointer: its bytes are
// written and read back as they are, within one run of the program.
type Runs[T any] struct {
	f    *os.File
	out  BlockWriter
	what string    // what the values are, for errors
	hint string    // ends the errors of writing them
	runs []runSpan // where each run is in f
	err  error     // the first write error; reported when the runs are read

	// With compare set, runs are merged as they are written (see
	// MergeAsWritten): levels[i] is how many merges run i's values went
	// through.
	compare func(a, b *T) int
	levels  []int
	fanIn   int

	codec   *Codec[T] // when set, how values are written (EncodeWith)
	encoded []byte    // a block's values encoded
}

// Codec writes values of T in an encoding of its own and reads them back.
// For values mostly zero and small numbers, an encoding that leaves the
// zeros out can be smaller than S2 makes their memory, in a fraction of
// its time.
type Codec[T any] struct {
	// Append appends the encoding of v to b and returns the extended buffer.
	Append func(b []byte, v *T) []byte
	// Read decodes into v the value at the start of b and returns the
	// rest of b.
	Read func(b []byte, v *T) ([]byte, error)
	// MaxBytes bounds the encoding of one value.
	MaxBytes int
}

// EncodeWith makes the runs keep their values as c encodes them,
// uncompressed, instead of their memory compressed with S2. It must be
// called before the first value is written.
func (r *Runs[T]) EncodeWith(c Codec[T]) { r.codec = &c }

// writeBlock writes values as one block.
func (r *Runs[T]) writeBlock(values []T) error {
	if r.codec == nil {
		return r.out.WriteFramed(BytesOf(values))
	}
	r.encoded = r.encoded[:0]
	for i := range values {
		r.encoded = r.codec.Append(r.encoded, &values[i])
	}
	return r.out.WriteFramedStored(r.encoded)
}

// runSpan is where a run's blocks are, one after the other, each behind
// its header (BlockWriter.WriteFramed): 16 bytes a run, however long.
type runSpan struct{ start, end int64 }

// NewRuns creates the file for runs of what (as "flow records") in dir, the
// output directory: the system's temporary directory may be memory. hint
// ends the errors of writing them (what to do about a full disk).
func NewRuns[T any](dir, what, hint string) (*Runs[T], error) {
	f, err := CreateLockedTemp(dir, ".flowstat-spill-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot create a spill file for %s: %w", what, err)
	}
	return &Runs[T]{f: f, out: NewBlockWriter(f), what: what, hint: hint, fanIn: mergeFanIn}, nil
}

// mergeFanIn is how many runs MergeAsWritten merges at once: merging 128
// runs keeps a block of each, 4 MiB.
const mergeFanIn = 128

// MergeAsWritten makes Write merge the last runs into one whenever there
// are mergeFanIn of them of the same level, in the order of compare, as
// an external sort does. Merging every run at the end keeps a block of
// each in memory, which for a long trace's records would grow with its
// length; merged as they come, they stay fewer than mergeFanIn per level
// (a level per 128 times more values), at the cost of writing each value
// once more per level. The space of merged runs is given back to the file
// system where it can punch holes.
func (r *Runs[T]) MergeAsWritten(compare func(a, b *T) int) { r.compare = compare }

// BytesOf returns the memory of s as bytes, without a copy.
func BytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// Write appends a run, which must be sorted in the order it will be merged in.
func (r *Runs[T]) Write(sorted []T) {
	if span, ok := r.writeBlocks(sorted); ok {
		r.addRun(span)
	}
}

// WriteEach appends a run of n values, value(i) the i-th in the order it
// will be merged in, a block at a time: the run is never in memory whole.
func (r *Runs[T]) WriteEach(n int, value func(i int) T) {
	if n == 0 {
		return
	}
	buf := make([]T, min(n, valuesPerBlock[T]()))
	run := runSpan{start: r.out.size}
	for start := 0; start < n; start += len(buf) {
		block := buf[:min(len(buf), n-start)]
		for i := range block {
			block[i] = value(start + i)
		}
		written, ok := r.writeBlocks(block)
		if !ok {
			return
		}
		run.end = written.end
	}
	r.addRun(run)
}

// addRun adds a run written, and merges the last runs when they are many
// (MergeAsWritten).
func (r *Runs[T]) addRun(run runSpan) {
	r.runs = append(r.runs, run)
	r.levels = append(r.levels, 0)
	for r.compare != nil && r.err == nil && r.sameLevelAtEnd() >= r.fanIn {
		r.mergeLast(r.fanIn)
	}
}

// Append extends the last run with sorted values that come after it in
// order: values that arrive in order stay one run, read back without
// merging.
func (r *Runs[T]) Append(sorted []T) {
	span, ok := r.writeBlocks(sorted)
	switch {
	case !ok:
	case len(r.runs) > 0 && r.runs[len(r.runs)-1].end == span.start:
		r.runs[len(r.runs)-1].end = span.end
	default: // the first run (or, were the last not at the end, a new one)
		r.addRun(span)
	}
}

// writeBlocks writes values in blocks at the end of the file and says
// where, or false after an error.
func (r *Runs[T]) writeBlocks(sorted []T) (runSpan, bool) {
	if r.err != nil || len(sorted) == 0 {
		return runSpan{}, false
	}
	span := runSpan{start: r.out.size}
	for rest := sorted; len(rest) > 0; {
		n := min(len(rest), valuesPerBlock[T]())
		if err := r.writeBlock(rest[:n]); err != nil {
			r.fail(err)
			return runSpan{}, false
		}
		rest = rest[n:]
	}
	if err := r.out.Flush(); err != nil {
		r.fail(err)
		return runSpan{}, false
	}
	span.end = r.out.size
	return span, true
}

// sameLevelAtEnd is how many runs at the end share the last one's level.
func (r *Runs[T]) sameLevelAtEnd() int {
	n := 0
	for i := len(r.levels) - 1; i >= 0 && r.levels[i] == r.levels[len(r.levels)-1]; i-- {
		n++
	}
	return n
}

// mergeLast replaces the last n runs by their merge, written at the end of
// the file.
func (r *Runs[T]) mergeLast(n int) {
	first := len(r.runs) - n
	m := &Merger[T]{compare: r.compare}
	for _, run := range r.runs[first:] {
		if err := m.add(r.reader(run)); err != nil {
			r.err = err
			return
		}
	}
	heap.Init((*mergeHeap[T])(m))
	merged := runSpan{start: r.out.size}
	buf := make([]T, valuesPerBlock[T]())
	for {
		k, err := m.Fill(buf)
		if err != nil {
			r.err = err
			return
		}
		if k == 0 {
			break
		}
		if err := r.writeBlock(buf[:k]); err != nil {
			r.fail(err)
			return
		}
	}
	if err := r.out.Flush(); err != nil {
		r.fail(err)
		return
	}
	merged.end = r.out.size
	for _, run := range r.runs[first:] {
		punchHole(r.f, run.start, run.end) // the space is only lent back
	}
	level := r.levels[first] + 1
	r.runs = append(r.runs[:first], merged)
	r.levels = append(r.levels[:first], level)
}

// punchHole gives the space from start to end back to the file system;
// where it cannot (an error), the file keeps it.
func punchHole(f *os.File, start, end int64) error {
	if end <= start {
		return nil
	}
	const punchHole, keepSize = 0x02, 0x01 // FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE
	return syscall.Fallocate(int(f.Fd()), punchHole|keepSize, start, end-start)
}

func (r *Runs[T]) fail(err error) {
	r.err = fmt.Errorf("cannot write %s to %s: %w%s", r.what, r.f.Name(), WithoutPath(err), r.hint)
}

// WithoutPath drops the path from a file's error, for a message that
// names the file already.
func WithoutPath(err error) error {
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

// reader reads a run back from its first value.
func (r *Runs[T]) reader(run runSpan) *runReader[T] {
	return &runReader[T]{f: r.f, what: r.what, codec: r.codec, blocks: FramedReader{at: run.start, end: run.end, stored: r.codec != nil}, pos: -1}
}

// runReader reads one sorted run, a block at a time from a file, or from
// memory when f is nil (buf is then the run, pos its first value).
type runReader[T any] struct {
	f      *os.File
	what   string
	blocks FramedReader // what is not yet read from f
	buf    []T
	pos    int

	codec   *Codec[T] // how the values were written, when not as their memory
	encoded []byte    // a block read, with codec
}

func (r *runReader[T]) head() *T { return &r.buf[r.pos] }

// next moves to the run's next value and reports whether there is one.
func (r *runReader[T]) next() (bool, error) {
	if r.pos++; r.pos < len(r.buf) {
		return true, nil
	}
	if r.f == nil || !r.blocks.More() {
		return false, nil
	}
	var err error
	if r.codec != nil {
		err = r.decodeBlock()
	} else {
		err = r.readBlock()
	}
	if err != nil {
		return false, fmt.Errorf("cannot read %s back from %s: %w", r.what, r.f.Name(), err)
	}
	r.pos = 0
	return true, nil
}

// readBlock reads the next block, of values written as their memory.
func (r *runReader[T]) readBlock() error {
	size := int(unsafe.Sizeof(*new(T)))
	blk, err := r.blocks.Next(r.f, valuesPerBlock[T]()*size)
	if err != nil {
		return err
	}
	if blk.raw == 0 || blk.raw%int32(size) != 0 {
		return errDamagedHeader
	}
	n := int(blk.raw) / size
	if cap(r.buf) < n {
		r.buf = make([]T, n)
	}
	r.buf = r.buf[:n]
	return r.blocks.Read(r.f, blk, BytesOf(r.buf))
}

var errDamagedHeader = errors.New("a block's header is not what was written (damaged file?)")

// decodeBlock reads the next block, of values written by the codec.
func (r *runReader[T]) decodeBlock() error {
	most := valuesPerBlock[T]()
	blk, err := r.blocks.Next(r.f, most*r.codec.MaxBytes)
	if err != nil {
		return err
	}
	if blk.raw == 0 {
		return errDamagedHeader
	}
	r.encoded = slices.Grow(r.encoded[:0], blk.Raw())[:blk.Raw()]
	if err := r.blocks.Read(r.f, blk, r.encoded); err != nil {
		return err
	}
	if cap(r.buf) < most {
		r.buf = make([]T, most)
	}
	r.buf = r.buf[:0]
	for rest := r.encoded; len(rest) > 0; {
		if len(r.buf) == most {
			return errDamagedBlock
		}
		r.buf = r.buf[:len(r.buf)+1]
		if rest, err = r.codec.Read(rest, &r.buf[len(r.buf)-1]); err != nil {
			return err
		}
	}
	return nil
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
		for _, run := range rs.runs {
			if err := m.add(rs.reader(run)); err != nil {
				return nil, err
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

// add reads the first value of a spilled run and adds the run if it has one.
func (m *Merger[T]) add(r *runReader[T]) error {
	ok, err := r.next()
	if ok {
		m.runs = append(m.runs, r)
	}
	return err
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

// Each calls yield with the next values in order until the end or until
// yield returns false, and returns the first error reading the runs. The
// value is valid during the call.
func (m *Merger[T]) Each(yield func(*T) bool) error {
	buf := make([]T, valuesPerBlock[T]())
	for {
		n, err := m.Fill(buf)
		for i := range buf[:n] {
			if !yield(&buf[i]) {
				return nil
			}
		}
		if n == 0 || err != nil {
			return err
		}
	}
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
