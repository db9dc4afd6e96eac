package main

import (
	"container/heap"
	"fmt"
	"os"
	"unsafe"

	"flowstat/flows"
	"flowstat/report"
)

// Without a report, nothing but flows.parquet needs the records, in order:
// each shard's store writes its sorted chunks to a spill file as they fill,
// and the runs are merged from disk while flows.parquet is written. Memory
// then depends on the flows open at once, not on the length of the trace.
// A flows.Record holds no pointer, so its bytes are written and read back
// as they are, within one run of the program.

const recordSize = int(unsafe.Sizeof(flows.Record{}))

// spillFile holds one store's sorted runs.
type spillFile struct {
	f    *os.File
	size int64
	runs []spillRun
	err  error // the first write error; reported when the runs are read
}

type spillRun struct {
	offset int64
	n      int
}

// newSpillFile creates a hidden temporary file in dir, the output
// directory: the system's temporary directory may be memory.
func newSpillFile(dir string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, ".flowstat-spill-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot create a spill file for flow records: %w", err)
	}
	return &spillFile{f: f}, nil
}

func recordBytes(recs []flows.Record) []byte {
	if len(recs) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&recs[0])), len(recs)*recordSize)
}

// write appends a sorted run.
func (sp *spillFile) write(recs []flows.Record) {
	if sp.err != nil || len(recs) == 0 {
		return
	}
	if _, err := sp.f.Write(recordBytes(recs)); err != nil {
		sp.err = fmt.Errorf("cannot write flow records to %s: %w", sp.f.Name(), err)
		return
	}
	sp.runs = append(sp.runs, spillRun{sp.size, len(recs)})
	sp.size += int64(len(recs) * recordSize)
}

// remove closes and deletes the file.
func (sp *spillFile) remove() {
	sp.f.Close()
	os.Remove(sp.f.Name())
}

// runReader reads one sorted run: a block at a time from a spill file, or
// from memory when f is nil (buf is then the run, pos its first record).
type runReader struct {
	f      *os.File
	offset int64 // of the next block in f
	left   int   // records not yet read from f
	buf    []flows.Record
	pos    int
}

const runBlock = 1024 // records read at once from a run

func (r *runReader) head() *flows.Record { return &r.buf[r.pos] }

// next moves to the run's next record and reports whether there is one.
func (r *runReader) next() (bool, error) {
	if r.pos++; r.pos < len(r.buf) {
		return true, nil
	}
	if r.f == nil || r.left == 0 {
		return false, nil
	}
	n := min(r.left, runBlock)
	if cap(r.buf) < n {
		r.buf = make([]flows.Record, n)
	}
	r.buf = r.buf[:n]
	if _, err := r.f.ReadAt(recordBytes(r.buf), r.offset); err != nil {
		return false, fmt.Errorf("cannot read flow records back from %s: %w", r.f.Name(), err)
	}
	r.offset += int64(n * recordSize)
	r.left -= n
	r.pos = 0
	return true, nil
}

// runMerge merges sorted runs in the order of flows.parquet.
type runMerge struct {
	runs []*runReader
	err  error
}

func (m *runMerge) Len() int { return len(m.runs) }
func (m *runMerge) Less(i, j int) bool {
	return report.CompareFlows(m.runs[i].head(), m.runs[j].head()) < 0
}
func (m *runMerge) Swap(i, j int) { m.runs[i], m.runs[j] = m.runs[j], m.runs[i] }
func (m *runMerge) Push(x any)    { m.runs = append(m.runs, x.(*runReader)) }
func (m *runMerge) Pop() any {
	last := m.runs[len(m.runs)-1]
	m.runs = m.runs[:len(m.runs)-1]
	return last
}

// spilledRecords opens the runs of the stores' spill files, and the
// records still in memory, for merging.
func spilledRecords(stores []recordStore) (*runMerge, error) {
	m := &runMerge{}
	for i := range stores {
		s := &stores[i]
		if sp := s.spill; sp != nil {
			if sp.err != nil {
				return nil, sp.err
			}
			for _, run := range sp.runs {
				r := &runReader{f: sp.f, offset: run.offset, left: run.n, pos: -1}
				if ok, err := r.next(); err != nil {
					return nil, err
				} else if ok {
					m.runs = append(m.runs, r)
				}
			}
		}
		if len(s.last) > 0 {
			m.runs = append(m.runs, &runReader{buf: sortChunk(s.last)})
		}
	}
	heap.Init(m)
	return m, nil
}

// fill copies the next records in order into dst and returns how many;
// 0 at the end.
func (m *runMerge) fill(dst []flows.Record) (int, error) {
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
			heap.Fix(m, 0)
		} else {
			heap.Pop(m)
		}
	}
	return n, nil
}
