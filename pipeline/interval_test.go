package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"flowstat/scripts/gen"
)

func TestAutoInterval(t *testing.T) {
	for _, c := range []struct {
		span, want time.Duration
	}{
		{0, time.Millisecond},
		{23500 * time.Microsecond, time.Millisecond}, // shorter than 100 windows of the shortest
		{100 * time.Millisecond, time.Millisecond},
		{199 * time.Millisecond, time.Millisecond},
		{200 * time.Millisecond, 2 * time.Millisecond},
		{23700 * time.Millisecond, 200 * time.Millisecond},
		{2000 * time.Second, 20 * time.Second},
		{50 * time.Minute, 30 * time.Second},
		{24 * time.Hour, 10 * time.Minute},
		{30 * 24 * time.Hour, time.Hour},
	} {
		if got := AutoInterval(c.span); got != c.want {
			t.Errorf("AutoInterval(%v) = %v, want %v", c.span, got, c.want)
		}
		if got := AutoInterval(c.span); c.span >= 100*time.Millisecond && c.span < 100*time.Hour && c.span/got < autoWindows {
			t.Errorf("AutoInterval(%v) = %v: %d windows, fewer than %d", c.span, got, c.span/got, autoWindows)
		}
	}
}

// TestIntervalForInputs chooses the window for generated traces of known
// spans: one trace, and an archive of two rotated files in any order.
func TestIntervalForInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, start time.Time, dur time.Duration) string {
		data, _, err := gen.Generate(gen.Config{Seed: 3, Flows: 300, Start: start, Duration: dur})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	a := write("a.pcap", start, 25*time.Second)
	b := write("b.pcap", start.Add(40*time.Second), 25*time.Second)
	if iv, ok := intervalForInputs([]string{a}); !ok || iv != 200*time.Millisecond {
		t.Errorf("one trace of about 25 s: %v (%v), want 200 ms", iv, ok)
	}
	for _, paths := range [][]string{{a, b}, {b, a}} {
		if iv, ok := intervalForInputs(paths); !ok || iv != 500*time.Millisecond {
			t.Errorf("%v, about 65 s in all: %v (%v), want 500 ms", paths, iv, ok)
		}
	}
	if iv, ok := intervalForInputs([]string{a, "-"}); ok || iv != unknownSpanInterval {
		t.Errorf("with standard input: %v (%v), want %v and unknown", iv, ok, unknownSpanInterval)
	}
}
