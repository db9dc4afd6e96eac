package report

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// TestPartsHeldBytes builds the report of attack traffic by parts holding
// at most a few flows of a part at once, so that parts are cut into
// batches and the flows of the flood's victim (1,900), their durations and
// its rows' durations, and those of the scanners (150, 70 and 120 flows), are
// put in order on disk, and checks that the findings,
// tables and the report are the ones Build makes with every flow in
// memory, with the default timelines and with a prefix and an address.
// A host scanner of two ports, one host after the other, is added: its
// host scans are counted only with its flows sorted by port first.
func TestPartsHeldBytes(t *testing.T) {
	fs := attackFlows()
	for i := range 120 {
		s := 600 + float64(i)*0.1
		fs = append(fs, flow{src: "10.66.0.3", dst: fmt.Sprintf("192.0.2.%d", 100+i/2), sport: 50002, dport: uint16(22 + i%2),
			proto: 6, state: flows.S0, end: flows.EndEOF, flags: [2]uint8{tcpSYN, 0}, syns: 1,
			pkts: []pkt{{s: s, fwd: true, syn: true}}})
	}
	iv := 5 * time.Second
	ds := dataset(t, iv.Seconds(), 60, fs...)
	for _, opts := range []BuildOptions{{Hosts: true}, {Interval: 10 * time.Second,
		Targets: []netip.Prefix{netip.MustParsePrefix("192.0.2.80/32"), netip.MustParsePrefix("192.0.2.0/24")}}} {
		whole := build(t, ds, opts)
		want := writeReport(t, whole)
		flowBytes := extsort.SizeOf[destFlow]()
		for _, held := range []int{0, 64 * flowBytes, 7 * flowBytes, 1} {
			ps, err := NewParts(t.TempDir(), 2, int64(iv), opts)
			if err != nil {
				t.Fatal(err)
			}
			ps.HeldBytes = held
			for i, f := range fs {
				r, ws := f.record(int64(iv))
				r.ID = uint64(i + 1)
				ps.Writer(i%2).Add(&r, ws)
			}
			st, err := ps.Build(ds.Summary)
			if err != nil {
				t.Fatal(err)
			}
			got := writeReport(t, st)
			ps.Remove()
			// The findings' activity is only drawn: compare it here.
			if !reflect.DeepEqual(st.Findings, whole.Findings) {
				t.Errorf("targets %v, %d bytes held: findings differ from Build's", opts.Targets, held)
			}
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Errorf("targets %v, %d bytes held: %s differs from Build's", opts.Targets, held, name)
				}
			}
		}
	}
}

// writeReport writes the tables and report of st and returns them by name.
func writeReport(t *testing.T, st *Stats) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	if err := WriteTables(dir, st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tables.MarkdownFile), renderMarkdown(st), 0o644); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(name)] = data
	}
	if len(out) < 4 {
		t.Fatalf("wrote only %v", names)
	}
	return out
}

// TestSorted adds values to sorted of several bounds, in random order and
// nearly in order (spilled runs then extend the last one, merged or not),
// reads them back twice in order, and checks that what was spilled is
// deleted.
func TestSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 100, 5000, 5001} {
		values := make([]rowDuration, n)
		for i := range values {
			values[i] = rowDuration{rng.Int64N(10), float64(rng.IntN(50))}
			if n%2 == 1 {
				values[i].row = int64(i / 3)
			}
		}
		want := slices.Clone(values)
		compare := func(x, y rowDuration) int {
			return cmp.Or(cmp.Compare(x.row, y.row), cmp.Compare(x.duration, y.duration))
		}
		slices.SortFunc(want, compare)
		for _, limit := range []int{1, 3, 64, 1 << 20} {
			dir := t.TempDir()
			s := newSorted(dir, "test values", limit*extsort.SizeOf[rowDuration](), compare)
			for _, v := range values {
				s.Add(v)
			}
			if spilled := s.IsSpilled(); spilled != (n >= limit) {
				t.Errorf("n %d, limit %d: spilled %v", n, limit, spilled)
			}
			for range 2 {
				var got []rowDuration
				s.Each(func(v *rowDuration) bool {
					got = append(got, *v)
					return true
				})
				if s.Err() != nil || !slices.Equal(got, want) || s.Len() != n {
					t.Fatalf("n %d, limit %d: read back %d values (err %v), want %d in order", n, limit, len(got), s.Err(), n)
				}
			}
			s.Remove()
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("n %d, limit %d: left %v", n, limit, left)
			}
		}
	}
}

// TestQuantileStream checks the quantiles of values given one at a time
// against QuantilesOf, for every count up to 60 and a few larger ones.
func TestQuantileStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ns := []int{101, 1000, 4097}
	for n := range 60 {
		ns = append(ns, n)
	}
	for _, n := range ns {
		values := make([]float64, n)
		for i := range values {
			values[i] = rng.Float64() * 100
		}
		slices.Sort(values)
		q := newQuantileStream(n)
		for _, v := range values {
			q.add(v)
		}
		if got, want := q.quantiles(), QuantilesOf(values); got != want {
			t.Fatalf("n %d: %+v, want %+v", n, got, want)
		}
	}
}
