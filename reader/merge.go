package reader

import (
	"cmp"
	"container/heap"
	"io"
	"slices"
)

// Merge interleaves several traces in timestamp order, so captures from two
// interfaces that overlap in time, or rotated files given in any order, read
// as one. Frames of equal time come in input order. Within one trace, frames
// keep the order they have in the file, even when their times go backwards.
//
// Only the inputs the merge has reached are open. The others are parked
// (Trace.Park) once their first frame is read (by OpenParked, or here),
// whose time orders them, and opened again when that frame's turn comes;
// an input is closed as soon as it ends. An archive of rotated files holds
// one or two of them at a time, however many there are, where each
// compressed input held megabytes of buffers and a file descriptor. Inputs that overlap in time are all open;
// past the first fullyBuffered, those opened read through lean buffers.
// The parked inputs wait in a queue of their own, in the order of their
// first frames, so that the heap holds only the open ones: one, for
// rotated files, rather than hundreds that each frame costs two heap
// operations over.
type Merge struct {
	traces  []*Trace
	frames  []Frame
	pending int // input whose frame was handed out last and must advance, or -1
	order   inputHeap
	parked  []int // parked inputs, in the order of their first frames
	err     error
	failed  int // the input err came from
	open    int // inputs open and not ended
}

// fullyBuffered is how many inputs open at once read through full
// buffers, which are megabytes an input (more for a compressed one): the
// inputs opened beyond them, when hundreds overlap, read through lean ones.
const fullyBuffered = 8

// NewMerge starts a merge over traces; input i of the frames returned is
// traces[i].
func NewMerge(traces []*Trace) *Merge {
	n := len(traces)
	m := &Merge{traces: traces, frames: make([]Frame, n), pending: -1}
	m.order = inputHeap{frames: m.frames}
	for i, t := range traces {
		if t.parked && t.hasFirst {
			m.frames[i].Time = t.first
			m.parked = append(m.parked, i)
			continue
		}
		if t.parked || !t.closed() {
			m.open++
		}
		// Only the first frame is read before parking: lean buffers do.
		if !m.unpark(i, n > 1) || !m.read(i) {
			continue
		}
		if n > 1 {
			t.Park()
		}
		if !t.parked {
			m.push(i)
			continue
		}
		m.open--
		m.frames[i].Data = nil // its buffer goes; its time stays, to order it
		m.parked = append(m.parked, i)
	}
	slices.SortFunc(m.parked, m.order.compare)
	return m
}

// Next returns the next frame and the index of its input. The frame is valid
// until the next call. It returns io.EOF when every input is exhausted; on
// any other error, the index is that of the input that failed.
func (m *Merge) Next() (*Frame, int, error) {
	if m.pending >= 0 {
		if m.read(m.pending) {
			m.push(m.pending)
		}
		m.pending = -1
	}
	// A parked input whose first frame comes before every open input's
	// frame opens, and takes its place among them.
	for m.err == nil && len(m.parked) > 0 && (m.order.Len() == 0 || m.order.before(m.parked[0], m.order.inputs[0])) {
		i := m.parked[0]
		m.parked = m.parked[1:]
		m.open++
		if m.unpark(i, m.open > fullyBuffered) && m.read(i) { // the first frame again
			m.push(i)
		}
	}
	if m.err != nil {
		return nil, m.failed, m.err
	}
	if m.order.Len() == 0 {
		return nil, 0, io.EOF
	}
	// With one input open, the heap would only pop and push it back.
	i := m.order.inputs[0]
	if m.order.Len() > 1 {
		i = heap.Pop(&m.order).(int)
	} else {
		m.order.inputs = m.order.inputs[:0]
	}
	m.pending = i
	return &m.frames[i], i, nil
}

// unpark opens input i again, if it is parked, and reports whether it can
// be read. A file that is gone or is no trace any more by then is damage
// at its start, as a truncated one is past its end, and the others are
// read; only a lack of file descriptors, which would lose every input
// after it, stops the merge.
func (m *Merge) unpark(i int, lean bool) bool {
	t := m.traces[i]
	if t.parked {
		t.lean = lean
	}
	err := t.unpark()
	switch {
	case err == nil:
		return true
	case tooManyOpen(err):
		m.err, m.failed = err, i
	default:
		t.Damages = append(t.Damages, newDamage(t.Path, 0, 0, err))
		t.Close()
	}
	m.open--
	m.frames[i] = Frame{}
	return false
}

// read reads input i's next frame and reports whether there was one. An
// input that ends is closed.
func (m *Merge) read(i int) bool {
	err := m.traces[i].Next(&m.frames[i])
	switch {
	case err == io.EOF:
		m.traces[i].Close()
		m.open--
		m.frames[i] = Frame{} // nor keep its last buffer
	case err != nil:
		m.err, m.failed = err, i
	}
	return err == nil
}

// push puts input i in order by its frame.
func (m *Merge) push(i int) {
	if m.order.Len() == 0 {
		m.order.inputs = append(m.order.inputs, i) // a heap of one
	} else {
		heap.Push(&m.order, i)
	}
}

// inputHeap orders input indexes by the time of their current frame.
type inputHeap struct {
	inputs []int
	frames []Frame
}

// compare orders inputs a and b by their frames' times, then by index.
func (h inputHeap) compare(a, b int) int {
	if ta, tb := h.frames[a].Time, h.frames[b].Time; ta != tb {
		return cmp.Compare(ta, tb)
	}
	return cmp.Compare(a, b)
}

func (h inputHeap) before(a, b int) bool { return h.compare(a, b) < 0 }

func (h inputHeap) Len() int           { return len(h.inputs) }
func (h inputHeap) Less(a, b int) bool { return h.before(h.inputs[a], h.inputs[b]) }
func (h inputHeap) Swap(a, b int)      { h.inputs[a], h.inputs[b] = h.inputs[b], h.inputs[a] }
func (h *inputHeap) Push(x any)        { h.inputs = append(h.inputs, x.(int)) }
func (h *inputHeap) Pop() any {
	last := h.inputs[len(h.inputs)-1]
	h.inputs = h.inputs[:len(h.inputs)-1]
	return last
}
