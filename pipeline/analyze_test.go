package pipeline

import (
	"strings"
	"testing"
	"time"

	"flowstat/flows"
)

// Windows much shorter than the idle timeout make every idle flow count
// in that many windows, which a warning says.
func TestShortWindowsWarning(t *testing.T) {
	if w := shortWindowsWarning(time.Second, flows.DefaultIdleTimeout); w != "" {
		t.Errorf("1 s windows against 60 s: %q, want no warning", w)
	}
	w := shortWindowsWarning(100*time.Millisecond, flows.DefaultIdleTimeout)
	if !strings.Contains(w, "600 windows") || !strings.Contains(w, "--idle-timeout") {
		t.Errorf("100 ms windows against 60 s: %q", w)
	}
}
