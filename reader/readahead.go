package reader

import (
	"io"
	"time"
)

// readAhead reads from r in its own goroutine, a few blocks ahead of the
// consumer, so that decompressing a trace runs beside decoding it instead
// of before each frame. Its first, small block is read in the consumer's
// goroutine and the goroutine starts only when more is wanted: a merge
// opens every input to learn when it starts, and closes those that start
// later (see Merge), which would otherwise decompress megabytes of each.
type readAhead struct {
	src     io.Reader
	size    int  // of a block
	started bool // fill was started
	blocks  chan block
	free    chan []byte
	stop    chan struct{}
	done    chan struct{} // closed when fill returns
	cur     block
	off     int
	err     error
}

type block struct {
	data []byte
	err  error
}

const readAheadFirst = 64 << 10

// newReadAhead reads blocks of size bytes, depth ahead.
func newReadAhead(r io.Reader, size, depth int) *readAhead {
	ra := &readAhead{
		src:    r,
		size:   size,
		blocks: make(chan block, depth),
		free:   make(chan []byte, depth+2),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	return ra
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.done)
	defer close(ra.blocks)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			buf = make([]byte, ra.size)
		}
		b := readBlock(r, buf)
		select {
		case ra.blocks <- b:
		case <-ra.stop:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// readBlock fills buf from r; a short last block ends with io.EOF.
func readBlock(r io.Reader, buf []byte) block {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return block{buf[:n], err}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur.data) {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur.data == nil {
			ra.cur = readBlock(ra.src, make([]byte, readAheadFirst))
			ra.off, ra.err = 0, ra.cur.err
			continue
		}
		if !ra.started {
			ra.started = true
			go ra.fill(ra.src)
		}
		if cap(ra.cur.data) == ra.size {
			select {
			case ra.free <- ra.cur.data[:cap(ra.cur.data)]:
			default:
			}
		}
		b, ok := <-ra.blocks
		if !ok {
			return 0, io.EOF
		}
		ra.cur, ra.off, ra.err = b, 0, b.err
	}
	n := copy(p, ra.cur.data[ra.off:])
	ra.off += n
	return n, nil
}

// Close stops the reading goroutine and waits until it no longer uses r
// (which it does not close), but not for long: a read from a pipe that
// never ends would keep it forever.
func (ra *readAhead) Close() error {
	select {
	case <-ra.stop:
	default:
		close(ra.stop)
	}
	if !ra.started {
		return nil
	}
	select {
	case <-ra.done:
	case <-time.After(2 * time.Second):
	}
	return nil
}
