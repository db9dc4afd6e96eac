package decompress

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
	"slices"
	"sync"
)

// A bzip2 stream is a header ("BZh" and the block size digit), blocks
// that each begin with a 48-bit magic at any bit offset (blocks are bit
// packed), and an end marker followed by the stream's 32-bit CRC, padded
// to a byte. Blocks depend on nothing before them: each found by its
// magic is decompressed by libbz2 as a stream of its own (its stream's
// header, the block, an end marker and the block's CRC, which is a
// one-block stream's), as bzip2recover cuts a file, on as many goroutines
// as there are cores: bzip2 decodes at about 40 MB/s on one core, the
// slowest input by far. Each block's CRC is checked by libbz2, and the
// stream's, which combines them, as the blocks are read in order.
const (
	bzBlockMagic = 0x314159265359
	bzEndMagic   = 0x177245385090
	bzMagicBits  = 48
	bzTailBits   = bzMagicBits + 32 // end marker and CRC
	// bzMaxBlockBits is more than any block takes (900 k symbols of at most
	// 20 bits, and its tables): where none ends, the data is not bzip2.
	bzMaxBlockBits = 8 << 20 * 8
)

// bzFirstByte[b] has bit s (s < 8) set when byte b is the second byte of
// a magic that starts s bits into the byte before it, bit 8+s for the end
// marker: the search looks at one byte in most places.
var bzFirstByte = func() (t [256]uint16) {
	for s := 0; s < 8; s++ {
		t[bzBlockMagic>>(32+s)&0xff] |= 1 << s
		t[bzEndMagic>>(32+s)&0xff] |= 1 << (8 + s)
	}
	return t
}()

// bits48 returns the 48 bits of b from bit offset at; bits past the end
// of b read as zero.
func bits48(b []byte, at int) uint64 {
	var w [8]byte
	copy(w[:], b[at/8:])
	return binary.BigEndian.Uint64(w[:]) << (at % 8) >> 16
}

// bzCRCAt returns the CRC that follows the magic at bit at of b.
func bzCRCAt(b []byte, at int) uint32 { return uint32(bits48(b, at+bzMagicBits) >> 16) }

// bzSplitter finds the blocks of the bzip2 streams read from src.
type bzSplitter struct {
	src    io.Reader
	buf    []byte // compressed bytes not yet cut off
	pos    int    // bit offset in buf where the next item (header or magic) is
	header bool   // a stream header is expected at pos
	level  byte   // the current stream's block size digit
	blocks int    // blocks found in the current stream
	srcErr error
	readSz int
}

// bzBlock is the bits of one block, from bit from of data for n bits, or
// of a block whose end the input did not hold (cut).
type bzBlock struct {
	data    []byte
	from, n int
	cut     bool
	level   byte  // its stream's block size digit, which bounds the block
	err     error // instead of a block: what the input held there

	crc        uint32 // the CRC of its bytes, as its header says
	endsStream bool   // an end marker follows it,
	streamCRC  uint32 // with the CRC it says the stream's blocks combine to

	out  []byte
	dErr error
	done chan struct{}
}

func newBzSplitter(src io.Reader, readSize int) *bzSplitter {
	return &bzSplitter{src: src, header: true, readSz: readSize}
}

// more reads more of src; false when nothing more comes.
func (s *bzSplitter) more() bool {
	if s.srcErr != nil {
		return false
	}
	if cap(s.buf)-len(s.buf) < s.readSz {
		grown := make([]byte, len(s.buf), 2*cap(s.buf)+s.readSz)
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.src.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if n == 0 && err == nil {
		err = io.ErrNoProgress
	}
	s.srcErr = err
	return n > 0 || err == nil
}

// need reads until buf holds bits bits from pos; false if it cannot.
func (s *bzSplitter) need(bits int) bool {
	for len(s.buf)*8 < s.pos+bits {
		if !s.more() {
			return false
		}
	}
	return true
}

// readErr is what the input ending early means: its error, or a cut.
func (s *bzSplitter) readErr() error {
	if s.srcErr == io.EOF || s.srcErr == nil {
		return io.ErrUnexpectedEOF
	}
	return s.srcErr
}

// next returns the next block, io.EOF after the last, or a block with err
// set where the input is not bzip2 or cannot be read.
func (s *bzSplitter) next() (*bzBlock, error) {
	// Drop what is before the next item (only here: positions in buf
	// stay put while a block is looked for).
	if drop := s.pos / 8; drop > 0 {
		s.buf = s.buf[:copy(s.buf, s.buf[drop:])]
		s.pos -= drop * 8
	}
	for {
		if s.header {
			if !s.need(32) {
				if len(s.buf)*8 == s.pos && s.srcErr == io.EOF {
					return nil, io.EOF
				}
				if rest := string(s.buf[s.pos/8:]); rest == "BZh"[:min(len(rest), 3)] {
					return &bzBlock{err: s.readErr()}, nil // a header cut short
				}
				return &bzBlock{err: errNotBzip2}, nil
			}
			at := s.pos / 8
			if string(s.buf[at:at+3]) != "BZh" || s.buf[at+3] < '1' || s.buf[at+3] > '9' {
				return &bzBlock{err: errNotBzip2}, nil
			}
			s.level = s.buf[at+3]
			s.pos += 32
			s.header = false
			s.blocks = 0
		}
		if !s.need(bzMagicBits) {
			return &bzBlock{err: s.readErr()}, nil
		}
		switch bits48(s.buf, s.pos) {
		case bzEndMagic:
			if !s.need(bzTailBits) {
				return &bzBlock{err: s.readErr()}, nil
			}
			if s.blocks == 0 && bzCRCAt(s.buf, s.pos) != 0 { // an empty stream's blocks combine to 0
				return &bzBlock{err: errCorruptBzip2}, nil
			}
			s.pos = (s.pos + bzTailBits + 7) &^ 7
			s.header = true
			continue
		case bzBlockMagic:
		default:
			return &bzBlock{err: errCorruptBzip2}, nil
		}
		end, found := s.blockEnd(s.pos + bzMagicBits)
		if !found && s.srcErr == nil {
			return &bzBlock{err: errCorruptBzip2}, nil // longer than any block
		}
		b := &bzBlock{from: s.pos % 8, cut: !found, level: s.level, crc: bzCRCAt(s.buf, s.pos)}
		b.n = end - s.pos
		if found && bits48(s.buf, end) == bzEndMagic { // blockEnd read its CRC
			b.endsStream, b.streamCRC = true, bzCRCAt(s.buf, end)
		}
		s.blocks++
		b.data = append([]byte(nil), s.buf[s.pos/8:(end+7)/8]...)
		s.pos = end
		if !found {
			s.header = true // the input ended: next finds it so
		}
		return b, nil
	}
}

// blockEnd finds where the block before bit from ends: at the next block
// magic, or at an end marker that the input's end or another stream
// follows. Without either, the input ended inside the block, or (an end
// marker that something else follows) a stream ended before data that is
// not bzip2, which next then reports.
func (s *bzSplitter) blockEnd(from int) (int, bool) {
	endBeforeGarbage := -1
	for {
		resume := -1 // where to look again once more is read
	scan:
		for i := max(from/8-1, 0); i+1 < len(s.buf); i++ {
			cand := bzFirstByte[s.buf[i+1]]
			if cand == 0 {
				continue
			}
			if len(s.buf)-i < 8 && s.srcErr == nil {
				resume = i * 8
				break
			}
			for sh := 0; sh < 8; sh++ {
				at := i*8 + sh
				if at < from || cand&(1<<sh|1<<(8+sh)) == 0 {
					continue
				}
				switch bits48(s.buf, at) {
				case bzBlockMagic:
					return at, true
				case bzEndMagic:
					ok, known := s.streamEndsAt(at)
					switch {
					case ok:
						return at, true
					case !known:
						resume = at
						break scan
					case endBeforeGarbage < 0:
						endBeforeGarbage = at
					}
				}
			}
		}
		if s.srcErr != nil {
			if endBeforeGarbage >= 0 {
				return endBeforeGarbage, true
			}
			return len(s.buf) * 8, false
		}
		if len(s.buf)*8-s.pos > bzMaxBlockBits { // s.pos: where the block begins
			return len(s.buf) * 8, false // next says what this is
		}
		if resume < 0 {
			resume = max(from, (len(s.buf)-8)*8)
		}
		from = resume
		s.more()
	}
}

// streamEndsAt says whether the end marker at bit at ends a stream: what
// follows its CRC and padding is the input's end or another stream's
// header. known is false when more must be read to tell.
func (s *bzSplitter) streamEndsAt(at int) (ok, known bool) {
	next := (at + bzTailBits + 7) / 8
	switch {
	case next == len(s.buf) && s.srcErr != nil:
		return s.srcErr == io.EOF, true
	case next+4 > len(s.buf):
		return false, s.srcErr != nil
	}
	h := s.buf[next : next+4]
	return string(h[:3]) == "BZh" && h[3] >= '1' && h[3] <= '9', true
}

var (
	errNotBzip2     = errors.New("not bzip2 data")
	errCorruptBzip2 = errors.New("corrupt bzip2 data")
)

// bitWriter appends bits, most significant first.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) write(v uint64, bits int) {
	for bits > 0 {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		room := 8 - w.n%8
		take := min(room, bits)
		chunk := byte(v>>(bits-take)) & (1<<take - 1)
		w.b[len(w.b)-1] |= chunk << (room - take)
		w.n += take
		bits -= take
	}
}

// copyBits appends n bits of src from bit from.
func (w *bitWriter) copyBits(src []byte, from, n int) {
	if w.n%8 == 0 {
		// Whole bytes, shifted into place.
		sh, at := uint(from%8), from/8
		for ; n >= 8; n, from, at = n-8, from+8, at+1 {
			b := src[at] << sh
			if sh > 0 {
				b |= src[at+1] >> (8 - sh)
			}
			w.b = append(w.b, b)
			w.n += 8
		}
	}
	for ; n >= 32; n, from = n-32, from+32 {
		w.write(bits48(src, from)>>16, 32)
	}
	if n > 0 {
		w.write(bits48(src, from)>>(48-n), n)
	}
}

// bzStream makes a one-block bzip2 stream of blocks (one, or a block and
// the rest of it that a magic found by chance cut off), and says at which
// byte the end marker made for it begins.
func bzStream(blocks ...*bzBlock) ([]byte, int) {
	w := bitWriter{b: make([]byte, 0, len(blocks[0].data)+16)}
	w.write('B'<<24|'Z'<<16|'h'<<8|uint64(blocks[0].level), 32)
	for _, b := range blocks {
		w.copyBits(b.data, b.from, b.n)
	}
	tail := w.n / 8
	if blocks[len(blocks)-1].cut {
		// Cut short, as it was in the file: libbz2 says where it ends.
		return w.b, tail
	}
	w.write(bzEndMagic, bzMagicBits)
	w.write(uint64(blocks[0].crc), 32)
	return w.b, tail
}

// decodeBzBlocks decompresses blocks made into one stream with dec, into
// out's array.
func decodeBzBlocks(dec bzip2Decoder, out []byte, blocks ...*bzBlock) ([]byte, error) {
	in, tail := bzStream(blocks...)
	if err := dec.restart(); err != nil {
		return nil, err
	}
	out = out[:0]
	used := 0
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, max(cap(out), 1<<20))
		}
		u, n, end, err := dec.decode(in[used:], out[len(out):cap(out)], true)
		used += u
		out = out[:len(out)+n]
		switch {
		case err != nil:
			return out, err
		case end && used < tail:
			// The block held its own end marker, and data that is not bzip2 after it.
			return out, errNotBzip2
		case end:
			return out, nil
		case u == 0 && n == 0:
			return out, io.ErrUnexpectedEOF
		}
	}
}

// bzip2Parallel reads what the blocks of src decompress to, in order,
// decompressing up to workers blocks at once. Its output and errors are
// those of bzip2Decoder reading src in one stream (TestBzip2Parallel).
type bzip2Parallel struct {
	split   *bzSplitter
	workers int

	mu  sync.Mutex   // Close may run while Read waits
	dec bzip2Decoder // the caller's: the first block and retries

	first bool          // the first block is still to be read, in the caller's goroutine
	order chan *bzBlock // blocks in file order, once the goroutines run
	stop  chan struct{}
	free  chan []byte // arrays of blocks read, to decompress others into
	out   []byte      // what is left to read of the current block
	spent []byte      // its array
	err   error

	streamCRC uint32 // the CRCs of the stream's blocks read so far, combined
}

func newBzip2Parallel(src io.Reader, inSize, workers int) (*bzip2Parallel, error) {
	dec, err := newBzip2Decoder()
	if err != nil {
		return nil, err
	}
	return &bzip2Parallel{split: newBzSplitter(src, max(inSize, 64<<10)), workers: workers, dec: dec,
		first: true, stop: make(chan struct{}), free: make(chan []byte, 3*workers)}, nil
}

func (z *bzip2Parallel) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(z.out) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.recycle(z.spent)
		z.out, z.err = z.nextBlock()
		z.spent = z.out
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

// nextBlock returns what the next block decompresses to. A block that does
// not decompress may be one that a magic met by chance (once in 2^48
// bits) cut in two: then it is tried with the block after it.
func (z *bzip2Parallel) nextBlock() ([]byte, error) {
	if !z.first && z.order == nil {
		z.start()
	}
	z.first = false
	b := z.take()
	switch {
	case b == nil:
		return nil, io.EOF
	case b.err != nil:
		return nil, b.err
	case b.dErr == nil:
		return b.out, z.combine(b, b)
	case !b.cut:
		if rest := z.take(); rest != nil && rest.err == nil {
			if out, err := z.decode(b, rest); err == nil {
				return out, z.combine(b, rest)
			}
		}
	}
	return b.out, b.dErr
}

// combine adds the CRC of a block read whole (first, or first and the
// rest of it, last) to its stream's, and checks the stream's at its end
// as bzip2 does: what a block holds is checked by its own CRC, this says
// that no block was lost or repeated.
func (z *bzip2Parallel) combine(first, last *bzBlock) error {
	z.streamCRC = bits.RotateLeft32(z.streamCRC, 1) ^ first.crc
	if !last.endsStream {
		return nil
	}
	ok := z.streamCRC == last.streamCRC
	z.streamCRC = 0
	if !ok {
		return errCorruptBzip2
	}
	return nil
}

// recycle keeps a block's array for another, when there is room; an
// array of fresh memory is zeroed by the runtime first, which cost more
// than a second of CPU on the benchmark trace.
func (z *bzip2Parallel) recycle(b []byte) {
	if cap(b) == 0 {
		return
	}
	select {
	case z.free <- b[:0]:
	default:
	}
}

// reuse returns an array to decompress into, nil if none is free.
func (z *bzip2Parallel) reuse() []byte {
	select {
	case b := <-z.free:
		return b
	default:
		return nil
	}
}

// take returns the next block decompressed, nil after the last.
func (z *bzip2Parallel) take() *bzBlock {
	if z.order == nil {
		b, err := z.split.next()
		if err != nil {
			return nil
		}
		if b.err == nil {
			b.out, b.dErr = z.decode(b)
		}
		return b
	}
	select {
	case b, ok := <-z.order:
		if !ok {
			return nil
		}
		select {
		case <-b.done:
			return b
		case <-z.stop:
		}
	case <-z.stop:
	}
	return &bzBlock{err: errDecoderClosed}
}

func (z *bzip2Parallel) decode(blocks ...*bzBlock) ([]byte, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.dec.s == nil {
		return nil, errDecoderClosed
	}
	return decodeBzBlocks(z.dec, z.reuse(), blocks...)
}

// start runs the splitter and the workers: the splitter hands each block
// to a worker and, in file order, to Read, at most a few ahead.
func (z *bzip2Parallel) start() {
	z.order = make(chan *bzBlock, 2*z.workers)
	jobs := make(chan *bzBlock, z.workers)
	go func() {
		defer close(jobs)
		defer close(z.order)
		for {
			b, err := z.split.next()
			if err != nil {
				return
			}
			b.done = make(chan struct{})
			if b.err != nil {
				close(b.done)
			}
			select {
			case z.order <- b:
			case <-z.stop:
				return
			}
			if b.err != nil {
				return
			}
			select {
			case jobs <- b:
			case <-z.stop:
				return
			}
		}
	}()
	for range z.workers {
		go func() {
			dec, err := newBzip2Decoder()
			if err == nil {
				defer dec.free()
			}
			for b := range jobs {
				if err != nil {
					b.dErr = err
				} else {
					b.out, b.dErr = decodeBzBlocks(dec, z.reuse(), b)
				}
				close(b.done)
			}
		}()
	}
}

// Close stops the goroutines, which free their decoders as they return
// (the splitter once a read of src it may be waiting on returns), and
// frees the caller's. It does not close src.
func (z *bzip2Parallel) Close() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.dec.s != nil {
		close(z.stop)
		z.dec.free()
		z.dec.s = nil
	}
	return nil
}
