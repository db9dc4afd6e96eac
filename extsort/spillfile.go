package extsort

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/klauspost/compress/s2"
)

// Spilled data lives in hidden files beside the outputs, and outputs are
// written to temporary files renamed into place. A run removes its own, but
// one that is killed (SIGKILL, out of memory) cannot: each file is locked
// while its run has it open, and the next run in the directory removes
// those nobody holds.

// staleFiles are the names of the files RemoveStale looks at: spill and
// part files, Parquet files being written, and other outputs being written
// (WriteFileAtomic).
var staleFiles = []string{".flowstat-*.tmp", "*.parquet.tmp-*", ".*.tmp-*"}

// stopping holds the directories of runs that are stopping
// (RemoveTemporary): a temporary file created in one once its files were
// deleted, by a goroutine still writing, would be left behind, so none is.
var stopping struct {
	sync.Mutex
	dirs map[string]bool
}

// ErrStopping is what creating a temporary file returns once its run stops.
var ErrStopping = errors.New("the run is stopping")

// CreateLockedTemp creates a file in dir, named after pattern as
// os.CreateTemp does, and locks it for as long as it is open.
func CreateLockedTemp(dir, pattern string) (*os.File, error) {
	stopping.Lock()
	defer stopping.Unlock()
	if stopping.dirs[filepath.Clean(dir)] {
		return nil, ErrStopping
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// RemoveStale deletes the temporary files that runs killed before they
// could clean up left in dirs: those no running process holds locked. It
// returns how many it deleted.
func RemoveStale(dirs ...string) int {
	removed := 0
	for _, name := range temporaryFiles(dirs) {
		if removeUnlocked(name) {
			removed++
		}
	}
	return removed
}

// temporaryFiles returns the files in dirs that staleFiles names.
func temporaryFiles(dirs []string) []string {
	var all []string
	for _, d := range dirs {
		for _, pattern := range staleFiles {
			names, _ := filepath.Glob(filepath.Join(d, pattern))
			all = append(all, names...)
		}
	}
	return all
}

// RemoveTemporary deletes the temporary files in dirs, those of this run
// too, locked or not: for a run that stops while it writes (on Linux an
// open file can be deleted; its writer goes on into the void). No
// temporary file is created there afterwards.
func RemoveTemporary(dirs ...string) {
	stopping.Lock()
	defer stopping.Unlock()
	if stopping.dirs == nil {
		stopping.dirs = map[string]bool{}
	}
	for _, d := range dirs {
		stopping.dirs[filepath.Clean(d)] = true
	}
	for _, name := range temporaryFiles(dirs) {
		os.Remove(name)
	}
}

// removeUnlocked deletes a regular file if no process holds it locked.
func removeUnlocked(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && os.Remove(name) == nil
}

// Spilled data is written in blocks compressed with S2. Flow records are
// mostly zero bytes, repeated addresses and close times: they shrink to
// less than half at about 1 GB/s, which costs less than the system calls
// that would write and read them back whole, and saves disk.

// PackedBlock is where a compressed block is in a spill file, and the
// checksum of its bytes once decompressed: S2 blocks carry none, and a
// damaged spill file must give an error, not wrong statistics.
type PackedBlock struct {
	offset int64
	size   int32 // in the file
	raw    int32 // once decompressed
	sum    uint32
}

// Raw is the size of the block once decompressed.
func (b PackedBlock) Raw() int { return int(b.raw) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BlockWriter appends compressed blocks to a spill file, through a
// buffer: blocks are small, the file is written in larger pieces.
type BlockWriter struct {
	out    *bufio.Writer
	size   int64 // written so far
	packed []byte
}

func NewBlockWriter(f *os.File) BlockWriter {
	return BlockWriter{out: bufio.NewWriterSize(f, 1<<20)}
}

// Flush writes what is buffered: blocks can be read back once it returns.
func (bw *BlockWriter) Flush() error { return bw.out.Flush() }

// Write compresses raw, writes it and says where it is.
func (bw *BlockWriter) Write(raw []byte) (PackedBlock, error) {
	bw.packed = s2.Encode(bw.packed[:cap(bw.packed)], raw)
	blk := PackedBlock{offset: bw.size, size: int32(len(bw.packed)), raw: int32(len(raw)), sum: crc32.Checksum(raw, castagnoli)}
	_, err := bw.out.Write(bw.packed)
	bw.size += int64(len(bw.packed))
	return blk, err
}

// WriteFramed writes raw compressed behind a header of frameBytes that
// says what PackedBlock does but the offset: a run's blocks follow one
// another in the file, so where a run starts and ends is all that needs
// to be kept of it in memory, however long it is.
func (bw *BlockWriter) WriteFramed(raw []byte) error {
	bw.packed = s2.Encode(bw.packed[:cap(bw.packed)], raw)
	return bw.writeFrame(raw, bw.packed)
}

// WriteFramedStored writes raw as WriteFramed does but uncompressed, for
// bytes a Codec made compact already; FramedReader reads it back when
// told it is stored.
func (bw *BlockWriter) WriteFramedStored(raw []byte) error { return bw.writeFrame(raw, raw) }

// writeFrame writes the header of raw and its bytes as stored, packed.
func (bw *BlockWriter) writeFrame(raw, packed []byte) error {
	var header [frameBytes]byte
	binary.LittleEndian.PutUint32(header[0:], uint32(len(packed)))
	binary.LittleEndian.PutUint32(header[4:], uint32(len(raw)))
	binary.LittleEndian.PutUint32(header[8:], crc32.Checksum(raw, castagnoli))
	bw.out.Write(header[:]) // an error sticks: the next Write returns it
	_, err := bw.out.Write(packed)
	bw.size += frameBytes + int64(len(packed))
	return err
}

// frameBytes is the size of the header before each block of a run.
const frameBytes = 12

// BlockReader reads compressed blocks back.
type BlockReader struct {
	packed []byte
}

// Read reads blk from f and decompresses it into dst, which must hold
// blk.raw bytes.
func (br *BlockReader) Read(f *os.File, blk PackedBlock, dst []byte) error {
	_, err := br.ReadAndPeek(f, blk, dst, 0)
	return err
}

// ReadAndPeek reads blk as read does, and the peek bytes that follow it in
// the file in the same system call, which it returns.
func (br *BlockReader) ReadAndPeek(f *os.File, blk PackedBlock, dst []byte, peek int) ([]byte, error) {
	br.packed = slices.Grow(br.packed[:0], int(blk.size)+peek)[:int(blk.size)+peek]
	if _, err := f.ReadAt(br.packed, blk.offset); err != nil {
		return nil, err
	}
	got, err := s2.Decode(dst, br.packed[:blk.size])
	if err == nil && (len(got) != len(dst) || len(got) > 0 && &got[0] != &dst[0] || crc32.Checksum(got, castagnoli) != blk.sum) {
		err = errDamagedBlock
	}
	return br.packed[blk.size:], err
}

var errDamagedBlock = errors.New("a block is not what was written (damaged file?)")

// readStoredAndPeek is ReadAndPeek for a block written uncompressed
// (WriteFramedStored).
func (br *BlockReader) readStoredAndPeek(f *os.File, blk PackedBlock, dst []byte, peek int) ([]byte, error) {
	br.packed = slices.Grow(br.packed[:0], int(blk.size)+peek)[:int(blk.size)+peek]
	if _, err := f.ReadAt(br.packed, blk.offset); err != nil {
		return nil, err
	}
	var err error
	if blk.size != blk.raw || len(dst) != int(blk.raw) || crc32.Checksum(br.packed[:blk.size], castagnoli) != blk.sum {
		err = errDamagedBlock
	}
	copy(dst, br.packed[:blk.size])
	return br.packed[blk.size:], err
}

// FramedReader reads the blocks of a run written by WriteFramed, from
// offset at to end: a block and the header of the next in one system
// call.
type FramedReader struct {
	BlockReader
	at, end int64
	header  []byte // of the block at at, when read with the one before
	stored  bool   // the blocks were written by WriteFramedStored
}

// More reports whether blocks are left to read.
func (fr *FramedReader) More() bool { return fr.at < fr.end }

// Next reads the header of the next block and says where the block is;
// maxRaw bounds its size once decompressed, so that a damaged header
// cannot ask for more memory than a block takes.
func (fr *FramedReader) Next(f *os.File, maxRaw int) (PackedBlock, error) {
	if fr.header == nil {
		fr.header = make([]byte, frameBytes)
		if _, err := f.ReadAt(fr.header, fr.at); err != nil {
			return PackedBlock{}, err
		}
	}
	blk := PackedBlock{
		offset: fr.at + frameBytes,
		size:   int32(binary.LittleEndian.Uint32(fr.header[0:])),
		raw:    int32(binary.LittleEndian.Uint32(fr.header[4:])),
		sum:    binary.LittleEndian.Uint32(fr.header[8:]),
	}
	if blk.size < 0 || int64(blk.size) > fr.end-blk.offset || blk.raw < 0 || int(blk.raw) > maxRaw {
		return PackedBlock{}, errors.New("a block's header is not what was written (damaged file?)")
	}
	return blk, nil
}

// Read reads the block next returned into dst, which must hold blk.raw
// bytes, and moves to the next.
func (fr *FramedReader) Read(f *os.File, blk PackedBlock, dst []byte) error {
	fr.at = blk.offset + int64(blk.size)
	peek := 0
	if fr.More() {
		peek = frameBytes
	}
	read := fr.ReadAndPeek
	if fr.stored {
		read = fr.readStoredAndPeek
	}
	header, err := read(f, blk, dst, peek)
	fr.header = nil
	if peek > 0 {
		fr.header = header
	}
	return err
}
