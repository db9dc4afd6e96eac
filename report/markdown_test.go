package report

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"flowstat/flows"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/golden")

// attackFlows makes ten minutes of traffic with one of each kind of finding:
// web clients throughout, a SYN flood, SNMP reflection, SYN-ACK
// backscatter, a port scan and a host scan.
func attackFlows() []flow {
	var fs []flow
	web := [2]uint8{tcpSYN | tcpACK | tcpFIN, tcpSYN | tcpACK | tcpFIN}
	for i := range 400 {
		s := float64(i) * 1.5
		fs = append(fs, flow{src: fmt.Sprintf("10.0.0.%d", i%40+1), dst: "192.0.2.80", sport: uint16(30000 + i), dport: 443,
			proto: 6, state: flows.SF, end: flows.EndFIN, flags: web, syns: 1, synacks: 1,
			pkts: []pkt{{s: s, fwd: true, syn: true}, {s: s + 0.02, synack: true}, {s: s + 0.04, fwd: true},
				{s: s + float64(i%9)*0.7, fwd: true}, {s: s + float64(i%9)*0.7 + 0.1}}})
	}
	for i := range 1500 {
		s := 120 + float64(i)*0.04
		fs = append(fs, flow{src: fmt.Sprintf("198.51.%d.%d", i/200, i%200), dst: "192.0.2.80", sport: uint16(1024 + i), dport: 80,
			proto: 6, state: flows.S0, end: flows.EndIdle, flags: [2]uint8{tcpSYN, 0}, syns: 1,
			pkts: []pkt{{s: s, fwd: true, syn: true}}})
	}
	for i := range 800 {
		s := 300 + float64(i)*0.05
		fs = append(fs, flow{src: "192.0.2.99", dst: fmt.Sprintf("203.0.113.%d", i%60), sport: uint16(40000 + i), dport: 161,
			proto: 17, state: flows.SHR, end: flows.EndIdle, pkts: []pkt{{s: s}, {s: s + 0.01}}})
	}
	for i := range 600 {
		s := 200 + float64(i)*0.1
		fs = append(fs, flow{src: "192.0.2.99", dst: fmt.Sprintf("198.18.%d.%d", i/100, i%100), sport: uint16(20000 + i), dport: 443,
			proto: 6, state: flows.OTH, end: flows.EndIdle, flags: [2]uint8{0, tcpSYN | tcpACK}, synacks: 1,
			pkts: []pkt{{s: s, synack: true}}})
	}
	for i := range 150 {
		s := 400 + float64(i)*0.2
		fs = append(fs, flow{src: "10.66.0.1", dst: "192.0.2.7", sport: 50000, dport: uint16(i + 1), proto: 6,
			state: flows.REJ, end: flows.EndRST, flags: [2]uint8{tcpSYN, tcpRST | tcpACK}, syns: 1,
			pkts: []pkt{{s: s, fwd: true, syn: true}, {s: s + 0.001}}})
	}
	for i := range 70 {
		s := 500 + float64(i)*0.3
		fs = append(fs, flow{src: "10.66.0.2", dst: fmt.Sprintf("192.0.2.%d", 100+i), sport: 50001, dport: 22, proto: 6,
			state: flows.S0, end: flows.EndEOF, flags: [2]uint8{tcpSYN, 0}, syns: 1,
			pkts: []pkt{{s: s, fwd: true, syn: true}}})
	}
	return fs
}

// The report of made-up traffic with every kind of finding, reviewed by
// eye. Regenerate with `go test ./report -update`.
func TestMarkdownGolden(t *testing.T) {
	tests := []struct {
		name string
		opts BuildOptions
	}{
		{"synthetic.md", BuildOptions{}},
		{"synthetic-10s-target.md", BuildOptions{Interval: 10 * time.Second,
			Targets: []netip.Prefix{netip.MustParsePrefix("192.0.2.80/32"), netip.MustParsePrefix("192.0.2.0/24")}, Top: 5, NoPlots: true}},
	}
	ds := dataset(t, 5, 60, attackFlows()...)
	ds.Summary.Inputs = []Input{{Path: "/captures/attack.pcap", Format: "pcap", Packets: 5000, Bytes: 600000}}
	ds.Summary.Packets.Read = 5003
	ds.Summary.Packets.NonIP = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := build(t, ds, tt.opts)
			got := Markdown(st)
			checkMarkdown(t, got)
			path := filepath.Join("testdata", "golden", tt.name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s; run with -update and review the diff", path)
			}
		})
	}
}

// checkMarkdown checks what makes the report read well in a plain editor
// and on GitHub: aligned tables, no trailing spaces, blank lines around
// headings, one final newline.
func checkMarkdown(t *testing.T, md []byte) {
	t.Helper()
	lines := strings.Split(string(md), "\n")
	if !bytes.HasSuffix(md, []byte("\n")) || bytes.HasSuffix(md, []byte("\n\n")) {
		t.Error("report does not end in exactly one newline")
	}
	var width int
	for i, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d ends in a space: %q", i+1, l)
		}
		if strings.HasPrefix(l, "#") && i > 0 && lines[i-1] != "" {
			t.Errorf("line %d: heading without a blank line before it", i+1)
		}
		if strings.HasPrefix(l, "|") {
			if i == 0 || !strings.HasPrefix(lines[i-1], "|") {
				width = utf8.RuneCountInString(l)
			} else if utf8.RuneCountInString(l) != width {
				t.Errorf("line %d: table row of %d characters, header %d", i+1, utf8.RuneCountInString(l), width)
			}
		}
		if i > 0 && l == "" && lines[i-1] == "" {
			t.Errorf("line %d: two blank lines", i+1)
		}
	}
}
