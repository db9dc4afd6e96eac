package export

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/reader"
)

// analyzed runs the pipeline on the bundled sample into a temporary
// directory, with 10 s windows so that every table has rows.
func analyzed(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	filter, err := reader.NewFilter("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &pipeline.Config{Out: dir, Interval: 10 * time.Second, Filter: filter, Workers: 1, NoPlots: true,
		Flows: flows.Options{IdleTimeout: flows.DefaultIdleTimeout, Interval: 10 * time.Second}}
	res, err := pipeline.Analyze(context.Background(), cfg, []string{"../testdata/sample.pcap.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.WriteOutputs(cfg, res); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTablesAsText exports every table of an analysis as CSV and NDJSON
// and has DuckDB read them back: each must hold the Parquet file's rows,
// value for value, under the same column names.
func TestTablesAsText(t *testing.T) {
	dir := analyzed(t)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"flows", "intervals", "destinations", "cdf"} {
		table := filepath.Join(dir, name+".parquet")
		for format, write := range map[string]func(*os.File, string) error{
			"csv":    func(f *os.File, p string) error { return CSV(f, p) },
			"ndjson": func(f *os.File, p string) error { return NDJSON(f, p) },
		} {
			out := filepath.Join(dir, name+"."+format)
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := write(f, table); err != nil {
				t.Fatalf("%s as %s: %v", name, format, err)
			}
			f.Close()
			read := fmt.Sprintf("read_csv('%s', header = true, all_varchar = true)", out)
			if format == "ndjson" {
				read = fmt.Sprintf("read_json('%s', format = 'newline_delimited')", out)
			}
			compareWithParquet(t, db, table, read, name+"."+format, format == "csv")
		}
	}
}

// compareWithParquet checks that the rows DuckDB reads with read, cast to
// the Parquet file's column types, are the Parquet file's. In CSV an
// empty string and a null are both an empty field: emptyIsNull compares
// them as equal.
func compareWithParquet(t *testing.T, db *sql.DB, parquetPath, read, what string, emptyIsNull bool) {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet('%s')", parquetPath))
	if err != nil {
		t.Fatal(err)
	}
	var casts, origs []string
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			t.Fatal(err)
		}
		cast, orig := fmt.Sprintf("CAST(%q AS %s)", name, typ), fmt.Sprintf("%q", name)
		if emptyIsNull && typ == "VARCHAR" {
			cast, orig = "coalesce("+cast+", '')", "coalesce("+orig+", '')"
		}
		casts = append(casts, fmt.Sprintf("%s AS %q", cast, name))
		origs = append(origs, fmt.Sprintf("%s AS %q", orig, name))
	}
	rows.Close()
	if len(casts) < 3 {
		t.Fatalf("%s: %d columns", parquetPath, len(casts))
	}
	text := fmt.Sprintf("SELECT %s FROM %s", strings.Join(casts, ", "), read)
	orig := fmt.Sprintf("SELECT %s FROM read_parquet('%s')", strings.Join(origs, ", "), parquetPath)
	var total, missing, extra int
	err = db.QueryRow(fmt.Sprintf(`SELECT (SELECT count(*) FROM read_parquet('%s')),
		(SELECT count(*) FROM (%s EXCEPT ALL %s)), (SELECT count(*) FROM (%s EXCEPT ALL %s))`,
		parquetPath, orig, text, text, orig)).Scan(&total, &missing, &extra)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if total == 0 || missing != 0 || extra != 0 {
		t.Errorf("%s: of %d rows, %d missing and %d not in the Parquet file", what, total, missing, extra)
	}
}
