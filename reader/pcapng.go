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
	blockEPB       = 0x00000006
	byteOrderMagic = 0x1A2B3C4D
)

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
	order    binary.ByteOrder
	ifaces   []iface
	lastTime int64
	damages  *[]Damage
}

func newPcapngReader(path string, win *window, damages *[]Damage) (*pcapngReader, error) {
	r := &pcapngReader{path: path, win: win, damages: damages}
	hdr, err := win.peek(12)
	if err != nil || binary.LittleEndian.Uint32(hdr) != blockSHB {
		return nil, fmt.Errorf("%s: %w", path, ErrBadMagic)
	}
	if err := r.readSHB(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// readSHB starts a new section: byte order from its magic, no interfaces.
func (r *pcapngReader) readSHB() error {
	hdr, err := r.win.peek(12)
	if err != nil {
		return ErrTruncated
	}
	switch binary.LittleEndian.Uint32(hdr[8:12]) {
	case byteOrderMagic:
		r.order = binary.LittleEndian
	case 0x4D3C2B1A:
		r.order = binary.BigEndian
	default:
		return fmt.Errorf("%w: bad byte-order magic in section header", ErrBadBlock)
	}
	length := int(r.order.Uint32(hdr[4:8]))
	if length < 28 || length%4 != 0 || length > maxWindowSize {
		return fmt.Errorf("%w: section header length %d", ErrBadBlock, length)
	}
	if _, err := r.win.peek(length); err != nil {
		return ErrTruncated
	}
	r.ifaces = r.ifaces[:0]
	r.win.discard(length)
	return nil
}

func (r *pcapngReader) format() string { return "pcapng" }

// Next reads the next packet into f, skipping blocks that carry none.
func (r *pcapngReader) Next(f *Frame) error {
	for {
		hdr, err := r.win.peek(8)
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return r.stop(ErrTruncated)
		}
		blockType := r.order.Uint32(hdr[0:4])
		if blockType == blockSHB {
			if err := r.readSHB(); err != nil {
				return r.stop(err)
			}
			continue
		}
		length := int(r.order.Uint32(hdr[4:8]))
		if length < 12 || length%4 != 0 || length > maxWindowSize {
			return r.stop(fmt.Errorf("%w: block length %d", ErrBadBlock, length))
		}
		block, err := r.win.peek(length)
		if err != nil {
			return r.stop(ErrTruncated)
		}
		offset := r.win.offset
		body := block[8 : length-4]
		ok, err := r.decodeBlock(blockType, body, f)
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

// stop records where reading had to end; what came before was delivered.
func (r *pcapngReader) stop(err error) error {
	*r.damages = append(*r.damages, newDamage(r.path, r.win.offset, 0, err))
	return io.EOF
}

// decodeBlock fills f from a packet block and reports whether it did. Other
// blocks (statistics, name resolution, unknown types) are skipped.
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
		f.WireLen = wireLen
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
		f.Time = r.lastTime
		f.LinkType = in.linkType
		f.WireLen = wireLen
		f.Data = body[4 : 4+capLen]
		return true, nil
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

