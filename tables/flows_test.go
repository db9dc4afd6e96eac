package tables

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/tables/tablestest"
)

// TestRowSchemas: the tags of the rows written with parquet-go's
// GenericWriter give their tables' Parquet schemas exactly, which it needs
// to write rows straight into columns (otherwise it takes each row apart,
// value by value).
func TestRowSchemas(t *testing.T) {
	for _, tt := range []struct {
		schema *arrow.Schema
		row    any
	}{{FlowSchema, flowRow{}}, {IntervalSchema, WindowRow{}}} {
		root, _, err := parquetSchemaOf(tt.schema)
		if err != nil {
			t.Fatal(err)
		}
		if want, got := parquet.NewSchema("schema", root), parquet.SchemaOf(tt.row); !parquet.EqualNodes(want, got) {
			t.Errorf("%T's schema:\n%s\nits table's:\n%s", tt.row, got, want)
		}
	}
}

// TestFlowsParquet writes records across several row groups and across
// the batches rows are made in, IPv4 and IPv6, with and without an RTT
// (0 included), in every state and end reason: they read back the same,
// with parquet-go and with Arrow's own Parquet reader (as pyarrow and
// DuckDB read them), and the columns have FlowSchema's encodings and
// types.
func TestFlowsParquet(t *testing.T) {
	recs := testFlowRecords(2*RowsAtOnce+1000, false)
	path := filepath.Join(t.TempDir(), FlowsFile)
	if err := WriteFlows(path, 0, recs); err != nil {
		t.Fatal(err)
	}
	checkFlowsFile(t, path, recs)
}

// TestFlowsParquetDistinct: when every row has a destination and byte
// counts of its own, their dictionaries hold every value of the row group,
// and the values read back the same.
func TestFlowsParquetDistinct(t *testing.T) {
	recs := testFlowRecords(RowsAtOnce+1000, true)
	path := filepath.Join(t.TempDir(), FlowsFile)
	if err := WriteFlows(path, 0, recs); err != nil {
		t.Fatal(err)
	}
	checkFlowsFile(t, path, recs)
}

// testFlowRecords makes n records in the order of flows.parquet; with
// distinct, each has a destination and byte counts of its own.
func testFlowRecords(n int, distinct bool) []flows.Record {
	recs := make([]flows.Record, n)
	for i := range recs {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if i%3 == 0 {
			src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		}
		dst, version := netip.MustParseAddr("192.0.2.7"), uint8(4)
		if src.Is6() {
			dst, version = netip.MustParseAddr("2001:db8::7"), 6
		}
		bytes := [2]uint64{uint64(i%50) * 60, uint64(i%7) * 1500}
		if distinct {
			dst, version = netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 4
			bytes = [2]uint64{uint64(i) * 60, uint64(i) * 1500}
		}
		recs[i] = flows.Record{
			ID: uint64(i) * 7919, Proto: []uint8{6, 17, 1}[i%3], IPVersion: version, VLAN: uint16(i % 5),
			SrcIP: flows.IPOf(src), SrcPort: uint16(40000 + i), DstIP: flows.IPOf(dst), DstPort: uint16(i % 1024),
			FirstSeen: 1_700_000_000e9 + int64(i)*1e6, LastSeen: 1_700_000_000e9 + int64(i)*1e6 + int64(i%100)*1e7,
			Packets: [2]uint64{uint64(i), uint64(i % 7)}, Bytes: bytes,
			TCPFlags: [2]uint8{uint8(i), uint8(i >> 3)}, SYNs: uint32(i % 4), SYNACKs: uint32(i % 2), RSTs: uint32(i % 3),
			HandshakeRTT: []int64{-1, 0, 12_345_678}[i%3], State: flows.State(i % 13), HalfOpen: i%11 == 0,
			History:        flows.ParseHistory([]string{"", "S", "ShAD", "ShADadFf", "Sr"}[i%5]),
			EndReason:      flows.EndReason(i % 6),
			PayloadBytes:   [2]uint64{bytes[0] / 2, bytes[1] / 3},
			MinIPLen:       [2]uint32{uint32(i % 40), uint32(i % 9)},
			MaxIPLen:       [2]uint32{uint32(i%40) + 1500, uint32(i%9) * 100},
			MinTTL:         [2]uint8{uint8(i % 64), uint8(i % 3)},
			MaxTTL:         [2]uint8{uint8(i%64) + 64, 255},
			RetransPackets: [2]uint32{uint32(i % 5), uint32(i % 2)},
			RetransBytes:   [2]uint64{uint64(i%5) * 1448, uint64(i % 2)},
			ZeroWindows:    [2]uint32{uint32(i % 4), uint32(i % 6)},
		}
		if i%7 == 3 { // in a tunnel, with outer endpoints or (MPLS) without
			r := &recs[i]
			tn := flows.Tunnel{Kind: []reader.Tunnel{reader.TunnelVXLAN, reader.TunnelGTPU, reader.TunnelMPLS}[i%3], ID: uint32(i)}
			if tn.Kind != reader.TunnelMPLS {
				tn.Src, tn.Dst = flows.IPOf(netip.MustParseAddr("203.0.113.1")), flows.IPOf(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
			}
			r.Tunnel = flows.RefTunnel(tn)
		}
		if r := &recs[i]; r.Proto == 1 {
			// ICMP: an echo flow (ports the identifier and 0), or an
			// unreachable (ports its type and code).
			if i%2 == 0 {
				r.DstPort, r.Echo, r.ICMPType = 0, true, 8
			} else {
				r.SrcPort, r.DstPort, r.ICMPType, r.ICMPCode = 3, uint16(i%16), 3, uint8(i%16)
			}
		}
	}
	SortFlows(recs)
	return recs
}

// checkFlowsFile reads the flows.parquet at path with parquet-go and with
// Arrow's reader, and checks that it holds recs, with FlowSchema's types
// and encodings.
func checkFlowsFile(t *testing.T, path string, recs []flows.Record) {
	t.Helper()
	got, err := ReadFlows(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Fatalf("record %d read back:\n%+v\nwant\n%+v", i, got[i], recs[i])
		}
	}

	md, table := tablestest.ReadBack(t, path, FlowSchema)
	for i, f := range FlowSchema.Fields() {
		cc, err := md.RowGroup(0).ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range cc.Encodings() {
			names = append(names, e.String())
		}
		want := ""
		if j := f.Metadata.FindKey("encoding"); j >= 0 {
			want = map[string]string{"delta": "DELTA_BINARY_PACKED", "dictionary": "RLE_DICTIONARY"}[f.Metadata.Values()[j]]
		}
		if want != "" && !slices.Contains(names, want) {
			t.Errorf("column %s has encodings %v, want %s", f.Name, names, want)
		}
	}
	// The columns whose encodings FlowSchema sets, as Arrow reads them.
	wantValues := map[string]func(r *flows.Record) any{
		"flow_id": func(r *flows.Record) any { return r.ID }, "proto": func(r *flows.Record) any { return r.Proto },
		"vlan": func(r *flows.Record) any { return r.VLAN }, "src_port": func(r *flows.Record) any { return r.SrcPort },
		"dst_ip": func(r *flows.Record) any { return r.DstIP }, "dst_port": func(r *flows.Record) any { return r.DstPort },
		"packets_fwd": func(r *flows.Record) any { return r.Packets[0] }, "bytes_fwd": func(r *flows.Record) any { return r.Bytes[0] },
		"bytes_rev": func(r *flows.Record) any { return r.Bytes[1] }, "tcp_flags_rev": func(r *flows.Record) any { return r.TCPFlags[1] },
		"rst_packets": func(r *flows.Record) any { return r.RSTs }, "history": func(r *flows.Record) any { return r.History },
		"state":             func(r *flows.Record) any { return r.State },
		"payload_bytes_rev": func(r *flows.Record) any { return r.PayloadBytes[1] },
		"ip_len_max_fwd":    func(r *flows.Record) any { return r.MaxIPLen[0] },
		"ttl_min_rev":       func(r *flows.Record) any { return r.MinTTL[1] },
		"retrans_bytes_fwd": func(r *flows.Record) any { return r.RetransBytes[0] },
		"zero_windows_rev":  func(r *flows.Record) any { return r.ZeroWindows[1] },
		"icmp_code": func(r *flows.Record) any {
			if r.Proto != 1 {
				return "(null)"
			}
			return r.ICMPCode
		},
		"community_id": func(r *flows.Record) any { return string(r.AppendCommunityID(nil, 0)) },
		"tunnel": func(r *flows.Record) any {
			if r.Tunnel == flows.NoTunnel {
				return "(null)"
			}
			return r.Tunnel.Get().Kind
		},
		"tunnel_dst": func(r *flows.Record) any {
			if dst := r.Tunnel.Get().Dst; dst.BitLen() > 0 {
				return dst
			}
			return "(null)"
		},
	}
	for i, f := range FlowSchema.Fields() {
		if value := wantValues[f.Name]; value != nil {
			tablestest.CheckValues(t, table, i, len(recs), func(row int) string { return fmt.Sprint(value(&recs[row])) })
		}
	}
}

// TestFlowsLocated writes records of two inputs and reads back each
// record's input, by the name WriteFlows was given, its first frame and
// its offset.
func TestFlowsLocated(t *testing.T) {
	recs := testFlowRecords(RowsAtOnce+100, false)
	for i := range recs {
		r := &recs[i]
		r.Input, r.FirstFrame, r.FirstOffset = int32(i%2), uint64(3*i+1), int64(24+1000*i)
	}
	path := filepath.Join(t.TempDir(), FlowsFile)
	inputs := []string{"traces/a.pcap", "b.pcapng.zst"}
	if err := WriteFlows(path, 0, recs, inputs...); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := EachFlowLocated(path, func(r *flows.Record, input string) error {
		want := &recs[i]
		if r.ID != want.ID || input != inputs[want.Input] || r.FirstFrame != want.FirstFrame || r.FirstOffset != want.FirstOffset {
			t.Fatalf("row %d: flow %d in %q at frame %d, offset %d; want flow %d in %q at frame %d, offset %d", i,
				r.ID, input, r.FirstFrame, r.FirstOffset, want.ID, inputs[want.Input], want.FirstFrame, want.FirstOffset)
		}
		i++
		return nil
	})
	if err != nil || i != len(recs) {
		t.Fatalf("read %d of %d rows: %v", i, len(recs), err)
	}
}

// TestFlowsLocatedOf reads the rows of the row groups that hold the flows
// asked for, and only those: a flow in the second of three row groups and
// one in the third give the rows of those two, in order, with their
// locations; ids no row holds give none.
func TestFlowsLocatedOf(t *testing.T) {
	recs := testFlowRecords(2*RowGroupRows+100, false)
	for i := range recs {
		recs[i].ID = uint64(1_000_000 + i) // distinct, as flow ids are
		recs[i].FirstFrame, recs[i].FirstOffset = uint64(i+1), int64(24+100*i)
	}
	path := filepath.Join(t.TempDir(), FlowsFile)
	if err := WriteFlows(path, 0, recs, "a.pcap"); err != nil {
		t.Fatal(err)
	}
	read := func(ids ...uint64) (got []uint64) {
		want := map[uint64]bool{}
		for _, id := range ids {
			want[id] = true
		}
		err := EachFlowLocatedOf(path, want, func(r *flows.Record, input string) error {
			if i := r.ID - 1_000_000; input != "a.pcap" || r.FirstFrame != uint64(i+1) || r.FirstOffset != int64(24+100*i) {
				t.Fatalf("flow %d in %q at frame %d, offset %d", r.ID, input, r.FirstFrame, r.FirstOffset)
			}
			got = append(got, r.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := read(recs[RowGroupRows+5].ID, recs[2*RowGroupRows+7].ID)
	if len(got) != RowGroupRows+100 || got[0] != recs[RowGroupRows].ID || got[len(got)-1] != recs[len(recs)-1].ID {
		t.Fatalf("read %d rows, from flow %d to %d; want the %d of row groups 2 and 3", len(got), got[0], got[len(got)-1], RowGroupRows+100)
	}
	if got := read(7, 2_000_000_000); len(got) != 0 {
		t.Fatalf("ids no row holds read %d rows", len(got))
	}
}
