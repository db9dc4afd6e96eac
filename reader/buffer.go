package reader

import (
	"errors"
	"io"
)

// window is a sliding buffer over a stream that hands out slices of what it
// has read without copying them. It tracks the stream offset of its first
// byte, because the offset of a buffered or decompressed handle is not the
// record's.
type window struct {
	r      io.Reader
	buf    []byte
	start  int   // first unconsumed byte in buf
	end    int   // end of valid data in buf
	offset int64 // stream offset of buf[start]
	err    error // sticky error from r (io.EOF at the end)
	limit  int   // the size buf grows to, unless a record needs more
}

// A window starts small, as most traces in a directory of captures are,
// and grows to windowSize as soon as a trace proves larger.
const (
	initialWindowSize = 64 << 10
	windowSize        = 1 << 20
)

func newWindow(r io.Reader) *window {
	return &window{r: r, buf: make([]byte, initialWindowSize), limit: windowSize}
}

// peek returns the next n bytes without consuming them. The slice is valid
// until the next call to peek or discard. It returns io.ErrUnexpectedEOF when
// the stream ends with fewer than n (but more than zero) bytes left, and
// io.EOF when nothing is left at all.
func (w *window) peek(n int) ([]byte, error) {
	for w.end-w.start < n {
		if w.err != nil {
			if w.end == w.start && errors.Is(w.err, io.EOF) {
				return nil, io.EOF
			}
			if errors.Is(w.err, io.EOF) {
				return w.buf[w.start:w.end], io.ErrUnexpectedEOF
			}
			return w.buf[w.start:w.end], w.err
		}
		// Make room when the n bytes cannot fit after start, but grow only
		// a full buffer: a stream that ends first is not given room (a
		// bogus length's megabytes) that it never fills.
		if n > len(w.buf)-w.start && (w.start > 0 || w.end == len(w.buf)) {
			w.compact(n)
		}
		m, err := w.r.Read(w.buf[w.end:])
		w.end += m
		if err != nil {
			w.err = err
		}
	}
	return w.buf[w.start : w.start+n], nil
}

// compact moves the unconsumed bytes to the front, growing the buffer while
// it is smaller than its limit, and when n bytes would not fit: then by
// doubling at most, so that a scan peeking ever further ahead copies each
// byte a few times, not once per byte it moves on.
func (w *window) compact(n int) {
	size := min(2*len(w.buf), w.limit)
	if n > len(w.buf) {
		size = max(size, min(n, 2*len(w.buf)))
	}
	if size > len(w.buf) {
		grown := make([]byte, size)
		copy(grown, w.buf[w.start:w.end])
		w.buf = grown
	} else {
		copy(w.buf, w.buf[w.start:w.end])
	}
	w.end -= w.start
	w.start = 0
}

// discard consumes n bytes, which must have been peeked.
func (w *window) discard(n int) {
	w.start += n
	w.offset += int64(n)
}

// buffered is how many bytes are available without reading.
func (w *window) buffered() int { return w.end - w.start }
