package report

import (
	"net/netip"
	"testing"

	"flowstat/flows"
)

// addrKey and flows.IP order addresses as netip does.
func TestAddrKeyOrdersAsNetip(t *testing.T) {
	addrs := []netip.Addr{{},
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("::"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("ffff::")}
	for _, a := range addrs {
		for _, b := range addrs {
			if got, want := addrKeyOf(flows.IPOf(a)).compare(addrKeyOf(flows.IPOf(b))), a.Compare(b); got != want {
				t.Errorf("compare(%v, %v) = %d, netip says %d", a, b, got, want)
			}
			if got, want := flows.IPOf(a).Compare(flows.IPOf(b)), a.Compare(b); got != want {
				t.Errorf("flows.IP.Compare(%v, %v) = %d, netip says %d", a, b, got, want)
			}
		}
	}
}
