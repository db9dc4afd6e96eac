package reader

import "encoding/binary"

// byteOrder is a trace's byte order. The methods of binary.ByteOrder are
// interface calls, which the compiler does not inline, and the readers
// make several for each record: 3 % of the CPU on the benchmark trace.
// These are plain functions of a flag.
type byteOrder struct{ big bool }

var (
	littleEndian = byteOrder{}
	bigEndian    = byteOrder{big: true}
)

func (o byteOrder) Uint32(b []byte) uint32 {
	if o.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (o byteOrder) Uint16(b []byte) uint16 {
	if o.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (o byteOrder) Uint64(b []byte) uint64 {
	if o.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}
