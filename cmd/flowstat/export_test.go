package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExport writes each format into the analysed directory, leaving no
// temporary file, and refuses what it cannot do with a usage error. What
// the files hold is tested in package export.
func TestExport(t *testing.T) {
	dir := t.TempDir()
	if code := analyzeInto(t, dir, "--no-plots", "--hosts", "../../testdata/sample.pcap.gz"); code != exitOK {
		t.Fatalf("analyze exit status %d", code)
	}
	for _, tt := range []struct {
		args  []string
		file  string
		first string
	}{
		{[]string{"-f", "csv"}, "flows.csv", "flow_id,proto,"},
		{[]string{"-f", "ndjson", "-t", "intervals"}, "intervals.ndjson", `{"window_start":`},
		{[]string{"-f", "zeek"}, "conn.log", "#separator \\x09\n"},
		{[]string{"-f", "csv", "-t", "hosts"}, "hosts.csv", "ip,packets_received,bytes_received,packets_sent,bytes_sent,"},
		{[]string{"--format", "csv", "--table", "cdf", "-o", filepath.Join(dir, "x.csv")}, "x.csv", "scope,"},
	} {
		if code := run(append(append([]string{"export", "-q"}, tt.args...), dir)); code != exitOK {
			t.Fatalf("%v: exit status %d", tt.args, code)
		}
		data, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil || !strings.HasPrefix(string(data), tt.first) || strings.Count(string(data), "\n") < 10 {
			t.Errorf("%v: %s starts %.40q (%v)", tt.args, tt.file, data, err)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	for _, args := range [][]string{
		{"export", dir},                                  // no format
		{"export", "-f", "xml", dir},                     // unknown format
		{"export", "-f", "zeek", "-t", "intervals", dir}, // conn.log holds flows
		{"export", "-f", "csv", "-t", "peers", dir},      // no such table
		{"export", "-f", "csv", t.TempDir()},             // not an output directory
	} {
		if code := run(args); code != exitUsage {
			t.Errorf("%v: exit status %d, want %d", args, code, exitUsage)
		}
	}
}
