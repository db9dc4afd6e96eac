package reader

import (
	"encoding/binary"
	"testing"
)

// TestDecodeSerialLinks decodes the serial-line link types of tcpdump's
// test suite: PPP with and without HDLC-like framing and with a compressed
// protocol field, Cisco HDLC under its own link type and under PPP_HDLC,
// and SLIP behind libpcap's pseudo-header.
func TestDecodeSerialLinks(t *testing.T) {
	tcp4 := ipv4TCP("10.0.0.1", "10.0.0.2", 1234, 80, SYN, 40)
	udp6 := ipv6(ProtoUDP, udpHeader(5353, 53, 8), "2001:db8::1", "2001:db8::2")
	cat := func(head []byte, rest []byte) []byte { return append(append([]byte{}, head...), rest...) }
	tests := []struct {
		name    string
		link    int
		data    []byte
		want    Outcome
		version uint8
	}{
		{"PPP in HDLC framing, IPv4", LinkPPP, cat([]byte{0xFF, 0x03, 0x00, 0x21}, tcp4), OK, 4},
		{"PPP without framing, IPv6", LinkPPP, cat([]byte{0x00, 0x57}, udp6), OK, 6},
		{"PPP, compressed protocol", LinkPPP, cat([]byte{0x21}, tcp4), OK, 4},
		{"PPP, LCP", LinkPPP, cat([]byte{0xFF, 0x03, 0xC0, 0x21}, make([]byte, 8)), NonIP, 0},
		{"PPP, cut in the protocol", LinkPPP, []byte{0xFF, 0x03, 0x00}, Truncated, 0},
		{"PPP, only framing", LinkPPP, []byte{0xFF, 0x03}, Truncated, 0},
		{"PPP_HDLC, IPv4", LinkPPPHDLC, cat([]byte{0xFF, 0x03, 0x00, 0x21}, tcp4), OK, 4},
		{"PPP_HDLC carrying Cisco HDLC", LinkPPPHDLC, cat([]byte{0x0F, 0x00, 0x08, 0x00}, tcp4), OK, 4},
		{"Cisco HDLC, IPv6", LinkCHDLC, cat([]byte{0x8F, 0x00, 0x86, 0xDD}, udp6), OK, 6},
		{"Cisco HDLC, SLARP", LinkCHDLC, cat([]byte{0x8F, 0x00, 0x80, 0x35}, make([]byte, 20)), NonIP, 0},
		{"Cisco HDLC, short", LinkCHDLC, []byte{0x8F, 0x00, 0x08}, Truncated, 0},
		{"SLIP", LinkSLIP, cat(make([]byte, 16), tcp4), OK, 4},
		{"SLIP, short", LinkSLIP, make([]byte, 15), Truncated, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			got := Decode(tc.link, tc.data, &p)
			if got != tc.want || got == OK && p.IPVersion != tc.version {
				t.Errorf("outcome %v, IP version %d; want %v, %d", got, p.IPVersion, tc.want, tc.version)
			}
		})
	}
}

// TestPcapLinkTypeFCSBits reads a pcap whose link type field says the
// frames end in a frame check sequence: the link type is its low 16 bits.
func TestPcapLinkTypeFCSBits(t *testing.T) {
	eth := sampleFrames(LinkEthernet)
	b := writePcap(binary.LittleEndian, false, LinkEthernet, eth)
	binary.LittleEndian.PutUint32(b[20:], 0x04000000|LinkEthernet)
	_, got := readAll(t, writeTemp(t, "fcs.pcap", b))
	sameFrames(t, got, eth)
}
