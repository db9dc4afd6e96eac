package flows

import (
	"runtime"
	"syscall"
	"unsafe"
)

// A table's first chunks come from the Go heap; a table that grows past
// them (a flood, a scan: millions of open flows) takes the rest from
// anonymous mappings outside it, which the kernel may back with 2 MiB
// pages (MADV_HUGEPAGE; transparent huge pages are "madvise" on most
// distributions, and Go's heap never asks for them). Fresh memory is
// expensive on a virtual machine, a fault per 4 KiB page far more than one
// per huge page, and a flood's slab is all fresh memory. Flows hold no pointer, so memory the collector
// does not know is safe for them.

// heapChunks is how many chunks a table takes from the Go heap: 3 MiB,
// 16 k flows. Small tables (tests, short traces, live windows) thus cost no
// system call and no huge page.
const heapChunks = 4

// slabMappingBytes is the size of each mapping of the slab, which holds
// chunks of flows and of their first packets' locations.
const slabMappingBytes = 64 << 20

// mapping is zeroed memory outside the Go heap. free unmaps it; a mapping
// dropped without free is unmapped when the collector finds it unreachable.
type mapping struct {
	bytes   []byte
	cleanup runtime.Cleanup
}

// mapMemory returns a mapping of size bytes, or nil if the system refuses
// one (the caller then uses the Go heap, which says so as it always did).
func mapMemory(size int) *mapping {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) // without it, 4 KiB pages
	m := &mapping{bytes: b}
	m.cleanup = runtime.AddCleanup(m, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return m
}

func (m *mapping) free() {
	m.cleanup.Stop()
	_ = syscall.Munmap(m.bytes)
	m.bytes = nil
}

// slabMemory provides the slab's chunks.
type slabMemory struct {
	mappings []*mapping
	rest     []byte // unused part of the last mapping
}

// chunk returns the next chunk of a slab that holds n already, zeroed.
func (m *slabMemory) chunk(n int) []flow { return carve[flow](m, n) }

// locations returns the next chunk of the first packets' locations
// beside a slab that holds n chunks already, zeroed.
func (m *slabMemory) locations(n int) []location { return carve[location](m, n) }

// carve returns a chunk of 1<<chunkBits zeroed values of T: from the Go
// heap for a slab's first chunks, from a mapping beyond. Each chunk's
// size is a multiple of 4 KiB, so that flow chunks start at a page.
func carve[T any](m *slabMemory, n int) []T {
	size := int(unsafe.Sizeof(*new(T))) << chunkBits
	if n < heapChunks {
		return make([]T, 1<<chunkBits)
	}
	if len(m.rest) < size {
		mm := mapMemory(slabMappingBytes)
		if mm == nil {
			return make([]T, 1<<chunkBits)
		}
		m.mappings = append(m.mappings, mm)
		m.rest = mm.bytes
	}
	c := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(m.rest))), 1<<chunkBits)
	m.rest = m.rest[size:]
	return c
}

// release unmaps the slab's mappings: no chunk from them may be used after.
func (m *slabMemory) release() {
	for _, mm := range m.mappings {
		mm.free()
	}
	m.mappings, m.rest = nil, nil
}
