package tables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
)

// DefaultFileBytes is the size at which a partition's file of a dataset
// is closed and the next begun: DuckDB and Spark read files of 128 MB to
// 1 GB best (one task per file or row group, few footers to open).
const DefaultFileBytes = 512 << 20

// Partition is the Hive partition directory of a time in UTC:
// date=YYYY-MM-DD/hour=H. The hour has no leading zero: DuckDB takes
// hour=07 for text, hour=7 for a number.
func Partition(ns int64) string {
	t := time.Unix(0, ns).UTC()
	return fmt.Sprintf("date=%s/hour=%d", t.Format(time.DateOnly), t.Hour())
}

// hourOf is the hour since the epoch that a time falls in: the rows of
// one partition share it.
func hourOf(ns int64) int64 {
	h := ns / int64(time.Hour)
	if ns < 0 && ns%int64(time.Hour) != 0 {
		h--
	}
	return h
}

// SplitOptions say where a table's partitions are written.
type SplitOptions struct {
	// Dir is the table's directory in the dataset (DIR/flows): the files
	// go into its partitions.
	Dir string
	// Prefix begins every file's name; the files of a run are
	// Prefix0000.parquet, Prefix0001.parquet, ... in order of time.
	Prefix string
	// FileBytes is about the largest a file grows (0: DefaultFileBytes).
	// A file ends at a row whose bytes, at the rate of the row group of
	// Sizes it is in, would take it past FileBytes; it holds one row at
	// least.
	FileBytes int64
	// Sizes is a Parquet file of the same rows in the same order (the
	// table in the output directory), whose row groups tell how many bytes
	// a row takes.
	Sizes string
}

// WriteFlowsPartitioned writes the records next returns, in SortFlows
// order and valid until the call after the next (as for WriteFlowsFrom),
// into the partitions of their first_seen under o.Dir, as files of
// flows.parquet's schema, encodings and row groups (cut where a partition
// or a file ends), with Community IDs of seed. It returns the files'
// paths relative to o.Dir, in order. inputs name the records' input files
// (by flows.Record.Input).
func WriteFlowsPartitioned(o SplitOptions, seed uint16, next func() ([]flows.Record, error), inputs ...string) ([]string, error) {
	return partition(o, next, func(r *flows.Record) int64 { return r.FirstSeen },
		func(path string, next func() ([]flows.Record, error)) error {
			return WriteFlowsFrom(path, seed, next, inputs...)
		})
}

// SplitIntervals writes the rows of intervals.parquet at o.Sizes, which
// are sorted by window_start, into the partitions of their window_start
// under o.Dir, as WriteFlowsPartitioned does flows.
func SplitIntervals(o SplitOptions) ([]string, error) {
	f, err := os.Open(o.Sizes)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", filepath.Base(o.Sizes), err)
	}
	defer f.Close()
	rows := parquet.NewGenericReader[WindowRow](f)
	defer rows.Close()
	read := RowGroupsFrom(func(dst []WindowRow) (int, error) {
		// Whole row groups, so that they stay whole.
		n := 0
		for n < len(dst) {
			m, err := rows.Read(dst[n:])
			n += m
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return n, fmt.Errorf("cannot read %s: %w", o.Sizes, err)
			}
		}
		return n, nil
	})
	return partition(o, read, func(r *WindowRow) int64 { return r.Start },
		func(path string, next func() ([]WindowRow, error)) error {
			return WriteRowsFrom(path, IntervalSchema, next, func(rows []WindowRow, _ bool) []WindowRow { return rows })
		})
}

// partition writes the values next returns, sorted by the time at, with
// write into files of their partitions.
func partition[T any](o SplitOptions, next func() ([]T, error), at func(*T) int64, write func(string, func() ([]T, error)) error) ([]string, error) {
	if o.FileBytes <= 0 {
		o.FileBytes = DefaultFileBytes
	}
	c := &cutter[T]{source: next, at: at}
	if err := c.sizes(o.Sizes); err != nil {
		return nil, err
	}
	var names []string
	for {
		first, ok, err := c.peek()
		if err != nil {
			return names, err
		}
		if !ok {
			return names, nil
		}
		name := filepath.Join(Partition(first), fmt.Sprintf("%s%04d.parquet", o.Prefix, len(names)))
		path := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return names, fmt.Errorf("cannot create partition: %w", err)
		}
		c.startFile(hourOf(first), float64(o.FileBytes))
		if err := write(path, c.next); err != nil {
			return names, err
		}
		names = append(names, name)
	}
}

// cutter hands out the values of a sorted source in batches that end
// where the source's do, where the hour of at changes or where a file
// would pass its size. A batch is a part of one of the source's, valid as
// long as it is (until the call after the next).
type cutter[T any] struct {
	source func() ([]T, error)
	at     func(*T) int64
	buf    []T // the source's batch
	pos    int // the next value of buf to hand out
	eof    bool

	// The row groups of the sizes file: where each ends (in rows), and
	// the bytes per row within it.
	ends  []int64
	costs []float64
	group int
	row   int64 // index of buf[pos] among all values

	hour      int64   // of the file being written
	room      float64 // bytes left in it
	fileEmpty bool
}

// sizes reads the row groups' sizes from the footer of the Parquet file
// at path.
func (c *cutter[T]) sizes(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	pf, err := parquet.OpenFile(f, info.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	var end int64
	for _, g := range pf.Metadata().RowGroups {
		var size int64
		for _, col := range g.Columns {
			size += col.MetaData.TotalCompressedSize
		}
		end += g.NumRows
		c.ends = append(c.ends, end)
		c.costs = append(c.costs, float64(size)/float64(max(g.NumRows, 1)))
	}
	return nil
}

// peek returns the time of the next value, or false after the last.
func (c *cutter[T]) peek() (int64, bool, error) {
	for c.pos == len(c.buf) {
		if c.eof {
			return 0, false, nil
		}
		var err error
		if c.buf, err = c.source(); err != nil {
			return 0, false, err
		}
		c.pos = 0
		c.eof = len(c.buf) == 0
	}
	return c.at(&c.buf[c.pos]), true, nil
}

// startFile begins a file of the values in hour with room for bytes.
func (c *cutter[T]) startFile(hour int64, bytes float64) {
	c.hour, c.room, c.fileEmpty = hour, bytes, true
}

// next returns the next values of the file begun last, none once it ends.
func (c *cutter[T]) next() ([]T, error) {
	if _, ok, err := c.peek(); !ok || err != nil {
		return nil, err
	}
	from := c.pos
	for c.pos < len(c.buf) {
		for c.group < len(c.ends)-1 && c.row >= c.ends[c.group] {
			c.group++
		}
		cost := 0.0
		if c.group < len(c.costs) {
			cost = c.costs[c.group]
		}
		if hourOf(c.at(&c.buf[c.pos])) != c.hour || (cost > c.room && !c.fileEmpty) {
			break
		}
		c.room -= cost
		c.fileEmpty = false
		c.pos++
		c.row++
	}
	return c.buf[from:c.pos], nil
}

// LinkWhole puts the table at o.Sizes itself into the dataset as its one
// file, when all its rows fall in one hour (by the bounds of column, a
// timestamp, in its row groups' statistics) and it is no larger than
// o.FileBytes: that is the file WriteFlowsPartitioned or SplitIntervals
// would write, byte for byte, and a run over a rotated capture of minutes
// then costs nothing more. It links the file, or copies it to another
// file system, and returns its path relative to o.Dir; false when the
// table is not one file of the dataset.
func LinkWhole(o SplitOptions, column string) ([]string, bool, error) {
	if o.FileBytes <= 0 {
		o.FileBytes = DefaultFileBytes
	}
	f, err := os.Open(o.Sizes)
	if err != nil {
		return nil, false, fmt.Errorf("cannot open %s: %w", filepath.Base(o.Sizes), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("cannot open %s: %w", filepath.Base(o.Sizes), err)
	}
	if info.Size() > o.FileBytes {
		return nil, false, nil
	}
	pf, err := parquet.OpenFile(f, info.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %s: %w", o.Sizes, err)
	}
	leaf, ok := pf.Schema().Lookup(column)
	groups := pf.Metadata().RowGroups
	if !ok || len(groups) == 0 {
		return nil, false, nil
	}
	var first, last int64
	for i, g := range groups {
		st := g.Columns[leaf.ColumnIndex].MetaData.Statistics
		if len(st.MinValue) != 8 || len(st.MaxValue) != 8 {
			return nil, false, nil // no statistics: split it
		}
		lo, hi := int64(binary.LittleEndian.Uint64(st.MinValue)), int64(binary.LittleEndian.Uint64(st.MaxValue))
		if i == 0 || lo < first {
			first = lo
		}
		if i == 0 || hi > last {
			last = hi
		}
	}
	if hourOf(first) != hourOf(last) {
		return nil, false, nil
	}
	name := filepath.Join(Partition(first), o.Prefix+"0000.parquet")
	path := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("cannot create partition: %w", err)
	}
	if os.Link(o.Sizes, path) == nil {
		return []string{name}, true, nil
	}
	// Another file system: a copy, synced as the files written are.
	err = WriteFileAtomicFrom(path, func(w io.Writer) error {
		_, err := io.Copy(w, io.NewSectionReader(f, 0, info.Size()))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return []string{name}, true, nil
}
