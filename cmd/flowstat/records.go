package main

import (
	"cmp"
	"slices"

	"flowstat/flows"
)

// recordStore collects flow records in fixed-size chunks, so that growing
// it never copies what it holds (millions of records would otherwise be
// copied at every doubling).
type recordStore struct {
	chunks [][]flows.Record
}

const recordChunk = 1 << 14

func (s *recordStore) add(r *flows.Record) {
	n := len(s.chunks)
	if n == 0 || len(s.chunks[n-1]) == recordChunk {
		s.chunks = append(s.chunks, make([]flows.Record, 0, recordChunk))
		n++
	}
	s.chunks[n-1] = append(s.chunks[n-1], *r)
}

func (s *recordStore) len() int {
	n := 0
	for _, c := range s.chunks {
		n += len(c)
	}
	return n
}

// sortedRecords gathers the stores' records into one slice in the order of
// flows.parquet (first_seen, then flow_id). It sorts small keys and copies
// each record once, rather than moving whole records while sorting, and
// releases the chunks as it goes.
func sortedRecords(stores []recordStore) []flows.Record {
	type key struct {
		first int64
		id    uint64
		store int32
		chunk int32
		i     int32
	}
	total := 0
	for i := range stores {
		total += stores[i].len()
	}
	keys := make([]key, 0, total)
	for s := range stores {
		for c, chunk := range stores[s].chunks {
			for i := range chunk {
				keys = append(keys, key{chunk[i].FirstSeen, chunk[i].ID, int32(s), int32(c), int32(i)})
			}
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.first, b.first); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]flows.Record, total)
	for i, k := range keys {
		out[i] = stores[k.store].chunks[k.chunk][k.i]
	}
	for i := range stores {
		stores[i].chunks = nil
	}
	return out
}
