package pipeline

import (
	"runtime"
	"slices"
	"sync"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// recordStore collects flow records in fixed-size chunks, so that growing
// it never copies what it holds, and sorts each chunk into the order of
// flows.parquet (first_seen, then flow_id) as it fills, in the goroutine of
// the shard that emits them. sortedRecords then merges the chunks.
type recordStore struct {
	chunks [][]flows.Record            // full chunks are sorted
	last   []flows.Record              // the chunk being filled
	spill  *extsort.Runs[flows.Record] // when set, full chunks go there instead (see spill.go)
}

const recordChunk = 1 << 14

func (s *recordStore) add(r *flows.Record) {
	if s.last == nil {
		s.last = make([]flows.Record, 0, recordChunk)
	}
	s.last = append(s.last, *r)
	if len(s.last) < recordChunk {
		return
	}
	if s.spill != nil {
		s.spill.Write(sortChunk(s.last))
		s.last = s.last[:0]
		return
	}
	s.chunks = append(s.chunks, sortChunk(s.last))
	s.last = nil
}

// sortChunk sorts c as flows.parquet is and returns it.
func sortChunk(c []flows.Record) []flows.Record {
	tables.SortFlows(c)
	return c
}

// sortedRecords merges the stores' records into one slice in the order of
// flows.parquet. The merge is cut by key ranges into one part per core,
// merged concurrently into their places.
func sortedRecords(stores []recordStore) []flows.Record {
	var runs [][]flows.Record
	total := 0
	for i := range stores {
		s := &stores[i]
		if len(s.last) > 0 {
			s.chunks = append(s.chunks, sortChunk(s.last))
		}
		for _, c := range s.chunks {
			runs = append(runs, c)
			total += len(c)
		}
		*s = recordStore{}
	}
	out := make([]flows.Record, total)
	parts := runtime.GOMAXPROCS(0)
	if total < 1<<16 {
		parts = 1
	}
	// Splitters: records at even ranks of a sample of every run.
	var sample []flows.Record
	for _, r := range runs {
		for i := 0; i < len(r); i += 256 {
			sample = append(sample, r[i])
		}
	}
	slices.SortFunc(sample, func(a, b flows.Record) int { return tables.CompareFlows(&a, &b) })
	bounds := make([][]int, len(runs)) // bounds[r][p]: where part p starts in run r
	for ri, r := range runs {
		bounds[ri] = make([]int, parts+1)
		for p := 1; p < parts; p++ {
			split := &sample[p*len(sample)/parts]
			bounds[ri][p], _ = slices.BinarySearchFunc(r, split, func(x flows.Record, s *flows.Record) int { return tables.CompareFlows(&x, s) })
		}
		bounds[ri][parts] = len(r)
	}
	var wg sync.WaitGroup
	at := 0
	for p := 0; p < parts; p++ {
		var pieces [][]flows.Record // part p of every run
		n := 0
		for ri, r := range runs {
			piece := r[bounds[ri][p]:bounds[ri][p+1]]
			pieces = append(pieces, piece)
			n += len(piece)
		}
		wg.Add(1)
		go func(dst []flows.Record) {
			defer wg.Done()
			m, _ := extsort.NewMerger(tables.CompareFlows, nil, pieces...)
			m.Fill(dst) // runs in memory: no read can fail
		}(out[at : at+n])
		at += n
	}
	wg.Wait()
	return out
}
