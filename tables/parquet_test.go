package tables

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// testBase is the timestamp of row 0; it has nanosecond precision on purpose.
var testBase = time.Date(2024, 3, 5, 7, 9, 11, 123456789, time.UTC)

// testBatchSizes gives the row counts of the batches written by the tests.
// One batch is larger than parquetChunkRows so chunking is exercised.
var testBatchSizes = []int{3, parquetChunkRows*2 + 17, 5}

// testRow holds the expected values of row g (0-based over all batches).
type testRow struct {
	ts      time.Time
	srcPort uint16
	proto   uint8
	packets uint32
	bytes   uint64
	delta   int32
	seq     int64
	rtt     float64
	rttNull bool
	isTCP   bool
	app     string
	appNull bool
	host    string
}

func makeTestRow(g int) testRow {
	return testRow{
		ts:      testBase.Add(time.Duration(g) * 1001 * time.Nanosecond),
		srcPort: uint16(60000 + g%5000),
		proto:   uint8(250 + g%6),
		packets: uint32(math.MaxUint32 - g), // above MaxInt32: checks unsigned handling
		bytes:   uint64(math.MaxUint64 - uint64(g)),
		delta:   int32(-g),
		seq:     int64(g),
		rtt:     float64(g) / 8,
		rttNull: g%3 == 1,
		isTCP:   g%2 == 0,
		app:     []string{"http", "dns", "tls"}[g%3],
		appNull: g%4 == 3,
		host:    fmt.Sprintf("host-%d.example", g),
	}
}

// testColumns lists the expected column names, in schema order (deliberately
// not alphabetical), with the DuckDB type each must have.
var testColumns = []struct{ name, duckType string }{
	{"ts", "TIMESTAMP WITH TIME ZONE"},
	{"src_port", "USMALLINT"},
	{"proto", "UTINYINT"},
	{"packets", "UINTEGER"},
	{"bytes", "UBIGINT"},
	{"delta", "INTEGER"},
	{"seq", "BIGINT"},
	{"rtt", "DOUBLE"},
	{"is_tcp", "BOOLEAN"},
	{"app", "VARCHAR"},
	{"host", "VARCHAR"},
}

func testSchema() *arrow.Schema {
	dict := arrow.NewMetadata([]string{"encoding"}, []string{"dictionary"})
	return arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
		{Name: "src_port", Type: arrow.PrimitiveTypes.Uint16},
		{Name: "proto", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "packets", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "bytes", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "delta", Type: arrow.PrimitiveTypes.Int32},
		{Name: "seq", Type: arrow.PrimitiveTypes.Int64},
		{Name: "rtt", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "is_tcp", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "app", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: dict},
		{Name: "host", Type: arrow.BinaryTypes.String},
	}, nil)
}

// buildTestRecord builds rows [first, first+n) of the test data.
func buildTestRecord(mem memory.Allocator, first, n int) arrow.Record {
	b := array.NewRecordBuilder(mem, testSchema())
	defer b.Release()
	for g := first; g < first+n; g++ {
		r := makeTestRow(g)
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixNano()))
		b.Field(1).(*array.Uint16Builder).Append(r.srcPort)
		b.Field(2).(*array.Uint8Builder).Append(r.proto)
		b.Field(3).(*array.Uint32Builder).Append(r.packets)
		b.Field(4).(*array.Uint64Builder).Append(r.bytes)
		b.Field(5).(*array.Int32Builder).Append(r.delta)
		b.Field(6).(*array.Int64Builder).Append(r.seq)
		if r.rttNull {
			b.Field(7).(*array.Float64Builder).AppendNull()
		} else {
			b.Field(7).(*array.Float64Builder).Append(r.rtt)
		}
		b.Field(8).(*array.BooleanBuilder).Append(r.isTCP)
		if r.appNull {
			b.Field(9).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(9).(*array.StringBuilder).Append(r.app)
		}
		b.Field(10).(*array.StringBuilder).Append(r.host)
	}
	return b.NewRecord()
}

// writeTestFile writes the test batches to path and returns the total row count.
func writeTestFile(t *testing.T, path string) int {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	w, err := CreateParquet(path, testSchema())
	if err != nil {
		t.Fatalf("CreateParquet: %v", err)
	}
	total := 0
	for i, n := range testBatchSizes {
		rec := buildTestRecord(mem, total, n)
		if i == 1 {
			// Write a slice so that non-zero array offsets are exercised.
			full := buildTestRecord(mem, total-2, n+4)
			rec.Release()
			rec = full.NewSlice(2, int64(n+2))
			full.Release()
		}
		err := w.Write(rec)
		rec.Release() // Write must not retain rec.
		if err != nil {
			w.Abort()
			t.Fatalf("Write batch %d: %v", i, err)
		}
		total += n
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return total
}

func TestParquetWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.parquet")
	total := writeTestFile(t, path)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "flows.parquet" {
		t.Fatalf("directory after Close = %v, want only flows.parquet", dirNames(entries))
	}

	t.Run("duckdb", func(t *testing.T) { checkDuckDB(t, path, total) })
	t.Run("pqarrow", func(t *testing.T) { checkPqarrow(t, path, total) })
	t.Run("metadata", func(t *testing.T) { checkMetadata(t, path) })
}

func checkDuckDB(t *testing.T, path string, total int) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("open duckdb: %v", err)
	}
	defer db.Close()
	src := fmt.Sprintf("read_parquet('%s')", strings.ReplaceAll(path, "'", "''"))

	rows, err := db.Query("DESCRIBE SELECT * FROM " + src)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var names, types []string
	for rows.Next() {
		dest := make([]any, len(cols))
		var name, typ string
		dest[0], dest[1] = &name, &typ
		for i := 2; i < len(dest); i++ {
			dest[i] = new(any)
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("scan describe: %v", err)
		}
		names = append(names, name)
		types = append(types, typ)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	t.Logf("duckdb columns: %v", names)
	t.Logf("duckdb types:   %v", types)
	if len(names) != len(testColumns) {
		t.Fatalf("duckdb sees %d columns %v, want %d", len(names), names, len(testColumns))
	}
	for i, c := range testColumns {
		if names[i] != c.name || types[i] != c.duckType {
			t.Errorf("column %d = %s %s, want %s %s", i, names[i], types[i], c.name, c.duckType)
		}
	}

	// Aggregates over all rows catch lost, duplicated or misplaced rows.
	var n, rttNulls, appNulls, dictApps int
	if err := db.QueryRow(`SELECT count(*), count(*) - count(rtt), count(*) - count(app),
		count(*) FILTER (WHERE app = CASE seq % 3 WHEN 0 THEN 'http' WHEN 1 THEN 'dns' ELSE 'tls' END)
		FROM `+src).Scan(&n, &rttNulls, &appNulls, &dictApps); err != nil {
		t.Fatalf("aggregate: %v", err)
	}
	wantRTTNulls, wantAppNulls := 0, 0
	for g := range total {
		r := makeTestRow(g)
		if r.rttNull {
			wantRTTNulls++
		}
		if r.appNull {
			wantAppNulls++
		}
	}
	if n != total || rttNulls != wantRTTNulls || appNulls != wantAppNulls || dictApps != total-wantAppNulls {
		t.Errorf("count=%d rtt nulls=%d app nulls=%d apps ok=%d, want %d %d %d %d",
			n, rttNulls, appNulls, dictApps, total, wantRTTNulls, wantAppNulls, total-wantAppNulls)
	}

	q := `SELECT ts, epoch_ns(ts), src_port, proto, packets, bytes::VARCHAR, delta, seq, rtt, is_tcp, app, host FROM ` + src + ` ORDER BY seq`
	rows, err = db.Query(q)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rows.Close()
	g := 0
	for ; rows.Next(); g++ {
		var (
			ts       time.Time
			epochNS  int64
			srcPort  uint16
			proto    uint8
			packets  uint32
			bytesStr string
			delta    int32
			seq      int64
			rtt      sql.NullFloat64
			isTCP    bool
			app      sql.NullString
			host     string
		)
		if err := rows.Scan(&ts, &epochNS, &srcPort, &proto, &packets, &bytesStr, &delta, &seq, &rtt, &isTCP, &app, &host); err != nil {
			t.Fatalf("scan row %d: %v", g, err)
		}
		want := makeTestRow(g)
		// DuckDB's TIMESTAMP WITH TIME ZONE has microsecond precision.
		wantTS := want.ts.Truncate(time.Microsecond)
		if !ts.Equal(wantTS) || epochNS != wantTS.UnixNano() {
			t.Errorf("row %d: ts = %v (epoch_ns %d), want %v", g, ts, epochNS, wantTS)
		}
		if srcPort != want.srcPort || proto != want.proto || packets != want.packets ||
			bytesStr != fmt.Sprint(want.bytes) || delta != want.delta || seq != want.seq ||
			isTCP != want.isTCP || host != want.host {
			t.Errorf("row %d = %v %v %v %v %v %v %v %q, want %+v",
				g, srcPort, proto, packets, bytesStr, delta, seq, isTCP, host, want)
		}
		if rtt.Valid == want.rttNull || (rtt.Valid && rtt.Float64 != want.rtt) {
			t.Errorf("row %d: rtt = %+v, want %v (null %v)", g, rtt, want.rtt, want.rttNull)
		}
		if app.Valid == want.appNull || (app.Valid && app.String != want.app) {
			t.Errorf("row %d: app = %+v, want %q (null %v)", g, app, want.app, want.appNull)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if g != total {
		t.Errorf("duckdb returned %d rows, want %d", g, total)
	}

	// Row 1 has a NULL rtt; check it explicitly as well.
	var rtt sql.NullFloat64
	if err := db.QueryRow("SELECT rtt FROM " + src + " WHERE seq = 1").Scan(&rtt); err != nil {
		t.Fatal(err)
	}
	if rtt.Valid {
		t.Errorf("rtt of seq 1 = %v, want NULL", rtt.Float64)
	}
}

func checkPqarrow(t *testing.T, path string, total int) {
	// Not a checked allocator: Arrow v17's DELTA_LENGTH_BYTE_ARRAY decoder
	// never releases a small block buffer, which is a reader-side leak.
	mem := memory.NewGoAllocator()

	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	defer rdr.Close()
	if got := rdr.NumRowGroups(); got != len(testBatchSizes) {
		t.Errorf("pqarrow sees %d row groups, want %d", got, len(testBatchSizes))
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1024}, mem)
	if err != nil {
		t.Fatalf("pqarrow reader: %v", err)
	}
	schema, err := fr.Schema()
	if err != nil {
		t.Fatalf("pqarrow schema: %v", err)
	}
	t.Logf("pqarrow schema: %s", schema)
	want := testSchema()
	if schema.NumFields() != want.NumFields() {
		t.Fatalf("pqarrow schema has %d fields, want %d", schema.NumFields(), want.NumFields())
	}
	for i, wf := range want.Fields() {
		f := schema.Field(i)
		if f.Name != wf.Name || !arrow.TypeEqual(f.Type, wf.Type) || f.Nullable != wf.Nullable {
			t.Errorf("field %d = %s: %s (nullable %v), want %s: %s (nullable %v)",
				i, f.Name, f.Type, f.Nullable, wf.Name, wf.Type, wf.Nullable)
		}
	}
	if ts, ok := schema.Field(0).Type.(*arrow.TimestampType); !ok || ts.String() != "timestamp[ns, tz=UTC]" {
		t.Errorf("ts type = %s, want timestamp[ns, tz=UTC]", schema.Field(0).Type)
	}
	if t.Failed() {
		t.FailNow()
	}

	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("read table: %v", err)
	}
	defer tbl.Release()
	if int(tbl.NumRows()) != total {
		t.Fatalf("table has %d rows, want %d", tbl.NumRows(), total)
	}
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		c, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		cols[i] = c
	}
	for g := range total {
		r := makeTestRow(g)
		if got := cols[0].(*array.Timestamp).Value(g); int64(got) != r.ts.UnixNano() {
			t.Fatalf("row %d: ts = %d, want %d", g, got, r.ts.UnixNano())
		}
		if got := cols[1].(*array.Uint16).Value(g); got != r.srcPort {
			t.Fatalf("row %d: src_port = %d, want %d", g, got, r.srcPort)
		}
		if got := cols[2].(*array.Uint8).Value(g); got != r.proto {
			t.Fatalf("row %d: proto = %d, want %d", g, got, r.proto)
		}
		if got := cols[3].(*array.Uint32).Value(g); got != r.packets {
			t.Fatalf("row %d: packets = %d, want %d", g, got, r.packets)
		}
		if got := cols[4].(*array.Uint64).Value(g); got != r.bytes {
			t.Fatalf("row %d: bytes = %d, want %d", g, got, r.bytes)
		}
		if got := cols[5].(*array.Int32).Value(g); got != r.delta {
			t.Fatalf("row %d: delta = %d, want %d", g, got, r.delta)
		}
		if got := cols[6].(*array.Int64).Value(g); got != r.seq {
			t.Fatalf("row %d: seq = %d, want %d", g, got, r.seq)
		}
		rtt := cols[7].(*array.Float64)
		if rtt.IsNull(g) != r.rttNull || (!r.rttNull && rtt.Value(g) != r.rtt) {
			t.Fatalf("row %d: rtt = %v (null %v), want %v (null %v)", g, rtt.Value(g), rtt.IsNull(g), r.rtt, r.rttNull)
		}
		if got := cols[8].(*array.Boolean).Value(g); got != r.isTCP {
			t.Fatalf("row %d: is_tcp = %v, want %v", g, got, r.isTCP)
		}
		app := cols[9].(*array.String)
		if app.IsNull(g) != r.appNull || (!r.appNull && app.Value(g) != r.app) {
			t.Fatalf("row %d: app = %q (null %v), want %q (null %v)", g, app.Value(g), app.IsNull(g), r.app, r.appNull)
		}
		if got := cols[10].(*array.String).Value(g); got != r.host {
			t.Fatalf("row %d: host = %q, want %q", g, got, r.host)
		}
	}
}

func checkMetadata(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("parquet-go open: %v", err)
	}
	md := pf.Metadata()
	if len(md.RowGroups) != len(testBatchSizes) {
		t.Fatalf("%d row groups, want %d (one per Write)", len(md.RowGroups), len(testBatchSizes))
	}
	for i, rg := range md.RowGroups {
		if rg.NumRows != int64(testBatchSizes[i]) {
			t.Errorf("row group %d has %d rows, want %d", i, rg.NumRows, testBatchSizes[i])
		}
		if len(rg.Columns) != len(testColumns) {
			t.Fatalf("row group %d has %d columns, want %d", i, len(rg.Columns), len(testColumns))
		}
		for j, cc := range rg.Columns {
			name := strings.Join(cc.MetaData.PathInSchema, ".")
			if name != testColumns[j].name {
				t.Errorf("row group %d column %d is %q, want %q", i, j, name, testColumns[j].name)
			}
			if cc.MetaData.Codec != format.Zstd {
				t.Errorf("row group %d column %s codec = %v, want ZSTD", i, name, cc.MetaData.Codec)
			}
			dict := false
			for _, e := range cc.MetaData.Encoding {
				if e == format.RLEDictionary {
					dict = true
				}
			}
			if wantDict := name == "app"; dict != wantDict {
				t.Errorf("row group %d column %s dictionary encoded = %v, want %v (encodings %v)",
					i, name, dict, wantDict, cc.MetaData.Encoding)
			}
		}
	}
}

func TestParquetWriterAtomicity(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	t.Run("abort", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "intervals.parquet")
		w, err := CreateParquet(path, testSchema())
		if err != nil {
			t.Fatal(err)
		}
		assertTempOnly(t, dir, "intervals.parquet")
		rec := buildTestRecord(mem, 0, 10)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		assertTempOnly(t, dir, "intervals.parquet")
		w.Abort()
		assertEmpty(t, dir)
		w.Abort() // idempotent
		if err := w.Write(rec); err == nil {
			t.Error("Write after Abort succeeded")
		}
		if err := w.Close(); err == nil {
			t.Error("Close after Abort succeeded")
		}
		assertEmpty(t, dir)
	})

	t.Run("schema mismatch", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "cdf.parquet")
		w, err := CreateParquet(path, testSchema())
		if err != nil {
			t.Fatal(err)
		}
		good := buildTestRecord(mem, 0, 10)
		defer good.Release()
		if err := w.Write(good); err != nil {
			t.Fatal(err)
		}
		other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
		b := array.NewRecordBuilder(mem, other)
		b.Field(0).(*array.Int64Builder).Append(1)
		bad := b.NewRecord()
		b.Release()
		defer bad.Release()
		err = w.Write(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "cannot write record: ") {
			t.Fatalf("Write of mismatched record: err = %v, want cannot write record: ...", err)
		}
		assertEmpty(t, dir)
		if err := w.Close(); err == nil {
			t.Error("Close after failed Write succeeded")
		}
		assertEmpty(t, dir)
	})

	t.Run("null in required column", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "destinations.parquet")
		schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Uint32}}, nil)
		w, err := CreateParquet(path, schema)
		if err != nil {
			t.Fatal(err)
		}
		b := array.NewRecordBuilder(mem, schema)
		b.Field(0).(*array.Uint32Builder).AppendValues([]uint32{1, 0, 3}, []bool{true, false, true})
		rec := b.NewRecord()
		b.Release()
		defer rec.Release()
		if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), "not nullable") {
			t.Fatalf("Write with null in required column: err = %v", err)
		}
		assertEmpty(t, dir)
		if err := w.Close(); err == nil {
			t.Error("Close after failed Write succeeded")
		}
		assertEmpty(t, dir)
	})

	t.Run("close publishes", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "flows.parquet")
		// An existing file at path is replaced only on Close.
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := CreateParquet(path, testSchema())
		if err != nil {
			t.Fatal(err)
		}
		rec := buildTestRecord(mem, 0, 10)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "old" {
			t.Fatalf("before Close path holds %q (err %v), want old content", b, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w.Abort() // must not remove the published file
		if err := w.Close(); err == nil {
			t.Error("second Close succeeded")
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "flows.parquet" {
			t.Fatalf("directory after Close = %v, want only flows.parquet", dirNames(entries))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 8 || string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
			t.Fatalf("published file is not parquet (%d bytes)", len(b))
		}
	})

	t.Run("unsupported type", func(t *testing.T) {
		dir := t.TempDir()
		for _, f := range []arrow.Field{
			{Name: "f", Type: arrow.PrimitiveTypes.Float32},
			{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
			{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}},
		} {
			_, err := CreateParquet(filepath.Join(dir, "x.parquet"), arrow.NewSchema([]arrow.Field{f}, nil))
			if err == nil || !strings.Contains(err.Error(), "unsupported type") {
				t.Errorf("CreateParquet with %s: err = %v, want unsupported type error", f.Type, err)
			}
		}
		assertEmpty(t, dir)
	})
}

func TestParquetWriterEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.parquet")
	w, err := CreateParquet(path, testSchema())
	if err != nil {
		t.Fatal(err)
	}
	rec := buildTestRecord(mem, 0, 0)
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var cols string
	err = db.QueryRow(fmt.Sprintf(
		`SELECT (SELECT count(*) FROM read_parquet('%[1]s')),
		        (SELECT string_agg(column_name, ',') FROM (DESCRIBE SELECT * FROM read_parquet('%[1]s')))`, path)).Scan(&n, &cols)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range testColumns {
		want = append(want, c.name)
	}
	if n != 0 || cols != strings.Join(want, ",") {
		t.Errorf("empty file: %d rows, columns %s; want 0 rows, columns %s", n, cols, strings.Join(want, ","))
	}
}

func TestParquetWriterPandas(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	if err := exec.Command(python, "-c", "import pyarrow, pandas").Run(); err != nil {
		t.Skip("python3 cannot import pyarrow and pandas")
	}
	path := filepath.Join(t.TempDir(), "flows.parquet")
	writeTestFile(t, path)
	script := `import sys, pyarrow.parquet as pq
df = pq.read_table(sys.argv[1]).to_pandas()
print(df.dtypes["ts"])
print(list(df.columns))
print(df["rtt"].isna().sum())
`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "datetime64[ns, UTC]" {
		t.Fatalf("pandas output %q, want ts dtype datetime64[ns, UTC]", out)
	}
	var names []string
	for _, c := range testColumns {
		names = append(names, "'"+c.name+"'")
	}
	if lines[1] != "["+strings.Join(names, ", ")+"]" {
		t.Errorf("pandas columns %s, want %s", lines[1], strings.Join(names, ", "))
	}
}

func dirNames(entries []os.DirEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// assertTempOnly checks that dir holds just one temporary file for base and
// that base itself does not exist yet.
func assertTempOnly(t *testing.T, dir, base string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), base+".tmp-") {
		t.Fatalf("directory = %v, want a single %s.tmp-* file", dirNames(entries), base)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("directory = %v, want empty", dirNames(entries))
	}
}

func BenchmarkParquetWriterWrite(b *testing.B) {
	const rows = 128 * 1024
	rec := buildTestRecord(memory.NewGoAllocator(), 0, rows)
	defer rec.Release()
	w, err := CreateParquet(filepath.Join(b.TempDir(), "bench.parquet"), testSchema())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Abort()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := w.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
