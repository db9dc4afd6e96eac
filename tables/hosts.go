package tables

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"
)

// HostsFile is the table of hosts: a row per address, what it received
// and sent whatever the orientation of its flows.
const HostsFile = "hosts.parquet"

// TopPeerPorts is how many of a host's peer ports hosts.parquet names, in
// columns peer_port_1 .. peer_port_N: flat columns, which SQL and data
// frames filter without unnesting a list.
const TopPeerPorts = 3

// HostSchema is the Arrow schema of hosts.parquet.
var HostSchema = arrow.NewSchema(hostFields(), nil)

func hostFields() []arrow.Field {
	u64 := arrow.PrimitiveTypes.Uint64
	f := []arrow.Field{
		{Name: "ip", Type: arrow.BinaryTypes.String},
		{Name: "packets_received", Type: u64},
		{Name: "bytes_received", Type: u64},
		{Name: "packets_sent", Type: u64},
		{Name: "bytes_sent", Type: u64},
		{Name: "flows_as_originator", Type: u64},
		{Name: "flows_as_responder", Type: u64},
		{Name: "peers", Type: u64},
		{Name: "first_seen", Type: utc},
		{Name: "last_seen", Type: utc},
	}
	for i := 1; i <= TopPeerPorts; i++ {
		f = append(f,
			arrow.Field{Name: fmt.Sprintf("peer_port_%d", i), Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
			arrow.Field{Name: fmt.Sprintf("peer_proto_%d", i), Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
			arrow.Field{Name: fmt.Sprintf("peer_packets_%d", i), Type: u64, Nullable: true})
	}
	return f
}

// HostColumns are the counting columns of hosts.parquet, for OpenTable.
var HostColumns = []Column{
	{"ip", parquet.ByteArray},
	{"packets_received", parquet.Int64}, {"bytes_received", parquet.Int64},
	{"packets_sent", parquet.Int64}, {"bytes_sent", parquet.Int64},
	{"flows_as_originator", parquet.Int64}, {"flows_as_responder", parquet.Int64},
	{"peers", parquet.Int64}, {"first_seen", parquet.Int64}, {"last_seen", parquet.Int64},
}
