package report

import (
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
