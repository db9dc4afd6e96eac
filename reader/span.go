package reader

import "os"

// spanChunk is the size of the chunks Span reads at a file's end: the last
// records of a trace are found by the split reader's scan, as a chunk's
// first ones are.
const spanChunk = 1 << 20

// SpanReadLimit is how much of a trace Span reads from its start when it
// cannot seek to its end: a compressed or small file is read through up to
// this many bytes (of the file, not of what it decompresses to).
const SpanReadLimit = 64 << 20

// Span returns the times of the first and the last record of the trace at
// path, without reading it through when it is an uncompressed file: its
// last records are found by scanning its last megabytes. ok is false when
// the span cannot be known so (a pipe, a compressed file larger than
// SpanReadLimit) or the trace has no record. The last record's time is
// the latest among those near the end, as a trace may be slightly out of
// order.
func Span(path string) (first, last int64, ok bool) {
	t, f, ok := openAtFirst(path)
	if !ok {
		return 0, 0, false
	}
	defer t.Close()
	first, last = f.Time, f.Time
	if t.Compression == "" {
		if split, err := SplitTrace(path, spanChunk, nil); err == nil && split != nil {
			return spanOfTail(split, first)
		}
	}
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Size() > SpanReadLimit {
		return 0, 0, false
	}
	for t.Next(f) == nil { // to the end, or what could be read
		last = max(last, f.Time)
	}
	return first, last, true
}

// FirstTime returns the time of the first record of the trace at path, or
// false when it has none or cannot be read.
func FirstTime(path string) (int64, bool) {
	t, f, ok := openAtFirst(path)
	if !ok {
		return 0, false
	}
	t.Close()
	return f.Time, true
}

// openAtFirst opens the trace at path and reads its first record, or says
// that it cannot.
func openAtFirst(path string) (*Trace, *Frame, bool) {
	t, err := Open(path, nil)
	if err != nil {
		return nil, nil, false
	}
	var f Frame
	if t.Next(&f) != nil {
		t.Close()
		return nil, nil, false
	}
	return t, &f, true
}

// spanOfTail finds the last record time in the last chunk of split that
// holds records.
func spanOfTail(split *Split, first int64) (int64, int64, bool) {
	for i := len(split.Chunks) - 1; i >= 0 && i >= len(split.Chunks)-8; i-- {
		c, err := split.OpenChunk(i)
		if err != nil {
			return 0, 0, false
		}
		var f Frame
		last, found := int64(0), false
		for c.Next(&f) == nil {
			if !found || f.Time > last {
				last, found = f.Time, true
			}
		}
		c.Close()
		if found {
			return first, max(first, last), true
		}
	}
	return 0, 0, false
}

// FirstTimeInRange returns the time of the first record s, a range of a
// file (SplitRange), holds.
func FirstTimeInRange(s *Split) (int64, bool) {
	for i := range s.Chunks {
		c, err := s.OpenChunk(i)
		if err != nil {
			return 0, false
		}
		var f Frame
		err = c.Next(&f)
		c.Close()
		if err == nil {
			return f.Time, true
		}
	}
	return 0, false
}
