package reader

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"

	"flowstat/reader/decompress"
)

// Trace is one opened input.
type Trace struct {
	Path        string
	Format      string // "pcap", "pcap-ns" or "pcapng"
	Compression string // "" or a compression's name: "gzip", "zstd", "xz", "bzip2", "lz4"
	Damages     []Damage
	// UnknownBlocks counts pcapng blocks of types the specification does
	// not define, which are skipped.
	UnknownBlocks int

	records recordReader
	closers []io.Closer

	// What reopening a parked trace needs (see Park).
	parked   bool
	first    int64    // the time of its first frame, read before it was parked,
	hasFirst bool     // if it had one
	lean     bool     // read through leanBuffers
	file     string   // the path opened; "" for standard input
	counter  *Counter // where the bytes read from disk are counted
	counted  atomic.Int64
}

type recordReader interface {
	Next(f *Frame) error
	format() string
}

// Next reads the next frame into f; f.Data is valid until the next call. It
// returns io.EOF at the end of the trace. Damaged regions do not stop it:
// they are skipped and listed in Damages.
func (t *Trace) Next(f *Frame) error { return t.records.Next(f) }

// Close releases the file, the decompressor and the buffers; reading
// after it fails. Closing again does nothing.
func (t *Trace) Close() error {
	var first error
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	t.closers, t.records = nil, closedTrace{}
	return first
}

func (t *Trace) closed() bool { _, ok := t.records.(closedTrace); return ok }

// closedTrace is what a closed trace reads.
type closedTrace struct{}

var errClosed = errors.New("trace is closed")

func (closedTrace) Next(*Frame) error { return errClosed }
func (closedTrace) format() string    { return "" }

// Park closes a trace that is a file and forgets what reading it found, as
// if it had not been read, until a Merge opens it again at its start when
// its turn comes. Several traces opened before they are merged are parked,
// so that rotated files hold a file and its buffers (megabytes for a
// compressed one) only while they are read. Standard input and pipes, which
// cannot be read again, stay open.
func (t *Trace) Park() {
	if t.file == "" || t.parked {
		return
	}
	t.Close()
	t.parked, t.Damages, t.UnknownBlocks = true, nil, 0
	if t.counter != nil {
		t.counter.n.Add(-t.counted.Swap(0))
	}
}

// unpark opens a parked trace again at its start.
func (t *Trace) unpark() error {
	if !t.parked {
		return nil
	}
	t.parked = false
	f, err := os.Open(t.file)
	if tooManyOpen(err) {
		return fmt.Errorf("could not be opened when its turn came: %w: more traces overlap in time than a process may open files; raise the limit (ulimit -n) or merge some first (mergecap)", err)
	}
	if err != nil {
		return fmt.Errorf("could not be opened when its turn came: %w", err)
	}
	t.closers = append(t.closers, f)
	if err := t.open(t.countBytes(f)); err != nil {
		t.Close()
		return fmt.Errorf("changed before its turn came: %w", err)
	}
	return nil
}

func tooManyOpen(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// countBytes counts what is read from raw for the trace, and in its
// counter when it has one.
func (t *Trace) countBytes(raw io.Reader) io.Reader {
	if t.counter == nil {
		return raw
	}
	return countingReader{raw, t.counter, &t.counted}
}

// Counter counts bytes as they are read from disk, before decompression, so
// progress stays true for compressed inputs. It is safe to read while a
// reader adds to it.
type Counter struct{ n atomic.Int64 }

// Load returns the bytes counted so far.
func (c *Counter) Load() int64 { return c.n.Load() }

type countingReader struct {
	r     io.Reader
	c     *Counter
	trace *atomic.Int64 // the trace's own count, taken back when it is parked
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.c.n.Add(int64(n))
	cr.trace.Add(int64(n))
	return n, err
}

// Open opens one trace file ("-" is standard input), detecting compression
// and format by magic bytes. Bytes read from disk are added to counter when
// it is not nil.
func Open(path string, counter *Counter) (*Trace, error) {
	return openTrace(path, counter, false)
}

// OpenParked opens a trace to learn that it is one and the time of its
// first frame, which orders it in a Merge, and parks it until the Merge
// reaches that time (see Park). It reads through lean buffers, as it reads
// no more than the trace's first bytes: full ones are megabytes to
// allocate for each of what may be thousands of files. Standard input and
// pipes, which are never parked, are opened as Open does.
func OpenParked(path string, counter *Counter) (*Trace, error) {
	return openTrace(path, counter, true)
}

func openTrace(path string, counter *Counter, park bool) (*Trace, error) {
	t := &Trace{Path: path, counter: counter}
	var raw io.Reader
	if path == "-" {
		raw = os.Stdin
		t.Path = "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("cannot open trace: %w", err)
		}
		t.closers = append(t.closers, f)
		raw = f
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			t.file = path // not a pipe: it can be read again
		}
	}
	t.lean = park && t.file != ""
	if err := t.open(t.countBytes(raw)); err != nil {
		t.Close()
		return nil, err
	}
	if park && t.file != "" {
		var f Frame
		t.hasFirst = t.Next(&f) == nil // else the Merge reads it again, to meet what is there
		t.first = f.Time
		t.Park()
	}
	return t, nil
}

// buffers sizes what an open trace reads through.
type buffers struct {
	file         int // buffered reading of the file
	compressedIn int // compressed bytes a decompressor reads at a time
	ahead        int // a read-ahead block of decompressed bytes
	depth        int // how many blocks are read ahead
	window       int // the most a window grows to
}

// fullBuffers hold 1.3 MiB for a trace, 6.5 for a compressed one;
// leanBuffers, for the inputs a merge opens while many others are open
// (see Merge), under half a MiB.
var (
	fullBuffers = buffers{file: 256 << 10, compressedIn: 256 << 10, ahead: 1 << 20, depth: 4, window: windowSize}
	leanBuffers = buffers{file: 64 << 10, compressedIn: 64 << 10, ahead: 256 << 10, depth: 1, window: initialWindowSize}
)

func (t *Trace) open(raw io.Reader) error {
	b := fullBuffers
	if t.lean {
		b = leanBuffers
	}
	buffered := bufio.NewReaderSize(raw, b.file)
	magic, _ := buffered.Peek(decompress.LongestMagic)
	var stream io.Reader = buffered
	if c := decompress.Detect(magic); c != nil {
		var err error
		if stream, err = t.decompress(c, buffered, b); err != nil {
			return err
		}
	}
	win := newWindow(stream)
	win.limit = b.window
	head, err := win.peek(4)
	switch {
	case err == io.EOF:
		return fmt.Errorf("%s: %w: the file is empty", t.Path, ErrBadMagic)
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s: %w: the file is %d bytes long", t.Path, ErrBadMagic, len(head))
	case err != nil:
		return fmt.Errorf("%s: %w", t.Path, readDamage(err))
	}
	switch binary.LittleEndian.Uint32(head) {
	case pcapMicroLE, pcapNanoLE, pcapMicroBE, pcapNanoBE:
		r, err := newPcapReader(t.Path, win, &t.Damages)
		if err != nil {
			return err
		}
		t.records = r
	case blockSHB:
		r, err := newPcapngReader(t.Path, win, &t.Damages, &t.UnknownBlocks)
		if err != nil {
			return err
		}
		t.records = r
	default:
		if hint := decompress.ArchiveHint(magic, t.Path); hint != "" {
			return fmt.Errorf("%s: %w (%s)", t.Path, ErrBadMagic, hint)
		}
		return fmt.Errorf("%s: %w (first bytes % x)", t.Path, ErrBadMagic, head)
	}
	t.Format = t.records.format()
	return nil
}

// Expand turns the command line's inputs into trace paths: a directory
// stands for the regular files in it, in name order; "-" is standard input.
func Expand(inputs []string) ([]string, error) {
	var paths []string
	for _, in := range inputs {
		if in == "-" {
			paths = append(paths, in)
			continue
		}
		info, err := os.Stat(in)
		if err != nil {
			return nil, fmt.Errorf("cannot read input: %w", err)
		}
		if !info.IsDir() {
			paths = append(paths, in)
			continue
		}
		entries, err := os.ReadDir(in)
		if err != nil {
			return nil, fmt.Errorf("cannot list input directory: %w", err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, filepath.Join(in, e.Name()))
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("input directory %s holds no files", in)
		}
		sort.Strings(names)
		paths = append(paths, names...)
	}
	return paths, nil
}
