package decompress

import (
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Format is a compression traces come in, known by its first bytes. These
// are the ones libtrace (the 2015 script's reader) read, but LZO: archives
// of captures come in all of them.
type Format struct {
	Name  string
	magic []byte
	open  func(src io.Reader, inSize int) (io.Reader, error)
}

var formats = []Format{
	{"gzip", []byte{0x1f, 0x8b}, func(src io.Reader, inSize int) (io.Reader, error) {
		// ISA-L (gzip.go): four times faster than compress/gzip.
		return newGzipReader(src, inSize)
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(src io.Reader, _ int) (io.Reader, error) {
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
		return zstdReader{zr}, err
	}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(src io.Reader, inSize int) (io.Reader, error) {
		return newXZReader(src, inSize, runtime.GOMAXPROCS(0))
	}},
	{"bzip2", []byte("BZh"), func(src io.Reader, inSize int) (io.Reader, error) {
		if workers := runtime.GOMAXPROCS(0); workers > 1 {
			return newBzip2Parallel(src, inSize, workers)
		}
		return newBzip2Reader(src, inSize)
	}},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}, openLZ4},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}, openLZ4}, // lz4 -l, the legacy frame
}

func openLZ4(src io.Reader, _ int) (io.Reader, error) { return lz4.NewReader(src), nil }

// zstdReader is an io.Closer: zstd's Close returns nothing.
type zstdReader struct{ *zstd.Decoder }

func (z zstdReader) Close() error { z.Decoder.Close(); return nil }

// LongestMagic is how many bytes telling a format needs.
const LongestMagic = 6

// Detect returns the format whose magic begins b, or nil.
func Detect(b []byte) *Format {
	for i := range formats {
		if bytes.HasPrefix(b, formats[i].magic) {
			return &formats[i]
		}
	}
	return nil
}

// Open starts decompressing src, reading inSize compressed bytes at a
// time; the reader it returns is to be closed when it is an io.Closer.
// Formats whose blocks are independent (bzip2, xz written in blocks)
// are decompressed on GOMAXPROCS goroutines.
func (f *Format) Open(src io.Reader, inSize int) (io.Reader, error) { return f.open(src, inSize) }

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

// ArchiveHint says what b begins, when it is an archive or a compression
// flowstat does not read, and how to give the trace at path to flowstat;
// "" otherwise.
func ArchiveHint(b []byte, path string) string {
	for _, a := range archives {
		if bytes.HasPrefix(b, a.magic) {
			return fmt.Sprintf("%s: extract the trace, e.g. `%s %s | flowstat analyze -`", a.what, a.reader, path)
		}
	}
	return ""
}
