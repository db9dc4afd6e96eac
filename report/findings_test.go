package report

import (
	"flowstat/flows"
	"net/netip"
	"testing"
)

func TestIsBogon(t *testing.T) {
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "172.31.255.255": true, "172.32.0.1": false, "192.168.1.1": true, "100.64.0.1": true,
		"127.0.0.1": true, "169.254.1.1": true, "224.0.0.251": true, "255.255.255.255": true, "0.1.2.3": true,
		"8.8.8.8": false, "198.51.100.7": true, "198.51.101.7": false, "::ffff:10.0.0.1": true,
		"fe80::1": true, "fd00::1": true, "2001:db8::1": true, "2001:4860::8888": false, "ff02::1": true,
	} {
		if got := IsBogon(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsBogon(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestTopSources offers sources in an order that exercises the heap and
// checks that the most active are kept, the most active first.
func TestTopSources(t *testing.T) {
	var top topSources
	for i := range 3 * maxSources {
		n := uint64((i * 7919) % (3 * maxSources)) // a permutation of 0..3000
		top.offer(FindingSource{IP: netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), Packets: n, Flows: 1})
	}
	got := top.sorted()
	if len(got) != maxSources {
		t.Fatalf("kept %d, want %d", len(got), maxSources)
	}
	for i, s := range got {
		if want := uint64(3*maxSources - 1 - i); s.Packets != want {
			t.Fatalf("source %d sent %d packets, want %d", i, s.Packets, want)
		}
	}
}

// TestICMPDest keys ICMP flows by the message their originator sent and
// names it: an echo with identifier 3 and a port unreachable never share
// a destination.
func TestICMPDest(t *testing.T) {
	victim := flows.IPOf(netip.MustParseAddr("192.0.2.1"))
	echo := flows.Record{Proto: 1, DstIP: victim, SrcPort: 3, Echo: true, ICMPType: 8}
	unreachable := flows.Record{Proto: 1, DstIP: victim, SrcPort: 3, DstPort: 3, ICMPType: 3, ICMPCode: 3}
	echo6 := flows.Record{Proto: 58, DstIP: flows.IPOf(netip.MustParseAddr("2001:db8::1")), Echo: true, ICMPType: 128}
	tooBig := flows.Record{Proto: 58, DstIP: echo6.DstIP, ICMPType: 2}
	for _, c := range []struct {
		r    flows.Record
		want string
	}{
		{echo, "192.0.2.1 icmp echo"}, {unreachable, "192.0.2.1 icmp 3/3 (port unreachable)"},
		{echo6, "2001:db8::1 icmpv6 echo"}, {tooBig, "2001:db8::1 icmpv6 2/0 (packet too big)"},
		{flows.Record{Proto: 1, DstIP: victim, ICMPType: 42, ICMPCode: 1}, "192.0.2.1 icmp 42/1"},
		{flows.Record{Proto: 6, DstIP: victim, DstPort: 443}, "192.0.2.1:443/tcp"},
	} {
		if got := DestOf(&c.r).String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
	if DestOf(&echo) == DestOf(&unreachable) {
		t.Error("an echo and an unreachable share a destination")
	}
}
