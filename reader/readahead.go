package reader

import (
	"io"
	"time"
)

// readAhead reads from r in its own goroutine, a few blocks ahead of the
// consumer, so that decompressing a trace runs beside decoding it instead
// of before each frame.
type readAhead struct {
	blocks chan block
	free   chan []byte
	stop   chan struct{}
	done   chan struct{} // closed when fill returns
	cur    block
	off    int
	err    error
}

type block struct {
	data []byte
	err  error
}

const (
	readAheadBlock = 1 << 20
	readAheadDepth = 4
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		blocks: make(chan block, readAheadDepth),
		free:   make(chan []byte, readAheadDepth+2),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go ra.fill(r)
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
			buf = make([]byte, readAheadBlock)
		}
		n, err := io.ReadFull(r, buf[:readAheadBlock])
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case ra.blocks <- block{buf[:n], err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur.data) {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur.data != nil {
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
	select {
	case <-ra.done:
	case <-time.After(2 * time.Second):
	}
	return nil
}
