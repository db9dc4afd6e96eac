package decompress

// #cgo LDFLAGS: -lbz2
// #include <stdlib.h>
// #include <string.h>
// #include <bzlib.h>
//
// static bz_stream *new_bzip2(void) {
// 	bz_stream *s = calloc(1, sizeof(bz_stream));
// 	if (s != NULL && BZ2_bzDecompressInit(s, 0, 0) != BZ_OK) {
// 		free(s);
// 		s = NULL;
// 	}
// 	return s;
// }
//
// // bzip2_decode decompresses from in into out; its pointers into Go
// // memory are cleared before it returns.
// static int bzip2_decode(bz_stream *s, char *in, unsigned in_len, char *out, unsigned out_len,
//                         unsigned *used, unsigned *written) {
// 	s->next_in = in;
// 	s->avail_in = in_len;
// 	s->next_out = out;
// 	s->avail_out = out_len;
// 	int ret = BZ2_bzDecompress(s);
// 	*used = in_len - s->avail_in;
// 	*written = out_len - s->avail_out;
// 	s->next_in = NULL;
// 	s->avail_in = 0;
// 	s->next_out = NULL;
// 	s->avail_out = 0;
// 	return ret;
// }
//
// static int restart_bzip2(bz_stream *s) {
// 	BZ2_bzDecompressEnd(s);
// 	memset(s, 0, sizeof(*s));
// 	return BZ2_bzDecompressInit(s, 0, 0);
// }
//
// static void free_bzip2(bz_stream *s) {
// 	BZ2_bzDecompressEnd(s);
// 	free(s);
// }
import "C"

import (
	"errors"
	"fmt"
	"io"
)

// bzip2Decoder is libbz2's decoder, stream after stream as bzip2 -dc reads
// them (pbzip2 and lbzip2 write one stream per block).
type bzip2Decoder struct{ s *C.bz_stream }

func newBzip2Reader(src io.Reader, inSize int) (*cStream, error) {
	dec, err := newBzip2Decoder()
	if err != nil {
		return nil, err
	}
	return newCStream(src, dec, inSize), nil
}

func newBzip2Decoder() (bzip2Decoder, error) {
	s := C.new_bzip2()
	if s == nil {
		return bzip2Decoder{}, errors.New("cannot start a bzip2 decoder")
	}
	return bzip2Decoder{s}, nil
}

func (d bzip2Decoder) decode(in, out []byte, _ bool) (used, written int, end bool, err error) {
	in, out = in[:min(len(in), 1<<30)], out[:min(len(out), 1<<30)]
	var u, w C.unsigned
	ret := C.bzip2_decode(d.s, (*C.char)(bytesPtr(in)), C.unsigned(len(in)), (*C.char)(bytesPtr(out)),
		C.unsigned(len(out)), &u, &w)
	used, written = int(u), int(w)
	switch ret {
	case C.BZ_OK:
	case C.BZ_STREAM_END:
		end = true
	case C.BZ_DATA_ERROR_MAGIC:
		err = errNotBzip2
	case C.BZ_DATA_ERROR:
		err = errCorruptBzip2
	case C.BZ_MEM_ERROR:
		err = errors.New("out of memory decompressing bzip2")
	default:
		err = fmt.Errorf("bzip2 decoder error %d", int(ret))
	}
	return used, written, end, err
}

func (d bzip2Decoder) restart() error {
	if C.restart_bzip2(d.s) != C.BZ_OK {
		return errors.New("cannot restart the bzip2 decoder")
	}
	return nil
}

func (d bzip2Decoder) free() { C.free_bzip2(d.s) }
