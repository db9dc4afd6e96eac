package tables

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
	"flowstat/reader"
)

var flowColumns = []Column{
	{"flow_id", parquet.Int64}, {"proto", parquet.Int32}, {"ip_version", parquet.Int32}, {"vlan", parquet.Int32},
	{"src_ip", parquet.ByteArray}, {"src_port", parquet.Int32}, {"dst_ip", parquet.ByteArray}, {"dst_port", parquet.Int32},
	{"first_seen", parquet.Int64}, {"last_seen", parquet.Int64},
	{"packets_fwd", parquet.Int64}, {"packets_rev", parquet.Int64}, {"bytes_fwd", parquet.Int64}, {"bytes_rev", parquet.Int64},
	{"payload_bytes_fwd", parquet.Int64}, {"payload_bytes_rev", parquet.Int64},
	{"ip_len_min_fwd", parquet.Int32}, {"ip_len_max_fwd", parquet.Int32}, {"ip_len_min_rev", parquet.Int32}, {"ip_len_max_rev", parquet.Int32},
	{"icmp_type", parquet.Int32}, {"icmp_code", parquet.Int32},
	{"ttl_min_fwd", parquet.Int32}, {"ttl_max_fwd", parquet.Int32}, {"ttl_min_rev", parquet.Int32}, {"ttl_max_rev", parquet.Int32},
	{"retrans_packets_fwd", parquet.Int32}, {"retrans_packets_rev", parquet.Int32},
	{"retrans_bytes_fwd", parquet.Int64}, {"retrans_bytes_rev", parquet.Int64},
	{"zero_windows_fwd", parquet.Int32}, {"zero_windows_rev", parquet.Int32},
	{"tunnel", parquet.ByteArray}, {"tunnel_id", parquet.Int32}, {"tunnel_src", parquet.ByteArray}, {"tunnel_dst", parquet.ByteArray},
	{"tcp_flags_fwd", parquet.Int32}, {"tcp_flags_rev", parquet.Int32},
	{"syn_packets", parquet.Int32}, {"synack_packets", parquet.Int32}, {"rst_packets", parquet.Int32},
	{"handshake_rtt_s", parquet.Double}, {"state", parquet.ByteArray}, {"half_open", parquet.Boolean},
	{"history", parquet.ByteArray}, {"end_reason", parquet.ByteArray},
}

// ReadFlows reads flows.parquet back into records (without Windows).
func ReadFlows(path string) ([]flows.Record, error) {
	var recs []flows.Record
	err := EachFlow(path, func(rows int64) { recs = make([]flows.Record, 0, rows) }, func(r *flows.Record) error {
		recs = append(recs, *r)
		return nil
	})
	return recs, err
}

// locationColumns are the way back to a flow's packets.
var locationColumns = []Column{{"input", parquet.ByteArray}, {"first_frame", parquet.Int64}, {"first_offset", parquet.Int64}}

// EachFlow reads flows.parquet back, calling start with the number of
// records, then fn for each, in the file's order.
func EachFlow(path string, start func(rows int64), fn func(*flows.Record) error) error {
	return eachFlow(path, flowColumns, nil, start, func(r *flows.Record, _ func(string) parquet.Value) error { return fn(r) })
}

// EachFlowLocated reads flows.parquet back as EachFlow does, with each
// record's first packet location (FirstFrame, FirstOffset) and the input
// it is in, the path as analyze was given it. Its Input is 0.
func EachFlowLocated(path string, fn func(r *flows.Record, input string) error) error {
	return eachFlowLocated(path, nil, fn)
}

// EachFlowLocatedOf calls fn as EachFlowLocated does, for the records of
// the row groups that hold a flow of ids at least: it reads the flow_id
// column of the others, not their rows.
func EachFlowLocatedOf(path string, ids map[uint64]bool, fn func(r *flows.Record, input string) error) error {
	return eachFlowLocated(path, func(t *Table, rg parquet.RowGroup) (bool, error) {
		return AnyUint64(rg, t.index["flow_id"], ids)
	}, fn)
}

func eachFlowLocated(path string, wanted func(*Table, parquet.RowGroup) (bool, error), fn func(r *flows.Record, input string) error) error {
	cols := append(slices.Clip(flowColumns), locationColumns...)
	return eachFlow(path, cols, wanted, func(int64) {}, func(r *flows.Record, g func(string) parquet.Value) error {
		r.FirstFrame, r.FirstOffset = g("first_frame").Uint64(), g("first_offset").Int64()
		return fn(r, string(g("input").ByteArray()))
	})
}

// eachFlow reads the records of flows.parquet's rows, those of the row
// groups wanted keeps when it is not nil.
func eachFlow(path string, cols []Column, wanted func(*Table, parquet.RowGroup) (bool, error), start func(rows int64), fn func(*flows.Record, func(string) parquet.Value) error) error {
	t, err := OpenTable(path, cols)
	if err != nil {
		return err
	}
	start(t.pf.NumRows())
	keep := func(parquet.RowGroup) (bool, error) { return true, nil }
	if wanted != nil {
		keep = func(rg parquet.RowGroup) (bool, error) { return wanted(t, rg) }
	}
	return t.EachIn(keep, func(v []parquet.Value) error {
		g := func(name string) parquet.Value { return t.Get(v, name) }
		r := flows.Record{
			ID:             g("flow_id").Uint64(),
			Proto:          uint8(g("proto").Int32()),
			IPVersion:      uint8(g("ip_version").Int32()),
			VLAN:           uint16(g("vlan").Int32()),
			SrcPort:        uint16(g("src_port").Int32()),
			DstPort:        uint16(g("dst_port").Int32()),
			FirstSeen:      g("first_seen").Int64(),
			LastSeen:       g("last_seen").Int64(),
			Packets:        [2]uint64{g("packets_fwd").Uint64(), g("packets_rev").Uint64()},
			Bytes:          [2]uint64{g("bytes_fwd").Uint64(), g("bytes_rev").Uint64()},
			PayloadBytes:   [2]uint64{g("payload_bytes_fwd").Uint64(), g("payload_bytes_rev").Uint64()},
			MinIPLen:       [2]uint32{g("ip_len_min_fwd").Uint32(), g("ip_len_min_rev").Uint32()},
			MaxIPLen:       [2]uint32{g("ip_len_max_fwd").Uint32(), g("ip_len_max_rev").Uint32()},
			MinTTL:         [2]uint8{uint8(g("ttl_min_fwd").Int32()), uint8(g("ttl_min_rev").Int32())},
			MaxTTL:         [2]uint8{uint8(g("ttl_max_fwd").Int32()), uint8(g("ttl_max_rev").Int32())},
			RetransPackets: [2]uint32{g("retrans_packets_fwd").Uint32(), g("retrans_packets_rev").Uint32()},
			RetransBytes:   [2]uint64{g("retrans_bytes_fwd").Uint64(), g("retrans_bytes_rev").Uint64()},
			ZeroWindows:    [2]uint32{g("zero_windows_fwd").Uint32(), g("zero_windows_rev").Uint32()},
			TCPFlags:       [2]uint8{uint8(g("tcp_flags_fwd").Int32()), uint8(g("tcp_flags_rev").Int32())},
			SYNs:           g("syn_packets").Uint32(),
			SYNACKs:        g("synack_packets").Uint32(),
			RSTs:           g("rst_packets").Uint32(),
			HalfOpen:       g("half_open").Boolean(),
			History:        flows.ParseHistory(string(g("history").ByteArray())),
		}
		src, err := netip.ParseAddr(string(g("src_ip").ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		dst, err := netip.ParseAddr(string(g("dst_ip").ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		r.SrcIP, r.DstIP = flows.IPOf(src), flows.IPOf(dst)
		if err := readTunnel(&r, g); err != nil {
			return err
		}
		if typ := g("icmp_type"); !typ.IsNull() {
			r.ICMPType, r.ICMPCode = uint8(typ.Int32()), uint8(g("icmp_code").Int32())
			r.Echo = flows.IsEcho(r.Proto, r.ICMPType)
		}
		r.HandshakeRTT = -1
		if rtt := g("handshake_rtt_s"); !rtt.IsNull() {
			r.HandshakeRTT = int64(math.Round(rtt.Double() * 1e9))
		}
		var ok bool
		if r.State, ok = flows.ParseState(string(g("state").ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown state %q", r.ID, g("state").ByteArray())
		}
		if r.EndReason, ok = flows.ParseEndReason(string(g("end_reason").ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown end reason %q", r.ID, g("end_reason").ByteArray())
		}
		return fn(&r, g)
	})
}

// readTunnel sets a record's tunnel from its row's columns.
func readTunnel(r *flows.Record, g func(name string) parquet.Value) error {
	kind := g("tunnel")
	if kind.IsNull() {
		return nil
	}
	var tn flows.Tunnel
	for t := reader.TunnelNone + 1; t.String() != "tunnel"+strconv.Itoa(int(t)); t++ {
		if t.String() == string(kind.ByteArray()) {
			tn.Kind = t
		}
	}
	if tn.Kind == reader.TunnelNone {
		return fmt.Errorf("flow %d: unknown tunnel %q", r.ID, kind.ByteArray())
	}
	tn.ID = g("tunnel_id").Uint32()
	for _, end := range []struct {
		column string
		ip     *flows.IP
	}{{"tunnel_src", &tn.Src}, {"tunnel_dst", &tn.Dst}} {
		if v := g(end.column); !v.IsNull() {
			a, err := netip.ParseAddr(string(v.ByteArray()))
			if err != nil {
				return fmt.Errorf("flow %d: %w", r.ID, err)
			}
			*end.ip = flows.IPOf(a)
		}
	}
	r.Tunnel = flows.RefTunnel(tn)
	return nil
}
