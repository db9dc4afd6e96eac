package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"flowstat/tables"
)

// TestCorpus reads every capture of tcpdump's test suite (many link types,
// tunnels, truncated and malformed packets, clocks that jump by years):
// each must give outputs and a report (status 0, or 3 for damaged files)
// within a few seconds.
func TestCorpus(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(sharedDir(), "corpus", "*"))
	if len(paths) == 0 {
		t.Skip("../shared/traces/corpus is absent: the corpus test needs it")
	}
	if testing.Short() {
		paths = paths[:40]
	}
	var unknownLink, read uint64
	for _, p := range paths {
		out := filepath.Join(t.TempDir(), "out")
		start := time.Now()
		code := run([]string{"analyze", "-q", "--no-plots", "-o", out, p})
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: took %v", filepath.Base(p), took)
		}
		if code != exitOK && code != exitDamaged {
			t.Errorf("%s: exit status %d", filepath.Base(p), code)
			continue
		}
		s, err := tables.ReadSummary(filepath.Join(out, "summary.json"))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		read += s.Packets.Read
		unknownLink += s.Packets.UnknownLink
		for _, name := range []string{tables.FlowsFile, tables.IntervalsFile, "report.md"} {
			if _, err := os.Stat(filepath.Join(out, name)); err != nil {
				t.Errorf("%s: no %s: %v", filepath.Base(p), name, err)
			}
		}
	}
	t.Logf("%d files, %d frames, %d of an unknown link type", len(paths), read, unknownLink)
}
