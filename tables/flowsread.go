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

// The columns a record is read from, by their place in flowColumns and
// then locationColumns.
const (
	colFlowID = iota
	colProto
	colIPVersion
	colVLAN
	colSrcIP
	colSrcPort
	colDstIP
	colDstPort
	colFirstSeen
	colLastSeen
	colPacketsFwd
	colPacketsRev
	colBytesFwd
	colBytesRev
	colPayloadBytesFwd
	colPayloadBytesRev
	colIPLenMinFwd
	colIPLenMaxFwd
	colIPLenMinRev
	colIPLenMaxRev
	colICMPType
	colICMPCode
	colTTLMinFwd
	colTTLMaxFwd
	colTTLMinRev
	colTTLMaxRev
	colRetransPacketsFwd
	colRetransPacketsRev
	colRetransBytesFwd
	colRetransBytesRev
	colZeroWindowsFwd
	colZeroWindowsRev
	colTunnel
	colTunnelID
	colTunnelSrc
	colTunnelDst
	colTCPFlagsFwd
	colTCPFlagsRev
	colSYNPackets
	colSYNACKPackets
	colRSTPackets
	colHandshakeRTTS
	colState
	colHalfOpen
	colHistory
	colEndReason
	numFlowColumns
)

var flowColumns = []Column{
	colFlowID:            {"flow_id", parquet.Int64},
	colProto:             {"proto", parquet.Int32},
	colIPVersion:         {"ip_version", parquet.Int32},
	colVLAN:              {"vlan", parquet.Int32},
	colSrcIP:             {"src_ip", parquet.ByteArray},
	colSrcPort:           {"src_port", parquet.Int32},
	colDstIP:             {"dst_ip", parquet.ByteArray},
	colDstPort:           {"dst_port", parquet.Int32},
	colFirstSeen:         {"first_seen", parquet.Int64},
	colLastSeen:          {"last_seen", parquet.Int64},
	colPacketsFwd:        {"packets_fwd", parquet.Int64},
	colPacketsRev:        {"packets_rev", parquet.Int64},
	colBytesFwd:          {"bytes_fwd", parquet.Int64},
	colBytesRev:          {"bytes_rev", parquet.Int64},
	colPayloadBytesFwd:   {"payload_bytes_fwd", parquet.Int64},
	colPayloadBytesRev:   {"payload_bytes_rev", parquet.Int64},
	colIPLenMinFwd:       {"ip_len_min_fwd", parquet.Int32},
	colIPLenMaxFwd:       {"ip_len_max_fwd", parquet.Int32},
	colIPLenMinRev:       {"ip_len_min_rev", parquet.Int32},
	colIPLenMaxRev:       {"ip_len_max_rev", parquet.Int32},
	colICMPType:          {"icmp_type", parquet.Int32},
	colICMPCode:          {"icmp_code", parquet.Int32},
	colTTLMinFwd:         {"ttl_min_fwd", parquet.Int32},
	colTTLMaxFwd:         {"ttl_max_fwd", parquet.Int32},
	colTTLMinRev:         {"ttl_min_rev", parquet.Int32},
	colTTLMaxRev:         {"ttl_max_rev", parquet.Int32},
	colRetransPacketsFwd: {"retrans_packets_fwd", parquet.Int32},
	colRetransPacketsRev: {"retrans_packets_rev", parquet.Int32},
	colRetransBytesFwd:   {"retrans_bytes_fwd", parquet.Int64},
	colRetransBytesRev:   {"retrans_bytes_rev", parquet.Int64},
	colZeroWindowsFwd:    {"zero_windows_fwd", parquet.Int32},
	colZeroWindowsRev:    {"zero_windows_rev", parquet.Int32},
	colTunnel:            {"tunnel", parquet.ByteArray},
	colTunnelID:          {"tunnel_id", parquet.Int32},
	colTunnelSrc:         {"tunnel_src", parquet.ByteArray},
	colTunnelDst:         {"tunnel_dst", parquet.ByteArray},
	colTCPFlagsFwd:       {"tcp_flags_fwd", parquet.Int32},
	colTCPFlagsRev:       {"tcp_flags_rev", parquet.Int32},
	colSYNPackets:        {"syn_packets", parquet.Int32},
	colSYNACKPackets:     {"synack_packets", parquet.Int32},
	colRSTPackets:        {"rst_packets", parquet.Int32},
	colHandshakeRTTS:     {"handshake_rtt_s", parquet.Double},
	colState:             {"state", parquet.ByteArray},
	colHalfOpen:          {"half_open", parquet.Boolean},
	colHistory:           {"history", parquet.ByteArray},
	colEndReason:         {"end_reason", parquet.ByteArray},
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
var locationColumns = []Column{
	colInput - numFlowColumns:       {"input", parquet.ByteArray},
	colFirstFrame - numFlowColumns:  {"first_frame", parquet.Int64},
	colFirstOffset - numFlowColumns: {"first_offset", parquet.Int64},
}

const (
	colInput = numFlowColumns + iota
	colFirstFrame
	colFirstOffset
)

// EachFlow reads flows.parquet back, calling start with the number of
// records, then fn for each, in the file's order.
func EachFlow(path string, start func(rows int64), fn func(*flows.Record) error) error {
	return eachFlow(path, flowColumns, nil, start, func(r *flows.Record, _ func(int) parquet.Value) error { return fn(r) })
}

// EachFlowLocated reads flows.parquet back as EachFlow does, with each
// record's first packet location (FirstFrame, FirstOffset) and the input
// it is in, the path as analyze was given it. Its Input is 0.
func EachFlowLocated(path string, fn func(r *flows.Record, input string) error) error {
	return EachFlowLocatedOf(path, nil, fn)
}

// EachFlowLocatedOf calls fn as EachFlowLocated does, for the records of
// the row groups that hold a flow of ids at least (every row group when
// ids is nil): of the others it reads the flow_id column, not the rows.
func EachFlowLocatedOf(path string, ids map[uint64]bool, fn func(r *flows.Record, input string) error) error {
	cols := append(slices.Clip(flowColumns), locationColumns...)
	return eachFlow(path, cols, ids, func(int64) {}, func(r *flows.Record, g func(int) parquet.Value) error {
		r.FirstFrame, r.FirstOffset = g(colFirstFrame).Uint64(), g(colFirstOffset).Int64()
		return fn(r, string(g(colInput).ByteArray()))
	})
}

// eachFlow reads the records of flows.parquet's rows, those of the row
// groups holding one of ids when ids is not nil.
func eachFlow(path string, cols []Column, ids map[uint64]bool, start func(rows int64), fn func(*flows.Record, func(int) parquet.Value) error) error {
	t, err := OpenTable(path, cols)
	if err != nil {
		return err
	}
	start(t.pf.NumRows())
	var keep func(parquet.RowGroup) (bool, error)
	if ids != nil {
		keep = func(rg parquet.RowGroup) (bool, error) { return columnHoldsAny(rg, t.leaves[colFlowID], ids) }
	}
	return t.EachIn(keep, func(v []parquet.Value) error {
		g := func(col int) parquet.Value { return v[t.leaves[col]] }
		r := flows.Record{
			ID:             g(colFlowID).Uint64(),
			Proto:          uint8(g(colProto).Int32()),
			IPVersion:      uint8(g(colIPVersion).Int32()),
			VLAN:           uint16(g(colVLAN).Int32()),
			SrcPort:        uint16(g(colSrcPort).Int32()),
			DstPort:        uint16(g(colDstPort).Int32()),
			FirstSeen:      g(colFirstSeen).Int64(),
			LastSeen:       g(colLastSeen).Int64(),
			Packets:        [2]uint64{g(colPacketsFwd).Uint64(), g(colPacketsRev).Uint64()},
			Bytes:          [2]uint64{g(colBytesFwd).Uint64(), g(colBytesRev).Uint64()},
			PayloadBytes:   [2]uint64{g(colPayloadBytesFwd).Uint64(), g(colPayloadBytesRev).Uint64()},
			MinIPLen:       [2]uint32{g(colIPLenMinFwd).Uint32(), g(colIPLenMinRev).Uint32()},
			MaxIPLen:       [2]uint32{g(colIPLenMaxFwd).Uint32(), g(colIPLenMaxRev).Uint32()},
			MinTTL:         [2]uint8{uint8(g(colTTLMinFwd).Int32()), uint8(g(colTTLMinRev).Int32())},
			MaxTTL:         [2]uint8{uint8(g(colTTLMaxFwd).Int32()), uint8(g(colTTLMaxRev).Int32())},
			RetransPackets: [2]uint32{g(colRetransPacketsFwd).Uint32(), g(colRetransPacketsRev).Uint32()},
			RetransBytes:   [2]uint64{g(colRetransBytesFwd).Uint64(), g(colRetransBytesRev).Uint64()},
			ZeroWindows:    [2]uint32{g(colZeroWindowsFwd).Uint32(), g(colZeroWindowsRev).Uint32()},
			TCPFlags:       [2]uint8{uint8(g(colTCPFlagsFwd).Int32()), uint8(g(colTCPFlagsRev).Int32())},
			SYNs:           g(colSYNPackets).Uint32(),
			SYNACKs:        g(colSYNACKPackets).Uint32(),
			RSTs:           g(colRSTPackets).Uint32(),
			HalfOpen:       g(colHalfOpen).Boolean(),
			History:        flows.ParseHistory(string(g(colHistory).ByteArray())),
		}
		src, err := netip.ParseAddr(string(g(colSrcIP).ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		dst, err := netip.ParseAddr(string(g(colDstIP).ByteArray()))
		if err != nil {
			return fmt.Errorf("flow %d: %w", r.ID, err)
		}
		r.SrcIP, r.DstIP = flows.IPOf(src), flows.IPOf(dst)
		if err := readTunnel(&r, g); err != nil {
			return err
		}
		if typ := g(colICMPType); !typ.IsNull() {
			r.ICMPType, r.ICMPCode = uint8(typ.Int32()), uint8(g(colICMPCode).Int32())
			r.Echo = flows.IsEcho(r.Proto, r.ICMPType)
		}
		r.HandshakeRTT = -1
		if rtt := g(colHandshakeRTTS); !rtt.IsNull() {
			r.HandshakeRTT = int64(math.Round(rtt.Double() * 1e9))
		}
		var ok bool
		if r.State, ok = flows.ParseState(string(g(colState).ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown state %q", r.ID, g(colState).ByteArray())
		}
		if r.EndReason, ok = flows.ParseEndReason(string(g(colEndReason).ByteArray())); !ok {
			return fmt.Errorf("flow %d: unknown end reason %q", r.ID, g(colEndReason).ByteArray())
		}
		return fn(&r, g)
	})
}

// readTunnel sets a record's tunnel from its row's columns.
func readTunnel(r *flows.Record, g func(col int) parquet.Value) error {
	kind := g(colTunnel)
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
	tn.ID = g(colTunnelID).Uint32()
	for _, end := range []struct {
		column int
		ip     *flows.IP
	}{{colTunnelSrc, &tn.Src}, {colTunnelDst, &tn.Dst}} {
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
