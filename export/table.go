package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// column says how to write one leaf column of a table.
type column struct {
	name string
	kind valueKind
	unit time.Duration // of a timestamp
}

type valueKind uint8

const (
	kindSigned valueKind = iota
	kindUnsigned
	kindFloat
	kindBool
	kindString
	kindTime
)

// table is a Parquet file open for reading, with its columns.
type table struct {
	file    *os.File
	parquet *parquet.File
	columns []column
}

// openTable opens a flat Parquet file, as flowstat writes them.
func openTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil {
		var pf *parquet.File
		if pf, err = parquet.OpenFile(f, info.Size()); err == nil {
			t := &table{file: f, parquet: pf}
			if t.columns, err = columnsOf(pf.Schema()); err == nil {
				return t, nil
			}
		}
	}
	f.Close()
	return nil, fmt.Errorf("cannot read %s: %w", path, err)
}

func (t *table) Close() error { return t.file.Close() }

// columnsOf says how to write each leaf of a flat schema.
func columnsOf(schema *parquet.Schema) ([]column, error) {
	var out []column
	for _, path := range schema.Columns() {
		if len(path) != 1 {
			return nil, fmt.Errorf("column %v is nested: not a flowstat table", path)
		}
		leaf, _ := schema.Lookup(path...)
		c := column{name: path[0]}
		switch leaf.Node.Type().Kind() {
		case parquet.Boolean:
			c.kind = kindBool
		case parquet.Int32, parquet.Int64:
			c.kind = kindSigned
		case parquet.Float, parquet.Double:
			c.kind = kindFloat
		case parquet.ByteArray, parquet.FixedLenByteArray:
			c.kind = kindString
		default:
			return nil, fmt.Errorf("column %s has a type flowstat does not write", c.name)
		}
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			switch v := lt.Value.(type) {
			case *format.IntType:
				if !v.IsSigned {
					c.kind = kindUnsigned
				}
			case *format.TimestampType:
				c.kind, c.unit = kindTime, v.Unit.Value.Duration()
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// eachRow calls fn with every row's values, one row group after another.
// The values are valid until fn returns.
func (t *table) eachRow(fn func(parquet.Row) error) error {
	buf := make([]parquet.Row, 1024)
	for _, rg := range t.parquet.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				if ferr := fn(row); ferr != nil {
					rows.Close()
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("cannot read %s: %w", t.file.Name(), err)
			}
		}
		rows.Close()
	}
	return nil
}

// appendValue appends v as text: integers in decimal, floats as short as
// they read back exactly, times in RFC 3339 with nanoseconds, UTC.
func (c *column) appendValue(b []byte, v parquet.Value) []byte {
	switch c.kind {
	case kindBool:
		return strconv.AppendBool(b, v.Boolean())
	case kindSigned:
		if v.Kind() == parquet.Int32 {
			return strconv.AppendInt(b, int64(v.Int32()), 10)
		}
		return strconv.AppendInt(b, v.Int64(), 10)
	case kindUnsigned:
		if v.Kind() == parquet.Int32 {
			return strconv.AppendUint(b, uint64(uint32(v.Int32())), 10)
		}
		return strconv.AppendUint(b, uint64(v.Int64()), 10)
	case kindFloat:
		if v.Kind() == parquet.Float {
			return strconv.AppendFloat(b, float64(v.Float()), 'g', -1, 32)
		}
		return strconv.AppendFloat(b, v.Double(), 'g', -1, 64)
	case kindTime:
		return c.time(v).AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, v.ByteArray()...)
}

// time returns a timestamp value as a UTC time.
func (c *column) time(v parquet.Value) time.Time {
	return time.Unix(0, v.Int64()*int64(c.unit)).UTC()
}

// CSV writes the table at path as CSV: a header of its column names, then
// a line per row; a null is an empty field.
func CSV(w io.Writer, path string) error {
	t, err := openTable(path)
	if err != nil {
		return err
	}
	defer t.Close()
	cw := csv.NewWriter(w)
	record := make([]string, len(t.columns))
	for i, c := range t.columns {
		record[i] = c.name
	}
	if err := cw.Write(record); err != nil {
		return err
	}
	var text []byte
	ends := make([]int, len(t.columns))
	err = t.eachRow(func(row parquet.Row) error {
		text = text[:0]
		clear(ends) // a row may lack trailing columns' values
		for _, v := range row {
			i := v.Column()
			if !v.IsNull() {
				text = t.columns[i].appendValue(text, v)
			}
			ends[i] = len(text)
		}
		start := 0
		for i, end := range ends {
			record[i] = string(text[start:end])
			start = end
		}
		return cw.Write(record)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return err
}

// NDJSON writes the table at path as newline-delimited JSON: an object per
// row with its column names as keys; a null is null, a time a string.
func NDJSON(w io.Writer, path string) error {
	t, err := openTable(path)
	if err != nil {
		return err
	}
	defer t.Close()
	bw := bufio.NewWriterSize(w, 1<<16)
	keys := make([][]byte, len(t.columns))
	for i, c := range t.columns {
		key, _ := json.Marshal(c.name)
		keys[i] = append(key, ':')
	}
	var line, text []byte
	err = t.eachRow(func(row parquet.Row) error {
		line = append(line[:0], '{')
		for j, v := range row {
			if j > 0 {
				line = append(line, ',')
			}
			c := &t.columns[v.Column()]
			line = append(line, keys[v.Column()]...)
			switch {
			case v.IsNull():
				line = append(line, "null"...)
			case c.kind == kindString || c.kind == kindTime:
				text = c.appendValue(text[:0], v)
				quoted, _ := json.Marshal(string(text))
				line = append(line, quoted...)
			case c.kind == kindFloat && !isFinite(float(v)):
				line = append(line, "null"...) // JSON has no NaN or infinity
			default:
				line = c.appendValue(line, v)
			}
		}
		line = append(line, '}', '\n')
		_, err := bw.Write(line)
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func isFinite(x float64) bool { return x-x == 0 }

// float returns a FLOAT or DOUBLE value.
func float(v parquet.Value) float64 {
	if v.Kind() == parquet.Float {
		return float64(v.Float())
	}
	return v.Double()
}
