package tables

import (
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"
)

// BatchRows is how many values RowGroupsFrom hands out at a time: an
// eighth of a row group, so that the two batches in flight (a batch of
// flow records is 3.5 MB) are a small part of what a run holds.
const BatchRows = RowGroupRows / 8

// RowGroupsFrom returns the values fill puts in order into the slice it is
// given (0 at the end), BatchRows at a time, for WriteRowsFrom: in two
// batches taken in turn, one made while the other is written.
func RowGroupsFrom[T any](fill func([]T) (int, error)) func() ([]T, error) {
	var batches [2][]T
	made := 0
	return func() ([]T, error) {
		batch := &batches[made%2]
		made++
		if *batch == nil {
			*batch = make([]T, BatchRows)
		}
		n, err := fill(*batch)
		return (*batch)[:n], err
	}
}

// WriteTable writes n rows, appended by row, in row groups of RowGroupRows.
func WriteTable(path string, schema *arrow.Schema, n int, row func(*array.RecordBuilder, int)) error {
	start := 0
	return WriteBatches(path, schema, func(b *array.RecordBuilder) (bool, error) {
		if start >= n {
			return false, nil
		}
		for i := start; i < min(start+RowGroupRows, n); i++ {
			row(b, i)
		}
		start += RowGroupRows
		return true, nil
	})
}

// WriteBatches writes the row groups that fill appends to a builder, until
// it returns false, atomically. Each row group's buffers are those of the
// one before, grown by the same steps: fresh ones, for the millions of
// rows of a long trace in short windows, were gigabytes of garbage.
func WriteBatches(path string, schema *arrow.Schema, fill func(*array.RecordBuilder) (bool, error)) error {
	pool := newBufferPool()
	return writePipelined(path, schema, func() (arrow.Record, error) {
		b := array.NewRecordBuilder(pool, schema)
		defer b.Release()
		if more, err := fill(b); err != nil || !more {
			return nil, err
		}
		return b.NewRecord(), nil
	})
}

// writePipelined writes the batches next returns, a row group each, until
// it returns nil, to path as Parquet, atomically. Building a batch (merging
// spilled runs, filling Arrow arrays) and encoding the previous one take
// about the same time, so they run side by side.
func writePipelined(path string, schema *arrow.Schema, next func() (arrow.Record, error)) error {
	w, err := CreateParquet(path, schema)
	if err != nil {
		return err
	}
	err = pipelined(next,
		func(batch arrow.Record) error { defer batch.Release(); return w.Write(batch) },
		arrow.Record.Release)
	if err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// pipelined hands the batches next makes, on a goroutine of its own, to
// write, until next returns a nil batch or an error, or write an error
// (the first error is returned). The channel between them is unbuffered:
// one batch is made while one is written and no third waits (a
// flows.parquet batch is about 30 MB), so that next may reuse the memory
// of the batch before the last it returned. drop discards the batches
// made but not written after an error.
func pipelined[B comparable](next func() (B, error), write func(B) error, drop func(B)) error {
	var none B
	batches := make(chan B)
	stop := make(chan struct{})
	var nextErr error // set before batches closes
	go func() {
		defer close(batches)
		for {
			batch, err := next()
			if err != nil || batch == none {
				nextErr = err
				return
			}
			select {
			case batches <- batch:
			case <-stop:
				drop(batch)
				return
			}
		}
	}()
	for batch := range batches {
		if err := write(batch); err != nil {
			close(stop)
			for b := range batches {
				drop(b)
			}
			return err
		}
	}
	return nextErr
}

// WriteRowsFrom writes the values next returns to path as a table of
// schema, atomically, in row groups of RowGroupRows rows (the last may be
// shorter), until it returns none. Its values must stay valid until the
// call after the next: next makes a batch while the one before is
// encoded. Rows of type R, whose tags must give schema's Parquet schema
// exactly (or parquet-go takes each apart value by value), are made by
// rowsOf, at most RowsAtOnce at a time (start says that they are the
// first of a batch), and valid until its next call.
func WriteRowsFrom[T, R any](path string, schema *arrow.Schema, next func() ([]T, error), rowsOf func(values []T, start bool) []R) error {
	w, config, err := createParquetFile(path, schema)
	if err != nil {
		return err
	}
	rows := parquet.NewGenericWriter[R](w.file, config)
	w.footer = rows
	inGroup := 0 // rows written into the row group being made
	err = pipelined(func() (*[]T, error) {
		values, err := next()
		if err != nil || len(values) == 0 {
			return nil, err
		}
		return &values, nil
	}, func(values *[]T) error {
		return w.writeWith(func() error {
			for left, start := *values, true; len(left) > 0; start = false {
				part := left[:min(len(left), RowsAtOnce, RowGroupRows-inGroup)]
				left = left[len(part):]
				if _, err := rows.Write(rowsOf(part, start)); err != nil {
					return err
				}
				if inGroup += len(part); inGroup == RowGroupRows {
					if err := rows.Flush(); err != nil {
						return err
					}
					inGroup = 0
				}
			}
			return nil
		})
	}, func(*[]T) {})
	if err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// inRowGroups returns the values a row group at a time, then none.
func inRowGroups[T any](values []T) func() ([]T, error) {
	start := 0
	return func() ([]T, error) {
		part := values[start:min(start+RowGroupRows, len(values))]
		start += len(part)
		return part, nil
	}
}

// TextString returns text[from:to] as a string, without a copy: text must
// not change while the string is used.
func TextString(text []byte, from, to int) string {
	return unsafe.String(unsafe.SliceData(text[from:to]), to-from)
}
