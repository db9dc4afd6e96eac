package report

import (
	"math"
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
