package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"flowstat/scripts/gen"
)

// TestWorkersGiveIdenticalOutput runs the same traces with -j 1, 2, 3 and 8
// and requires byte-identical flows.parquet and summary counts.
func TestWorkersGiveIdenticalOutput(t *testing.T) {
	dir := t.TempDir()
	generated := filepath.Join(dir, "generated.pcap")
	f, err := os.Create(generated)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Write(f, gen.Config{Seed: 11, Flows: 4000, Mix: "default,synflood=10"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	traces := map[string]string{"generated": generated}
	if _, err := os.Stat(filepath.Join(sharedDir(), "real")); err == nil {
		for _, name := range []string{"amp.dns.RRSIG.fragmented.pcap", "na-url_redirection.pcapng", "amp.UDP.snmp.src161.pcapng"} {
			traces[name] = filepath.Join(sharedDir(), "real", name)
		}
	} else {
		t.Logf("shared traces absent (%v): checking the generated trace only", err)
	}
	for name, trace := range traces {
		t.Run(name, func(t *testing.T) {
			var first []byte
			for _, j := range []int{1, 2, 3, 8} {
				out := filepath.Join(t.TempDir(), fmt.Sprint(j))
				if code := analyzeInto(t, out, "-j", fmt.Sprint(j), "--no-report", trace); code != exitOK {
					t.Fatalf("-j %d: exit status %d", j, code)
				}
				data, err := os.ReadFile(filepath.Join(out, "flows.parquet"))
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = data
				} else if !bytes.Equal(first, data) {
					t.Errorf("-j %d: flows.parquet differs from -j 1's", j)
				}
			}
		})
	}
}
