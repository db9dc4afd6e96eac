package tables

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
)

// TestWriteFlowsPartitioned writes 300000 records over three hours and
// two dates in partitions, in files of whole hours and of 1 MiB: every
// file is of one hour, in its partition, with flows.parquet's schema and
// row groups of at most RowGroupRows, and the files in order hold the
// records as flows.parquet does.
func TestWriteFlowsPartitioned(t *testing.T) {
	recs := testFlowRecords(300_000, false)
	start := time.Date(2023, 11, 14, 22, 50, 0, 0, time.UTC).UnixNano()
	for i := range recs {
		recs[i].FirstSeen = start + int64(i)*30e6
		recs[i].LastSeen = recs[i].FirstSeen + 1e9
	}
	dir := t.TempDir()
	src := filepath.Join(dir, FlowsFile)
	if err := WriteFlows(src, 0, recs); err != nil {
		t.Fatal(err)
	}
	want, err := ReadFlows(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		fileBytes int64
		files     int
	}{
		{"whole hours", 0, 4},
		{"1 MiB", 1 << 20, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			names, err := WriteFlowsPartitioned(SplitOptions{Dir: out, Prefix: "part-x-", FileBytes: tc.fileBytes, Sizes: src}, 0, inRowGroups(recs))
			if err != nil {
				t.Fatal(err)
			}
			if len(names) < tc.files {
				t.Errorf("%d files, want at least %d: %v", len(names), tc.files, names)
			}
			var got []flows.Record
			for _, name := range names {
				path := filepath.Join(out, name)
				recs, err := ReadFlows(path)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if p := Partition(r.FirstSeen); filepath.Dir(name) != p {
						t.Fatalf("%s holds a flow of %s", name, p)
					}
				}
				got = append(got, recs...)
				checkSplitFile(t, path, tc.fileBytes)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// checkSplitFile checks a file's schema, row groups and size.
func checkSplitFile(t *testing.T, path string, fileBytes int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		t.Fatal(err)
	}
	if !parquet.EqualNodes(pf.Schema(), parquet.SchemaOf(flowRow{})) {
		t.Errorf("%s has schema\n%s", path, pf.Schema())
	}
	for _, g := range pf.RowGroups() {
		if g.NumRows() > RowGroupRows {
			t.Errorf("%s has a row group of %d rows", path, g.NumRows())
		}
	}
	if fileBytes > 0 && info.Size() > fileBytes*3/2 {
		t.Errorf("%s has %d bytes, files end at about %d", path, info.Size(), fileBytes)
	}
}

// TestPartition: a time's partition is its date and hour in UTC, and the
// times of an hour since the epoch share one, before 1970 too.
func TestPartition(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "date=2024-01-01/hour=0"},
		{time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), "date=2024-02-29/hour=23"},
		{time.Date(2024, 3, 10, 9, 30, 0, 0, time.FixedZone("UTC+5", 5*3600)), "date=2024-03-10/hour=4"},
		{time.Date(1969, 12, 31, 23, 0, 0, 1, time.UTC), "date=1969-12-31/hour=23"},
	} {
		ns := tc.at.UnixNano()
		if got := Partition(ns); got != tc.want {
			t.Errorf("Partition(%v) = %s, want %s", tc.at, got, tc.want)
		}
		hourStart := tc.at.UTC().Truncate(time.Hour).UnixNano()
		if hourOf(ns) != hourOf(hourStart) || hourOf(ns) != hourOf(hourStart+int64(time.Hour)-1) || hourOf(ns) == hourOf(hourStart-1) {
			t.Errorf("hourOf(%v) = %d is not its hour's", tc.at, hourOf(ns))
		}
	}
}

// TestLinkWhole: a flows.parquet of one hour, no larger than a file, is
// the dataset's file as it is; one over two hours, or larger, is not.
func TestLinkWhole(t *testing.T) {
	dir := t.TempDir()
	recs := testFlowRecords(1000, false) // one second at 22:13
	src := filepath.Join(dir, FlowsFile)
	if err := WriteFlows(src, 0, recs); err != nil {
		t.Fatal(err)
	}
	names, ok, err := LinkWhole(SplitOptions{Dir: filepath.Join(dir, "a"), Prefix: "p-", Sizes: src}, "first_seen")
	if err != nil || !ok || len(names) != 1 || names[0] != "date=2023-11-14/hour=22/p-0000.parquet" {
		t.Fatalf("LinkWhole of an hour's flows: %v, %v, %v", names, ok, err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(filepath.Join(dir, "a", names[0]))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("the linked file is not flows.parquet")
	}
	if _, ok, err := LinkWhole(SplitOptions{Dir: filepath.Join(dir, "b"), Prefix: "p-", Sizes: src, FileBytes: int64(len(a)) - 1}, "first_seen"); ok || err != nil {
		t.Errorf("LinkWhole of a file larger than FileBytes: %v, %v", ok, err)
	}
	recs[len(recs)-1].FirstSeen += int64(time.Hour)
	if err := WriteFlows(src, 0, recs); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := LinkWhole(SplitOptions{Dir: filepath.Join(dir, "c"), Prefix: "p-", Sizes: src}, "first_seen"); ok || err != nil {
		t.Errorf("LinkWhole of flows over two hours: %v, %v", ok, err)
	}
}
