package reader

import (
	"fmt"
	"io"

	"flowstat/reader/decompress"
)

// decompress wraps src in c's decoder, read ahead in a goroutine of its
// own, and adds to t what closes them.
func (t *Trace) decompress(c *decompress.Format, src io.Reader, b buffers) (io.Reader, error) {
	zr, err := c.Open(src, b.compressedIn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%s): %w", t.Path, ErrCompressed, c.Name, err)
	}
	if closer, ok := zr.(io.Closer); ok {
		t.closers = append(t.closers, closer)
	}
	ra := newReadAhead(decompressor{zr, c.Name}, b.ahead, b.depth)
	t.closers = append(t.closers, ra)
	t.Compression = c.Name
	return ra, nil
}

// decompressor marks a decompressing reader's errors as damage to the
// compressed stream, so that a cut compressed file is reported as such and
// not as a trace cut before it was compressed.
type decompressor struct {
	r    io.Reader
	kind string
}

func (d decompressor) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w (%s): %w", ErrCompressed, d.kind, err)
	}
	return n, err
}
