package report

import (
	"fmt"

	"flowstat/flows"
)

// attackFlows makes ten minutes of traffic with one of each kind of finding:
// web clients throughout, a SYN flood, SNMP reflection, SYN-ACK
// backscatter, a TCP SYN port scan, a host sweep on port 22, a UDP port
// scan, a TCP ACK scan and a ping sweep; and a resolver asking 60 name
// servers, all answering, which is none.
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
	for i := range 120 {
		s := 420 + float64(i)*0.1
		fs = append(fs, flow{src: "10.66.0.4", dst: "192.0.2.8", sport: 50004, dport: uint16(1000 + i), proto: 17,
			state: flows.S0, end: flows.EndIdle, pkts: []pkt{{s: s, fwd: true}}})
	}
	for i := range 110 {
		s := 440 + float64(i)*0.1
		fs = append(fs, flow{src: "10.66.0.5", dst: "192.0.2.9", sport: 50005, dport: uint16(i + 1), proto: 6,
			state: flows.OTH, end: flows.EndRST, flags: [2]uint8{tcpACK, tcpRST}, pkts: []pkt{{s: s, fwd: true}, {s: s + 0.001}}})
	}
	for i := range 60 {
		s := 460 + float64(i)*0.05
		f := flow{src: "10.66.0.6", dst: fmt.Sprintf("192.0.2.%d", 150+i), sport: 4242, proto: 1, echo: true,
			state: flows.S0, end: flows.EndIdle, pkts: []pkt{{s: s, fwd: true}}}
		if i%3 == 0 {
			f.state, f.pkts = flows.SF, append(f.pkts, pkt{s: s + 0.002})
		}
		fs = append(fs, f)
	}
	for i := range 60 {
		s := 30 + float64(i)*5
		fs = append(fs, flow{src: "10.0.0.53", dst: fmt.Sprintf("203.0.113.%d", 100+i), sport: uint16(20000 + i), dport: 53, proto: 17,
			state: flows.SF, end: flows.EndIdle, pkts: []pkt{{s: s, fwd: true}, {s: s + 0.03}}})
	}
	return fs
}
