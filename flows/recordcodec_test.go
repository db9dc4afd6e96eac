package flows

import (
	"math"
	"net/netip"
	"testing"
)

// codecRecords are records to encode: empty, typical, every field at its
// largest, and values no flow table makes (negative times, a reversed
// span, the zero IP, an IPv4-mapped address with the bits of IPv6).
func codecRecords() map[string]Record {
	v4 := IPOf(netip.MustParseAddr("192.0.2.1"))
	v6 := IPOf(netip.MustParseAddr("2001:db8::ff:1"))
	var max16 [16]byte
	for i := range max16 {
		max16[i] = 0xff
	}
	full := ParseHistory("ShADadFfRrXY")
	return map[string]Record{
		"zero": {},
		"udp": {ID: 42, Proto: 17, IPVersion: 4, SrcIP: v4, SrcPort: 53211, DstIP: v4, DstPort: 53,
			FirstSeen: 1704067200e9, LastSeen: 1704067200e9 + 1234, Packets: [2]uint64{1, 1}, Bytes: [2]uint64{76, 120},
			PayloadBytes: [2]uint64{48, 92}, MinIPLen: [2]uint32{76, 120}, MaxIPLen: [2]uint32{76, 120},
			MinTTL: [2]uint8{64, 57}, MaxTTL: [2]uint8{64, 57}, HandshakeRTT: -1, State: SF, EndReason: EndIdle,
			Input: 2, FirstFrame: 1234567, FirstOffset: 98765432},
		"tcp6": {ID: 7, Proto: 6, IPVersion: 6, VLAN: 100, SrcIP: v6, SrcPort: 1, DstIP: v6, DstPort: 443,
			FirstSeen: 5, LastSeen: 6, TCPFlags: [2]uint8{0x1b, 0x12}, SYNs: 1, SYNACKs: 1, HandshakeRTT: 1,
			History: ParseHistory("ShADadFf"), State: SF, HalfOpen: true, Tunnel: 3},
		"icmp": {Proto: 1, Echo: true, ICMPType: 8, ICMPCode: 0, HandshakeRTT: -1, SrcIP: v4, DstIP: v4},
		"largest": {ID: math.MaxUint64, Proto: 255, IPVersion: 255, VLAN: math.MaxUint16,
			SrcIP: IP{max16, 255}, SrcPort: math.MaxUint16, DstIP: IP{max16, 128}, DstPort: math.MaxUint16,
			FirstSeen: math.MaxInt64, LastSeen: math.MinInt64,
			Packets: [2]uint64{math.MaxUint64, math.MaxUint64}, Bytes: [2]uint64{math.MaxUint64, math.MaxUint64},
			PayloadBytes: [2]uint64{math.MaxUint64, math.MaxUint64},
			MinIPLen:     [2]uint32{math.MaxUint32, 65575}, MaxIPLen: [2]uint32{65575, math.MaxUint32},
			MinTTL: [2]uint8{255, 255}, MaxTTL: [2]uint8{255, 255},
			RetransPackets: [2]uint32{math.MaxUint32, math.MaxUint32}, RetransBytes: [2]uint64{math.MaxUint64, math.MaxUint64},
			ZeroWindows: [2]uint32{math.MaxUint32, math.MaxUint32}, TCPFlags: [2]uint8{255, 255},
			SYNs: math.MaxUint32, SYNACKs: math.MaxUint32, RSTs: math.MaxUint32, HandshakeRTT: math.MaxInt64,
			State: 255, HalfOpen: true, Echo: true, ICMPType: 255, ICMPCode: 255, Tunnel: math.MaxUint32,
			History: full, EndReason: 255, Input: math.MaxInt32, FirstFrame: math.MaxUint64, FirstOffset: math.MaxInt64},
		"smallest": {FirstSeen: math.MinInt64, LastSeen: math.MaxInt64, HandshakeRTT: math.MinInt64,
			SrcIP: IP{bits: 32}, DstIP: IP{b: [16]byte{10: 0xff, 11: 0xff, 15: 1}, bits: 128}},
		"negative rtt": {FirstSeen: -1, LastSeen: -2, HandshakeRTT: -2, History: History{n: 3}},
	}
}

// TestRecordCodec encodes records one after the other and reads back the
// same records, every field.
func TestRecordCodec(t *testing.T) {
	for name, rec := range codecRecords() {
		t.Run(name, func(t *testing.T) {
			b := AppendRecord([]byte("before"), &rec)
			b = AppendRecord(b, &rec)
			if n := len(b) - len("before"); n > 2*MaxRecordBytes {
				t.Errorf("two records take %d bytes, more than MaxRecordBytes allows", n)
			}
			rest := b[len("before"):]
			for i := range 2 {
				var got Record
				var err error
				if rest, err = ReadRecord(rest, &got); err != nil || got != rec {
					t.Fatalf("record %d read back as %+v (error %v), want %+v", i, got, err, rec)
				}
			}
			if len(rest) != 0 {
				t.Errorf("%d bytes left after the records", len(rest))
			}
		})
	}
}

// TestRecordCodecShort reads every encoding cut short: an error, never a
// panic.
func TestRecordCodecShort(t *testing.T) {
	for name, rec := range codecRecords() {
		b := AppendRecord(nil, &rec)
		for n := range len(b) {
			var got Record
			if _, err := ReadRecord(b[:n], &got); err == nil {
				t.Errorf("%s cut to %d of %d bytes: no error", name, n, len(b))
			}
		}
	}
}
