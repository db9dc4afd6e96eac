package reader

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
)

// A large trace file can be read in pieces at once. Split cuts it into
// byte ranges (chunks). Each chunk is read speculatively by its own
// ChunkReader, which starts at the first position in its range where a
// chain of plausible records (classic pcap) or well-framed blocks (pcapng)
// begins, as a resync does, in the state the file's start left (its
// parameters, or its section's interfaces), and reads the records that
// start before the range's end. Whoever puts the chunks back in order
// checks each against what reading up to it left (Fits): where the
// previous chunk stopped, the same capture parameters or interfaces, and
// nothing unusual met (damage, odd headers, a simple packet block, whose
// time is its predecessor's). A chunk that does not fit is read again from
// the previous one's stop with Resume, exactly as one sequential pass would
// have read it. A damaged region that runs past a chunk's end is left open
// there, and the next chunk goes on skipping it (see resync.go); where a
// sequential pass stops reading the file, so does the split one. The
// result is that of a sequential pass, whatever the chunks' boundaries.

// syncChain is how many records (or blocks) must chain at a chunk's first
// one. It is longer than a resync's chain: at a chunk start nothing is
// damaged, and the frames of a flood are so alike that a few shifted
// "headers" can chain; a false start costs a chunk read again.
const syncChain = 32

// DefaultChunkSize is the size of the pieces a large trace file is read
// in: big enough that a chunk's start-up (a seek, finding the first
// record) is lost in its work, small enough that the chunks in flight take
// little memory (their packets wait for the flow tables: a chunk of
// header-only frames is some 40 k of them) and a 1 GB trace gives every
// core many of them.
const DefaultChunkSize = 4 << 20

// learnSpan bounds what learnHeader reads of a file's first records.
const learnSpan = 1 << 20

// Split is an uncompressed trace file cut into chunks.
type Split struct {
	Path    string
	Size    int64
	Chunks  []Chunk // in file order, covering the file after a classic pcap's header
	pcapng  bool
	begin   ReaderState // the state the first chunk is read in: the file header's
	header  ReaderState // the state speculative readers start in
	counter *Counter
	// midFile: the first chunk starts inside the file (SplitRange), and
	// is read speculatively too.
	midFile bool
	// Ends says how reading met the range's ends, once ReadSplit returns.
	Ends RangeEnds
}

// Chunk is a byte range [Start, End) of a trace: it holds the records (or
// blocks) that start in it.
type Chunk struct{ Start, End int64 }

// ReaderState is what reading a trace up to a record boundary leaves, and
// reading on from there needs.
type ReaderState struct {
	pcap  pcapState
	ng    pcapngState
	open  *damageScan // a damaged region reading ended inside, at a chunk's end
	ended bool        // reading the file ended: at damage that reaches its end, or a read error
}

type pcapState struct {
	order    byteOrder
	nano     bool
	snaplen  int
	linkType int
	limit    int
	fracMax  uint32
	odd      bool
	lastTime int64
}

type pcapngState struct {
	order    byteOrder
	ifaces   []iface
	lastTime int64
}

// sameCapture reports whether records read in state s and in state o are
// read alike: the same parameters (odd headers known in both or in
// neither), or the same byte order and interfaces. The time of the last
// record only matters where a resync happens, or for a simple packet block,
// which make a chunk unfit anyway.
func (s ReaderState) sameCapture(o ReaderState) bool {
	p, q := s.pcap, o.pcap
	return p.order == q.order && p.nano == q.nano && p.snaplen == q.snaplen && p.linkType == q.linkType &&
		p.odd == q.odd && s.ng.order == o.ng.order && slices.Equal(s.ng.ifaces, o.ng.ifaces)
}

// splitReader is a record reader that can start mid-file.
type splitReader interface {
	Next(f *Frame) error
	window() *window
	state() ReaderState
	setState(ReaderState)
	// lastRecordTime and setLastTime are the time of the last record
	// read, which orders the next: per record it costs nothing, unlike
	// state.
	lastRecordTime() int64
	setLastTime(int64)
	// chainStarts reports whether links records chain from the current
	// position, whatever the time of the last record read; it leaves
	// there at least the bytes it looked at buffered, none only at the end
	// of the file.
	chainStarts(links int) bool
	// skipDamage goes on skipping a damaged region left open.
	skipDamage(d damageScan) error
	// clean reports that nothing was read whose reading depends on more
	// than the state a chunk started in.
	clean() bool
}

// SplitTrace cuts the uncompressed pcap or pcapng file at path into chunks
// of about chunkSize bytes. It returns nil when the file cannot be split:
// not a regular file, compressed, or no larger than two chunks. ReadSplit
// adds the bytes of each chunk put in order to counter when it is not nil.
func SplitTrace(path string, chunkSize int64, counter *Counter) (*Split, error) {
	s, err := newSplit(path, counter)
	if s == nil || err != nil || s.Size <= 2*chunkSize {
		return nil, err
	}
	first := s.Chunks[0].Start
	if s.Size-first <= 2*chunkSize {
		return nil, nil // the records alone are no larger than two chunks
	}
	s.Chunks = nil
	for start := first; start < s.Size; start += chunkSize {
		s.Chunks = append(s.Chunks, Chunk{start, min(start+chunkSize, s.Size)})
	}
	s.begin = s.header
	s.header = s.learnHeader()
	return s, nil
}

// SplitRange cuts the records that start in the byte range [start, end)
// of the uncompressed pcap or pcapng file at path into chunks, as
// SplitTrace does: one range of a large file for one task, its neighbours
// read by others (flowstat map --range). The range may be empty at the
// file's end, holding nothing. A range that starts after the
// file header starts at the first chain of records in it, as a chunk
// does, and ReadSplit leaves in Ends what the reader of the range before
// must have left for both to read what one sequential pass reads.
func SplitRange(path string, start, end, chunkSize int64, counter *Counter) (*Split, error) {
	s, err := newSplit(path, counter)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%s: a byte range can only be read of an uncompressed pcap or pcapng file", path)
	}
	if start < 0 || end < start || end > s.Size || end == start && end != s.Size {
		return nil, fmt.Errorf("%s: the range %d:%d is not inside the file (%d bytes)", path, start, end, s.Size)
	}
	s.begin = s.header
	s.header = s.learnHeader()
	first := s.Chunks[0].Start
	s.midFile = start > first
	start = max(start, first)
	s.Chunks = nil
	for at := start; at < end; at += chunkSize {
		s.Chunks = append(s.Chunks, Chunk{at, min(at+chunkSize, end)})
	}
	if len(s.Chunks) == 0 { // the range holds only the file header
		s.Chunks = []Chunk{{start, start}}
	}
	return s, nil
}

// RangeEnds is how the reading of a byte range met its ends: a merge of
// ranges read by different tasks checks, with Follows, what ReadSplit
// checks of the chunks it reads.
type RangeEnds struct {
	First int64 `json:"first"` // offset of the range's first record; -1: none
	Stop  int64 `json:"stop"`  // where the records of the range after start
	// Begins is the capture (its parameters or interfaces) the range was
	// read in; Ends the one reading left.
	Begins string `json:"begins"`
	Ends   string `json:"ends"`
	// Fits: what the first chunk read is what a sequential pass reads
	// after stopping at First in capture Begins (no damage, nothing
	// unusual: see ChunkReader.Fits).
	Fits bool `json:"fits"`
	// Open: reading stopped inside a damaged region; Ended: reading the
	// file ended in the range (damage to the end of the file, a read
	// error).
	Open  bool `json:"open"`
	Ended bool `json:"ended"`
}

// Follows reports whether the range e was read exactly as a sequential
// pass would have read it after the range prev.
func (e RangeEnds) Follows(prev RangeEnds) bool {
	return !prev.Ended && !prev.Open && e.Fits && e.First == prev.Stop && e.Begins == prev.Ends
}

// capture names what sameCapture compares: equal names, equal captures.
func (s ReaderState) capture() string {
	p := s.pcap
	return fmt.Sprintf("pcap %v %v %d %d %v; pcapng %v %v", p.order, p.nano, p.snaplen, p.linkType, p.odd, s.ng.order, s.ng.ifaces)
}

// Splittable reports whether the file at path can be read in byte ranges
// (SplitRange): an uncompressed pcap or pcapng file.
func Splittable(path string) bool {
	s, err := newSplit(path, nil)
	return s != nil && err == nil
}

// newSplit reads the file header of the uncompressed trace file at path
// and returns it as a Split of one chunk, all its records, in the state
// the header gives (begin and header not yet learned); nil when it is not
// a regular file or not an uncompressed pcap or pcapng.
func newSplit(path string, counter *Counter) (*Split, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open trace: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil, nil
	}
	hdr := make([]byte, pcapFileHeaderLen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, nil
	}
	s := &Split{Path: path, Size: info.Size(), counter: counter}
	first := int64(pcapFileHeaderLen)
	var r pcapReader
	switch {
	case r.parseHeader(hdr):
		r.lastTime = noTime
		s.header = r.state()
	case binary.LittleEndian.Uint32(hdr) == blockSHB:
		order, ok := sectionOrder(hdr)
		if !ok {
			return nil, nil
		}
		s.pcapng, first = true, 0
		s.header = ReaderState{ng: pcapngState{order: order, lastTime: noTime}}
	default:
		return nil, nil
	}
	s.Chunks = []Chunk{{first, s.Size}}
	return s, nil
}

// learnHeader reads the first records of the file, as a pass would, and
// returns the state speculative readers start in: a classic pcap's writer
// may leave odd headers (see plausible), and a pcapng section describes
// its interfaces before its packets. When those records are of another
// capture already (concatenated files), the file header's state is kept.
// It reads no further than learnSpan: a file that starts with a long
// damaged region is scanned by the chunks' readers, on every core.
func (s *Split) learnHeader() ReaderState {
	c, err := s.open(min(s.Size, s.Chunks[0].Start+learnSpan), s.Chunks[0].Start, s.begin)
	if err != nil {
		return s.begin
	}
	defer c.Close()
	var f Frame
	for i := 0; i < 1000 && c.Next(&f) == nil; i++ {
	}
	st := c.r.state()
	st.pcap.lastTime, st.ng.lastTime = noTime, noTime
	if s.pcapng {
		return st
	}
	learned, begin := st.pcap, s.begin
	if learned.order == begin.pcap.order && learned.nano == begin.pcap.nano &&
		learned.snaplen == begin.pcap.snaplen && learned.linkType == begin.pcap.linkType {
		begin.pcap.odd = learned.odd
	}
	return begin
}

// ChunkReader reads the records of one chunk.
type ChunkReader struct {
	r       splitReader
	file    *os.File
	end     int64
	start   int64       // offset of the chunk's first record; -1 when it has none
	loose   int64       // the first position a resync could stop at (see OpenChunk); -1: none
	pending *damageScan // a damaged region to go on skipping before reading
	stop    int64       // where the next chunk's records start, once Next returned io.EOF
	initial ReaderState // the state reading started in
	state   ReaderState // and the one it left
	damages []Damage
	unknown int // pcapng blocks of unknown types
	done    bool
}

// OpenChunk starts reading chunk i speculatively, in the state the file's
// start left; chunk 0 is read exactly.
func (s *Split) OpenChunk(i int) (*ChunkReader, error) {
	if i == 0 && !s.midFile {
		return s.open(s.Chunks[0].End, s.Chunks[0].Start, s.begin)
	}
	c, err := s.open(s.Chunks[i].End, s.Chunks[i].Start, s.header)
	if err != nil {
		return c, err
	}
	// Find the first record, as a resync finds one. On the way, note the
	// first position where a resync's shorter chain starts: when a damaged
	// region runs into this chunk, a resync can stop nowhere before it. A
	// chunk without a record is left to Resume.
	win := c.r.window()
	found := seekChain(win, c.end, func() bool {
		if c.loose < 0 && c.r.chainStarts(resyncChain) {
			c.loose = win.offset
		}
		return c.loose >= 0 && c.r.chainStarts(syncChain)
	})
	if found {
		c.start = win.offset
	} else {
		c.start, c.done = -1, true
	}
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
	c := &ChunkReader{file: f, end: end, start: at, loose: -1, stop: -1, initial: st, state: st, pending: st.open}
	win := newWindow(f)
	win.offset = at
	if s.pcapng {
		c.r = &pcapngReader{path: s.Path, win: win, damages: &c.damages, unknown: &c.unknown, resyncEnd: end}
	} else {
		c.r = &pcapReader{path: s.Path, win: win, damages: &c.damages, resyncEnd: end}
	}
	c.r.setState(st)
	return c, nil
}

// Next reads the chunk's next record into f; f.Data is valid until the next
// call. It returns io.EOF after the last record that starts in the chunk.
func (c *ChunkReader) Next(f *Frame) error {
	if c.done {
		return io.EOF
	}
	win := c.r.window()
	if d := c.pending; d != nil {
		c.pending = nil
		if err := c.r.skipDamage(*d); err != nil {
			return c.finish(win.offset)
		}
	}
	if win.offset >= c.end {
		return c.finish(win.offset)
	}
	before := c.r.lastRecordTime()
	if err := c.r.Next(f); err != nil {
		return c.finish(win.offset)
	}
	if f.Offset >= c.end {
		// Skipping damage took reading into the next chunk: the record is
		// that chunk's, and reading it again starts from before it.
		c.r.setLastTime(before)
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
	return c.start == prevStop && prev.open == nil && len(c.damages) == 0 && c.state.open == nil && c.r.clean() &&
		c.initial.sameCapture(prev) && c.state.sameCapture(c.initial)
}

// Close closes the file.
func (c *ChunkReader) Close() error { return c.file.Close() }

func (r *pcapReader) window() *window            { return r.win }
func (r *pcapReader) setLastTime(t int64)        { r.lastTime = t }
func (r *pcapReader) lastRecordTime() int64      { return r.lastTime }
func (r *pcapReader) chainStarts(links int) bool { return r.chainAt(0, noTime, links) }
func (r *pcapReader) clean() bool                { return true } // odd headers met change the state

func (r *pcapReader) state() ReaderState {
	return ReaderState{pcap: pcapState{r.order, r.nano, r.snaplen, r.linkType, r.limit, r.fracMax, r.odd, r.lastTime},
		open: r.open, ended: r.done && r.open == nil}
}

func (r *pcapReader) setState(s ReaderState) {
	p := s.pcap
	r.order, r.nano, r.snaplen, r.linkType, r.limit, r.fracMax, r.odd, r.lastTime =
		p.order, p.nano, p.snaplen, p.linkType, p.limit, p.fracMax, p.odd, p.lastTime
}

func (r *pcapngReader) window() *window       { return r.win }
func (r *pcapngReader) setLastTime(t int64)   { r.lastTime = t }
func (r *pcapngReader) lastRecordTime() int64 { return r.lastTime }
func (r *pcapngReader) clean() bool           { return !r.simple }

func (r *pcapngReader) chainStarts(links int) bool {
	saved := r.lastTime
	r.lastTime = noTime
	defer func() { r.lastTime = saved }()
	return r.chainAt(0, links)
}

// state copies the interfaces: a new section would reuse them otherwise.
func (r *pcapngReader) state() ReaderState {
	return ReaderState{ng: pcapngState{r.order, slices.Clone(r.ifaces), r.lastTime}, open: r.open, ended: r.done && r.open == nil}
}

func (r *pcapngReader) setState(s ReaderState) {
	r.order, r.ifaces, r.lastTime = s.ng.order, slices.Clone(s.ng.ifaces), s.ng.lastTime
}

// ReadSplit reads every chunk of s, speculatively on `workers` goroutines
// at most `ahead` chunks in advance, each through read, and hands the
// results to use in file order, in the caller's goroutine. read gets the
// chunk's reader, to call Next on until io.EOF, and the index of the
// goroutine calling it: below workers for the speculative readers, workers
// for the caller's goroutine, which reads again a chunk that does not fit
// what came before. use thus sees exactly the records of a sequential pass.
// The damaged regions those records skipped, and the unknown pcapng blocks,
// are added to t, the trace opened at s.Path. An error from opening a
// chunk, or from use, stops reading.
func ReadSplit[T any](s *Split, workers, ahead int, read func(c *ChunkReader, worker int) T, use func(T) error, t *Trace) error {
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
	s.Ends = RangeEnds{First: -1}
	defer func() {
		s.Ends.Stop, s.Ends.Ends, s.Ends.Open, s.Ends.Ended = prevStop, prev.capture(), prev.open != nil, prev.ended
	}()
	for i := 0; i < n; i++ {
		res := <-results[i]
		<-tickets
		if res.err != nil {
			return res.err
		}
		if s.Ends.First < 0 {
			// The range's first record: what came before it was read by
			// another task, which the merge checks it against (Follows).
			c := res.reader
			if c.Start() < 0 { // none in this chunk of a range
				if err := use(res.value); err != nil {
					return err
				}
				continue
			}
			s.Ends.First, s.Ends.Begins = c.Start(), c.initial.capture()
			s.Ends.Fits = c.Fits(c.Start(), c.initial)
			prevStop, prev = c.Start(), c.initial
		}
		if i > 0 && !res.reader.Fits(prevStop, prev) {
			at := prevStop
			if prev.open != nil && res.reader.initial.sameCapture(prev) {
				// A damaged region runs into this chunk. Where the
				// speculative reader saw no chain, none ends it here, and
				// it runs on into the next chunk (to the end of the file,
				// the last chunk's reader finds and reports).
				if res.reader.loose < 0 && i < n-1 {
					if s.counter != nil {
						s.counter.n.Add(s.Chunks[i].End - prevStop)
					}
					prevStop = s.Chunks[i].End
					if err := use(res.value); err != nil {
						return err
					}
					continue
				}
				at = max(at, res.reader.loose)
			}
			if res = readChunk(i, at, prev, workers); res.err != nil {
				return res.err
			}
		}
		t.Damages = append(t.Damages, res.reader.Damages()...)
		t.UnknownBlocks += res.reader.unknown
		if s.counter != nil {
			// Progress is what has been put in order, not what workers
			// have read ahead, or read twice.
			s.counter.n.Add(res.reader.Stop() - max(prevStop, s.Chunks[i].Start))
		}
		prevStop, prev = res.reader.Stop(), res.reader.State()
		if err := use(res.value); err != nil {
			return err
		}
		if prev.ended {
			break // as a sequential pass stops reading the file there
		}
	}
	return nil
}
