package pipeline

import (
	"slices"
	"testing"

	"flowstat/flows"
)

func TestSubtractWindows(t *testing.T) {
	w := func(start int64, packets uint64) flows.Window {
		return flows.Window{Start: start, Packets: packets, Bytes: 10 * packets}
	}
	tests := []struct {
		name            string
		cum, prev, want []flows.Window
	}{
		{"new flow", []flows.Window{w(0, 3)}, nil, []flows.Window{w(0, 3)}},
		{"more in the same interval", []flows.Window{w(0, 5)}, []flows.Window{w(0, 3)}, []flows.Window{w(0, 2)}},
		{"a new interval", []flows.Window{w(0, 3), w(10, 4)}, []flows.Window{w(0, 3)}, []flows.Window{w(10, 4)}},
		{"nothing new", []flows.Window{w(0, 3), w(10, 4)}, []flows.Window{w(0, 3), w(10, 4)}, []flows.Window{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := subtractWindows(slices.Clone(tt.cum), tt.prev)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
