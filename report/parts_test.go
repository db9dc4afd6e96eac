package report

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"flowstat/flows"
)

// A flow's windows come back from a part as they went in, whatever their
// counts and however far apart their starts; an entry cut short is an
// error, not windows of zeros.
func TestWindowsEncoding(t *testing.T) {
	cases := [][]flows.Window{
		nil,
		{{Start: 1_700_000_000_000_000_000, Packets: 1, Bytes: 60}},
		{{Start: -5, Packets: 3, Bytes: 180, RespPackets: 2, RespBytes: 120, SYNs: 1, SYNACKs: 1},
			{Start: 0, Packets: 1}, {Start: 20_000_000_000, Bytes: 1}},
		{{Start: math.MinInt64, Packets: math.MaxUint64, Bytes: math.MaxUint64, RespPackets: math.MaxUint64,
			RespBytes: math.MaxUint64, SYNs: math.MaxUint32, SYNACKs: math.MaxUint32},
			{Start: math.MaxInt64}},
	}
	for i, want := range cases {
		b := appendWindows([]byte{0xAA}, want)
		b = append(b, 0xBB) // the next entry
		got := make([]flows.Window, len(want))
		rest, err := readWindows(b[1:], got)
		if err != nil || !slices.Equal(got, want) || !slices.Equal(rest, []byte{0xBB}) {
			t.Errorf("case %d: got %+v, rest %x, %v; want %+v", i, got, rest, err, want)
		}
		if len(want) > 0 {
			if _, err := readWindows(b[1:len(b)-2], got); err == nil {
				t.Errorf("case %d: windows cut short read without error", i)
			}
		}
	}
}

// The rows of destinations come out in the order of Stats.Intervals
// whether counted into their windows or sorted (a width of 0, or windows
// not aligned to it): by start, then destination.
func TestWindowOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const width = 20_000_000_000
	for _, spread := range []int64{1, 10, 1_000, 1_000_000} { // windows the rows span
		rows := make([][]Interval, 300)
		for d := range rows {
			at := 1_700_000_000_000_000_000/width*width + rng.Int64N(spread)*width
			for range rng.IntN(8) {
				rows[d] = append(rows[d], Interval{Start: at})
				at += (1 + rng.Int64N(spread)) * width
			}
		}
		counted, sorted := windowOrder(rows, width), windowOrder(rows, 0)
		if !slices.Equal(counted, sorted) {
			t.Fatalf("spread %d: counted and sorted orders differ", spread)
		}
		if !slices.IsSortedFunc(sorted, func(x, y rowAt) int { return cmp.Or(cmp.Compare(x.start, y.start), cmp.Compare(x.dest, y.dest)) }) {
			t.Fatalf("spread %d: not by start, then destination", spread)
		}
		last := rows[len(rows)-1]
		rows[len(rows)-1] = append(last, Interval{Start: 1_800_000_000_000_000_001}) // not aligned, after the others
		if got := windowOrder(rows, width); !slices.Equal(got, windowOrder(rows, 0)) {
			t.Fatalf("spread %d: a row off the windows misplaced", spread)
		}
	}
}
