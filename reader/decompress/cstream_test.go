package decompress

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// cStreamCases are xz and bzip2 streams, one and two in a row, with what
// they hold.
func cStreamCases(t *testing.T) []struct {
	name       string
	open       func(io.Reader) (*cStream, error)
	compressed []byte
	want       []byte
} {
	openXZ := func(r io.Reader) (*cStream, error) { return newXZReader(r, inSize, 1) }
	openXZThreads := func(r io.Reader) (*cStream, error) { return newXZReader(r, inSize, 2) }
	openBzip2 := func(r io.Reader) (*cStream, error) { return newBzip2Reader(r, inSize) }
	data := gzipTestData(100_000)
	bz, bzData := bzip2Frames(t)
	return []struct {
		name       string
		open       func(io.Reader) (*cStream, error)
		compressed []byte
		want       []byte
	}{
		{"xz", openXZ, xzed(data), data},
		{"xz, two streams", openXZ, append(xzed(data), xzed(data[:5000])...), append(bytes.Clone(data), data[:5000]...)},
		{"xz, threaded decoder", openXZThreads, xzed(data), data},
		{"bzip2", openBzip2, bz, bzData},
		{"bzip2, two streams", openBzip2, append(bytes.Clone(bz), bz...), append(bytes.Clone(bzData), bzData...)},
	}
}

func TestCStream(t *testing.T) {
	for _, tc := range cStreamCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time in and out: every boundary a source or a
			// caller may choose, a stream's magic split included.
			z, err := tc.open(iotest.OneByteReader(bytes.NewReader(tc.compressed)))
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			got, err := io.ReadAll(iotest.OneByteReader(struct{ io.Reader }{z}))
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("%d bytes, error %v; want %d bytes", len(got), err, len(tc.want))
			}
			if n, err := z.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("read after the end: %d, %v", n, err)
			}
		})
	}
}

func TestCStreamDamage(t *testing.T) {
	for _, tc := range cStreamCases(t) {
		read := func(in []byte) ([]byte, error) {
			z, err := tc.open(bytes.NewReader(in))
			if err != nil {
				return nil, err
			}
			defer z.Close()
			return io.ReadAll(z)
		}
		t.Run(tc.name+", cut anywhere", func(t *testing.T) {
			for cut := 1; cut < len(tc.compressed); cut += max(1, len(tc.compressed)/150) {
				got, err := read(tc.compressed[:cut])
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut at %d of %d: error %v, want unexpected EOF", cut, len(tc.compressed), err)
				}
				if !bytes.HasPrefix(tc.want, got) {
					t.Fatalf("cut at %d: %d bytes that are not the data's beginning", cut, len(got))
				}
			}
		})
		t.Run(tc.name+", flipped bits", func(t *testing.T) {
			// Damage never crashes nor passes unseen: both formats check
			// what they decompress.
			rng := rand.New(rand.NewPCG(5, 6))
			for range 100 {
				bad := bytes.Clone(tc.compressed)
				bad[rng.IntN(len(bad))] ^= byte(1 << rng.IntN(8))
				if got, err := read(bad); err == nil && !bytes.Equal(got, tc.want) {
					t.Fatalf("damaged stream read as %d other bytes without error", len(got))
				}
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		z, err := newBzip2Reader(bytes.NewReader([]byte("BZh9")), 16)
		if err != nil {
			t.Fatal(err)
		}
		z.Close()
		if _, err := z.Read(make([]byte, 10)); !errors.Is(err, errDecoderClosed) {
			t.Errorf("read after Close: %v", err)
		}
	})
}
