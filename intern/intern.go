// Package intern numbers values, the same number each time, so that what
// is copied many times carries four bytes for a value that takes tens and
// repeats: a tunnel's endpoints in every packet, its facts in every
// record. It knows nothing of flowstat.
package intern

import "sync"

// List numbers the values given to Ref from 1, for the life of the
// process: what names them may be anywhere. The zero List is empty.
type List[T comparable] struct {
	mu   sync.Mutex
	list []T
	refs sync.Map // T to uint32: the same values over and over find their number without the lock
}

// Ref returns the number of v, the same each time.
func (l *List[T]) Ref(v T) uint32 {
	if ref, ok := l.refs.Load(v); ok {
		return ref.(uint32)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ref, ok := l.refs.Load(v); ok {
		return ref.(uint32)
	}
	l.list = append(l.list, v)
	ref := uint32(len(l.list))
	l.refs.Store(v, ref)
	return ref
}

// Get returns the value that Ref numbered ref.
func (l *List[T]) Get(ref uint32) T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list[ref-1]
}
