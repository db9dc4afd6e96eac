package reader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Classic pcap magic numbers, as read in little-endian order.
const (
	pcapMicroLE = 0xa1b2c3d4
	pcapNanoLE  = 0xa1b23c4d
	pcapMicroBE = 0xd4c3b2a1
	pcapNanoBE  = 0x4d3cb2a1
)

const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
	// maxRecordLen bounds a record's captured length whatever the header's
	// snap length says: no link type carries frames this large.
	maxRecordLen = 256 << 10
	// resyncChain is how many consecutive plausible record headers a resync
	// candidate needs before it is trusted.
	resyncChain = 3
	// resyncLimit bounds how far a resync scans before giving up on the file.
	resyncLimit = 64 << 20
)

// pcapReader reads classic pcap records.
type pcapReader struct {
	path     string
	win      *window
	order    binary.ByteOrder
	nano     bool
	snaplen  int
	linkType int
	lastTime int64
	damages  *[]Damage
}

func newPcapReader(path string, win *window, damages *[]Damage) (*pcapReader, error) {
	hdr, err := win.peek(pcapFileHeaderLen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: file header is %d bytes", path, ErrTruncated, len(hdr))
	}
	r := &pcapReader{path: path, win: win, damages: damages}
	switch binary.LittleEndian.Uint32(hdr) {
	case pcapMicroLE:
		r.order = binary.LittleEndian
	case pcapNanoLE:
		r.order, r.nano = binary.LittleEndian, true
	case pcapMicroBE:
		r.order = binary.BigEndian
	case pcapNanoBE:
		r.order, r.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%s: %w", path, ErrBadMagic)
	}
	r.snaplen = int(r.order.Uint32(hdr[16:20]))
	// The upper bits of the link type field carry FCS information.
	r.linkType = int(r.order.Uint32(hdr[20:24]) & 0x0FFFFFFF)
	win.discard(pcapFileHeaderLen)
	return r, nil
}

func (r *pcapReader) format() string {
	if r.nano {
		return "pcap-ns"
	}
	return "pcap"
}

// Next reads the next record into f. It returns io.EOF at the end of the
// trace; damaged regions are recorded and skipped.
func (r *pcapReader) Next(f *Frame) error {
	for {
		hdr, err := r.win.peek(pcapRecordHeaderLen)
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return r.stop(err)
		}
		capLen, wireLen, ok := r.plausible(hdr, false)
		if !ok {
			if err := r.resync(); err != nil {
				return err
			}
			continue
		}
		rec, err := r.win.peek(pcapRecordHeaderLen + capLen)
		if err != nil {
			return r.stop(err)
		}
		f.Offset = r.win.offset
		f.Time = r.timestamp(rec)
		f.LinkType = r.linkType
		f.WireLen = max(wireLen, capLen)
		f.Data = rec[pcapRecordHeaderLen:]
		r.lastTime = f.Time
		r.win.discard(pcapRecordHeaderLen + capLen)
		return nil
	}
}

// stop records a truncated tail (or a read error) and ends the trace: what
// came before it has been delivered.
func (r *pcapReader) stop(err error) error {
	cause := ErrTruncated
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		cause = fmt.Errorf("%w: %w", ErrCompressed, err)
	}
	*r.damages = append(*r.damages, newDamage(r.path, r.win.offset, 0, cause))
	return io.EOF
}

func (r *pcapReader) timestamp(hdr []byte) int64 {
	sec := int64(r.order.Uint32(hdr[0:4]))
	frac := int64(r.order.Uint32(hdr[4:8]))
	if !r.nano {
		frac *= 1000
	}
	return sec*1e9 + frac
}

// plausible checks one record header. Reading accepts what libpcap
// accepts: a captured length within bounds, even when the original length
// or the sub-second field is odd. Resynchronising is strict, as it must tell
// a header from arbitrary bytes: the original length covers the captured
// one and the sub-second field is a fraction of a second.
func (r *pcapReader) plausible(hdr []byte, strict bool) (capLen, wireLen int, ok bool) {
	capLen = int(r.order.Uint32(hdr[8:12]))
	wireLen = int(r.order.Uint32(hdr[12:16]))
	limit := maxRecordLen
	if r.snaplen > 0 && r.snaplen < limit {
		// Some writers store records a little larger than their snaplen
		// (padding, FCS); tolerate that but not more.
		limit = max(r.snaplen, 65535)
	}
	if capLen > limit {
		return capLen, wireLen, false
	}
	if !strict {
		return capLen, wireLen, true
	}
	fracLimit := uint32(1_000_000)
	if r.nano {
		fracLimit = 1_000_000_000
	}
	frac := r.order.Uint32(hdr[4:8])
	return capLen, wireLen, frac < fracLimit && wireLen >= capLen && wireLen <= 1<<24
}

// resync skips a damaged region: it scans forward for a position where
// resyncChain consecutive records have plausible headers and times close to
// the last good one.
func (r *pcapReader) resync() error {
	start := r.win.offset
	for skipped := 1; skipped < resyncLimit; skipped++ {
		r.win.discard(1)
		if r.chainAt() {
			*r.damages = append(*r.damages, newDamage(r.path, start, int64(skipped), ErrBadRecord))
			return nil
		}
		if r.win.buffered() == 0 {
			if _, err := r.win.peek(1); err != nil {
				break
			}
		}
	}
	*r.damages = append(*r.damages, newDamage(r.path, start, 0, ErrBadRecord))
	return io.EOF
}

// chainAt reports whether plausible records start at the current position.
// A chain that reaches the end of the trace counts.
func (r *pcapReader) chainAt() bool {
	pos := 0
	for i := 0; i < resyncChain; i++ {
		hdr, err := r.win.peek(pos + pcapRecordHeaderLen)
		if err != nil {
			return i > 0 && err == io.ErrUnexpectedEOF && len(hdr) == pos
		}
		hdr = hdr[pos:]
		capLen, _, ok := r.plausible(hdr, true)
		if !ok {
			return false
		}
		if r.lastTime != 0 {
			if d := r.timestamp(hdr) - r.lastTime; d < -3600e9 || d > 86400e9 {
				return false
			}
		}
		pos += pcapRecordHeaderLen + capLen
	}
	return true
}
