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
	}
	return t, nil
}

// Each calls fn for every row with the row's values indexed by leaf column.
func (t *Table) Each(fn func(vals []parquet.Value) error) error {
	defer t.file.Close()
	r := parquet.NewReader(t.pf)
	defer r.Close()
	rows := make([]parquet.Row, 256)
	vals := make([]parquet.Value, len(t.pf.Schema().Columns()))
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
