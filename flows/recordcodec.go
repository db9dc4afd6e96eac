package flows

import (
	"encoding/binary"
	"errors"
)

// Records are spilled to disk and read back while flows.parquet is
// sorted (pipeline, extsort). Most of a record's bytes are zeros and small
// numbers: UDP and ICMP flows have no TCP counters, a side that sent
// nothing has no lengths, most counts fit in a byte. AppendRecord writes
// only what is not zero, most of it as varints, in about a third of the
// bytes. The encoding is exact for every value of every field, and lives
// only as long as the run that writes it: it has no version.
//
// Layout: a little-endian uint64 of presence bits (a bit per field or per
// side of a field, in the order written), the ID and FirstSeen in 8 bytes
// each, then each present field in the order of the bits.

// MaxRecordBytes bounds the encoding of one record.
const MaxRecordBytes = 24 + 49*binary.MaxVarintLen64 + 2*16 + 2 + 2*numHist

// recordWriter appends a record's fields and notes which are present.
type recordWriter struct {
	b    []byte
	mask uint64
	bit  uint
}

// next moves to the next field's bit, setting it when present.
func (w *recordWriter) next(present bool) bool {
	if present {
		w.mask |= 1 << w.bit
	}
	w.bit++
	return present
}

func (w *recordWriter) uvarint(v uint64) {
	if w.next(v != 0) {
		w.b = binary.AppendUvarint(w.b, v)
	}
}

// varint writes a signed value zigzag-encoded: small negative numbers are
// short too.
func (w *recordWriter) varint(v int64) { w.uvarint(uint64(v<<1) ^ uint64(v>>63)) }

func (w *recordWriter) byte(v uint8) {
	if w.next(v != 0) {
		w.b = append(w.b, v)
	}
}

// port writes 2 bytes: ephemeral ports would take 3 as varints.
func (w *recordWriter) port(v uint16) {
	if w.next(v != 0) {
		w.b = binary.LittleEndian.AppendUint16(w.b, v)
	}
}

// v4Prefix starts an IPv4-mapped IPv6 address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// ip writes an address in 4 bytes when it is IPv4-mapped, in 16 otherwise.
func (w *recordWriter) ip(ip *IP) {
	w.uvarint(uint64(ip.bits))
	if !w.next(ip.b != [16]byte{}) {
		w.bit++ // the next bit, of the form, goes unused
		return
	}
	if w.next([12]byte(ip.b[:12]) == v4Prefix) {
		w.b = append(w.b, ip.b[12:]...)
	} else {
		w.b = append(w.b, ip.b[:]...)
	}
}

// history writes the count of letters and the letters up to the last
// one that is not zero.
func (w *recordWriter) history(h *History) {
	n := len(h.letters)
	for n > 0 && h.letters[n-1] == 0 {
		n--
	}
	if w.next(h.n != 0 || n > 0) {
		w.b = append(w.b, h.n, byte(n))
		w.b = append(w.b, h.letters[:n]...)
	}
}

// AppendRecord appends the encoding of r to b and returns the extended
// buffer.
func AppendRecord(b []byte, r *Record) []byte {
	start := len(b)
	w := recordWriter{b: append(b, make([]byte, 8)...)} // the mask, once known
	w.b = binary.LittleEndian.AppendUint64(w.b, r.ID)
	w.b = binary.LittleEndian.AppendUint64(w.b, uint64(r.FirstSeen))
	w.varint(r.LastSeen - r.FirstSeen)
	w.byte(r.Proto)
	w.byte(r.IPVersion)
	w.uvarint(uint64(r.VLAN))
	w.ip(&r.SrcIP)
	w.port(r.SrcPort)
	w.ip(&r.DstIP)
	w.port(r.DstPort)
	for d := range 2 {
		w.uvarint(r.Packets[d])
		w.uvarint(r.Bytes[d])
		w.uvarint(r.PayloadBytes[d])
		w.uvarint(uint64(r.MinIPLen[d]))
		w.uvarint(uint64(r.MaxIPLen[d]))
		w.byte(r.MinTTL[d])
		w.byte(r.MaxTTL[d])
		w.uvarint(uint64(r.RetransPackets[d]))
		w.uvarint(r.RetransBytes[d])
		w.uvarint(uint64(r.ZeroWindows[d]))
		w.byte(r.TCPFlags[d])
	}
	w.uvarint(uint64(r.SYNs))
	w.uvarint(uint64(r.SYNACKs))
	w.uvarint(uint64(r.RSTs))
	w.varint(r.HandshakeRTT + 1) // -1, no handshake, the most common
	w.byte(uint8(r.State))
	w.next(r.HalfOpen)
	w.next(r.Echo)
	w.byte(r.ICMPType)
	w.byte(r.ICMPCode)
	w.uvarint(uint64(r.Tunnel))
	w.history(&r.History)
	w.byte(uint8(r.EndReason))
	w.uvarint(uint64(r.Input))
	w.uvarint(r.FirstFrame)
	w.uvarint(uint64(r.FirstOffset))
	w.next(r.Joinable)
	binary.LittleEndian.PutUint64(w.b[start:], w.mask)
	return w.b
}

var errShortRecord = errors.New("a record's encoding is cut short")

// recordReader reads back what recordWriter wrote; a read past the end
// sets err and returns zeros.
type recordReader struct {
	b    []byte
	mask uint64
	err  error
}

// next reports whether the next field is present.
func (r *recordReader) next() bool {
	present := r.mask&1 != 0
	r.mask >>= 1
	return present
}

func (r *recordReader) uvarint() uint64 {
	if !r.next() {
		return 0
	}
	if len(r.b) > 0 && r.b[0] < 0x80 { // most values: without binary.Uvarint's loop
		v := r.b[0]
		r.b = r.b[1:]
		return uint64(v)
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// take returns the next n bytes, zeros past the end.
func (r *recordReader) take(n int) []byte {
	if len(r.b) < n {
		r.fail()
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) fail() {
	r.err = errShortRecord
	r.b, r.mask = nil, 0
}

func (r *recordReader) byte() uint8 {
	if !r.next() {
		return 0
	}
	return r.take(1)[0]
}

func (r *recordReader) port() uint16 {
	if !r.next() {
		return 0
	}
	return binary.LittleEndian.Uint16(r.take(2))
}

func (r *recordReader) ip() IP {
	ip := IP{bits: uint8(r.uvarint())}
	present, mapped := r.next(), r.next()
	switch {
	case present && mapped:
		copy(ip.b[:], v4Prefix[:])
		copy(ip.b[12:], r.take(4))
	case present:
		copy(ip.b[:], r.take(16))
	}
	return ip
}

func (r *recordReader) history() History {
	var h History
	if !r.next() {
		return h
	}
	head := r.take(2)
	h.n = head[0]
	if int(head[1]) > len(h.letters) {
		r.fail()
		return History{}
	}
	copy(h.letters[:], r.take(int(head[1])))
	return h
}

// ReadRecord decodes into rec a record AppendRecord wrote at the start of
// b, and returns the rest of b.
func ReadRecord(b []byte, rec *Record) ([]byte, error) {
	r := recordReader{b: b}
	head := r.take(24)
	r.mask = binary.LittleEndian.Uint64(head)
	*rec = Record{
		ID:        binary.LittleEndian.Uint64(head[8:]),
		FirstSeen: int64(binary.LittleEndian.Uint64(head[16:])),
	}
	rec.LastSeen = rec.FirstSeen + r.varint()
	rec.Proto = r.byte()
	rec.IPVersion = r.byte()
	rec.VLAN = uint16(r.uvarint())
	rec.SrcIP = r.ip()
	rec.SrcPort = r.port()
	rec.DstIP = r.ip()
	rec.DstPort = r.port()
	for d := range 2 {
		rec.Packets[d] = r.uvarint()
		rec.Bytes[d] = r.uvarint()
		rec.PayloadBytes[d] = r.uvarint()
		rec.MinIPLen[d] = uint32(r.uvarint())
		rec.MaxIPLen[d] = uint32(r.uvarint())
		rec.MinTTL[d] = r.byte()
		rec.MaxTTL[d] = r.byte()
		rec.RetransPackets[d] = uint32(r.uvarint())
		rec.RetransBytes[d] = r.uvarint()
		rec.ZeroWindows[d] = uint32(r.uvarint())
		rec.TCPFlags[d] = r.byte()
	}
	rec.SYNs = uint32(r.uvarint())
	rec.SYNACKs = uint32(r.uvarint())
	rec.RSTs = uint32(r.uvarint())
	rec.HandshakeRTT = r.varint() - 1
	rec.State = State(r.byte())
	rec.HalfOpen = r.next()
	rec.Echo = r.next()
	rec.ICMPType = r.byte()
	rec.ICMPCode = r.byte()
	rec.Tunnel = TunnelRef(r.uvarint())
	rec.History = r.history()
	rec.EndReason = EndReason(r.byte())
	rec.Input = int32(r.uvarint())
	rec.FirstFrame = r.uvarint()
	rec.FirstOffset = int64(r.uvarint())
	rec.Joinable = r.next()
	return r.b, r.err
}
