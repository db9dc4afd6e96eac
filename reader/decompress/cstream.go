package decompress

import (
	"errors"
	"io"
	"sync"
)

// cDecoder is a decompressor written in C (liblzma, libbz2), driven by
// cStream a buffer at a time.
type cDecoder interface {
	// decode decompresses from in into out. final says no input follows
	// in; end, that the compressed stream ended.
	decode(in, out []byte, final bool) (used, written int, end bool, err error)
	// restart readies the decoder for another stream, when input is left
	// after one ended (bzip2 files made in parallel are many streams).
	restart() error
	free()
}

// cStream reads what a cDecoder makes of src. The C libraries (liblzma,
// libbz2) beat the pure Go decoders by far (docs/performance.md).
type cStream struct {
	compressedInput
	ended bool // the last stream ended and no other follows

	mu  sync.Mutex // Close may run while Read is blocked on src
	dec cDecoder   // nil once closed
}

func newCStream(src io.Reader, dec cDecoder, inSize int) *cStream {
	return &cStream{compressedInput: compressedInput{src: src, in: make([]byte, 0, inSize)}, dec: dec}
}

// compressedInput is what a decompressor has read of its source.
type compressedInput struct {
	src    io.Reader
	in     []byte // compressed bytes read from src, in[off:] not yet used
	off    int
	srcErr error // from src, once in is used up
}

// fill reads more compressed bytes when those read are used up; the error
// from src is kept until then.
func (z *compressedInput) fill() {
	if z.off < len(z.in) || z.srcErr != nil {
		return
	}
	n, err := z.src.Read(z.in[:cap(z.in)])
	z.in, z.off = z.in[:n], 0
	if n == 0 && err == nil {
		err = io.ErrNoProgress
	}
	z.srcErr = err
}

var errDecoderClosed = errors.New("decompressor is closed")

func (z *cStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for !z.ended {
		z.fill()
		final := z.off == len(z.in) && z.srcErr != nil
		if final && z.srcErr != io.EOF {
			return 0, z.srcErr
		}
		used, n, end, err := z.decode(p, final)
		z.off += used
		if err == nil && end {
			z.fill() // another stream may begin in the next read
			switch {
			case z.off < len(z.in):
				err = z.restart()
			case z.srcErr == io.EOF:
				z.ended = true
			default:
				z.ended, err = true, z.srcErr
			}
		}
		switch {
		case n > 0 || err != nil:
			return n, err
		case z.ended:
		case final:
			return 0, io.ErrUnexpectedEOF
		case used == 0 && z.off < len(z.in):
			// Input left, room for output, and nothing done: never loop on it.
			return 0, io.ErrNoProgress
		}
	}
	return 0, io.EOF
}

// decode and restart call the decoder under the lock that Close takes,
// but never while src is read.
func (z *cStream) decode(p []byte, final bool) (used, written int, end bool, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.dec == nil {
		return 0, 0, false, errDecoderClosed
	}
	return z.dec.decode(z.in[z.off:], p, final)
}

func (z *cStream) restart() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.dec == nil {
		return errDecoderClosed
	}
	return z.dec.restart()
}

// Close frees the decoder; it does not close src.
func (z *cStream) Close() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.dec != nil {
		z.dec.free()
		z.dec = nil
	}
	return nil
}
