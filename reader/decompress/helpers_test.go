package decompress

import (
	"bytes"
	"compress/bzip2"
	"io"
	"os"
	"testing"

	"github.com/ulikunitz/xz"
)

// inSize is how many compressed bytes the readers under test take at a
// time: what the trace reader gives them.
const inSize = 256 << 10

// bzip2Frames is ../testdata/frames1000.pcap.bz2, made by `bzip2 -1` of a
// pcap of 1,000 frames (three bzip2 blocks), and what it holds, by the
// standard library's decoder.
func bzip2Frames(t *testing.T) (compressed, plain []byte) {
	t.Helper()
	b, err := os.ReadFile("../testdata/frames1000.pcap.bz2")
	if err != nil {
		t.Fatal(err)
	}
	plain, err = io.ReadAll(bzip2.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return b, plain
}

// xzed compresses b with xz, in blocks of 4 KiB.
func xzed(b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.WriterConfig{BlockSize: 4 << 10}.NewWriter(&buf)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
