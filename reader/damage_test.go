package reader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// splice returns a copy of b with b[at:at+cut] replaced by insert.
func splice(b []byte, at, cut int, insert []byte) []byte {
	out := append([]byte{}, b[:at]...)
	out = append(out, insert...)
	return append(out, b[at+cut:]...)
}

// patch returns a copy of b with a little-endian uint32 written at off.
func patch(b []byte, off int, v uint32) []byte {
	out := append([]byte{}, b...)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}

// blockOffsets walks a little-endian pcapng trace's blocks.
func blockOffsets(b []byte) []int {
	var offs []int
	for off := 0; off+8 <= len(b); off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		offs = append(offs, off)
	}
	return offs
}

// wantDamage is one expected damaged region.
type wantDamage struct {
	offset, length int64
	err            error
	reason         string // a part of the reason, when not empty
}

func checkDamages(t *testing.T, got []Damage, want []wantDamage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("damages %v, want %d", got, len(want))
	}
	for i, w := range want {
		d := got[i]
		if d.Offset != w.offset || d.Length != w.length || !errors.Is(d, w.err) || !strings.Contains(d.Reason, w.reason) {
			t.Errorf("damage %d: %v (offset %d, length %d), want offset %d, length %d, %v %q",
				i, d, d.Offset, d.Length, w.offset, w.length, w.err, w.reason)
		}
	}
}

func TestDamagedPcapClasses(t *testing.T) {
	eth := sampleFrames(LinkEthernet)
	whole := writePcap(binary.LittleEndian, false, LinkEthernet, eth)
	recLen := 16 + len(eth[0].data)
	rec := func(i int) int { return 24 + i*recLen } // offset of record i
	noTwo := append(append([]testFrame{}, eth[:2]...), eth[3:]...)
	other := sampleFrames(LinkEthernet)
	for i := range other {
		other[i].time += 3600e9
	}
	second := writePcap(binary.BigEndian, true, LinkEthernet, other)
	oddHeaders := append([]byte{}, whole...)
	for i := range eth {
		binary.LittleEndian.PutUint32(oddHeaders[rec(i)+12:], 0) // original length 0: libpcap reads it
	}
	tests := []struct {
		name   string
		data   []byte
		frames []testFrame
		damage []wantDamage
	}{
		{"odd headers, not damage", oddHeaders, eth, nil},
		{"odd headers, garbage inserted", splice(oddHeaders, rec(2), 0, bytes.Repeat([]byte{0xEE}, 37)), eth,
			[]wantDamage{{int64(rec(2)), 37, ErrBadRecord, ""}}},
		{"truncated in a record header", whole[:rec(4)+7], eth[:4],
			[]wantDamage{{int64(rec(4)), 0, ErrTruncated, ""}}},
		{"truncated in record data", whole[:rec(4)+20], eth[:4],
			[]wantDamage{{int64(rec(4)), 0, ErrTruncated, ""}}},
		{"length above the snap length", patch(whole, rec(2)+8, 70000), noTwo,
			[]wantDamage{{int64(rec(2)), int64(recLen), ErrBadRecord, "snap length 65535"}}},
		{"length above 256 KiB", patch(patch(whole, 16, 1<<20), rec(2)+8, 300000), noTwo,
			[]wantDamage{{int64(rec(2)), int64(recLen), ErrBadRecord, "exceeds 262144"}}},
		{"length past the end, records follow", patch(whole, rec(2)+8, 60000), noTwo,
			[]wantDamage{{int64(rec(2)), int64(recLen), ErrBadRecord, "runs past the end"}}},
		{"garbage inserted", splice(whole, rec(2), 0, bytes.Repeat([]byte{0xEE}, 37)), eth,
			[]wantDamage{{int64(rec(2)), 37, ErrBadRecord, ""}}},
		{"garbage over a header", splice(whole, rec(2), 20, bytes.Repeat([]byte{0xEE}, 20)), noTwo,
			[]wantDamage{{int64(rec(2)), int64(recLen), ErrBadRecord, ""}}},
		{"zeroed record", splice(whole, rec(2), recLen, make([]byte, recLen)), noTwo,
			[]wantDamage{{int64(rec(2)), int64(recLen), ErrBadRecord, "zero lengths"}}},
		{"zeroed tail", append(append([]byte{}, whole...), make([]byte, 100)...), eth,
			[]wantDamage{{int64(len(whole)), 0, ErrBadRecord, "zero lengths"}}},
		{"concatenated", append(append([]byte{}, whole...), second...), append(append([]testFrame{}, eth...), other...),
			[]wantDamage{{int64(len(whole)), 24, ErrConcatenated, ""}}},
		{"concatenated after a cut record", append(append([]byte{}, whole[:len(whole)-10]...), second...),
			append(append([]testFrame{}, eth[:4]...), other...),
			[]wantDamage{{int64(rec(4)), int64(recLen - 10), ErrBadRecord, ""}, {int64(len(whole) - 10), 24, ErrConcatenated, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, got := readAll(t, writeTemp(t, "d.pcap", tc.data))
			sameFrames(t, got, tc.frames)
			checkDamages(t, tr.Damages, tc.damage)
		})
	}
}

// zstdSmallBlocks compresses b in blocks of 1 KiB, so that a cut stream
// still holds whole blocks to decompress.
func zstdSmallBlocks(b []byte) []byte {
	w, _ := zstd.NewWriter(nil, zstd.WithWindowSize(zstd.MinWindowSize), zstd.WithEncoderConcurrency(1))
	return w.EncodeAll(b, nil)
}

func TestDamagedCompressed(t *testing.T) {
	// Enough frames for several compressed blocks, of which a cut stream
	// keeps some.
	eth := repeatFrames(20)
	whole := writePcap(binary.LittleEndian, false, LinkEthernet, eth)
	// lz4 blocks are at least 64 KiB of the trace (8 MiB in the legacy
	// format, which TestOpenFormats reads).
	big := repeatFrames(1000)
	wholeBig := writePcap(binary.LittleEndian, false, LinkEthernet, big)
	bz, _ := bzip2Frames(t)
	for _, tc := range []struct {
		name   string
		data   []byte
		frames []testFrame
	}{
		{"gzip", gzipped(whole), eth},
		{"zstd", zstdSmallBlocks(whole), eth},
		{"gzip pcapng", gzipped(writePcapng(binary.LittleEndian, big)), big},
		{"xz", xzed(whole), eth},
		{"bzip2", bz, big},
		{"lz4", lz4ed(wholeBig, false), big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Cut in the middle: what the blocks before the cut hold is read.
			tr, got := readAll(t, writeTemp(t, "c", tc.data[:len(tc.data)*6/10]))
			if len(got) == 0 || len(got) >= len(tc.frames) {
				t.Errorf("read %d frames of %d", len(got), len(tc.frames))
			}
			sameFrames(t, got, tc.frames[:len(got)])
			kind, _, _ := strings.Cut(tc.name, " ")
			if len(tr.Damages) != 1 || !errors.Is(tr.Damages[0], ErrCompressed) || !strings.Contains(tr.Damages[0].Reason, "("+kind+")") {
				t.Errorf("damages %v", tr.Damages)
			}
		})
	}
	t.Run("bad gzip header", func(t *testing.T) {
		_, err := Open(writeTemp(t, "h.gz", []byte{0x1f, 0x8b, 0, 0, 0}), nil)
		if !errors.Is(err, ErrCompressed) {
			t.Errorf("error %v, want ErrCompressed", err)
		}
	})
}

func TestDamagedPcapng(t *testing.T) {
	eth := sampleFrames(LinkEthernet)
	whole := writePcapng(binary.LittleEndian, eth)
	offs := blockOffsets(whole)
	// Blocks: SHB, IDB, custom, IDB, then one EPB per frame.
	epb := func(i int) int { return offs[4+i] }
	epbLen := epb(1) - epb(0)
	noTwo := append(append([]testFrame{}, eth[:2]...), eth[3:]...)
	unknown := pcapngBlock(binary.LittleEndian, 0x12345678, []byte("from the future"))
	tests := []struct {
		name    string
		data    []byte
		frames  []testFrame
		damage  []wantDamage
		unknown int
	}{
		{"unknown block type", splice(whole, epb(2), 0, unknown), eth, nil, 1},
		{"length not a multiple of 4", patch(whole, epb(2)+4, uint32(epbLen+1)), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, "length"}}, 0},
		{"length too short", patch(whole, epb(2)+4, 4), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, "length 4"}}, 0},
		{"length above 16 MiB", patch(whole, epb(2)+4, 1<<30), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, ""}}, 0},
		{"trailing length differs", patch(whole, epb(2)+epbLen-4, uint32(epbLen+8)), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, "at its end"}}, 0},
		{"length past the end, blocks follow", patch(whole, epb(2)+4, 4000), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, "runs past the end"}}, 0},
		{"garbage inserted", splice(whole, epb(2), 0, bytes.Repeat([]byte{0xEE}, 37)), eth,
			[]wantDamage{{int64(epb(2)), 37, ErrBadBlock, ""}}, 0},
		{"zeroed block", splice(whole, epb(2), epbLen, make([]byte, epbLen)), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, ""}}, 0},
		{"truncated in a block", whole[:epb(4)+20], eth[:4],
			[]wantDamage{{int64(epb(4)), 0, ErrTruncated, ""}}, 0},
		{"truncated in a block header", whole[:epb(4)+6], eth[:4],
			[]wantDamage{{int64(epb(4)), 0, ErrTruncated, ""}}, 0},
		{"section header length damaged", patch(whole, 4, 29), eth,
			[]wantDamage{{0, int64(offs[1]), ErrBadBlock, ""}}, 0},
		{"packet of an interface that does not exist", patch(whole, epb(2)+8, 7), noTwo,
			[]wantDamage{{int64(epb(2)), int64(epbLen), ErrBadBlock, "interface 7"}}, 0},
		{"two sections", append(append([]byte{}, whole...), whole...), append(append([]testFrame{}, eth...), eth...), nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, got := readAll(t, writeTemp(t, "d.pcapng", tc.data))
			sameFrames(t, got, tc.frames)
			checkDamages(t, tr.Damages, tc.damage)
			if tr.UnknownBlocks != tc.unknown {
				t.Errorf("%d unknown blocks, want %d", tr.UnknownBlocks, tc.unknown)
			}
		})
	}
}

// repeatFrames returns n copies of sampleFrames(LinkEthernet).
func repeatFrames(n int) []testFrame {
	var frames []testFrame
	for i := 0; i < n; i++ {
		frames = append(frames, sampleFrames(LinkEthernet)...)
	}
	return frames
}

// TestCompressedStreams reads files of several compressed streams one
// after the other, as bzip2 -dc and xz -dc do (pbzip2 writes a stream per
// block), and reports what follows the last stream that is not one.
func TestCompressedStreams(t *testing.T) {
	bz, big := bzip2Frames(t)
	bigLen := int64(len(writePcap(binary.LittleEndian, false, LinkEthernet, big)))
	eth := sampleFrames(LinkEthernet)
	small := writePcap(binary.LittleEndian, false, LinkEthernet, eth)
	garbage := []byte("this is not compressed")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name   string
		data   []byte
		frames []testFrame
		damage []wantDamage
	}{
		// Two traces in one file: the second's header is damage, its records are read.
		{"bzip2 twice", cat(bz, bz), append(append([]testFrame{}, big...), big...), []wantDamage{{bigLen, 24, ErrConcatenated, ""}}},
		{"bzip2 then garbage", cat(bz, garbage), big, []wantDamage{{bigLen, 0, ErrCompressed, "(bzip2): not bzip2 data"}}},
		{"xz twice", cat(xzed(small), xzed(small)), append(append([]testFrame{}, eth...), eth...), []wantDamage{{int64(len(small)), 24, ErrConcatenated, ""}}},
		{"xz then garbage", cat(xzed(small), garbage), eth, []wantDamage{{int64(len(small)), 0, ErrCompressed, "(xz): corrupt xz data"}}}, // liblzma: garbage where a stream may begin
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, got := readAll(t, writeTemp(t, "s", tc.data))
			sameFrames(t, got, tc.frames)
			checkDamages(t, tr.Damages, tc.damage)
		})
	}
}
