package pipeline

import (
	"fmt"
	"os"
	"time"
)

// phase prints how long a stage took when $FLOWSTAT_PHASES is set, for
// finding the serial parts of a run: defer phase("name")().
func phase(name string) func() {
	if os.Getenv("FLOWSTAT_PHASES") == "" {
		return func() {}
	}
	start := time.Now()
	return func() { fmt.Fprintf(os.Stderr, "phase %-14s %6.2f s\n", name, time.Since(start).Seconds()) }
}
