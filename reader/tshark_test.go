package reader

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tunnels/built.pcap from builtTunnelFrames")

// tsharkColumns are the columns of testdata/tunnels/tshark.tsv, after the
// capture's name (see gen.sh there).
var tsharkColumns = strings.Fields(`frame.number frame.protocols
	ip.src ip.dst ip.proto ip.ttl ipv6.src ipv6.dst ipv6.hlim
	tcp.srcport tcp.dstport tcp.seq_raw tcp.ack_raw tcp.window_size_value tcp.len
	udp.srcport udp.dstport
	gre.key gre.key.call_id erspan.spanid vxlan.vni geneve.vni gtp.teid mpls.label`)

// tsharkFrame is tshark's dissection of a frame: each field with all its
// occurrences, outermost first.
type tsharkFrame struct {
	capture string
	number  int
	fields  map[string][]string
}

func readTsharkFrames(t *testing.T, path string) []tsharkFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames []tsharkFrame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 1+len(tsharkColumns) {
			t.Fatalf("%s: %d columns in %q", path, len(cols), sc.Text())
		}
		fr := tsharkFrame{capture: cols[0], fields: map[string][]string{}}
		for i, name := range tsharkColumns {
			if cols[i+1] != "" {
				fr.fields[name] = strings.Split(cols[i+1], ",")
			}
		}
		fr.number, err = strconv.Atoi(fr.fields["frame.number"][0])
		if err != nil {
			t.Fatal(err)
		}
		fr.fields["frame.protocols"] = strings.Split(cols[2], ":")
		frames = append(frames, fr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

// expected says what a Packet decoded from the frame must hold, as the
// same words describe(p) uses, and which tunnel kind it found.
func (fr tsharkFrame) expected() (string, Tunnel) {
	field := func(name string, i int) string {
		if v := fr.fields[name]; i >= 0 && i < len(v) {
			return v[i]
		}
		return "?"
	}
	count := map[string]int{}
	var ip, outer struct {
		version int
		index   int
	}
	ip.version, outer.version = 0, 0
	transport, transportIndex := "", -1
	tunnel := TunnelNone
	protos := fr.fields["frame.protocols"]
	var pending Tunnel // a tunnel seen, waiting for the IP packet that makes it one
	pendingOuter := outer
loop:
	for _, name := range protos {
		if name == "icmp" || name == "icmpv6" {
			break // what follows is a quoted packet
		}
		switch name {
		case "ip", "ipv6":
			if len(fr.fields[name+".src"]) <= count[name] {
				break loop // a bogus header: no addresses
			}
			if ip.version != 0 && pending == TunnelNone && transport == "" {
				pending, pendingOuter = TunnelIPIP, ip // IP right after IP
			}
			if pending != TunnelNone && tunnel == TunnelNone {
				tunnel, outer = pending, pendingOuter
			}
			pending = TunnelNone
			ip.version, ip.index = 4, count["ip"]
			if name == "ipv6" {
				ip.version, ip.index = 6, count["ipv6"]
			}
			transport, transportIndex = "", -1
		case "tcp", "udp":
			transport, transportIndex = name, count[name]
		case "gre", "vxlan", "geneve", "gtp", "mpls", "erspan":
			if pending == TunnelNone {
				pending = map[string]Tunnel{"gre": TunnelGRE, "vxlan": TunnelVXLAN, "geneve": TunnelGeneve,
					"gtp": TunnelGTPU, "mpls": TunnelMPLS}[name]
				pendingOuter = ip
			}
			if name == "erspan" && pending == TunnelGRE {
				pending = TunnelERSPAN
			}
		}
		count[name]++
	}
	if ip.version == 0 {
		return "no IP", TunnelNone
	}
	var b strings.Builder
	addrs := func(version, index int) string {
		if version == 4 {
			return field("ip.src", index) + ">" + field("ip.dst", index)
		}
		return field("ipv6.src", index) + ">" + field("ipv6.dst", index)
	}
	if tunnel != TunnelNone {
		id := "0"
		switch tunnel {
		case TunnelGRE:
			if v := field("gre.key", 0); v != "?" {
				id = v
			} else if v := field("gre.key.call_id", 0); v != "?" {
				id = v
			}
		case TunnelERSPAN:
			if v := field("erspan.spanid", 0); v != "?" {
				id = v
			}
		case TunnelVXLAN:
			id = field("vxlan.vni", 0)
		case TunnelGeneve:
			id = field("geneve.vni", 0)
		case TunnelGTPU:
			id = field("gtp.teid", 0)
		case TunnelMPLS:
			id = field("mpls.label", 0)
		}
		endpoints := "-"
		if outer.version != 0 {
			endpoints = addrs(outer.version, outer.index)
		}
		fmt.Fprintf(&b, "%v %s %s: ", tunnel, parseNumber(id), endpoints)
	}
	b.WriteString(addrs(ip.version, ip.index))
	if ip.version == 4 {
		fmt.Fprintf(&b, " proto %s ttl %s", field("ip.proto", ip.index), field("ip.ttl", ip.index))
	} else {
		fmt.Fprintf(&b, " ttl %s", field("ipv6.hlim", ip.index))
	}
	switch transport {
	case "tcp":
		i := transportIndex
		fmt.Fprintf(&b, " tcp %s>%s seq %s win %s payload %s", field("tcp.srcport", i), field("tcp.dstport", i),
			field("tcp.seq_raw", i), field("tcp.window_size_value", i), field("tcp.len", i))
	case "udp":
		i := transportIndex
		fmt.Fprintf(&b, " udp %s>%s", field("udp.srcport", i), field("udp.dstport", i))
	}
	return b.String(), tunnel
}

// parseNumber writes tshark's numbers, decimal or hexadecimal, in decimal.
func parseNumber(s string) string {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return s
	}
	return strconv.FormatUint(n, 10)
}

// describe writes p in the words of tsharkFrame.expected.
func describe(p *Packet) string {
	var b strings.Builder
	if p.Tunnel != TunnelNone {
		endpoints := "-"
		if p.OuterIPVersion() != 0 {
			endpoints = p.OuterSrcAddr().String() + ">" + p.OuterDstAddr().String()
		}
		fmt.Fprintf(&b, "%v %d %s: ", p.Tunnel, p.TunnelID, endpoints)
	}
	fmt.Fprintf(&b, "%v>%v", p.SrcAddr(), p.DstAddr())
	if p.IPVersion == 4 {
		fmt.Fprintf(&b, " proto %d ttl %d", p.Proto, p.TTL)
	} else {
		fmt.Fprintf(&b, " ttl %d", p.TTL)
	}
	switch {
	case p.Proto == ProtoTCP && p.Frag != LaterFrag:
		fmt.Fprintf(&b, " tcp %d>%d seq %d win %d payload %d", p.SrcPort, p.DstPort, p.Seq, p.Window, p.Payload)
	case p.Proto == ProtoUDP && p.Frag != LaterFrag:
		fmt.Fprintf(&b, " udp %d>%d", p.SrcPort, p.DstPort)
	}
	return b.String()
}

// disagreement is a frame that flowstat decodes differently from tshark, on
// purpose: what Decode makes of it, checked by hand, and why. Frame 0
// stands for every frame of the capture that tshark and Decode see
// differently.
type disagreement struct {
	capture string
	frame   int
	got     string
	why     string
}

// bigTCP: IP and UDP lengths of 0, so tshark leaves the tunnels closed.
// Read by hand from the bytes: VNI 5001 (0x001389) each time, the inner
// endpoints and TCP header as below; the payload is what remains of the
// frame after the headers, as IP lengths of 0 make Decode count.
const bigTCP = "big TCP: tshark does not open a tunnel in a UDP datagram of length 0"

var tsharkDisagreements = []disagreement{
	{"corpus/arista_ether.pcap", 0, "non_ip", "Arista's timestamping EtherType 0xD28B is not decoded"},
	{"corpus/ipv6-srh-ipproto-ether.pcap", 1, "a::1>c::2 ttl 63", "an Ethernet frame right in IPv6 (next header 143, for SRv6) is not opened"},
	{"corpus/erspan-type-iii-pb-1.pcap", 1, "truncated", "the capture ends inside ERSPAN's platform-specific subheader"},
	{"built.pcap", 17, "192.0.2.1>192.0.2.2 proto 17 ttl 61 udp 51000>4789",
		"a datagram to VXLAN's port without the VXLAN header's I flag stays UDP; tshark opens it"},
	{"built.pcap", 19, "192.0.2.1>192.0.2.2 proto 17 ttl 61 udp 52000>6081",
		"a datagram to Geneve's port with version 1 stays UDP; tshark opens it"},
	{"corpus/bigtcp-ipv4-geneve-ipv4.pcap", 1, "geneve 5001 10.25.132.11>10.25.132.13: 192.168.1.2>192.168.1.1 proto 6 ttl 64 tcp 35663>38005 seq 341409049 win 325 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv4-geneve-ipv6.pcap", 1, "geneve 5001 10.25.132.11>10.25.132.13: fd00::2>fd00::1 ttl 64 tcp 40433>41423 seq 79142004 win 319 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv4-vxlan-ipv4.pcap", 1, "vxlan 5001 10.25.132.11>10.25.132.13: 192.168.1.2>192.168.1.1 proto 6 ttl 64 tcp 36875>36449 seq 497210414 win 370 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv4-vxlan-ipv6.pcap", 1, "vxlan 5001 10.25.132.11>10.25.132.13: fd00::2>fd00::1 ttl 64 tcp 33673>36425 seq 1339751239 win 373 payload 79924", bigTCP},
	{"corpus/bigtcp-ipv6-geneve-ipv4.pcap", 1, "geneve 5001 2604:1380:4091:ce00::b>2604:1380:4091:ce00::d: 192.168.1.2>192.168.1.1 proto 6 ttl 64 tcp 43959>39887 seq 3918632444 win 338 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv6-geneve-ipv6.pcap", 1, "geneve 5001 2604:1380:4091:ce00::d>2604:1380:4091:ce00::b: fd00::1>fd00::2 ttl 64 tcp 38339>43997 seq 1386091372 win 367 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv6-vxlan-ipv4.pcap", 1, "vxlan 5001 2604:1380:4091:ce00::d>2604:1380:4091:ce00::b: 192.168.1.1>192.168.1.2 proto 6 ttl 64 tcp 41873>38131 seq 2347745286 win 2495 payload 80000", bigTCP},
	{"corpus/bigtcp-ipv6-vxlan-ipv6.pcap", 1, "vxlan 5001 2604:1380:4091:ce00::d>2604:1380:4091:ce00::b: fd00::1>fd00::2 ttl 64 tcp 40007>40607 seq 936978514 win 368 payload 80000", bigTCP},
}

// TestDecodeTunnelsLikeTshark decodes the tunnel captures of tcpdump's test
// suite, a real trace's GRE frame and built.pcap, and compares every frame
// with tshark's dissection (testdata/tunnels/tshark.tsv; see the README
// there).
func TestDecodeTunnelsLikeTshark(t *testing.T) {
	built := filepath.Join("testdata", "tunnels", "built.pcap")
	if *update {
		var frames []testFrame
		for i, tf := range builtTunnelFrames() {
			frames = append(frames, testFrame{time: 1_700_000_000_000_000_000 + int64(i)*1_000_000, link: LinkEthernet, data: tf.data})
		}
		if err := os.WriteFile(built, writePcap(binary.LittleEndian, false, LinkEthernet, frames), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	traces := filepath.Join("..", "..", "shared", "traces")
	if _, err := os.Stat(traces); err != nil {
		t.Logf("shared traces absent (%v): comparing built.pcap only", err)
	}
	// captures.txt names the captures, each with the display filter that
	// chose its frames, if any.
	list, err := os.ReadFile(filepath.Join("testdata", "tunnels", "captures.txt"))
	if err != nil {
		t.Fatal(err)
	}
	filtered := map[string]bool{}
	var captures []string
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		words := strings.Fields(line)
		captures = append(captures, words[0])
		filtered[words[0]] = len(words) > 1
	}
	byCapture := map[string]map[int]tsharkFrame{}
	for _, fr := range readTsharkFrames(t, filepath.Join("testdata", "tunnels", "tshark.tsv")) {
		if byCapture[fr.capture] == nil {
			byCapture[fr.capture] = map[int]tsharkFrame{}
		}
		byCapture[fr.capture][fr.number] = fr
	}
	kinds := map[Tunnel]int{}
	matched, disagreements, total := 0, 0, 0
	for _, capture := range captures {
		path := filepath.Join(traces, capture)
		if capture == "built.pcap" {
			path = built
		} else if _, err := os.Stat(path); err != nil {
			continue
		}
		t.Run(capture, func(t *testing.T) {
			want := byCapture[capture]
			tr, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			var f Frame
			var p Packet
			for n := 1; ; n++ {
				err := tr.Next(&f)
				if err == io.EOF {
					if n-1 != len(want) && !filtered[capture] {
						t.Errorf("%d frames, tshark saw %d", n-1, len(want))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				fr, ok := want[n]
				if !ok {
					if filtered[capture] {
						continue
					}
					t.Fatalf("frame %d missing from tshark.tsv", n)
				}
				total++
				exp, kind := fr.expected()
				got := "no IP"
				if out := Decode(f.LinkType, f.Data, &p); out == OK {
					got = describe(&p)
				} else if exp != "no IP" {
					got = out.String()
				}
				if got == exp {
					matched++
					kinds[kind]++
					continue
				}
				known := false
				for _, d := range tsharkDisagreements {
					if d.capture == capture && (d.frame == n || d.frame == 0) {
						known = true
						if got != d.got {
							t.Errorf("frame %d:\n got  %s\n want %s (checked by hand; tshark says %s)", n, got, d.got, exp)
						}
						disagreements++
					}
				}
				if !known {
					t.Errorf("frame %d:\n got  %s\n want %s", n, got, exp)
				}
			}
		})
	}
	t.Logf("%d of %d frames as tshark dissects them (by outermost tunnel: %v), %d as checked by hand", matched, total, kinds, disagreements)
}
