package report_test

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"flowstat/markdown"
	"flowstat/report"
	"flowstat/tables"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/golden")

func init() { report.SetMarkdown(markdown.Render) }

// The report of made-up traffic with every kind of finding, reviewed by
// eye. Regenerate with `go test ./report -update`.
func TestMarkdownGolden(t *testing.T) {
	tests := []struct {
		name string
		opts report.BuildOptions
	}{
		{"synthetic.md", report.BuildOptions{}},
		{"synthetic-10s-target.md", report.BuildOptions{Interval: 10 * time.Second,
			Targets: []netip.Prefix{netip.MustParsePrefix("192.0.2.80/32"), netip.MustParsePrefix("192.0.2.0/24")}, Top: 5, NoPlots: true}},
	}
	ds := report.AttackDataset(t)
	ds.Summary.Inputs = []tables.Input{{Path: "/captures/attack.pcap", Format: "pcap", Packets: 5000, Bytes: 600000}}
	ds.Summary.Packets.Read = 5003
	ds.Summary.Packets.NonIP = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := report.BuildForTest(t, ds, tt.opts)
			got := markdown.Render(st)
			checkMarkdown(t, got)
			path := filepath.Join("testdata", "golden", tt.name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s; run with -update and review the diff", path)
			}
		})
	}
}

// checkMarkdown checks what makes the report read well in a plain editor
// and on GitHub: aligned tables, no trailing spaces, blank lines around
// headings, one final newline.
func checkMarkdown(t *testing.T, md []byte) {
	t.Helper()
	lines := strings.Split(string(md), "\n")
	if !bytes.HasSuffix(md, []byte("\n")) || bytes.HasSuffix(md, []byte("\n\n")) {
		t.Error("report does not end in exactly one newline")
	}
	var width int
	for i, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d ends in a space: %q", i+1, l)
		}
		if strings.HasPrefix(l, "#") && i > 0 && lines[i-1] != "" {
			t.Errorf("line %d: heading without a blank line before it", i+1)
		}
		if strings.HasPrefix(l, "|") {
			if i == 0 || !strings.HasPrefix(lines[i-1], "|") {
				width = utf8.RuneCountInString(l)
			} else if utf8.RuneCountInString(l) != width {
				t.Errorf("line %d: table row of %d characters, header %d", i+1, utf8.RuneCountInString(l), width)
			}
		}
		if i > 0 && l == "" && lines[i-1] == "" {
			t.Errorf("line %d: two blank lines", i+1)
		}
	}
}
