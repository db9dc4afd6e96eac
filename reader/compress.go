package reader

import (
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// compression is a format traces are compressed in, known by its first
// bytes. These are the ones libtrace (the 2015 script's reader) read,
// but LZO: archives of captures come in all of them.
type compression struct {
	name  string
	magic []byte
	// open starts decompressing src; the reader it returns is closed
	// with the trace when it is an io.Closer.
	open func(src io.Reader, b buffers) (io.Reader, error)
}

var compressions = []compression{
	{"gzip", []byte{0x1f, 0x8b}, func(src io.Reader, b buffers) (io.Reader, error) {
		// ISA-L (gzip.go): four times faster than compress/gzip.
		return newGzipReader(src, b.compressedIn)
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(src io.Reader, _ buffers) (io.Reader, error) {
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
		return zstdReader{zr}, err
	}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(src io.Reader, b buffers) (io.Reader, error) {
		return newXZReader(src, b.compressedIn, runtime.GOMAXPROCS(0))
	}},
	{"bzip2", []byte("BZh"), func(src io.Reader, b buffers) (io.Reader, error) {
		if workers := runtime.GOMAXPROCS(0); workers > 1 {
			return newBzip2Parallel(src, b.compressedIn, workers)
		}
		return newBzip2Reader(src, b.compressedIn)
	}},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}, openLZ4},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}, openLZ4}, // lz4 -l, the legacy frame
}

func openLZ4(src io.Reader, _ buffers) (io.Reader, error) { return lz4.NewReader(src), nil }

// zstdReader is an io.Closer: zstd's Close returns nothing.
type zstdReader struct{ *zstd.Decoder }

func (z zstdReader) Close() error { z.Decoder.Close(); return nil }

// archives are formats a trace may come in that flowstat does not read,
// with what reads them.
var archives = []struct {
	magic        []byte
	what, reader string
}{
	{[]byte("PK\x03\x04"), "a zip archive", "unzip -p"},
	{[]byte("7z\xbc\xaf\x27\x1c"), "a 7-Zip archive", "7z x -so"},
	{[]byte{0x1f, 0x9d}, "compress(1) data (.Z)", "gzip -dc"},
	{[]byte("\x89LZO"), "lzop data", "lzop -dc"},
}

// archiveHint says what b begins, when it is one of the archives, and
// how to give its trace to flowstat; "" otherwise.
func archiveHint(b []byte, path string) string {
	for _, a := range archives {
		if hasPrefix(b, a.magic) {
			return fmt.Sprintf("%s: extract the trace, e.g. `%s %s | flowstat analyze -`", a.what, a.reader, path)
		}
	}
	return ""
}

// longestMagic is how many bytes telling a compression needs.
const longestMagic = 6

// compressionOf returns the compression whose magic begins b, or nil.
func compressionOf(b []byte) *compression {
	for i := range compressions {
		if hasPrefix(b, compressions[i].magic) {
			return &compressions[i]
		}
	}
	return nil
}

// decompress wraps src in c's decoder, read ahead in a goroutine of its
// own, and adds to t what closes them.
func (t *Trace) decompress(c *compression, src io.Reader, b buffers) (io.Reader, error) {
	zr, err := c.open(src, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%s): %w", t.Path, ErrCompressed, c.name, err)
	}
	if closer, ok := zr.(io.Closer); ok {
		t.closers = append(t.closers, closer)
	}
	ra := newReadAhead(decompressor{zr, c.name}, b.ahead, b.depth)
	t.closers = append(t.closers, ra)
	t.Compression = c.name
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

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
