package flows

import (
	"net/netip"
	"testing"

	"flowstat/reader"
)

// segment is a TCP segment between client:40000 and server:80.
func segment(at float64, fromCli bool, flags uint8, seq, payload uint32, window uint16, ttl uint8) reader.Packet {
	p := reader.Packet{Time: t0 + int64(at*float64(sec)), IPVersion: 4, Proto: reader.ProtoTCP,
		Src: client.As16(), Dst: server.As16(), SrcPort: 40000, DstPort: 80,
		TCPFlags: flags, Seq: seq, Payload: payload, IPLen: 40 + payload, Window: window, TTL: ttl}
	if !fromCli {
		p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	return p
}

// TestRetransmissionsWindowsTTLs follows a connection whose client sends a
// segment twice, overlaps another, sends a keep-alive and a window probe,
// while the server announces a zero window and its TTL changes: each count
// is the one the packets make, per direction, including across the wrap
// of sequence numbers.
func TestRetransmissionsWindowsTTLs(t *testing.T) {
	const syn, ack, psh, fin, rst = reader.SYN, reader.ACK, reader.PSH, reader.FIN, reader.RST
	var c uint32 = 0xFFFF_FF00 // the client's initial sequence number: its data wraps past 2^32
	var s uint32 = 5000
	pkts := []reader.Packet{
		segment(0, true, syn, c, 0, 64240, 64),
		segment(0.01, false, syn|ack, s, 0, 65160, 50),
		segment(0.02, true, ack, c+1, 0, 502, 64),
		segment(0.03, true, ack|psh, c+1, 100, 502, 64),   // new: c+1 .. c+101
		segment(0.04, true, ack|psh, c+101, 200, 502, 63), // new, across 2^32: .. c+301
		segment(0.05, true, ack|psh, c+101, 200, 502, 64), // the same again: a retransmission
		segment(0.06, true, ack|psh, c+201, 150, 502, 64), // overlaps the end: sent again, 150 bytes
		segment(0.07, false, ack, s+1, 0, 0, 50),          // zero window
		segment(0.08, false, ack, s+1, 0, 0, 52),          // still zero
		segment(0.09, true, ack, c+350, 1, 502, 64),       // keep-alive: one byte before the end
		segment(0.10, false, ack|psh, s+1, 10, 1024, 49),  // data, window open again
		segment(0.11, true, fin|ack, c+351, 0, 502, 64),
		segment(0.12, false, rst, s+11, 0, 0, 50), // a RST's zero window is no zero window
	}
	recs := collect(Options{}, pkts...)
	if len(recs) != 1 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.RetransPackets != [2]uint32{2, 0} || r.RetransBytes != [2]uint64{350, 0} {
		t.Errorf("retransmissions %v packets, %v bytes; want [2 0], [350 0]", r.RetransPackets, r.RetransBytes)
	}
	if r.ZeroWindows != [2]uint32{0, 2} {
		t.Errorf("zero windows %v, want [0 2]", r.ZeroWindows)
	}
	if r.MinTTL != [2]uint8{63, 49} || r.MaxTTL != [2]uint8{64, 52} {
		t.Errorf("TTLs %v..%v, want [63 49]..[64 52]", r.MinTTL, r.MaxTTL)
	}
	if r.PayloadBytes != [2]uint64{651, 10} || r.MinIPLen != [2]uint32{40, 40} || r.MaxIPLen != [2]uint32{240, 50} {
		t.Errorf("payload %v, IP lengths %v..%v", r.PayloadBytes, r.MinIPLen, r.MaxIPLen)
	}
}

// TestTunnels: the same inner connection in two VXLAN segments makes two
// flows, each with its tunnel and outer endpoints; outside tunnels a flow
// has none.
func TestTunnels(t *testing.T) {
	inTunnel := func(vni uint32, fromCli bool, flags uint8) reader.Packet {
		p := segment(0, fromCli, flags, 1, 0, 1000, 64)
		p.Tunnel, p.TunnelID = reader.TunnelVXLAN, vni
		p.Outer = reader.OuterOf(reader.Endpoints{Version: 4,
			Src: netip.MustParseAddr("203.0.113.1").As16(), Dst: netip.MustParseAddr("203.0.113.2").As16()})
		return p
	}
	recs := collect(Options{}, inTunnel(10, true, reader.SYN), inTunnel(20, true, reader.SYN),
		inTunnel(10, false, reader.SYN|reader.ACK), segment(0, true, reader.SYN, 1, 0, 1000, 64))
	if len(recs) != 3 {
		t.Fatalf("%d records, want one per tunnel and one outside: %+v", len(recs), recs)
	}
	byVNI := map[uint32]Record{}
	for _, r := range recs {
		byVNI[r.Tunnel.Get().ID] = r
	}
	if r := byVNI[10]; r.Tunnel.Get().Kind != reader.TunnelVXLAN || r.Packets != [2]uint64{1, 1} || r.Tunnel.Get().Src.String() != "203.0.113.1" {
		t.Errorf("VNI 10: %+v %+v", r, r.Tunnel.Get())
	}
	if r := byVNI[20]; r.Tunnel.Get().Kind != reader.TunnelVXLAN || r.Packets != [2]uint64{1, 0} {
		t.Errorf("VNI 20: %+v %+v", r, r.Tunnel.Get())
	}
	if r := byVNI[0]; r.Tunnel != NoTunnel {
		t.Errorf("outside tunnels: %+v %+v", r, r.Tunnel.Get())
	}
}
