package decompress

import (
	"bytes"
	"compress/gzip"
	"errors"
	kgzip "github.com/klauspost/compress/gzip"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// gzipTestData is half random, half repetitive: both stored-like and
// well-compressed deflate blocks.
func gzipTestData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		if i%4096 < 2048 {
			b[i] = byte(rng.Uint32())
		} else {
			b[i] = byte(i / 512)
		}
	}
	return b
}

func gzipLevel(t *testing.T, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Name = "trace.pcap" // a header with optional fields
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func TestGzipReader(t *testing.T) {
	a, b := gzipTestData(300_000), gzipTestData(70_000)[1000:]
	za, zb := gzipLevel(t, a, gzip.BestSpeed), gzipLevel(t, b, gzip.NoCompression)
	two := append(append([]byte{}, za...), zb...)
	for _, tc := range []struct {
		name string
		in   io.Reader
		want []byte
	}{
		{"one member", bytes.NewReader(za), a},
		{"two members", bytes.NewReader(two), append(append([]byte{}, a...), b...)},
		{"byte by byte", iotest.OneByteReader(bytes.NewReader(two)), append(append([]byte{}, a...), b...)},
		{"empty content", bytes.NewReader(gzipLevel(t, nil, 6)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := newGzipReader(tc.in, inSize)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			// Small reads: output split at every boundary a caller may choose.
			got, err := io.ReadAll(iotest.OneByteReader(struct{ io.Reader }{z}))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d (equal prefix: %v)", len(got), len(tc.want),
					bytes.HasPrefix(tc.want, got))
			}
		})
	}
}

func TestGzipReaderDamage(t *testing.T) {
	data := gzipTestData(200_000)
	z := gzipLevel(t, data, gzip.DefaultCompression)
	read := func(in []byte) ([]byte, error) {
		zr, err := newGzipReader(bytes.NewReader(in), inSize)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	}
	t.Run("cut anywhere", func(t *testing.T) {
		for cut := 0; cut < len(z); cut += 997 {
			got, err := read(z[:cut])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d: error %v, want unexpected EOF", cut, err)
			}
			if !bytes.HasPrefix(data, got) {
				t.Fatalf("cut at %d: %d bytes that are not the data's beginning", cut, len(got))
			}
		}
	})
	t.Run("checksum", func(t *testing.T) {
		bad := bytes.Clone(z)
		bad[len(bad)-6] ^= 1 // in the CRC-32 of the trailer
		if _, err := read(bad); err == nil || err.Error() != "gzip checksum error" {
			t.Fatalf("error %v, want a checksum error", err)
		}
	})
	t.Run("trailing garbage", func(t *testing.T) {
		got, err := read(append(bytes.Clone(z), "junk"...))
		if !errors.Is(err, errGzipHeader) || !bytes.Equal(got, data) {
			t.Fatalf("error %v after %d bytes, want the data then a header error", err, len(got))
		}
	})
	t.Run("flipped bits", func(t *testing.T) {
		// Damage inside the deflate data never crashes, and what comes
		// out before the error is the data's beginning or an error is given.
		rng := rand.New(rand.NewPCG(3, 4))
		for range 200 {
			bad := bytes.Clone(z)
			bad[24+rng.IntN(len(bad)-32)] ^= byte(1 << rng.IntN(8))
			if _, err := read(bad); err == nil {
				t.Fatal("damaged stream read without error")
			}
		}
	})
	t.Run("not gzip", func(t *testing.T) {
		if _, err := read([]byte("plain text")); !errors.Is(err, errGzipHeader) {
			t.Fatalf("error %v", err)
		}
	})
}

// BenchmarkGzipReader compares ISA-L with klauspost/compress, the pure Go
// decoder flowstat used before.
func BenchmarkGzipReader(b *testing.B) {
	data := gzipTestData(8 << 20)
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(data)
	w.Close()
	z := buf.Bytes()
	out := make([]byte, 1<<20)
	for _, bc := range []struct {
		name string
		open func(io.Reader) (io.ReadCloser, error)
	}{
		{"isal", func(r io.Reader) (io.ReadCloser, error) { return newGzipReader(r, inSize) }},
		{"klauspost", func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				zr, err := bc.open(bytes.NewReader(z))
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := zr.Read(out); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				zr.Close()
			}
		})
	}
}
