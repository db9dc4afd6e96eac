package reader

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// A large classic pcap file can be read in pieces at once. Split cuts it
// into byte ranges (chunks). Each chunk is read speculatively by its own
// ChunkReader, which starts at the first position in its range where a
// chain of plausible record headers begins, as a resync does, and reads the
// records that start before the range's end. Whoever puts the chunks back
// in order checks each against what reading up to it left (Fits): where
// the previous chunk stopped, the capture's parameters, and that nothing
// unusual (damage, another file header, odd headers) was met. A chunk that
// does not fit is read again from the previous one's stop with Resume,
// exactly as one sequential pass would have read it. The result is that of
// a sequential pass, whatever the chunks' boundaries.

// syncChain is how many records must chain at a chunk's first record. It
// is longer than a resync's chain: at a chunk start nothing is damaged, and
// the frames of a flood are so alike that a few shifted "headers" can
// chain; a false start costs a chunk read again.
const syncChain = 32

// Split is a classic pcap file cut into chunks.
type Split struct {
	Path    string
	Size    int64
	Chunks  []Chunk // in file order, covering the records from the file header to the end
	header  ReaderState
	counter *Counter
}

// Chunk is a byte range [Start, End) of a trace: it holds the records whose
// header starts in it.
type Chunk struct{ Start, End int64 }

// ReaderState is what reading a classic pcap file up to some record
// boundary leaves, and reading on from there needs.
type ReaderState struct {
	order    binary.ByteOrder
	nano     bool
	snaplen  int
	linkType int
	limit    int
	fracMax  uint32
	odd      bool
	lastTime int64
}

// sameCapture reports whether records read in state s and in state o are
// read alike: the same parameters, and odd headers known in both or in
// neither. The time of the last record only matters where a resync
// happens, which makes a chunk unfit anyway.
func (s ReaderState) sameCapture(o ReaderState) bool {
	return s.order == o.order && s.nano == o.nano && s.snaplen == o.snaplen &&
		s.linkType == o.linkType && s.odd == o.odd
}

// SplitPcap cuts the classic, uncompressed pcap file at path into chunks of
// about chunkSize bytes. It returns nil when the file cannot be split: not
// a regular file, compressed, pcapng, or no larger than two chunks. Bytes
// read are added to counter when it is not nil.
func SplitPcap(path string, chunkSize int64, counter *Counter) (*Split, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open trace: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Size() <= 2*chunkSize {
		return nil, nil
	}
	hdr := make([]byte, pcapFileHeaderLen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, nil
	}
	var r pcapReader
	if !r.parseHeader(hdr) {
		return nil, nil
	}
	r.lastTime = noTime
	s := &Split{Path: path, Size: info.Size(), header: r.state(), counter: counter}
	for start := int64(pcapFileHeaderLen); start < s.Size; start += chunkSize {
		s.Chunks = append(s.Chunks, Chunk{start, min(start+chunkSize, s.Size)})
	}
	s.header.odd = s.oddWriter()
	return s, nil
}

// oddWriter reads the first records of the file, as a pass would, and
// reports whether their writer leaves odd headers (see plausible): reading
// in a state that knows it, speculative readers then find their first
// record as a sequential pass reads it.
func (s *Split) oddWriter() bool {
	c, err := s.open(s.Size, pcapFileHeaderLen, s.header)
	if err != nil {
		return false
	}
	defer c.Close()
	var f Frame
	for i := 0; i < 1000 && c.Next(&f) == nil; i++ {
	}
	return c.r.odd
}

// ChunkReader reads the records of one chunk.
type ChunkReader struct {
	r       *pcapReader
	file    *os.File
	end     int64
	start   int64 // offset of the chunk's first record; -1 when it has none
	stop    int64 // where the next chunk's records start, once Next returned io.EOF
	state   ReaderState
	damages []Damage
	done    bool
}

// OpenChunk starts reading chunk i speculatively, as if the file header's
// parameters held there; chunk 0 is read exactly.
func (s *Split) OpenChunk(i int) (*ChunkReader, error) {
	c, err := s.open(s.Chunks[i].End, s.Chunks[i].Start, s.header)
	if err != nil || i == 0 {
		return c, err
	}
	// Find the first record: a chain of plausible headers, as a resync
	// finds one. A chunk without one is left to Resume.
	for pos := 0; c.r.win.offset+int64(pos) < c.end; pos++ {
		if c.r.chainAt(pos, noTime, syncChain) {
			c.r.win.discard(pos)
			c.start = c.r.win.offset
			return c, nil
		}
		if pos >= resyncLimit {
			break
		}
	}
	c.start, c.done = -1, true
	return c, nil
}

// Resume reads chunk i from offset at, a record boundary reached by reading
// what comes before in state st: exactly what a sequential pass reads.
func (s *Split) Resume(i int, at int64, st ReaderState) (*ChunkReader, error) {
	return s.open(s.Chunks[i].End, at, st)
}

// open reads from offset at to the first record at or after end.
func (s *Split) open(end, at int64, st ReaderState) (*ChunkReader, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot open trace: %w", err)
	}
	if _, err := f.Seek(at, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read trace: %s: %w", s.Path, err)
	}
	var raw io.Reader = f
	if s.counter != nil {
		raw = countingReader{f, s.counter}
	}
	c := &ChunkReader{file: f, end: end, start: at, stop: -1}
	c.r = &pcapReader{path: s.Path, win: newWindow(raw), damages: &c.damages}
	c.r.win.offset = at
	c.r.setState(st)
	c.state = st
	return c, nil
}

// Next reads the chunk's next record into f; f.Data is valid until the next
// call. It returns io.EOF after the last record that starts in the chunk.
func (c *ChunkReader) Next(f *Frame) error {
	if c.done {
		return io.EOF
	}
	if c.r.win.offset >= c.end {
		return c.finish(c.r.win.offset)
	}
	before := c.r.state()
	if err := c.r.Next(f); err != nil {
		return c.finish(c.r.win.offset)
	}
	if f.Offset >= c.end {
		// Skipping damage took reading into the next chunk: the record is
		// that chunk's, and reading it again starts from before it.
		c.r.lastTime = before.lastTime
		return c.finish(f.Offset)
	}
	return nil
}

func (c *ChunkReader) finish(stop int64) error {
	c.done, c.stop, c.state = true, stop, c.r.state()
	return io.EOF
}

// Start returns the offset of the chunk's first record, or -1 when a
// speculative reader found none.
func (c *ChunkReader) Start() int64 { return c.start }

// Stop returns where the records of the next chunk start: valid once Next
// returned io.EOF.
func (c *ChunkReader) Stop() int64 { return c.stop }

// State returns what reading the chunk left, for resuming after it.
func (c *ChunkReader) State() ReaderState { return c.state }

// Damages returns the damaged regions met in the chunk.
func (c *ChunkReader) Damages() []Damage { return c.damages }

// Fits reports whether the records this speculative reader read are those
// a sequential pass reads after stopping at prevStop in state prev: it
// started there, in the same capture, and met nothing unusual. A reader
// made by Resume always fits.
func (c *ChunkReader) Fits(prevStop int64, prev ReaderState) bool {
	return c.start == prevStop && len(c.damages) == 0 && c.state.sameCapture(prev)
}

// Close closes the file.
func (c *ChunkReader) Close() error { return c.file.Close() }

func (r *pcapReader) state() ReaderState {
	return ReaderState{r.order, r.nano, r.snaplen, r.linkType, r.limit, r.fracMax, r.odd, r.lastTime}
}

func (r *pcapReader) setState(s ReaderState) {
	r.order, r.nano, r.snaplen, r.linkType, r.limit, r.fracMax, r.odd, r.lastTime =
		s.order, s.nano, s.snaplen, s.linkType, s.limit, s.fracMax, s.odd, s.lastTime
}

// ReadSplit reads every chunk of s, speculatively on `workers` goroutines
// at most `ahead` chunks in advance, each through read, and hands the
// results to use in file order, in the caller's goroutine. read gets the
// chunk's reader, to call Next on until io.EOF, and the index of the
// goroutine calling it: below workers for the speculative readers, workers
// for the caller's goroutine, which reads again a chunk that does not fit
// what came before. use thus sees exactly the records of a sequential pass.
// The damaged regions those records skipped are appended to damages. An
// error from opening a chunk, or from use, stops reading.
func ReadSplit[T any](s *Split, workers, ahead int, read func(c *ChunkReader, worker int) T, use func(T) error, damages *[]Damage) error {
	type result struct {
		value  T
		reader *ChunkReader
		err    error
	}
	n := len(s.Chunks)
	results := make([]chan result, n)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	readChunk := func(i int, at int64, st ReaderState, worker int) result {
		var c *ChunkReader
		var err error
		if at < 0 {
			c, err = s.OpenChunk(i)
		} else {
			c, err = s.Resume(i, at, st)
		}
		if err != nil {
			return result{err: err}
		}
		defer c.Close()
		return result{value: read(c, worker), reader: c}
	}
	tickets := make(chan struct{}, max(ahead, workers))
	next := make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(next)
		for i := 0; i < n; i++ {
			select {
			case tickets <- struct{}{}:
			case <-done:
				return
			}
			select {
			case next <- i:
			case <-done:
				return
			}
		}
	}()
	for w := 0; w < workers; w++ {
		go func() {
			for i := range next {
				results[i] <- readChunk(i, -1, ReaderState{}, w)
			}
		}()
	}
	var prevStop int64
	var prev ReaderState
	for i := 0; i < n; i++ {
		res := <-results[i]
		<-tickets
		if res.err != nil {
			return res.err
		}
		if i > 0 && !res.reader.Fits(prevStop, prev) {
			if res = readChunk(i, prevStop, prev, workers); res.err != nil {
				return res.err
			}
		}
		*damages = append(*damages, res.reader.Damages()...)
		prevStop, prev = res.reader.Stop(), res.reader.State()
		if err := use(res.value); err != nil {
			return err
		}
	}
	return nil
}
