package reader

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// pcapng block types.
const (
	blockSHB       = 0x0A0D0D0A
	blockIDB       = 0x00000001
	blockPacketOld = 0x00000002
	blockSPB       = 0x00000003
	blockNRB       = 0x00000004
	blockISB       = 0x00000005
	blockEPB       = 0x00000006
	blockJournal   = 0x00000009
	blockDSB       = 0x0000000A
	blockCustom    = 0x00000BAD
	blockCustomNC  = 0x40000BAD
	byteOrderMagic = 0x1A2B3C4D
)

// maxBlockLen bounds a block's length: larger ones are damage. Wireshark
// refuses blocks above 16 MiB too.
const maxBlockLen = 16 << 20

// knownBlock reports whether a block type is one the pcapng specification
// defines. Only those can start a resynchronised chain.
func knownBlock(typ uint32) bool {
	switch typ {
	case blockSHB, blockIDB, blockPacketOld, blockSPB, blockNRB, blockISB, blockEPB,
		blockJournal, blockDSB, blockCustom, blockCustomNC:
		return true
	}
	return false
}

// iface is what an Interface Description Block says about later packets.
type iface struct {
	linkType int
	snaplen  int
	// A timestamp in units of 1/unitsPerSec seconds, plus offsetSec seconds.
	unitsPerSec uint64
	offsetSec   int64
}

// pcapngReader reads pcapng sections, each with its own byte order and
// interfaces.
type pcapngReader struct {
	path     string
	win      *window
	order    byteOrder
	ifaces   []iface
	lastTime int64
	done     bool // reading ended at damage; Next returns io.EOF from now on
	simple   bool // a simple packet block was read: its time came from the one before
	damages  *[]Damage
	unknown  *int // blocks of unknown types, skipped
	// resyncEnd is where skipping damage stops (0: the end of the trace),
	// and open the region it left open there.
	resyncEnd int64
	open      *damageScan
}

// newPcapngReader checks the section header's magic numbers; the section
// header itself is read by Next, like any block, so that a bad length in it
// is damage to skip rather than a reason to reject the file.
func newPcapngReader(path string, win *window, damages *[]Damage, unknown *int) (*pcapngReader, error) {
	r := &pcapngReader{path: path, win: win, damages: damages, unknown: unknown, lastTime: noTime}
	hdr, err := win.peek(12)
	if err != nil || binary.LittleEndian.Uint32(hdr) != blockSHB {
		return nil, fmt.Errorf("%s: %w", path, ErrBadMagic)
	}
	order, ok := sectionOrder(hdr)
	if !ok {
		return nil, fmt.Errorf("%s: %w: bad byte-order magic in the section header", path, ErrBadBlock)
	}
	r.order = order
	return r, nil
}

// sectionOrder reads the byte order of a section header block from its
// byte-order magic; hdr holds at least its first 12 bytes.
func sectionOrder(hdr []byte) (byteOrder, bool) {
	switch binary.LittleEndian.Uint32(hdr[8:12]) {
	case byteOrderMagic:
		return littleEndian, true
	case 0x4D3C2B1A:
		return bigEndian, true
	}
	return byteOrder{}, false
}

func (r *pcapngReader) format() string { return "pcapng" }

// Next reads the next packet into f, skipping blocks that carry none. A
// block whose framing is broken (a bad length, a trailing length that does
// not match) is damage: Next resynchronises on the next chain of valid
// blocks, keeping the section's interfaces. A block that is well framed but
// wrong inside is skipped alone.
func (r *pcapngReader) Next(f *Frame) error {
	if r.done {
		return io.EOF
	}
	for {
		hdr, err := r.win.peek(12)
		if err == io.EOF {
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF && len(hdr) >= 8 {
			hdr = hdr[:8] // a block of 8 bytes is damage, found below
		} else if err != nil {
			return r.stop(readDamage(err))
		}
		offset := r.win.offset
		order := r.order
		blockType := order.Uint32(hdr[0:4])
		if blockType == blockSHB {
			ok := false
			if len(hdr) == 12 {
				order, ok = sectionOrder(hdr)
			}
			if !ok {
				bad := fmt.Errorf("%w: bad byte-order magic in a section header", ErrBadBlock)
				if err := r.resync(bad, bad); err != nil {
					return err
				}
				continue
			}
		}
		length := int(order.Uint32(hdr[4:8]))
		if length < minBlockLen(blockType) || length%4 != 0 || length > maxBlockLen {
			bad := fmt.Errorf("%w: block type %#x has length %d", ErrBadBlock, blockType, length)
			if err := r.resync(bad, bad); err != nil {
				return err
			}
			continue
		}
		block, err := r.win.peek(length)
		if err == io.ErrUnexpectedEOF {
			// The capture was cut in this block, or its length is wrong
			// and blocks follow: resync tells which.
			bad := fmt.Errorf("%w: block length %d runs past the end of the trace", ErrBadBlock, length)
			if err := r.resync(bad, ErrTruncated); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return r.stop(readDamage(err))
		}
		if trailing := int(order.Uint32(block[length-4:])); trailing != length {
			bad := fmt.Errorf("%w: block type %#x has length %d at its start and %d at its end", ErrBadBlock, blockType, length, trailing)
			if err := r.resync(bad, bad); err != nil {
				return err
			}
			continue
		}
		if blockType == blockSHB {
			// A new section: its own byte order, no interfaces yet.
			r.order, r.ifaces = order, nil
			r.win.discard(length)
			continue
		}
		ok, err := r.decodeBlock(blockType, block[8:length-4], f)
		if err != nil {
			*r.damages = append(*r.damages, newDamage(r.path, offset, int64(length), err))
		}
		r.win.discard(length)
		if ok {
			f.Offset = offset
			r.lastTime = f.Time
			return nil
		}
	}
}

// minBlockLen is the shortest valid block of a type: a section header has
// a 16-byte body, any other block at least its type and two lengths.
func minBlockLen(blockType uint32) int {
	if blockType == blockSHB {
		return 28
	}
	return 12
}

// stop records where reading had to end; what came before was delivered.
func (r *pcapngReader) stop(err error) error {
	*r.damages = append(*r.damages, newDamage(r.path, r.win.offset, 0, err))
	r.done = true
	return io.EOF
}

// resync skips a damaged region that starts at the current position: it
// scans forward for a chain of resyncChain well-framed blocks of known
// types, and records the region skipped as bad. When there is none,
// reading ends here with atEnd.
func (r *pcapngReader) resync(bad, atEnd error) error {
	d := damageScan{start: r.win.offset, bad: bad, atEnd: atEnd}
	r.win.discard(1)
	return r.skipDamage(d)
}

// skipDamage goes on skipping d from the current position (see skipDamage).
func (r *pcapngReader) skipDamage(d damageScan) error {
	open, err := skipDamage(r.path, r.win, r.damages, r.resyncEnd, d, func() bool { return r.chainAt(0, resyncChain) })
	if err != nil {
		r.done, r.open = true, open
	}
	return err
}

// chainAt reports whether links well-framed blocks of known types start
// pos bytes after the current position, their packets naming interfaces
// that exist and with times close to the last good one and to each other.
// A chain that reaches the end of the trace counts.
func (r *pcapngReader) chainAt(pos, links int) bool {
	order := r.order
	ifaces := len(r.ifaces)
	ref := r.lastTime
	fresh := false // the chain has started a new section
	for i := 0; i < links; i++ {
		hdr, err := r.win.peek(pos + 12)
		if err != nil {
			return i > 0 && err == io.ErrUnexpectedEOF && len(hdr) == pos
		}
		hdr = hdr[pos:]
		typ := order.Uint32(hdr[0:4])
		if typ == blockSHB {
			var ok bool
			if order, ok = sectionOrder(hdr); !ok {
				return false
			}
			// A new section: new interfaces, whose times cannot be
			// compared with the old ones'.
			ifaces, fresh, ref = 0, true, noTime
		}
		length := int(order.Uint32(hdr[4:8]))
		if !knownBlock(typ) || length < minBlockLen(typ) || length%4 != 0 || length > maxBlockLen {
			return false
		}
		block, err := r.win.peek(pos + length)
		if err != nil {
			return false
		}
		block = block[pos:]
		if int(order.Uint32(block[length-4:])) != length {
			return false
		}
		switch typ {
		case blockIDB:
			ifaces++
		case blockEPB:
			if length < 32 {
				return false
			}
			id := int(order.Uint32(block[8:12]))
			ts := uint64(order.Uint32(block[12:16]))<<32 | uint64(order.Uint32(block[16:20]))
			capLen := int(order.Uint32(block[20:24]))
			if id >= ifaces || capLen > length-32 {
				return false
			}
			if !fresh && id < len(r.ifaces) {
				t := r.ifaces[id].nanos(ts)
				if !closeInTime(ref, t) {
					return false
				}
				ref = t
			}
		}
		pos += length
	}
	return true
}

// decodeBlock fills f from a packet block and reports whether it did. Other
// blocks (statistics, name resolution, custom) are skipped, and so are
// blocks of unknown types, as the specification says, but counted.
func (r *pcapngReader) decodeBlock(blockType uint32, body []byte, f *Frame) (bool, error) {
	switch blockType {
	case blockIDB:
		if len(body) < 8 {
			return false, fmt.Errorf("%w: short interface description", ErrBadBlock)
		}
		r.ifaces = append(r.ifaces, r.parseIDB(body))
	case blockEPB, blockPacketOld:
		var ifaceID, capLen, wireLen int
		var ts uint64
		if len(body) < 20 {
			return false, fmt.Errorf("%w: short packet block", ErrBadBlock)
		}
		if blockType == blockEPB {
			ifaceID = int(r.order.Uint32(body[0:4]))
		} else {
			ifaceID = int(r.order.Uint16(body[0:2]))
		}
		ts = uint64(r.order.Uint32(body[4:8]))<<32 | uint64(r.order.Uint32(body[8:12]))
		capLen = int(r.order.Uint32(body[12:16]))
		wireLen = int(r.order.Uint32(body[16:20]))
		if ifaceID >= len(r.ifaces) {
			return false, fmt.Errorf("%w: packet names interface %d, section has %d", ErrBadBlock, ifaceID, len(r.ifaces))
		}
		if capLen > len(body)-20 {
			return false, fmt.Errorf("%w: captured length %d exceeds block", ErrBadBlock, capLen)
		}
		in := &r.ifaces[ifaceID]
		f.Time = in.nanos(ts)
		f.LinkType = in.linkType
		f.WireLen = max(wireLen, capLen)
		f.Data = body[20 : 20+capLen]
		return true, nil
	case blockSPB:
		if len(body) < 4 {
			return false, fmt.Errorf("%w: short simple packet block", ErrBadBlock)
		}
		if len(r.ifaces) == 0 {
			return false, fmt.Errorf("%w: simple packet block before any interface", ErrBadBlock)
		}
		in := &r.ifaces[0]
		wireLen := int(r.order.Uint32(body[0:4]))
		capLen := min(wireLen, len(body)-4)
		if in.snaplen > 0 {
			capLen = min(capLen, in.snaplen)
		}
		// A simple packet block has no timestamp: it inherits the last one.
		f.Time = max(r.lastTime, 0)
		r.simple = true
		f.LinkType = in.linkType
		f.WireLen = wireLen
		f.Data = body[4 : 4+capLen]
		return true, nil
	}
	if !knownBlock(blockType) {
		*r.unknown++
	}
	return false, nil
}

// parseIDB reads the link type, snap length and the timestamp options.
func (r *pcapngReader) parseIDB(body []byte) iface {
	in := iface{
		linkType:    int(r.order.Uint16(body[0:2])),
		snaplen:     int(r.order.Uint32(body[4:8])),
		unitsPerSec: 1_000_000,
	}
	opts := body[8:]
	for len(opts) >= 4 {
		code := r.order.Uint16(opts[0:2])
		length := int(r.order.Uint16(opts[2:4]))
		padded := (length + 3) &^ 3
		if code == 0 || 4+padded > len(opts) {
			break
		}
		value := opts[4 : 4+length]
		switch {
		case code == 9 && length >= 1: // if_tsresol
			in.unitsPerSec = tsUnits(value[0])
		case code == 14 && length >= 8: // if_tsoffset
			in.offsetSec = int64(r.order.Uint64(value))
		}
		opts = opts[4+padded:]
	}
	return in
}

// tsUnits turns an if_tsresol byte into units per second: 10^-n, or 2^-n
// when the top bit is set. Resolutions finer than a unit that fits are
// clamped rather than rejected.
func tsUnits(resol byte) uint64 {
	n := uint(resol & 0x7F)
	if resol&0x80 != 0 {
		return 1 << min(n, 63)
	}
	units := uint64(1)
	for i := uint(0); i < min(n, 19); i++ {
		units *= 10
	}
	return units
}

// nanos converts a raw timestamp to nanoseconds since the epoch without
// overflowing for any resolution.
func (in *iface) nanos(ts uint64) int64 {
	hi, lo := bits.Mul64(ts%in.unitsPerSec, 1e9)
	frac, _ := bits.Div64(hi, lo, in.unitsPerSec)
	sec := int64(ts/in.unitsPerSec) + in.offsetSec
	return sec*1e9 + int64(frac)
}
