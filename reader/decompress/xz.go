package decompress

// #cgo LDFLAGS: -llzma
// #include <stdlib.h>
// #include <string.h>
// #include <lzma.h>
//
// // new_xz starts a decoder of concatenated .xz streams; with threads > 1,
// // one that decompresses the blocks of a stream written in blocks (xz -T)
// // on that many threads while they need at most 256 MiB.
// static lzma_stream *new_xz(uint32_t threads) {
// 	lzma_stream *s = calloc(1, sizeof(lzma_stream)); // LZMA_STREAM_INIT
// 	if (s == NULL) {
// 		return NULL;
// 	}
// 	lzma_ret ret;
// 	if (threads > 1) {
// 		lzma_mt mt;
// 		memset(&mt, 0, sizeof(mt));
// 		mt.flags = LZMA_CONCATENATED;
// 		mt.threads = threads;
// 		mt.memlimit_threading = 256 << 20;
// 		mt.memlimit_stop = UINT64_MAX;
// 		ret = lzma_stream_decoder_mt(s, &mt);
// 	} else {
// 		ret = lzma_stream_decoder(s, UINT64_MAX, LZMA_CONCATENATED);
// 	}
// 	if (ret != LZMA_OK) {
// 		free(s);
// 		return NULL;
// 	}
// 	return s;
// }
//
// // xz_decode decompresses from in into out; its pointers into Go memory
// // are cleared before it returns.
// static int xz_decode(lzma_stream *s, uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
//                      int finish, size_t *used, size_t *written) {
// 	s->next_in = in;
// 	s->avail_in = in_len;
// 	s->next_out = out;
// 	s->avail_out = out_len;
// 	int ret = lzma_code(s, finish ? LZMA_FINISH : LZMA_RUN);
// 	*used = in_len - s->avail_in;
// 	*written = out_len - s->avail_out;
// 	s->next_in = NULL;
// 	s->avail_in = 0;
// 	s->next_out = NULL;
// 	s->avail_out = 0;
// 	return ret;
// }
//
// static void free_xz(lzma_stream *s) {
// 	lzma_end(s);
// 	free(s);
// }
import "C"

import (
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// xzDecoder is liblzma's decoder of .xz files, concatenated ones included
// (xz -dc's).
type xzDecoder struct{ s *C.lzma_stream }

// newXZReader decompresses src; a stream written in blocks (xz -T, the
// default since xz 5.6) is decompressed on up to threads threads.
func newXZReader(src io.Reader, inSize, threads int) (*cStream, error) {
	s := C.new_xz(C.uint32_t(max(threads, 1)))
	if s == nil {
		return nil, errors.New("cannot start an xz decoder")
	}
	return newCStream(src, xzDecoder{s}, inSize), nil
}

func (d xzDecoder) decode(in, out []byte, final bool) (used, written int, end bool, err error) {
	var u, w C.size_t
	ret := C.xz_decode(d.s, (*C.uint8_t)(bytesPtr(in)), C.size_t(len(in)), (*C.uint8_t)(bytesPtr(out)),
		C.size_t(len(out)), boolInt(final), &u, &w)
	used, written = int(u), int(w)
	switch ret {
	case C.LZMA_OK:
	case C.LZMA_STREAM_END:
		end = true
	case C.LZMA_BUF_ERROR:
		err = io.ErrUnexpectedEOF // no progress: the input ends inside a stream
	case C.LZMA_FORMAT_ERROR:
		err = errors.New("not xz data")
	case C.LZMA_DATA_ERROR:
		err = errors.New("corrupt xz data")
	case C.LZMA_OPTIONS_ERROR:
		err = errors.New("unsupported xz options")
	case C.LZMA_MEM_ERROR, C.LZMA_MEMLIMIT_ERROR:
		err = errors.New("out of memory decompressing xz")
	default:
		err = fmt.Errorf("xz decoder error %d", int(ret))
	}
	return used, written, end, err
}

// restart is never needed: liblzma reads concatenated streams itself, and
// ends only when the input does.
func (d xzDecoder) restart() error { return errors.New("data after the end of the xz stream") }

func (d xzDecoder) free() { C.free_xz(d.s) }

// bytesPtr is b's first byte, or nil when b is empty.
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
