package flows

import (
	"cmp"
	"encoding/binary"
	"net/netip"
)

// IP is an address held as a plain value. A netip.Addr carries a pointer
// (its zone); records made of plain values are memory the garbage collector
// never scans and copies without write barriers, which matters with
// millions of records.
type IP struct {
	b    [16]byte
	bits uint8 // 0 for the zero IP, 32 for IPv4, 128 for IPv6
}

// IPOf returns the IP of a; a zone is dropped.
func IPOf(a netip.Addr) IP { return IP{a.As16(), uint8(a.BitLen())} }

// ipFrom16 returns the IP of a 16-byte address, IPv4-mapped when v4.
func ipFrom16(b [16]byte, v4 bool) IP {
	if v4 {
		return IP{b, 32}
	}
	return IP{b, 128}
}

// Addr returns ip as a netip.Addr.
func (ip IP) Addr() netip.Addr {
	switch ip.bits {
	case 32:
		return netip.AddrFrom16(ip.b).Unmap()
	case 128:
		return netip.AddrFrom16(ip.b)
	}
	return netip.Addr{}
}

// String returns the address as netip.Addr writes it.
func (ip IP) String() string { return ip.Addr().String() }

// Bytes16 returns the address in 16 bytes, IPv4 as an IPv4-mapped address.
func (ip IP) Bytes16() [16]byte { return ip.b }

// BitLen returns 32 for IPv4, 128 for IPv6 and 0 for the zero IP.
func (ip IP) BitLen() int { return int(ip.bits) }

// Compare orders IPs as netip.Addr.Compare orders addresses without a
// zone: IPv4 before IPv6, then by address.
func (ip IP) Compare(o IP) int {
	if ip.bits != o.bits {
		return cmp.Compare(ip.bits, o.bits)
	}
	// As two big-endian numbers: cheaper than bytes.Compare in the sorts
	// of millions of flows.
	if a, b := binary.BigEndian.Uint64(ip.b[:8]), binary.BigEndian.Uint64(o.b[:8]); a != b {
		return cmp.Compare(a, b)
	}
	return cmp.Compare(binary.BigEndian.Uint64(ip.b[8:]), binary.BigEndian.Uint64(o.b[8:]))
}
