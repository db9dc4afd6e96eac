package pipeline

import (
	"testing"
	"time"
)

// TestPerSecond counts frames in parts, as chunks read in parallel do
// (seconds cut between parts, frames out of order, times before the
// epoch), and checks the peak second, its counts and the part of it
// covered at the capture's ends.
func TestPerSecond(t *testing.T) {
	sec := int64(time.Second)
	at := func(s, frac float64) int64 { return int64(s)*sec + int64(frac*float64(sec)) }
	type frame struct {
		t    int64
		size int
	}
	// Second 10 from .75: 3 frames; 11: 4 frames, one arriving late in the
	// next part; 12 up to .5: 4 frames, the capture's last at .5.
	parts := [][]frame{
		{{at(10, .75), 100}, {at(10, .8), 100}, {at(11, .1), 60}, {at(10, .9), 100}},
		{{at(11, .2), 60}, {at(11, .3), 60}, {at(12, .1), 10}, {at(11, .99), 60}},
		{{at(12, .2), 10}, {at(12, .3), 10}, {at(12, .5), 10}},
	}
	var whole perSecond
	for _, part := range parts {
		var c perSecond
		for _, f := range part {
			c.add(f.t, f.size)
		}
		whole.merge(&c)
	}
	p := whole.peak()
	if p.Start.Unix() != 11 || p.Packets != 4 || p.Bytes != 240 || p.CoveredS != 1 || p.PacketsPerS != 4 || p.BitsPerS != 1920 {
		t.Errorf("peak %+v, want second 11: 4 frames, 240 bytes, over all of it", p)
	}
	// With one frame more in second 12, its 5 frames win, over the half
	// second the capture covers.
	var more perSecond
	more.add(at(12, .4), 10)
	whole.merge(&more)
	if p := whole.peak(); p.Start.Unix() != 12 || p.Packets != 5 || p.CoveredS != .5 || p.PacketsPerS != 10 {
		t.Errorf("peak %+v, want second 12: 5 frames over 0.5 s", p)
	}
	// Equal counts: the earliest second; before the epoch, seconds are
	// floored, not truncated towards zero.
	var early perSecond
	early.add(-sec/2, 1)
	early.add(sec/2, 1)
	if p := early.peak(); p.Start.Unix() != -1 || p.Packets != 1 || p.CoveredS != .5 {
		t.Errorf("peak %+v, want the second before the epoch, half covered", p)
	}
	var none perSecond
	if none.peak() != nil {
		t.Error("a peak without frames")
	}
}
