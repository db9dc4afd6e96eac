package report

import (
	"fmt"

	"flowstat/flows"
)

// attackFlows makes ten minutes of traffic with one of each kind of finding:
// web clients throughout, a SYN flood, SNMP reflection, SYN-ACK
// backscatter, a TCP SYN port scan, a host sweep on port 22, a UDP port
// scan, a TCP ACK scan, a ping sweep, a UDP, an ICMP and a TCP ACK
// flood on the SYN flood's victim, and an NTP reflection carpet-bombing a
// /24; and none in a resolver asking 60 name
// servers, all answering, a one-flow UDP stream at 1,000 packets/s, a
// syslog collector with 200 devices and a bulk TCP transfer caught in the
// middle.
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
	fs = append(fs, floodFlows()...)
	fs = append(fs, carpetFlows()...)
	return append(fs, nearMisses()...)
}

// carpetFlows are an NTP reflection spread over 40 hosts of 198.51.100.0/24:
// each host gets 16 packets from 8 reflectors (a host alone is below 20
// reflectors and 500 packets), the prefix 640 packets from 100.
func carpetFlows() []flow {
	var fs []flow
	for h := range 40 {
		for j := range 8 {
			s := 590 + float64(h*8+j)*0.002
			fs = append(fs, flow{src: fmt.Sprintf("198.51.100.%d", 10+h), dst: fmt.Sprintf("203.0.114.%d", (h*8+j)%100),
				sport: uint16(40000 + j), dport: 123, proto: 17, state: flows.SHR, end: flows.EndEOF,
				pkts: []pkt{{s: s}, {s: s + 0.001}}})
		}
	}
	return fs
}

// floodFlows are a UDP, an ICMP and a TCP ACK flood on 192.0.2.80 from
// spoofed sources: 1,200 one-packet UDP flows at 2,000 packets/s to
// ports 1024-3023; 600 ICMP echo flows of two requests, 1,200 packets at
// 4,000 packets/s; 1,100 one-ACK flows to port 443 at 2,500 packets/s.
func floodFlows() []flow {
	var fs []flow
	for i := range 1200 {
		s := 550 + float64(i)*0.0005
		fs = append(fs, flow{src: fmt.Sprintf("45.%d.%d.1", i/200, i%200), dst: "192.0.2.80", sport: uint16(20000 + i),
			dport: uint16(1024 + i%2000), proto: 17, state: flows.S0, end: flows.EndEOF, pkts: []pkt{{s: s, fwd: true}}})
	}
	for i := range 600 {
		s := 570 + float64(i)*0.0005
		fs = append(fs, flow{src: fmt.Sprintf("46.%d.%d.1", i/200, i%200), dst: "192.0.2.80", sport: uint16(i), proto: 1,
			echo: true, state: flows.S0, end: flows.EndEOF, pkts: []pkt{{s: s, fwd: true}, {s: s + 0.00025, fwd: true}}})
	}
	for i := range 1100 {
		s := 580 + float64(i)*0.0004
		fs = append(fs, flow{src: fmt.Sprintf("47.%d.%d.1", i/200, i%200), dst: "192.0.2.80", sport: uint16(30000 + i), dport: 443,
			proto: 6, state: flows.OTH, end: flows.EndEOF, flags: [2]uint8{tcpACK, 0}, pkts: []pkt{{s: s, fwd: true}}})
	}
	return fs
}

// nearMisses are traffic that no finding is made of.
func nearMisses() []flow {
	var fs []flow
	for i := range 60 {
		s := 30 + float64(i)*5
		fs = append(fs, flow{src: "10.0.0.53", dst: fmt.Sprintf("203.0.113.%d", 100+i), sport: uint16(20000 + i), dport: 53, proto: 17,
			state: flows.SF, end: flows.EndIdle, pkts: []pkt{{s: s, fwd: true}, {s: s + 0.03}}})
	}
	stream := flow{src: "10.0.0.70", dst: "192.0.2.30", sport: 5004, dport: 5004, proto: 17, state: flows.S0, end: flows.EndIdle}
	for i := range 5000 {
		stream.pkts = append(stream.pkts, pkt{s: 100 + float64(i)*0.001, fwd: true})
	}
	fs = append(fs, stream)
	for i := range 200 {
		f := flow{src: fmt.Sprintf("10.1.%d.%d", i/100, i%100), dst: "192.0.2.14", sport: 514, dport: 514, proto: 17,
			state: flows.S0, end: flows.EndEOF}
		for k := range 20 {
			f.pkts = append(f.pkts, pkt{s: float64(i)*0.01 + float64(k)*29, fwd: true})
		}
		fs = append(fs, f)
	}
	bulk := flow{src: "10.0.0.71", dst: "192.0.2.31", sport: 45000, dport: 22, proto: 6, state: flows.OTH, end: flows.EndEOF,
		flags: [2]uint8{tcpACK | tcpPSH, tcpACK}}
	for i := range 6000 {
		bulk.pkts = append(bulk.pkts, pkt{s: 200 + float64(i)*0.0005, fwd: i%3 != 2})
	}
	return append(fs, bulk)
}
