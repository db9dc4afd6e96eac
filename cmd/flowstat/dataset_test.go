package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"flowstat/pipeline"
	"flowstat/scripts/gen"
)

// datasetTrace writes a generated trace of flows over span from start
// into dir as name.
func datasetTrace(t *testing.T, dir, name string, seed uint64, flows int, start time.Time, span time.Duration) string {
	t.Helper()
	path := generatedTrace(t, t.TempDir(), gen.Config{Seed: seed, Flows: flows, Start: start, Duration: span})
	to := filepath.Join(dir, name)
	if err := os.Rename(path, to); err != nil {
		t.Fatal(err)
	}
	return to
}

// datasetFiles returns the files under dir with their SHA-256.
func datasetFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = fmt.Sprintf("%x", sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// parquetFiles counts the Parquet files of a dataset's table.
func parquetFiles(files map[string]string, table string) int {
	n := 0
	for f := range files {
		if strings.HasPrefix(f, table+"/") && strings.HasSuffix(f, ".parquet") {
			n++
		}
	}
	return n
}

// TestDatasetLayout analyses a trace of three and a half hours into a
// dataset with small files, and reads it back with DuckDB as Hive
// partitions: the rows are those of a plain run's flows.parquet and
// intervals.parquet, each in the partition of its first_seen or
// window_start, and flows.parquet itself is the same with --dataset.
func TestDatasetLayout(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2024, 3, 9, 22, 40, 0, 0, time.UTC) // over a change of date
	trace := datasetTrace(t, dir, "a.pcap", 31, 20000, start, 3*time.Hour+30*time.Minute)
	plain, out, ds := filepath.Join(dir, "plain"), filepath.Join(dir, "out"), filepath.Join(dir, "ds")
	if code := analyzeInto(t, plain, trace); code != exitOK {
		t.Fatalf("plain run: exit status %d", code)
	}
	if code := analyzeInto(t, out, "--dataset", ds, "--dataset-file-size", "256K", trace); code != exitOK {
		t.Fatalf("run with --dataset: exit status %d", code)
	}
	for _, f := range []string{"flows.parquet", "intervals.parquet", "report.md"} {
		a, _ := os.ReadFile(filepath.Join(plain, f))
		b, _ := os.ReadFile(filepath.Join(out, f))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs with --dataset (%d bytes, %d without)", f, len(b), len(a))
		}
	}
	files := datasetFiles(t, ds)
	if n := parquetFiles(files, "flows"); n < 6 {
		t.Errorf("%d files of flows of 256K over 5 hours; want at least 6", n)
	}
	// Files are rolled at about their size, within an hour too.
	inHour := map[string]int{}
	for f := range files {
		if strings.HasPrefix(f, "flows/") {
			inHour[filepath.Dir(f)]++
			if info, err := os.Stat(filepath.Join(ds, f)); err != nil || info.Size() > 2*256<<10 {
				t.Errorf("%s: %v bytes, over twice the limit (%v)", f, info.Size(), err)
			}
		}
	}
	if slices.Max(slices.Collect(maps.Values(inHour))) < 2 {
		t.Errorf("no hour has two files of flows: %v", inHour)
	}
	if n := parquetFiles(files, "intervals"); n < 5 {
		t.Errorf("%d files of intervals over 5 hours; want at least 5", n)
	}
	for f := range files {
		if strings.HasSuffix(f, ".parquet") && !strings.HasPrefix(filepath.Base(f), "part-20240309T224000Z-") {
			t.Errorf("file %s is not named after the run's first packet", f)
		}
	}

	db := openDuckDB(t)
	for _, tc := range []struct{ table, file, at string }{
		{"flows", "flows.parquet", "first_seen"},
		{"intervals", "intervals.parquet", "window_start"},
	} {
		t.Run(tc.table, func(t *testing.T) {
			dataset := fmt.Sprintf(`read_parquet('%s/%s/**/*.parquet', hive_partitioning=true)`, ds, tc.table)
			single := fmt.Sprintf(`read_parquet('%s/%s')`, plain, tc.file)
			rows := queryInt(t, db, `SELECT count(*) FROM `+single)
			if got := queryInt(t, db, `SELECT count(*) FROM `+dataset); got != rows || rows == 0 {
				t.Errorf("dataset has %d rows, %s %d", got, tc.file, rows)
			}
			for _, q := range []string{
				`SELECT count(*) FROM (SELECT * EXCLUDE (date, hour) FROM ` + dataset + ` EXCEPT ALL SELECT * FROM ` + single + `)`,
				`SELECT count(*) FROM (SELECT * FROM ` + single + ` EXCEPT ALL SELECT * EXCLUDE (date, hour) FROM ` + dataset + `)`,
			} {
				if n := queryInt(t, db, q); n != 0 {
					t.Errorf("%d rows in one and not the other: %s", n, q)
				}
			}
			// Each row's partition, against its time in UTC.
			if got := queryInt(t, db, `SELECT count(*) FROM `+dataset+` WHERE typeof(date) = 'DATE' AND typeof(hour) = 'BIGINT'`); got != rows {
				t.Errorf("DuckDB takes %d rows' partitions for a DATE and a BIGINT, want all %d", got, rows)
			}
			res, err := db.Query(`SELECT DISTINCT CAST(date AS VARCHAR), hour, epoch_ns(` + tc.at + `) // 3600000000000 FROM ` + dataset)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			hours := 0
			for res.Next() {
				var date string
				var hour, sinceEpoch int64
				if err := res.Scan(&date, &hour, &sinceEpoch); err != nil {
					t.Fatal(err)
				}
				at := time.Unix(sinceEpoch*3600, 0).UTC()
				if want := at.Format(time.DateOnly); date != want || hour != int64(at.Hour()) {
					t.Errorf("a row of %s at %v is in date=%s/hour=%d", tc.table, at, date, hour)
				}
				hours++
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if hours < 4 {
				t.Errorf("rows in %d hours of a trace over 4 or 5", hours)
			}
		})
	}
}

// TestDatasetAddsTraces adds a later trace, which shares an hour with the
// first, and the first again under another name: the second adds files
// and leaves the first's as they were, the third is refused and changes
// nothing.
func TestDatasetAddsTraces(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2024, 5, 1, 6, 0, 0, 0, time.UTC)
	first := datasetTrace(t, dir, "first.pcap", 41, 4000, start, 2*time.Hour)
	second := datasetTrace(t, dir, "second.pcap", 42, 3000, start.Add(90*time.Minute), 2*time.Hour)
	ds := filepath.Join(dir, "ds")
	if code := analyzeInto(t, filepath.Join(dir, "out1"), "--dataset", ds, "--dataset-file-size", "128K", first); code != exitOK {
		t.Fatalf("first run: exit status %d", code)
	}
	before := datasetFiles(t, ds)
	if code := analyzeInto(t, filepath.Join(dir, "out2"), "--dataset", ds, "--dataset-file-size", "128K", second); code != exitOK {
		t.Fatalf("second run: exit status %d", code)
	}
	after := datasetFiles(t, ds)
	for f, sum := range before {
		if f == pipeline.ManifestFile {
			continue
		}
		if after[f] != sum {
			t.Errorf("%s changed or went", f)
		}
	}
	if parquetFiles(after, "flows") <= parquetFiles(before, "flows") || parquetFiles(after, "intervals") <= parquetFiles(before, "intervals") {
		t.Errorf("the second trace added no files: %d flows, %d intervals before, %d and %d after",
			parquetFiles(before, "flows"), parquetFiles(before, "intervals"), parquetFiles(after, "flows"), parquetFiles(after, "intervals"))
	}
	db := openDuckDB(t)
	flowsOf := func(out string) int64 {
		return queryInt(t, db, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/flows.parquet')`, filepath.Join(dir, out)))
	}
	dataset := fmt.Sprintf(`read_parquet('%s/flows/**/*.parquet', hive_partitioning=true)`, ds)
	if got, want := queryInt(t, db, `SELECT count(*) FROM `+dataset), flowsOf("out1")+flowsOf("out2"); got != want {
		t.Errorf("dataset has %d flows, the runs %d", got, want)
	}
	// 07:00-08:00 has flows of both runs, in files of each.
	if n := queryInt(t, db, `SELECT count(DISTINCT regexp_extract(filename, 'part-([^-]+-[^-]+)-', 1)) FROM read_parquet('`+ds+`/flows/date=2024-05-01/hour=7/*.parquet', filename=true)`); n != 2 {
		t.Errorf("hour 7 holds files of %d runs, want 2", n)
	}
	manifest := readManifest(t, ds)
	if len(manifest) != 2 || manifest[0].Run == manifest[1].Run || manifest[1].Path != second {
		t.Errorf("manifest %+v: want the two traces, in runs of their own", manifest)
	}

	// The first trace again, copied: the same input, whatever its name.
	again := filepath.Join(dir, "again.pcap")
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(again, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// With a trace not in the dataset yet: nothing of either is added.
	third := datasetTrace(t, dir, "third.pcap", 43, 1000, start.Add(5*time.Hour), time.Hour)
	for _, trace := range []string{first, again} {
		out := filepath.Join(dir, "out-again")
		if code := analyzeInto(t, out, "--dataset", ds, third, trace); code != exitUsage {
			t.Errorf("%s again: exit status %d, want %d", trace, code, exitUsage)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused run made its output directory: %v", err)
		}
		if got := datasetFiles(t, ds); fmt.Sprint(got) != fmt.Sprint(after) {
			t.Errorf("a refused run changed the dataset")
		}
	}
	_, err = pipeline.OpenDataset(ds, []string{again})
	var added *pipeline.AlreadyInDatasetError
	if !errors.As(err, &added) || added.Added.Path != first || added.Added.Run != manifest[0].Run ||
		!strings.Contains(err.Error(), "part-"+manifest[0].Run+"-*.parquet") {
		t.Errorf("error %v: want the trace first added from %s by run %s, and what to delete", err, first, manifest[0].Run)
	}
}

// TestDatasetRecovers leaves a dataset as a run killed while moving its
// files in would (some files in, the manifest without the run) and as a
// run killed while staging would: the next run takes them out and adds
// the trace once.
func TestDatasetRecovers(t *testing.T) {
	dir := t.TempDir()
	trace := datasetTrace(t, dir, "a.pcap", 51, 3000, time.Date(2024, 6, 1, 0, 30, 0, 0, time.UTC), time.Hour)
	ds := filepath.Join(dir, "ds")
	if code := analyzeInto(t, filepath.Join(dir, "out"), "--dataset", ds, "--dataset-file-size", "64K", trace); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	complete := datasetFiles(t, ds)
	run := readManifest(t, ds)[0].Run
	var moved []string
	for f := range complete {
		if strings.HasSuffix(f, ".parquet") {
			moved = append(moved, f)
		}
	}
	list, _ := json.Marshal(map[string]any{"run": run, "files": append(moved, "flows/date=2024-06-01/hour=01/part-"+run+"-9999.parquet")})
	for name, data := range map[string][]byte{
		pipeline.ManifestFile:                nil,
		"_commit-" + run + ".json":           list,
		"_staging-x/flows/date=2024-06-01/y": []byte("half a file"),
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(ds, name)), 0o755)
		if err := os.WriteFile(filepath.Join(ds, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code := analyzeInto(t, filepath.Join(dir, "out2"), "--dataset", ds, "--dataset-file-size", "64K", trace); code != exitOK {
		t.Fatalf("run after the interrupted one: exit status %d", code)
	}
	if got := datasetFiles(t, ds); fmt.Sprint(got) != fmt.Sprint(complete) {
		t.Errorf("dataset after recovery:\n%v\nwant as the run left it:\n%v", got, complete)
	}
}

func readManifest(t *testing.T, ds string) []pipeline.DatasetInput {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ds, pipeline.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var ins []pipeline.DatasetInput
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var in pipeline.DatasetInput
		if err := json.Unmarshal([]byte(line), &in); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	return ins
}

// TestDatasetNoReport: with --no-report a run adds flows and no intervals,
// not even those an earlier run left in its output directory.
func TestDatasetNoReport(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	earlier := datasetTrace(t, dir, "earlier.pcap", 61, 500, start, 10*time.Minute)
	later := datasetTrace(t, dir, "later.pcap", 62, 500, start.Add(time.Hour), 10*time.Minute)
	out, ds := filepath.Join(dir, "out"), filepath.Join(dir, "ds")
	if code := analyzeInto(t, out, earlier); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	if code := analyzeInto(t, out, "--no-report", "--dataset", ds, later); code != exitOK {
		t.Fatalf("--no-report --dataset: exit status %d", code)
	}
	files := datasetFiles(t, ds)
	if parquetFiles(files, "flows") == 0 || parquetFiles(files, "intervals") != 0 {
		t.Errorf("dataset of a run without a report: %v; want flows only", files)
	}
	// Of one hour, flows.parquet is the dataset's one file as it is.
	whole, err := os.ReadFile(filepath.Join(out, "flows.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for f, sum := range files {
		if strings.HasPrefix(f, "flows/") && !strings.HasPrefix(f, "flows/date=2024-07-01/hour=13/") {
			t.Errorf("%s: the later trace's flows are all of 13:00", f)
		}
		if strings.HasPrefix(f, "flows/") && sum != fmt.Sprintf("%x", sha256.Sum256(whole)) {
			t.Errorf("%s is not flows.parquet", f)
		}
	}
}

// TestDatasetBusy: a run into a dataset another run holds fails at once
// (exit status 1) and writes nothing; once it is free, it runs.
func TestDatasetBusy(t *testing.T) {
	dir := t.TempDir()
	trace := datasetTrace(t, dir, "a.pcap", 71, 300, time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC), 5*time.Minute)
	ds, out := filepath.Join(dir, "ds"), filepath.Join(dir, "out")
	held, err := pipeline.OpenDataset(ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := analyzeInto(t, out, "--dataset", ds, trace); code != exitFailed {
		t.Errorf("run into a held dataset: exit status %d, want %d", code, exitFailed)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused run made its output directory: %v", err)
	}
	held.Close()
	if code := analyzeInto(t, out, "--dataset", ds, trace); code != exitOK {
		t.Errorf("run into the dataset once free: exit status %d", code)
	}
}
