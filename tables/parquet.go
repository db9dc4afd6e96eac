package tables

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go/compress/zstd"

	"flowstat/extsort"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// parquetChunkRows is the number of rows handed to a parquet-go column writer
// at a time. It bounds the scratch buffer and lets parquet-go cut data pages
// at its configured page size instead of producing one page per row group.
const parquetChunkRows = 4096

// errWriterDone is returned when a ParquetWriter is used after Close or Abort.
var errWriterDone = errors.New("parquet writer is closed or aborted")

// ParquetWriter writes Arrow record batches of one schema to a Parquet file atomically.
//
// Data goes to a temporary file next to the destination, which is renamed
// into place only by a successful Close. Each Write call produces exactly one
// row group. All columns are compressed with zstd and appear in the file in
// the same order as in the Arrow schema. The methods are safe to call from
// different goroutines, so Abort may be called from a signal handler.
type ParquetWriter struct {
	mu      sync.Mutex
	path    string
	tmpPath string
	file    *os.File
	columns []parquetColumn
	pw      *parquet.Writer
	footer  io.Closer       // pw, or the writer of rows that writes the file instead (writeWith)
	values  []parquet.Value // scratch buffer reused for every column chunk
	err     error           // first write error; the writer is unusable once set
	done    bool            // set by Close or Abort
}

// parquetColumn describes how one Arrow field is written to its Parquet leaf column.
type parquetColumn struct {
	name     string
	dataType arrow.DataType
	nullable bool
}

// CreateParquet starts writing a Parquet file with the given Arrow schema to path.
//
// The data is written to a temporary file named path + ".tmp-<random>" in the
// same directory; path itself only appears when Close succeeds. Supported
// Arrow types are uint8/16/32/64, int32/64, float64, boolean, string and
// timestamp[ns, tz=UTC]. A field whose metadata has "encoding" set to
// "dictionary" is written with RLE dictionary encoding, one set to "delta"
// (an integer or timestamp) with delta binary packing. Nullable fields become
// optional columns.
func CreateParquet(path string, schema *arrow.Schema) (*ParquetWriter, error) {
	w, config, err := createParquetFile(path, schema)
	if err != nil {
		return nil, err
	}
	w.pw = parquet.NewWriter(w.file, config)
	w.footer = w.pw
	return w, nil
}

// createParquetFile does what CreateParquet does but for making the
// parquet-go writer: it returns that writer's configuration, and the
// caller sets footer to the writer it makes (and pw, for Write).
func createParquetFile(path string, schema *arrow.Schema) (*ParquetWriter, *parquet.WriterConfig, error) {
	if schema == nil || schema.NumFields() == 0 {
		return nil, nil, errors.New("cannot create parquet schema: no fields")
	}
	root, columns, err := parquetSchemaOf(schema)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create parquet schema: %w", err)
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := extsort.CreateLockedTemp(dir, base+".tmp-*")
	if err != nil {
		return nil, nil, writeError(path, err)
	}
	w := &ParquetWriter{
		path:    path,
		tmpPath: f.Name(),
		file:    f,
		columns: columns,
		values:  make([]parquet.Value, parquetChunkRows),
	}

	config, err := parquet.NewWriterConfig(
		parquet.NewSchema("schema", root),
		parquet.Compression(&fastZstd),
		// A column's values are buffered up to a page before they are
		// encoded, and flows.parquet has 50 columns: pages of 64 KiB
		// rather than parquet-go's 256 keep that a fourth as large, while
		// flows.parquet is written beside the report's build. Readers
		// take pages of any size; smaller ones compress a little less.
		parquet.PageBufferSize(64*1024),
		parquet.CreatedBy("flowstat", "", ""),
	)
	if err != nil {
		w.removeTemp()
		return nil, nil, fmt.Errorf("cannot configure parquet writer: %w", err)
	}
	return w, config, nil
}

// Write writes rec as one row group.
//
// The record must have the schema given to CreateParquet; it is not retained
// after Write returns. An empty record writes nothing. Any error is fatal:
// the temporary file is removed and later calls fail.
func (w *ParquetWriter) Write(rec arrow.Record) error {
	return w.writeWith(func() error { return w.write(rec) })
}

// writeWith writes a row group with write, under Write's rules.
func (w *ParquetWriter) writeWith(write func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return fmt.Errorf("cannot write record: %w", err)
	}
	if err := write(); err != nil {
		w.fail(err)
		if isIOError(err) {
			return writeError(w.path, err)
		}
		return fmt.Errorf("cannot write record: %w", err)
	}
	return nil
}

// Close finishes the file and moves it to its final path.
//
// It flushes buffered data, writes the footer, syncs and closes the
// temporary file and renames it to the destination path. On any error the
// temporary file is removed and the destination is left untouched.
func (w *ParquetWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return fmt.Errorf("cannot close parquet file: %w", err)
	}
	w.done = true
	if err := w.finish(); err != nil {
		w.removeTemp()
		if isIOError(err) {
			return writeError(w.path, err)
		}
		return err
	}
	return nil
}

// isIOError reports whether err comes from the file system (a full disk, a
// failing device) rather than from the data.
func isIOError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

// Abort discards the file being written by removing the temporary file.
//
// It is safe to call more than once and after Close, in which case it does
// nothing; a successfully closed file is never removed.
func (w *ParquetWriter) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.removeTemp()
}

// usable reports why the writer can no longer be used, if it cannot.
func (w *ParquetWriter) usable() error {
	switch {
	case w.err != nil:
		return w.err
	case w.done:
		return errWriterDone
	}
	return nil
}

// fail records err as fatal and discards the temporary file.
func (w *ParquetWriter) fail(err error) {
	w.err = err
	w.done = true
	w.removeTemp()
}

// removeTemp closes and deletes the temporary file, ignoring errors.
func (w *ParquetWriter) removeTemp() {
	if w.file != nil {
		_ = w.file.Close()
		w.file = nil
	}
	_ = os.Remove(w.tmpPath)
}

// finish writes the footer, syncs the temporary file and renames it into place.
func (w *ParquetWriter) finish() error {
	if err := w.footer.Close(); err != nil {
		return fmt.Errorf("cannot write parquet footer: %w", err)
	}
	if err := w.file.Chmod(0o644); err != nil {
		return fmt.Errorf("cannot set parquet file mode: %w", err)
	}
	if err := w.file.Sync(); err != nil {
		return fmt.Errorf("cannot sync parquet file: %w", err)
	}
	// Renamed while still open, so locked: another run's RemoveStale leaves it alone.
	if err := os.Rename(w.tmpPath, w.path); err != nil {
		return fmt.Errorf("cannot rename parquet file: %w", err)
	}
	err := w.file.Close()
	w.file = nil
	if err != nil {
		return fmt.Errorf("cannot close parquet file: %w", err)
	}
	// Make the rename durable; failure here does not invalidate the file.
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// write copies every column of rec into the parquet-go column writers and
// flushes them as one row group.
func (w *ParquetWriter) write(rec arrow.Record) error {
	if rec == nil {
		return errors.New("nil record")
	}
	if got, want := int(rec.NumCols()), len(w.columns); got != want {
		return fmt.Errorf("record has %d columns, schema has %d", got, want)
	}
	for i, c := range w.columns {
		if name := rec.ColumnName(i); name != c.name {
			return fmt.Errorf("column %d is %q, schema has %q", i, name, c.name)
		}
		if dt := rec.Column(i).DataType(); !arrow.TypeEqual(dt, c.dataType) {
			return fmt.Errorf("column %q has type %s, schema has %s", c.name, dt, c.dataType)
		}
		if !c.nullable && rec.Column(i).NullN() > 0 {
			return fmt.Errorf("column %q is not nullable but has nulls", c.name)
		}
	}
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	writers := w.pw.ColumnWriters()
	for i, c := range w.columns {
		arr := rec.Column(i)
		if arr.Len() != n {
			return fmt.Errorf("column %q has %d rows, record has %d", c.name, arr.Len(), n)
		}
		for off := 0; off < n; off += parquetChunkRows {
			end := min(off+parquetChunkRows, n)
			vals := w.values[:end-off]
			fillValues(vals, arr, off, i, c.nullable)
			if _, err := writers[i].WriteRowValues(vals); err != nil {
				clear(vals)
				return fmt.Errorf("cannot write column %q: %w", c.name, err)
			}
		}
	}
	// Drop references into the record's string buffers.
	clear(w.values)
	if err := w.pw.Flush(); err != nil {
		return fmt.Errorf("cannot flush row group: %w", err)
	}
	return nil
}

// fillValues converts rows [off, off+len(dst)) of arr into Parquet values for
// leaf column col, setting definition levels for optional columns.
func fillValues(dst []parquet.Value, arr arrow.Array, off, col int, nullable bool) {
	switch a := arr.(type) {
	case *array.Uint8:
		fill(dst, off, col, a.Uint8Values(), func(v uint8) parquet.Value { return parquet.Int32Value(int32(v)) })
	case *array.Uint16:
		fill(dst, off, col, a.Uint16Values(), func(v uint16) parquet.Value { return parquet.Int32Value(int32(v)) })
	case *array.Uint32:
		// UINT_32 is stored in an INT32 column; the bits are reinterpreted.
		fill(dst, off, col, a.Uint32Values(), func(v uint32) parquet.Value { return parquet.Int32Value(int32(v)) })
	case *array.Uint64:
		fill(dst, off, col, a.Uint64Values(), func(v uint64) parquet.Value { return parquet.Int64Value(int64(v)) })
	case *array.Int32:
		fill(dst, off, col, a.Int32Values(), parquet.Int32Value)
	case *array.Int64:
		fill(dst, off, col, a.Int64Values(), parquet.Int64Value)
	case *array.Float64:
		fill(dst, off, col, a.Float64Values(), parquet.DoubleValue)
	case *array.Timestamp:
		fill(dst, off, col, a.TimestampValues(), func(v arrow.Timestamp) parquet.Value { return parquet.Int64Value(int64(v)) })
	case *array.Boolean:
		for i := range dst {
			dst[i] = parquet.BooleanValue(a.Value(off + i))
			dst[i].SetColumnIndex(col)
		}
	case *array.String:
		for i := range dst {
			// The value points into the Arrow buffer; parquet-go copies it.
			s := a.Value(off + i)
			dst[i] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
			dst[i].SetColumnIndex(col)
		}
	default:
		// Unreachable: types are validated against the schema before writing.
		panic(fmt.Sprintf("report: unexpected arrow array %T", arr))
	}
	if nullable {
		setDefinitionLevels(dst, arr, off, col)
	}
}

// fill converts values[off:off+len(dst)] with conv into dst. The values get
// repetition and definition level 0, as required columns need.
func fill[T any](dst []parquet.Value, off, col int, values []T, conv func(T) parquet.Value) {
	values = values[off : off+len(dst)]
	for i, v := range values {
		dst[i] = conv(v)
		dst[i].SetColumnIndex(col)
	}
}

// setDefinitionLevels marks the values of an optional column as present
// (definition level 1) and replaces the ones that are null in arr, starting
// at row off, by null values (definition level 0).
func setDefinitionLevels(dst []parquet.Value, arr arrow.Array, off, col int) {
	if arr.NullN() == 0 {
		for i := range dst {
			dst[i].SetDefinitionLevel(1)
		}
		return
	}
	for i := range dst {
		if arr.IsNull(off + i) {
			dst[i] = parquet.NullValue()
			dst[i].SetColumnIndex(col)
		} else {
			dst[i].SetDefinitionLevel(1)
		}
	}
}

// parquetSchemaOf maps an Arrow schema to a Parquet root node whose columns
// keep the Arrow field order.
func parquetSchemaOf(schema *arrow.Schema) (parquet.Node, []parquetColumn, error) {
	fields := make([]parquet.Field, schema.NumFields())
	columns := make([]parquetColumn, schema.NumFields())
	seen := make(map[string]bool, schema.NumFields())
	for i, f := range schema.Fields() {
		if f.Name == "" || strings.Contains(f.Name, ",") {
			return nil, nil, fmt.Errorf("invalid column name %q", f.Name)
		}
		if seen[f.Name] {
			return nil, nil, fmt.Errorf("duplicate column name %q", f.Name)
		}
		seen[f.Name] = true
		node, err := parquetNodeOf(f)
		if err != nil {
			return nil, nil, err
		}
		fields[i] = &orderedField{Node: node, name: f.Name, index: i}
		columns[i] = parquetColumn{name: f.Name, dataType: f.Type, nullable: f.Nullable}
	}
	return &orderedGroup{fields: fields}, columns, nil
}

// parquetNodeOf maps one Arrow field to a Parquet leaf node.
func parquetNodeOf(f arrow.Field) (parquet.Node, error) {
	var node parquet.Node
	switch t := f.Type.(type) {
	case *arrow.Uint8Type:
		node = parquet.Uint(8)
	case *arrow.Uint16Type:
		node = parquet.Uint(16)
	case *arrow.Uint32Type:
		node = parquet.Uint(32)
	case *arrow.Uint64Type:
		node = parquet.Uint(64)
	case *arrow.Int32Type:
		node = parquet.Int(32)
	case *arrow.Int64Type:
		node = parquet.Int(64)
	case *arrow.Float64Type:
		node = parquet.Leaf(parquet.DoubleType)
	case *arrow.BooleanType:
		node = parquet.Leaf(parquet.BooleanType)
	case *arrow.TimestampType:
		if t.Unit != arrow.Nanosecond || t.TimeZone != "UTC" {
			return nil, fmt.Errorf("column %q has unsupported type %s: only timestamp[ns, tz=UTC] is supported", f.Name, t)
		}
		node = parquet.TimestampAdjusted(parquet.Nanosecond, true)
	case *arrow.StringType:
		node = parquet.String()
	default:
		return nil, fmt.Errorf("column %q has unsupported type %s", f.Name, f.Type)
	}
	if i := f.Metadata.FindKey("encoding"); i >= 0 {
		switch f.Metadata.Values()[i] {
		case "dictionary":
			node = parquet.Encoded(node, &parquet.RLEDictionary)
		case "delta":
			node = parquet.Encoded(node, &parquet.DeltaBinaryPacked)
		}
	}
	if f.Nullable {
		node = parquet.Optional(node)
	}
	return node, nil
}

// orderedGroup is a Parquet group node that keeps its fields in the given
// order. parquet.Group sorts fields by name, which would reorder columns.
type orderedGroup struct {
	fields []parquet.Field
}

func (g *orderedGroup) ID() int { return 0 }

func (g *orderedGroup) String() string {
	var b strings.Builder
	_ = parquet.PrintSchema(&b, "", g)
	return b.String()
}

func (g *orderedGroup) Type() parquet.Type { return parquet.Group(nil).Type() }

func (g *orderedGroup) Optional() bool { return false }

func (g *orderedGroup) Repeated() bool { return false }

func (g *orderedGroup) Required() bool { return true }

func (g *orderedGroup) Leaf() bool { return false }

func (g *orderedGroup) Fields() []parquet.Field { return g.fields }

func (g *orderedGroup) Encoding() encoding.Encoding { return nil }

func (g *orderedGroup) Compression() compress.Codec { return nil }

// GoType returns a struct type with one field per column, in column order.
func (g *orderedGroup) GoType() reflect.Type {
	fields := make([]reflect.StructField, len(g.fields))
	for i, f := range g.fields {
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: f.GoType(),
			Tag:  reflect.StructTag(`parquet:"` + f.Name() + `"`),
		}
	}
	return reflect.StructOf(fields)
}

// orderedField is a named child of an orderedGroup.
type orderedField struct {
	parquet.Node
	name  string
	index int
}

func (f *orderedField) Name() string { return f.name }

// Value returns the field's value in a struct of the group's GoType.
func (f *orderedField) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Pointer || base.Kind() == reflect.Interface {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() != reflect.Struct || f.index >= base.NumField() {
		return reflect.Value{}
	}
	return base.Field(f.index)
}

// fastZstd is zstd at its fastest level: on flow tables it compresses
// nearly as well as the default level in about half the time, and writing
// is on the critical path of every run.
var fastZstd = zstd.Codec{Level: zstd.SpeedFastest}
