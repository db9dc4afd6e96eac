package flows

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"

	"flowstat/reader"
)

// communityIDVersion prefixes every Community ID.
const communityIDVersion = "1:"

// AppendCommunityID appends the flow's Community ID (version 1, base64) to
// b: the hash of its addresses, protocol and ports that Zeek, Suricata and
// Arkime log for the same flow, whichever way its packets went, so that
// their logs and flowstat's flows join on it. seed is the seed those tools
// were configured with (0 by default). The specification:
// https://github.com/corelight/community-id-spec.
func (r *Record) AppendCommunityID(b []byte, seed uint16) []byte {
	var in [2 + 16 + 16 + 2 + 4]byte // seed, addresses, protocol and padding, ports
	src, dst := r.SrcIP.b[:], r.DstIP.b[:]
	if r.IPVersion == 4 {
		src, dst = src[12:], dst[12:]
	}
	sport, dport, oneWay := r.SrcPort, r.DstPort, false
	switch r.Proto {
	case reader.ProtoICMP, reader.ProtoICMPv6:
		sport, dport, oneWay = icmpPortEquivalents(r)
	}
	hasPorts := false
	switch r.Proto {
	case reader.ProtoICMP, reader.ProtoTCP, reader.ProtoUDP, reader.ProtoICMPv6, reader.ProtoSCTP:
		hasPorts = true
	}
	// The endpoint that sorts first goes first, so that both directions
	// of a flow hash alike; a one-way ICMP message keeps its direction.
	if c := bytes.Compare(src, dst); !oneWay && (c > 0 || (c == 0 && hasPorts && sport > dport)) {
		src, dst, sport, dport = dst, src, dport, sport
	}
	binary.BigEndian.PutUint16(in[0:], seed)
	n := 2
	n += copy(in[n:], src)
	n += copy(in[n:], dst)
	in[n], in[n+1] = r.Proto, 0
	n += 2
	if hasPorts {
		binary.BigEndian.PutUint16(in[n:], sport)
		binary.BigEndian.PutUint16(in[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(in[:n])
	b = append(b, communityIDVersion...)
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

// icmpPortEquivalents gives an ICMP flow's type and code as the Community
// ID hashes them: a request or reply and its counterpart type (so that
// both hash alike), or a one-way message's type and code.
func icmpPortEquivalents(r *Record) (sport, dport uint16, oneWay bool) {
	typ, code := uint16(r.ICMPType), uint16(r.ICMPCode)
	counterparts := icmpCounterparts
	if r.Proto == reader.ProtoICMPv6 {
		counterparts = icmp6Counterparts
	}
	if other, ok := counterparts[typ]; ok {
		return typ, other, false
	}
	return typ, code, true
}

// The request and reply types of ICMP and ICMPv6, each mapped to its
// counterpart, as Zeek pairs them.
var (
	icmpCounterparts = map[uint16]uint16{
		8: 0, 0: 8, // echo
		13: 14, 14: 13, // timestamp
		15: 16, 16: 15, // information
		10: 9, 9: 10, // router solicitation and advertisement
		17: 18, 18: 17, // address mask
	}
	icmp6Counterparts = map[uint16]uint16{
		128: 129, 129: 128, // echo
		130: 131, 131: 130, // multicast listener query and report
		133: 134, 134: 133, // router solicitation and advertisement
		135: 136, 136: 135, // neighbor solicitation and advertisement
		139: 140, 140: 139, // node information query and reply
		144: 145, 145: 144, // home agent address discovery
	}
)
