// Package tablestest reads flowstat's tables back as users' tools do, for
// tests: with Arrow's Parquet reader, as pyarrow and DuckDB read them.
package tablestest

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// ReadBack reads the Parquet file at path with Arrow's reader, as pyarrow
// and DuckDB read it, checks that its columns have schema's names, types
// and nullability, and returns its metadata and its table.
func ReadBack(t *testing.T, path string, schema *arrow.Schema) (*metadata.FileMetaData, arrow.Table) {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdr.Close() })
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	table, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(table.Release)
	for i, want := range schema.Fields() {
		if f := table.Schema().Field(i); f.Name != want.Name || !arrow.TypeEqual(f.Type, want.Type) || f.Nullable != want.Nullable {
			t.Errorf("Arrow reads column %d as %s %s (nullable %v), want %s %s (nullable %v)",
				i, f.Name, f.Type, f.Nullable, want.Name, want.Type, want.Nullable)
		}
	}
	return rdr.MetaData(), table
}

// CheckValues checks that column i of table has n values, each as Arrow
// prints it the one want gives for its row.
func CheckValues(t *testing.T, table arrow.Table, i, n int, want func(row int) string) {
	t.Helper()
	name, row := table.Schema().Field(i).Name, 0
	for _, chunk := range table.Column(i).Data().Chunks() {
		for j := 0; j < chunk.Len(); j++ {
			if got, want := chunk.ValueStr(j), want(row); got != want {
				t.Fatalf("Arrow reads %s of row %d as %s, want %s", name, row, got, want)
			}
			row++
		}
	}
	if row != n {
		t.Errorf("Arrow reads %d values of %s, want %d", row, name, n)
	}
}
