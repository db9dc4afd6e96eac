package decompress

// #cgo LDFLAGS: -lisal
// #include <stdlib.h>
// #include <isa-l/igzip_lib.h>
//
// // inflate decompresses from in into out. ISA-L keeps its own pointers
// // to both between calls; they are set here and cleared before returning,
// // so that C never holds Go memory once the call is over.
// static int inflate(struct inflate_state *s, uint8_t *in, uint32_t in_len,
//                    uint8_t *out, uint32_t out_len, uint32_t *used, uint32_t *written) {
// 	s->next_in = in;
// 	s->avail_in = in_len;
// 	s->next_out = out;
// 	s->avail_out = out_len;
// 	int ret = isal_inflate(s);
// 	*used = in_len - s->avail_in;
// 	*written = out_len - s->avail_out;
// 	s->next_in = NULL;
// 	s->avail_in = 0;
// 	s->next_out = NULL;
// 	s->avail_out = 0;
// 	return ret;
// }
//
// static struct inflate_state *new_gzip_state(void) {
// 	struct inflate_state *s = malloc(sizeof(struct inflate_state));
// 	if (s != NULL) {
// 		isal_inflate_init(s);
// 		s->crc_flag = ISAL_GZIP;
// 	}
// 	return s;
// }
//
// static void reset_gzip_state(struct inflate_state *s) {
// 	isal_inflate_reset(s);
// 	s->crc_flag = ISAL_GZIP;
// }
//
// static int gzip_member_done(struct inflate_state *s) {
// 	return s->block_state == ISAL_BLOCK_FINISH;
// }
import "C"

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"
)

// gzipReader decompresses a gzip stream, members one after the other as
// gzip -dc does, with Intel's ISA-L: several times the speed of the pure
// Go decoders and of gzip itself (docs/performance.md), which matters
// because decompression is the one stream every other stage waits on.
type gzipReader struct {
	compressedInput

	mu     sync.Mutex // Close may run while Read is blocked on src
	state  *C.struct_inflate_state
	member bool // inside a member: its end has not been seen
}

var errGzipHeader = errors.New("invalid gzip header")

func newGzipReader(src io.Reader, inSize int) (*gzipReader, error) {
	state := C.new_gzip_state()
	if state == nil {
		return nil, errors.New("cannot allocate a gzip decoder")
	}
	z := &gzipReader{compressedInput: compressedInput{src: src, in: make([]byte, 0, inSize)}, state: state}
	if err := z.startMember(); err != nil {
		z.Close()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return z, nil
}

// startMember checks that the next bytes begin a gzip member, as the
// standard library's reader does: io.EOF at the end of the input, an error
// for anything else after the last member.
func (z *gzipReader) startMember() error {
	for len(z.in)-z.off < 2 {
		rest := len(z.in) - z.off
		if rest > 0 {
			// One byte left of a block: keep it and read on.
			copy(z.in[:1], z.in[z.off:])
			n, err := z.src.Read(z.in[1:cap(z.in)])
			z.in, z.off = z.in[:1+n], 0
			if err != nil {
				z.srcErr = err
			}
			if n == 0 {
				switch err {
				case io.EOF:
					return io.ErrUnexpectedEOF
				case nil:
					return io.ErrNoProgress
				}
				return err
			}
			continue
		}
		z.fill()
		if z.off == len(z.in) {
			if z.srcErr == io.EOF {
				return io.EOF
			}
			return z.srcErr
		}
	}
	if z.in[z.off] != 0x1f || z.in[z.off+1] != 0x8b {
		return errGzipHeader
	}
	z.member = true
	return nil
}

func (z *gzipReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if !z.member {
			if err := z.startMember(); err != nil {
				return 0, err
			}
			z.mu.Lock()
			if z.state != nil {
				C.reset_gzip_state(z.state)
			}
			z.mu.Unlock()
		}
		z.fill()
		before := z.off
		n, err := z.inflate(p)
		if n > 0 || err != nil {
			return n, err
		}
		if z.member && z.off == before && z.off < len(z.in) {
			// Input left, room for output, and nothing done: never loop on it.
			return 0, io.ErrNoProgress
		}
		if z.member && z.off == len(z.in) && z.srcErr != nil {
			if z.srcErr == io.EOF {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, z.srcErr
		}
	}
}

// inflate decompresses what it can of in into p.
func (z *gzipReader) inflate(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.state == nil {
		return 0, errors.New("gzip reader is closed")
	}
	in := z.in[z.off:]
	var inPtr *C.uint8_t
	if len(in) > 0 {
		inPtr = (*C.uint8_t)(unsafe.Pointer(&in[0]))
	}
	out := p[:min(len(p), 1<<30)]
	var used, written C.uint32_t
	ret := C.inflate(z.state, inPtr, C.uint32_t(len(in)), (*C.uint8_t)(unsafe.Pointer(&out[0])),
		C.uint32_t(len(out)), &used, &written)
	z.off += int(used)
	if ret < 0 {
		return int(written), isalError(ret)
	}
	if C.gzip_member_done(z.state) != 0 {
		z.member = false
	}
	return int(written), nil
}

func isalError(ret C.int) error {
	switch ret {
	case C.ISAL_INVALID_BLOCK:
		return errors.New("invalid deflate block")
	case C.ISAL_INVALID_SYMBOL:
		return errors.New("invalid deflate symbol")
	case C.ISAL_INVALID_LOOKBACK:
		return errors.New("invalid deflate distance")
	case C.ISAL_INVALID_WRAPPER:
		return errGzipHeader
	case C.ISAL_UNSUPPORTED_METHOD:
		return errors.New("gzip member is not deflate-compressed")
	case C.ISAL_INCORRECT_CHECKSUM:
		return errors.New("gzip checksum error")
	}
	return fmt.Errorf("gzip decoder error %d", int(ret))
}

// Close frees the decoder; it does not close src.
func (z *gzipReader) Close() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.state != nil {
		C.free(unsafe.Pointer(z.state))
		z.state = nil
	}
	return nil
}
