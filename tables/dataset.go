package tables

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"
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

// SplitOptions say where SplitFlows and SplitIntervals write.
type SplitOptions struct {
	// Dir is the table's directory in the dataset (DIR/flows): the files
	// go into its partitions.
	Dir string
	// Prefix begins every file's name; the files of a run are
	// Prefix0000.parquet, Prefix0001.parquet, ... in order of time.
	Prefix string
	// FileBytes is about the largest a file grows (0: DefaultFileBytes).
	// A file ends at a row whose bytes, at the rate of the source's row
	// group it comes from, would take it past FileBytes; it holds one row
	// at least.
	FileBytes int64
}

// SplitFlows writes the rows of flows.parquet at src, which are sorted by
// first_seen, into the partitions of their first_seen under o.Dir, in
// files of flows.parquet's schema, encodings and row groups (cut where a
// partition or a file ends). It returns the files' paths relative to
// o.Dir, in order.
func SplitFlows(src string, o SplitOptions) ([]string, error) {
	return split(src, FlowSchema, o, func(r *flowRow) int64 { return r.FirstSeen })
}

// SplitIntervals does what SplitFlows does for intervals.parquet, whose
// rows are sorted by window_start and partitioned by it.
func SplitIntervals(src string, o SplitOptions) ([]string, error) {
	return split(src, IntervalSchema, o, func(r *WindowRow) int64 { return r.Start })
}

// split writes the rows of src, of type R (whose tags give schema's
// Parquet schema), sorted by the time at, into partitioned files.
func split[R any](src string, schema *arrow.Schema, o SplitOptions, at func(*R) int64) ([]string, error) {
	if o.FileBytes <= 0 {
		o.FileBytes = DefaultFileBytes
	}
	s, err := openSorted[R](src, at)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var names []string
	for {
		first, ok, err := s.peek()
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
		s.startFile(hourOf(first), float64(o.FileBytes))
		if err := WriteRowsFrom(path, schema, s.next, func(rows []R, _ bool) []R { return rows }); err != nil {
			return names, err
		}
		names = append(names, name)
	}
}

// sorted reads a table's rows in order and hands them out in batches of
// at most a row group that end where the hour of at changes or where a
// file would pass its size.
type sorted[R any] struct {
	path string
	file *os.File
	rows *parquet.GenericReader[R]
	at   func(*R) int64

	// Two buffers, filled in turn: a batch stays valid until the call
	// after the next, as WriteRowsFrom needs.
	bufs   [2][]R
	filled int
	buf    []R // the rows of the buffer filled last
	pos    int // the next row of buf to hand out
	eof    bool

	// The source's row groups: where each ends (in rows), and the bytes
	// per row within it, to tell how large a file grows.
	ends  []int64
	costs []float64
	group int
	row   int64 // index in the table of buf[pos]

	hour      int64   // of the file being written
	room      float64 // bytes left in it
	fileEmpty bool
}

func openSorted[R any](path string, at func(*R) int64) (*sorted[R], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot open %s: %w", filepath.Base(path), err)
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	s := &sorted[R]{path: path, file: f, rows: parquet.NewGenericReader[R](pf), at: at}
	var end int64
	for _, g := range pf.Metadata().RowGroups {
		var size int64
		for _, c := range g.Columns {
			size += c.MetaData.TotalCompressedSize
		}
		end += g.NumRows
		s.ends = append(s.ends, end)
		s.costs = append(s.costs, float64(size)/float64(max(g.NumRows, 1)))
	}
	return s, nil
}

func (s *sorted[R]) close() {
	s.rows.Close()
	s.file.Close()
}

// fill reads the next rows into the buffer not handed out last.
func (s *sorted[R]) fill() error {
	b := &s.bufs[s.filled%2]
	s.filled++
	if *b == nil {
		*b = make([]R, RowGroupRows)
	}
	// A buffer is filled whole, so that row groups stay whole and an
	// empty one means the end.
	n := 0
	for n < len(*b) {
		m, err := s.rows.Read((*b)[n:])
		n += m
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", s.path, err)
		}
	}
	s.buf, s.pos = (*b)[:n], 0
	if n == 0 {
		s.eof = true
	}
	return nil
}

// peek returns the time of the next row, or false after the last.
func (s *sorted[R]) peek() (int64, bool, error) {
	for s.pos == len(s.buf) {
		if s.eof {
			return 0, false, nil
		}
		if err := s.fill(); err != nil {
			return 0, false, err
		}
	}
	return s.at(&s.buf[s.pos]), true, nil
}

// startFile begins a file of the rows in hour with room for bytes.
func (s *sorted[R]) startFile(hour int64, bytes float64) {
	s.hour, s.room, s.fileEmpty = hour, bytes, true
}

// next returns the next rows of the file begun last, none once it ends.
func (s *sorted[R]) next() ([]R, error) {
	if _, ok, err := s.peek(); !ok || err != nil {
		return nil, err
	}
	from := s.pos
	for s.pos < len(s.buf) {
		for s.group < len(s.ends)-1 && s.row >= s.ends[s.group] {
			s.group++
		}
		cost := 0.0
		if s.group < len(s.costs) {
			cost = s.costs[s.group]
		}
		r := &s.buf[s.pos]
		if hourOf(s.at(r)) != s.hour || (cost > s.room && !s.fileEmpty) {
			break
		}
		s.room -= cost
		s.fileEmpty = false
		s.pos++
		s.row++
	}
	return s.buf[from:s.pos], nil
}
