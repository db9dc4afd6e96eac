package export

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Zeek's conn.log: its fields, their Zeek types, and the flows.parquet
// column each is written from ("" for those flowstat has no value for,
// written unset). Zeek's ICMP connections have the type and the code as
// ports, which flows.parquet holds in icmp_type and icmp_code.
var zeekConn = []struct{ field, typ, column string }{
	{"ts", "time", "first_seen"},
	{"uid", "string", "flow_id"},
	{"id.orig_h", "addr", "src_ip"},
	{"id.orig_p", "port", "src_port"},
	{"id.resp_h", "addr", "dst_ip"},
	{"id.resp_p", "port", "dst_port"},
	{"proto", "enum", "proto"},
	{"service", "string", ""},
	{"duration", "interval", "duration_s"},
	{"orig_bytes", "count", "payload_bytes_fwd"},
	{"resp_bytes", "count", "payload_bytes_rev"},
	{"conn_state", "string", "state"},
	{"local_orig", "bool", ""},
	{"local_resp", "bool", ""},
	{"missed_bytes", "count", ""},
	{"history", "string", "history"},
	{"orig_pkts", "count", "packets_fwd"},
	{"orig_ip_bytes", "count", "bytes_fwd"},
	{"resp_pkts", "count", "packets_rev"},
	{"resp_ip_bytes", "count", "bytes_rev"},
	{"tunnel_parents", "set[string]", ""},
	{"community_id", "string", "community_id"},
}

// zeekTimeLayout is the time format of #open and #close.
const zeekTimeLayout = "2006-01-02-15-04-05"

// ZeekConn writes the flows.parquet at path as a Zeek conn.log: Zeek's
// header lines, a tab-separated line per flow with conn.log's fields, and
// #close; opened is the time written in #open and #close. A flow's uid is
// C and its flow_id in base 62, so that it leads back to its row; a field
// flowstat has no value for is unset (-), as is one whose column the file
// lacks.
func ZeekConn(w io.Writer, path string, opened time.Time) error {
	t, err := openTable(path)
	if err != nil {
		return err
	}
	defer t.Close()
	index := map[string]int{}
	for i, c := range t.columns {
		index[c.name] = i
	}
	from := make([]int, len(zeekConn)) // column of each field, or -1
	for i, f := range zeekConn {
		from[i] = -1
		if j, ok := index[f.column]; ok {
			from[i] = j
		}
	}
	icmpType, hasICMP := index["icmp_type"]
	icmpCode := index["icmp_code"]
	proto := index["proto"]

	bw := bufio.NewWriterSize(w, 1<<16)
	fmt.Fprintf(bw, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t%s\n",
		opened.UTC().Format(zeekTimeLayout))
	bw.WriteString("#fields")
	for _, f := range zeekConn {
		bw.WriteString("\t" + f.field)
	}
	bw.WriteString("\n#types")
	for _, f := range zeekConn {
		bw.WriteString("\t" + f.typ)
	}
	bw.WriteString("\n")

	var line []byte
	values := make([]parquet.Value, len(t.columns))
	err = t.eachRow(func(row parquet.Row) error {
		for _, v := range row {
			values[v.Column()] = v
		}
		isICMP := false
		if p := values[proto]; !p.IsNull() {
			n := p.Int32()
			isICMP = n == 1 || n == 58
		}
		line = line[:0]
		for i, f := range zeekConn {
			if i > 0 {
				line = append(line, '\t')
			}
			col := from[i]
			if isICMP && hasICMP && (f.field == "id.orig_p" || f.field == "id.resp_p") {
				col = icmpType
				if f.field == "id.resp_p" {
					col = icmpCode
				}
			}
			if col < 0 || values[col].IsNull() {
				line = append(line, '-')
				continue
			}
			v, c := values[col], &t.columns[col]
			switch f.field {
			case "ts":
				line = strconv.AppendFloat(line, float64(c.time(v).UnixNano())/1e9, 'f', 6, 64)
			case "uid":
				line = appendBase62(append(line, 'C'), uint64(v.Int64()))
			case "proto":
				line = append(line, zeekProto(v.Int32())...)
			case "duration":
				line = strconv.AppendFloat(line, float(v), 'f', 6, 64)
			case "history":
				if len(v.ByteArray()) == 0 {
					line = append(line, '-')
					continue
				}
				line = c.appendValue(line, v)
			default:
				line = c.appendValue(line, v)
			}
		}
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, "#close\t%s\n", opened.UTC().Format(zeekTimeLayout))
	return bw.Flush()
}

// zeekProto is conn.log's name of an IP protocol.
func zeekProto(n int32) string {
	switch n {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1, 58:
		return "icmp"
	}
	return "unknown_transport"
}

// appendBase62 appends n in base 62, with the digits 0-9, a-z and A-Z.
func appendBase62(b []byte, n uint64) []byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var buf [11]byte // 62^11 > 2^64
	i := len(buf)
	for {
		i--
		buf[i] = digits[n%62]
		n /= 62
		if n == 0 {
			break
		}
	}
	return append(b, buf[i:]...)
}
