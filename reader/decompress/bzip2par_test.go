package decompress

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"
)

// bzTestData is what testdata/random220k.bz2 holds (`bzip2 -1`, three
// blocks at odd bit offsets): random letters of four, which run-length
// coding leaves alone.
func bzTestData() []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	b := make([]byte, 220_000)
	for i := range b {
		b[i] = "ACGT"[rng.IntN(4)]
	}
	return b
}

// readBzip2 reads in whole what a bzip2 reader makes of in, and its error.
func readBzip2(t *testing.T, in io.Reader, parallel bool) ([]byte, error) {
	t.Helper()
	var r io.ReadCloser
	var err error
	if parallel {
		r, err = newBzip2Parallel(in, 4096, 3)
	} else {
		r, err = newBzip2Reader(in, 4096)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// TestBzip2Parallel: the blocks decompressed apart, on several goroutines,
// give what one decoder gives, bytes and errors, on whole files, several
// streams, data after the last and files cut anywhere; with flipped bits,
// an error and no bytes but those one decoder gives.
func TestBzip2Parallel(t *testing.T) {
	random, err := os.ReadFile("testdata/random220k.bz2")
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := bzip2Frames(t)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// exact: the same bytes; else (a damaged block, which libbz2 may read
	// past into what follows it, differently in the file and alone) a
	// beginning of them, never other bytes; an error in both or neither.
	same := func(t *testing.T, name string, in []byte, exact bool) {
		t.Helper()
		want, wantErr := readBzip2(t, bytes.NewReader(in), false)
		got, err := readBzip2(t, iotest.HalfReader(bytes.NewReader(in)), true)
		sameBytes := bytes.Equal(got, want) || !exact && bytes.HasPrefix(want, got)
		sameErr := (err == nil) == (wantErr == nil) && (err == nil || !exact || err.Error() == wantErr.Error())
		if !sameBytes || !sameErr {
			t.Fatalf("%s: %d bytes, %v; one decoder: %d bytes, %v", name, len(got), err, len(want), wantErr)
		}
	}
	got, err := readBzip2(t, bytes.NewReader(random), true)
	if err != nil || !bytes.Equal(got, bzTestData()) {
		t.Fatalf("random220k: %d bytes, %v", len(got), err)
	}
	for name, in := range map[string][]byte{
		"three blocks":                random,
		"two streams":                 cat(random, frames),
		"garbage after":               cat(frames, []byte("not bzip2")),
		"a few bytes after":           cat(frames, []byte("BZ")),
		"an empty stream":             cat([]byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x00\x00"), frames),
		"an empty stream's CRC not 0": cat([]byte("BZh9\x17\x72\x45\x38\x50\x90\x00\x00\x01\x00"), frames),
		"not bzip2 at all":            []byte("BZh9 and then nothing of bzip2 at all"),
		"header only":                 []byte("BZh9"),
		"another header only":         cat(frames, []byte("BZh9")),
		"no block ends":               cat(random[:4+6], bytes.Repeat([]byte{0x55}, 9<<20)),
	} {
		same(t, name, in, true)
	}
	// The stream's CRC combines its blocks': every bit of it flipped, in
	// the last stream and in the first of two, is found at its end, after
	// every byte.
	endMarker := func(b []byte) int {
		for at := len(b)*8 - bzTailBits; at >= 0; at-- {
			if bits48(b, at) == bzEndMagic {
				return at
			}
		}
		t.Fatal("no end marker")
		return 0
	}
	for bit := range 32 {
		for _, in := range [][]byte{bytes.Clone(random), cat(random, frames)} {
			at := endMarker(random) + bzMagicBits + bit
			in[at/8] ^= 0x80 >> (at % 8)
			same(t, "stream CRC flipped", in, true)
			if _, err := readBzip2(t, bytes.NewReader(in), true); err != errCorruptBzip2 {
				t.Fatalf("stream CRC's bit %d flipped: %v", bit, err)
			}
		}
	}
	for cut := 1; cut < len(random); cut += 331 {
		same(t, "cut", random[:cut], true)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 150 {
		bad := bytes.Clone(random)
		bad[rng.IntN(len(bad))] ^= byte(1 << rng.IntN(8))
		same(t, "flipped bit", bad, false)
	}
}

// A block magic that occurs by chance inside a block cuts it in two:
// neither half decompresses, both together do.
func TestBzip2FalseMagic(t *testing.T) {
	random, err := os.ReadFile("testdata/random220k.bz2")
	if err != nil {
		t.Fatal(err)
	}
	s := newBzSplitter(bytes.NewReader(random), 4096)
	whole, err := s.next()
	if err != nil || whole.err != nil {
		t.Fatalf("first block: %v %v", err, whole)
	}
	dec, err := newBzip2Decoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.free()
	want, err := decodeBzBlocks(dec, nil, whole)
	if err != nil {
		t.Fatal(err)
	}
	cut := whole.from + whole.n/2 + 3
	first := &bzBlock{data: whole.data, from: whole.from, n: cut - whole.from, level: whole.level, crc: whole.crc}
	rest := &bzBlock{data: whole.data[cut/8:], from: cut % 8, n: whole.n - first.n, level: whole.level}
	if _, err := decodeBzBlocks(dec, nil, first); err == nil {
		t.Fatal("half a block decompressed")
	}
	got, err := decodeBzBlocks(dec, nil, first, rest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("both halves: %d bytes, %v; want %d", len(got), err, len(want))
	}
}
