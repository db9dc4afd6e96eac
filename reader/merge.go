package reader

import (
	"container/heap"
	"io"
)

// Merge interleaves several traces in timestamp order, so captures from two
// interfaces that overlap in time, or rotated files given in any order, read
// as one. Frames of equal time come in input order. Within one trace, frames
// keep the order they have in the file, even when their times go backwards.
type Merge struct {
	traces  []*Trace
	frames  []Frame
	pending int // input whose frame was handed out last and must advance, or -1
	order   inputHeap
	err     error
}

// NewMerge starts a merge over traces; input i of the frames returned is
// traces[i].
func NewMerge(traces []*Trace) *Merge {
	m := &Merge{traces: traces, frames: make([]Frame, len(traces)), pending: -1}
	m.order = inputHeap{frames: m.frames}
	for i := range traces {
		m.advance(i)
	}
	return m
}

// Next returns the next frame and the index of its input. The frame is valid
// until the next call. It returns io.EOF when every input is exhausted.
func (m *Merge) Next() (*Frame, int, error) {
	if m.pending >= 0 {
		m.advance(m.pending)
		m.pending = -1
	}
	if m.err != nil {
		return nil, 0, m.err
	}
	if m.order.Len() == 0 {
		return nil, 0, io.EOF
	}
	// With one input left, the heap would only pop and push it back.
	i := m.order.inputs[0]
	if m.order.Len() > 1 {
		i = heap.Pop(&m.order).(int)
	} else {
		m.order.inputs = m.order.inputs[:0]
	}
	m.pending = i
	return &m.frames[i], i, nil
}

func (m *Merge) advance(i int) {
	err := m.traces[i].Next(&m.frames[i])
	switch {
	case err == nil && m.order.Len() == 0:
		m.order.inputs = append(m.order.inputs, i) // a heap of one
	case err == nil:
		heap.Push(&m.order, i)
	case err != io.EOF:
		m.err = err
	}
}

// inputHeap orders input indexes by the time of their current frame.
type inputHeap struct {
	inputs []int
	frames []Frame
}

func (h inputHeap) Len() int { return len(h.inputs) }
func (h inputHeap) Less(a, b int) bool {
	ta, tb := h.frames[h.inputs[a]].Time, h.frames[h.inputs[b]].Time
	if ta != tb {
		return ta < tb
	}
	return h.inputs[a] < h.inputs[b]
}
func (h inputHeap) Swap(a, b int) { h.inputs[a], h.inputs[b] = h.inputs[b], h.inputs[a] }
func (h *inputHeap) Push(x any)   { h.inputs = append(h.inputs, x.(int)) }
func (h *inputHeap) Pop() any {
	last := h.inputs[len(h.inputs)-1]
	h.inputs = h.inputs[:len(h.inputs)-1]
	return last
}
