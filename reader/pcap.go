package reader

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
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
	// resyncChain is how many consecutive plausible record headers (or
	// pcapng blocks) a resync candidate needs before it is trusted.
	resyncChain = 3
)

// pcapReader reads classic pcap records.
type pcapReader struct {
	path     string
	win      *window
	order    byteOrder
	nano     bool
	snaplen  int
	linkType int
	limit    int    // the largest captured length a record may have
	fracMax  uint32 // the sub-second field is below it
	odd      bool   // the writer leaves headers that are plausible, not strictly
	lastTime int64
	done     bool // reading ended at damage; Next returns io.EOF from now on
	damages  *[]Damage
	// resyncEnd is where skipping damage stops (0: the end of the trace),
	// and open the region it left open there.
	resyncEnd int64
	open      *damageScan
}

func newPcapReader(path string, win *window, damages *[]Damage) (*pcapReader, error) {
	hdr, err := win.peek(pcapFileHeaderLen)
	if err != nil {
		if err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%s: %w", path, readDamage(err))
		}
		return nil, fmt.Errorf("%s: %w: file header is %d bytes", path, ErrTruncated, len(hdr))
	}
	r := &pcapReader{path: path, win: win, damages: damages, lastTime: noTime}
	if !r.parseHeader(hdr) {
		return nil, fmt.Errorf("%s: %w", path, ErrBadMagic)
	}
	win.discard(pcapFileHeaderLen)
	return r, nil
}

// parseHeader takes the byte order, resolution, snap length and link type
// from a file header. It reports false when hdr has no pcap magic.
func (r *pcapReader) parseHeader(hdr []byte) bool {
	switch binary.LittleEndian.Uint32(hdr) {
	case pcapMicroLE:
		r.order, r.nano = littleEndian, false
	case pcapNanoLE:
		r.order, r.nano = littleEndian, true
	case pcapMicroBE:
		r.order, r.nano = bigEndian, false
	case pcapNanoBE:
		r.order, r.nano = bigEndian, true
	default:
		return false
	}
	r.snaplen = int(r.order.Uint32(hdr[16:20]))
	r.limit, r.fracMax = r.recordLimit(), 1_000_000
	if r.nano {
		r.fracMax = 1_000_000_000
	}
	// The link type is the low 16 bits; the upper ones say whether frames
	// end in a frame check sequence (libpcap's LT_LINKTYPE).
	r.linkType = int(r.order.Uint32(hdr[20:24]) & 0xFFFF)
	return true
}

// isPcapHeader reports whether b (at least 8 bytes) starts a classic pcap
// file header: a magic number and version 2.4 in the magic's byte order.
func isPcapHeader(b []byte) bool {
	var order byteOrder
	switch binary.LittleEndian.Uint32(b) {
	case pcapMicroLE, pcapNanoLE:
		order = littleEndian
	case pcapMicroBE, pcapNanoBE:
		order = bigEndian
	default:
		return false
	}
	return order.Uint16(b[4:6]) == 2 && order.Uint16(b[6:8]) == 4
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
	if r.done {
		return io.EOF
	}
	for {
		hdr, err := r.win.peek(pcapRecordHeaderLen)
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return r.stop(err)
		}
		if isPcapHeader(hdr) {
			if err := r.concatenated(); err != nil {
				return err
			}
			continue
		}
		capLen, wireLen, ok := r.plausible(hdr, false)
		if !ok {
			bad := r.implausible(hdr)
			if err := r.resync(bad, bad); err != nil {
				return err
			}
			continue
		}
		// Peek at the next header too: when it does not fit, this
		// record's length may be wrong (or the record cut short by a
		// concatenated capture), and the next record starts inside it.
		end := pcapRecordHeaderLen + capLen
		rec, err := r.win.peek(end + pcapRecordHeaderLen)
		if err == nil && !r.fits(rec[end:]) {
			_, _, loose := r.plausible(rec[end:], false)
			if at := r.chainInside(capLen); at > 0 {
				bad := fmt.Errorf("%w: captured length %d runs into the next record, at offset %d", ErrBadRecord, capLen, r.win.offset+int64(at))
				*r.damages = append(*r.damages, newDamage(r.path, r.win.offset, int64(at), bad))
				r.win.discard(at)
				continue
			}
			// No records hide in this one, and the next header is one
			// libpcap reads: the trace's headers are odd, not damaged.
			r.odd = r.odd || loose
			rec, err = r.win.peek(end + pcapRecordHeaderLen)
		}
		switch {
		case len(rec) >= end:
			// The record is whole; a trace that ends (or fails) right
			// after it is the next call's business.
		case err == io.ErrUnexpectedEOF:
			// The capture was cut in this record, or its length is wrong
			// and records follow: resync tells which.
			bad := fmt.Errorf("%w: captured length %d runs past the end of the trace", ErrBadRecord, capLen)
			if err := r.resync(bad, ErrTruncated); err != nil {
				return err
			}
			continue
		default:
			return r.stop(err)
		}
		f.Offset = r.win.offset
		f.Time = r.timestamp(rec)
		f.LinkType = r.linkType
		f.WireLen = max(wireLen, capLen)
		f.Data = rec[pcapRecordHeaderLen:end]
		r.lastTime = f.Time
		r.win.discard(end)
		return nil
	}
}

// stop records a truncated tail (or a read error) and ends the trace: what
// came before it has been delivered.
func (r *pcapReader) stop(err error) error {
	*r.damages = append(*r.damages, newDamage(r.path, r.win.offset, 0, readDamage(err)))
	r.done = true
	return io.EOF
}

// concatenated reads a file header met where a record should start: the
// trace is several captures put end to end, and the next one may differ in
// byte order, resolution, snap length or link type. The records on both
// sides are kept; the header is reported, as no pcap reader expects it.
func (r *pcapReader) concatenated() error {
	offset := r.win.offset
	hdr, err := r.win.peek(pcapFileHeaderLen)
	if err != nil {
		return r.stop(err)
	}
	r.parseHeader(hdr)
	r.win.discard(pcapFileHeaderLen)
	*r.damages = append(*r.damages, newDamage(r.path, offset, pcapFileHeaderLen, ErrConcatenated))
	return nil
}

func (r *pcapReader) timestamp(hdr []byte) int64 {
	sec := int64(r.order.Uint32(hdr[0:4]))
	frac := int64(r.order.Uint32(hdr[4:8]))
	if !r.nano {
		frac *= 1000
	}
	return sec*1e9 + frac
}

// recordLimit is the largest captured length a record may have: the snap
// length, or a little more as some writers store records a little larger
// than it (padding, FCS), and never more than maxRecordLen.
func (r *pcapReader) recordLimit() int {
	if r.snaplen > 0 && r.snaplen < maxRecordLen {
		return max(r.snaplen, 65535)
	}
	return maxRecordLen
}

// plausible checks one record header. Reading accepts what libpcap
// accepts: a captured length within bounds, even when the original length
// or the sub-second field is odd; but not a header of zero lengths, which
// is what zeroed disk blocks look like. Resynchronising is strict, as it
// must tell a header from arbitrary bytes: the original length covers the
// captured one and the sub-second field is a fraction of a second. In a
// trace whose writer leaves such odd headers, strict is loose: the times of
// a chain then tell headers from other bytes.
func (r *pcapReader) plausible(hdr []byte, strict bool) (capLen, wireLen int, ok bool) {
	capLen = int(r.order.Uint32(hdr[8:12]))
	wireLen = int(r.order.Uint32(hdr[12:16]))
	if capLen > r.limit || capLen == 0 && wireLen == 0 {
		return capLen, wireLen, false
	}
	if !strict || r.odd {
		return capLen, wireLen, true
	}
	frac := r.order.Uint32(hdr[4:8])
	return capLen, wireLen, frac < r.fracMax && wireLen >= capLen && wireLen <= 1<<24
}

// implausible says why plausible rejected a header, for the damage report.
func (r *pcapReader) implausible(hdr []byte) error {
	capLen := r.order.Uint32(hdr[8:12])
	if capLen == 0 {
		return fmt.Errorf("%w: zero lengths (zeroed bytes)", ErrBadRecord)
	}
	if r.snaplen > 0 && r.snaplen < maxRecordLen {
		return fmt.Errorf("%w: captured length %d exceeds the snap length %d", ErrBadRecord, capLen, r.snaplen)
	}
	return fmt.Errorf("%w: captured length %d exceeds %d", ErrBadRecord, capLen, maxRecordLen)
}

// resync skips a damaged region that starts at the current position: it
// scans forward for a position where resyncChain consecutive records have
// plausible headers and times close to the last good one, or where another
// capture's file header starts, and records the region skipped as bad. When
// there is none, reading ends here with atEnd (ErrTruncated for a record
// the end of the trace cut, the bad header's error for garbage at its end).
func (r *pcapReader) resync(bad, atEnd error) error {
	d := damageScan{start: r.win.offset, bad: bad, atEnd: atEnd}
	r.win.discard(1)
	return r.skipDamage(d)
}

// skipDamage goes on skipping d from the current position (see skipDamage).
func (r *pcapReader) skipDamage(d damageScan) error {
	open, err := skipDamage(r.path, r.win, r.damages, r.resyncEnd, d, func() bool { return r.chainAt(0, r.lastTime, resyncChain) })
	if err != nil {
		r.done, r.open = true, open
	}
	return err
}

// fits reports whether next, the 16 bytes after a record, can start the
// next one: a strictly plausible header or a file header. When they cannot,
// Next looks for records inside the one before; the check is cheap, and the
// search only runs in damaged traces, and once in traces whose writer left
// odd headers (see plausible).
func (r *pcapReader) fits(next []byte) bool {
	_, _, ok := r.plausible(next, true)
	return ok || isPcapHeader(next)
}

// chainInside looks for a chain of records that starts inside the record of
// capLen bytes at the current position, with times close to that record's,
// and returns its position relative to the record, or 0.
func (r *pcapReader) chainInside(capLen int) int {
	hdr, err := r.win.peek(pcapRecordHeaderLen)
	if err != nil {
		return 0
	}
	ref := r.timestamp(hdr)
	for at := 1; at < pcapRecordHeaderLen+capLen; at++ {
		if r.chainAt(at, ref, resyncChain) {
			return at
		}
	}
	return 0
}

// noTime is the reference time of a chain when no record was read yet.
const noTime = math.MinInt64

// chainAt reports whether a file header, or links records with plausible
// headers, start pos bytes after the current position. Each record's time must be
// close to the one before it, starting from ref unless it is noTime. A chain
// that reaches the end of the trace counts.
func (r *pcapReader) chainAt(pos int, ref int64, links int) bool {
	for i := 0; i < links; i++ {
		hdr, err := r.win.peek(pos + pcapRecordHeaderLen)
		if err != nil {
			return i > 0 && err == io.ErrUnexpectedEOF && len(hdr) == pos
		}
		hdr = hdr[pos:]
		if i == 0 && isPcapHeader(hdr) {
			return true
		}
		capLen, _, ok := r.plausible(hdr, true)
		if !ok {
			return false
		}
		t := r.timestamp(hdr)
		if !closeInTime(ref, t) {
			return false
		}
		ref = t
		pos += pcapRecordHeaderLen + capLen
	}
	return true
}

// closeInTime reports whether a record of time t may follow one of time
// ref in a chain: captures merged from several queues go back a little,
// quiet links jump ahead, but not by more than a day.
func closeInTime(ref, t int64) bool {
	if ref == noTime {
		return true
	}
	d := t - ref
	return d >= -3600e9 && d <= 86400e9
}
