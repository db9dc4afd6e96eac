package reader

import "io"

// A damaged region is skipped by scanning forward a byte at a time, as the
// damage may have shifted the alignment, for a position where a chain of
// plausible records (or well-framed blocks) starts. A sequential pass
// scans to the end of the trace if it must. A chunk of a split trace
// scans to its own end only, and leaves the region open there: the next
// chunk goes on with it (see ReadSplit), so that a region of any size is
// skipped once, its chunks on every core.

// damageScan is a damaged region being skipped: where it started, why,
// and what to report when the trace ends inside it.
type damageScan struct {
	start int64
	bad   error
	atEnd error // ErrTruncated for a record the end cut, bad for garbage at the end
}

// seekChain moves win on a byte at a time from its position until chain,
// which peeks at the window's position, reports one there. It reports
// false when none starts before end, where win is left, or before the end
// of the trace.
func seekChain(win *window, end int64, chain func() bool) bool {
	for win.offset < end {
		if chain() {
			return true
		}
		if win.buffered() == 0 {
			return false // the end of the trace, or a read error: chain peeked
		}
		win.discard(1)
	}
	return false
}

// skipDamage goes on skipping d from win's position, up to end (0: the end
// of the trace). When a chain starts before it, the region is recorded in
// damages and skipDamage returns nil. Otherwise reading ends with io.EOF:
// at end, with the region still open, which it returns; at the end of the
// trace, with the region recorded as reaching it.
func skipDamage(path string, win *window, damages *[]Damage, end int64, d damageScan, chain func() bool) (*damageScan, error) {
	if end == 0 {
		end = int64(^uint64(0) >> 1)
	}
	if seekChain(win, end, chain) {
		*damages = append(*damages, newDamage(path, d.start, win.offset-d.start, d.bad))
		return nil, nil
	}
	if win.offset >= end {
		if _, err := win.peek(1); err == nil {
			return &d, io.EOF
		}
	}
	atEnd := d.atEnd
	if err := win.err; err != nil && err != io.EOF {
		atEnd = readDamage(err)
	}
	*damages = append(*damages, newDamage(path, d.start, 0, atEnd))
	return nil, io.EOF
}
