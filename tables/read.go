package tables

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
)

// Column names a column a reader needs and its Parquet physical type.
type Column struct {
	name string
	kind parquet.Kind
}

// NewColumn returns the Column of a name and physical type.
func NewColumn(name string, kind parquet.Kind) Column { return Column{name, kind} }

// Table is a Parquet file open for reading rows.
type Table struct {
	path  string
	file  *os.File
	pf    *parquet.File
	index map[string]int // column name -> leaf column index
	// leaves holds the leaf column index of each column OpenTable was
	// given, in its order: readers of many rows find a value by place,
	// not by name.
	leaves []int
}

// OpenTable opens the Parquet file at path for reading cols, which it
// must have with their physical types.
func OpenTable(path string, cols []Column) (*Table, error) {
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
	t := &Table{path: path, file: f, pf: pf, index: map[string]int{}}
	for _, c := range cols {
		leaf, ok := pf.Schema().Lookup(c.name)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("cannot read %s: no column %q", path, c.name)
		}
		if k := leaf.Node.Type().Kind(); k != c.kind {
			f.Close()
			return nil, fmt.Errorf("cannot read %s: column %q is %v, want %v", path, c.name, k, c.kind)
		}
		t.index[c.name] = leaf.ColumnIndex
		t.leaves = append(t.leaves, leaf.ColumnIndex)
	}
	return t, nil
}

// Each calls fn for every row with the row's values indexed by leaf column.
func (t *Table) Each(fn func(vals []parquet.Value) error) error {
	return t.EachIn(nil, fn)
}

// EachIn calls fn as Each does, for the rows of the row groups that
// wanted keeps (every one when wanted is nil): the others are not decoded.
func (t *Table) EachIn(wanted func(parquet.RowGroup) (bool, error), fn func(vals []parquet.Value) error) error {
	defer t.file.Close()
	rows := make([]parquet.Row, 256)
	vals := make([]parquet.Value, len(t.pf.Schema().Columns()))
	for _, rg := range t.pf.RowGroups() {
		if wanted != nil {
			keep, err := wanted(rg)
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", t.path, err)
			}
			if !keep {
				continue
			}
		}
		if err := t.eachRow(rg, rows, vals, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachRow calls fn for every row of rg, in rows and vals.
func (t *Table) eachRow(rg parquet.RowGroup, rows []parquet.Row, vals []parquet.Value, fn func(vals []parquet.Value) error) error {
	r := rg.Rows()
	defer r.Close()
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(vals) {
					vals[c] = v
				}
			}
			if ferr := fn(vals); ferr != nil {
				return fmt.Errorf("cannot read %s: %w", t.path, ferr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", t.path, err)
		}
	}
}

// columnHoldsAny reports whether column col (a leaf column index of 64-bit
// integers) of rg holds one of values, reading that column alone.
func columnHoldsAny(rg parquet.RowGroup, col int, values map[uint64]bool) (bool, error) {
	pages := rg.ColumnChunks()[col].Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 4096)
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		found, err := valuesHoldAny(page.Values(), buf, values)
		parquet.Release(page)
		if found || err != nil {
			return found, err
		}
	}
}

// valuesHoldAny reports whether r holds one of values.
func valuesHoldAny(r parquet.ValueReader, buf []parquet.Value, values map[uint64]bool) (bool, error) {
	for {
		n, err := r.ReadValues(buf)
		for _, v := range buf[:n] {
			if values[v.Uint64()] {
				return true, nil
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func (t *Table) Get(vals []parquet.Value, name string) parquet.Value { return vals[t.index[name]] }

var TrafficColumns = []Column{
	{"window_start", parquet.Int64}, {"window_end", parquet.Int64},
	{"dst_ip", parquet.ByteArray}, {"dst_port", parquet.Int32}, {"proto", parquet.Int32},
	{"packets", parquet.Int64}, {"bytes", parquet.Int64},
	{"syn_packets", parquet.Int64}, {"synack_packets", parquet.Int64},
}

// TimelineColumns are those of timelines.parquet.
var TimelineColumns = []Column{
	{"target", parquet.ByteArray}, {"window_start", parquet.Int64},
	{"packets_in", parquet.Int64}, {"packets_out", parquet.Int64},
	{"bytes_in", parquet.Int64}, {"bytes_out", parquet.Int64},
	{"syn_in", parquet.Int64}, {"syn_out", parquet.Int64},
	{"synack_in", parquet.Int64}, {"synack_out", parquet.Int64},
}

// HostWindowColumns are those of host_windows.parquet.
var HostWindowColumns = []Column{
	{"ip", parquet.ByteArray}, {"window_start", parquet.Int64},
	{"packets_in", parquet.Int64}, {"packets_out", parquet.Int64},
	{"bytes_in", parquet.Int64}, {"bytes_out", parquet.Int64},
	{"flows_as_responder", parquet.Int64}, {"flows_as_originator", parquet.Int64},
	{"syn_in", parquet.Int64}, {"syn_out", parquet.Int64},
	{"synack_in", parquet.Int64}, {"synack_out", parquet.Int64},
}

// NumRows is the number of rows in the table.
func (t *Table) NumRows() int64 { return t.pf.NumRows() }
