package export

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zeekLog is a Zeek ASCII log read as Zeek's documentation describes it:
// header lines starting with #, the separator given in the first, the
// fields and their types, then a line of values per entry.
type zeekLog struct {
	meta   map[string]string
	fields []string
	types  []string
	rows   [][]string
}

// parseZeekLog reads a log and checks every value against its field's
// type, as Zeek's readers (zeek-cut, the ASCII reader) take them.
func parseZeekLog(t *testing.T, data []byte) *zeekLog {
	t.Helper()
	log := &zeekLog{meta: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	first := true
	sep := "\t"
	for sc.Scan() {
		line := sc.Text()
		if first {
			if line != `#separator \x09` {
				t.Fatalf("first line %q, want #separator \\x09", line)
			}
			first = false
			continue
		}
		if strings.HasPrefix(line, "#") {
			key, value, _ := strings.Cut(line[1:], sep)
			switch key {
			case "fields":
				log.fields = strings.Split(value, sep)
			case "types":
				log.types = strings.Split(value, sep)
			default:
				log.meta[key] = value
			}
			continue
		}
		values := strings.Split(line, sep)
		if len(values) != len(log.fields) {
			t.Fatalf("a line of %d values for %d fields: %q", len(values), len(log.fields), line)
		}
		for i, v := range values {
			if err := checkZeekValue(v, log.types[i], log.meta); err != nil {
				t.Fatalf("field %s (%s): %v", log.fields[i], log.types[i], err)
			}
		}
		log.rows = append(log.rows, values)
	}
	if len(log.fields) == 0 || len(log.fields) != len(log.types) {
		t.Fatalf("%d fields, %d types", len(log.fields), len(log.types))
	}
	for _, key := range []string{"set_separator", "empty_field", "unset_field", "path", "open", "close"} {
		if log.meta[key] == "" {
			t.Errorf("no #%s line", key)
		}
	}
	return log
}

func checkZeekValue(v, typ string, meta map[string]string) error {
	if v == meta["unset_field"] || (strings.HasPrefix(typ, "set[") && v == meta["empty_field"]) {
		return nil
	}
	var err error
	switch typ {
	case "time", "interval":
		_, err = strconv.ParseFloat(v, 64)
	case "addr":
		_, err = netip.ParseAddr(v)
	case "port":
		_, err = strconv.ParseUint(v, 10, 16)
	case "count":
		_, err = strconv.ParseUint(v, 10, 64)
	case "bool":
		if v != "T" && v != "F" {
			err = fmt.Errorf("%q is not T or F", v)
		}
	case "enum", "string":
		if v == "" || strings.ContainsAny(v, "\t\n") {
			err = fmt.Errorf("%q is empty or holds a separator", v)
		}
	default:
		err = fmt.Errorf("type %s not expected in conn.log", typ)
	}
	return err
}

// TestZeekConn writes an analysis' flows as a conn.log, reads it back as
// Zeek's format says, and compares each entry with its flow's row (ICMP
// with its type and code as ports, as Zeek has them).
func TestZeekConn(t *testing.T) {
	dir := analyzed(t)
	var buf bytes.Buffer
	opened := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if err := ZeekConn(&buf, filepath.Join(dir, "flows.parquet"), opened); err != nil {
		t.Fatal(err)
	}
	log := parseZeekLog(t, buf.Bytes())
	if log.meta["path"] != "conn" || log.meta["open"] != "2026-12-05-10-00-00" {
		t.Errorf("header %v", log.meta)
	}
	want := []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
		"orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history",
		"orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"}
	if got := strings.Join(log.fields[:len(want)], " "); got != strings.Join(want, " ") {
		t.Fatalf("fields %s, want conn.log's %s first", got, want)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	csv := filepath.Join(dir, "conn.tsv")
	var rows bytes.Buffer
	rows.WriteString(strings.Join(log.fields, "\t") + "\n")
	for _, r := range log.rows {
		id, ok := new(big.Int).SetString(r[1][1:], 62)
		if r[1][0] != 'C' || !ok {
			t.Fatalf("uid %q", r[1])
		}
		r[1] = id.String()
		rows.WriteString(strings.Join(r, "\t") + "\n")
	}
	if err := os.WriteFile(csv, rows.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every entry is its flow's row; every flow has an entry.
	var flows, matched int
	err = db.QueryRow(fmt.Sprintf(`SELECT (SELECT count(*) FROM read_parquet('%[1]s')), count(*)
		FROM read_csv('%[2]s', delim = '\t', header = true, all_varchar = true) z JOIN read_parquet('%[1]s') f
		ON CAST(z.uid AS UBIGINT) = f.flow_id
		AND z."id.orig_h" = f.src_ip AND CAST(z."id.orig_p" AS USMALLINT) = coalesce(f.icmp_type, f.src_port)
		AND z."id.resp_h" = f.dst_ip AND CAST(z."id.resp_p" AS USMALLINT) = coalesce(f.icmp_code, f.dst_port)
		AND CAST(z.orig_bytes AS UBIGINT) = f.payload_bytes_fwd AND CAST(z.resp_bytes AS UBIGINT) = f.payload_bytes_rev
		AND z.community_id = f.community_id
		AND z.proto = CASE f.proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' ELSE 'icmp' END
		AND z.conn_state = f.state AND coalesce(nullif(z.history, '-'), '') = f.history
		AND CAST(z.orig_pkts AS UBIGINT) = f.packets_fwd AND CAST(z.resp_pkts AS UBIGINT) = f.packets_rev
		AND CAST(z.orig_ip_bytes AS UBIGINT) = f.bytes_fwd AND CAST(z.resp_ip_bytes AS UBIGINT) = f.bytes_rev
		AND abs(CAST(z.duration AS DOUBLE) - f.duration_s) < 1e-6
		AND abs(CAST(z.ts AS DOUBLE) - epoch_ns(f.first_seen) / 1e9) < 1e-6`,
		filepath.Join(dir, "flows.parquet"), csv)).Scan(&flows, &matched)
	if err != nil {
		t.Fatal(err)
	}
	if flows == 0 || matched != flows || len(log.rows) != flows {
		t.Errorf("%d flows, %d entries, %d matching their flow", flows, len(log.rows), matched)
	}
}
