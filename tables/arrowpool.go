package tables

import (
	"sync"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// bufferPool is an Arrow allocator that keeps released buffers for the next
// batch. flows.parquet is written as a series of batches of one size, whose
// buffers would otherwise become hundreds of megabytes of garbage.
type bufferPool struct {
	mu       sync.Mutex
	free     map[int][][]byte // by capacity
	retained int
	alloc    memory.GoAllocator
}

// maxRetained bounds what the pool keeps: a few batches' worth.
const maxRetained = 256 << 20

func newBufferPool() *bufferPool { return &bufferPool{free: map[int][][]byte{}} }

// Allocate returns a zeroed buffer, as memory.GoAllocator does.
func (p *bufferPool) Allocate(size int) []byte {
	p.mu.Lock()
	if l := p.free[size]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[size] = l[:len(l)-1]
		p.retained -= size
		p.mu.Unlock()
		clear(b)
		return b
	}
	p.mu.Unlock()
	return p.alloc.Allocate(size)
}

func (p *bufferPool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	grown := p.Allocate(size)
	copy(grown, b)
	p.Free(b)
	return grown
}

func (p *bufferPool) Free(b []byte) {
	size := cap(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if size == 0 || p.retained+size > maxRetained {
		return
	}
	p.free[size] = append(p.free[size], b[:size])
	p.retained += size
}

var _ memory.Allocator = (*bufferPool)(nil)
