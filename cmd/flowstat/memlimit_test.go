package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestLimitMemoryRises checks that live data above the limit raises it
// rather than leaving the collector to run without end, and that Go's
// default comes back after.
func TestLimitMemoryRises(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop := limitMemory(16 << 20)
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = 1
	}
	var limit int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		runtime.GC()
		if limit = debug.SetMemoryLimit(-1); limit > 64<<20 {
			break
		}
	}
	runtime.KeepAlive(live)
	stop()
	if limit <= 64<<20 {
		t.Errorf("limit stayed at %d with 64 MiB live", limit)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after stop = %d, want %d", got, before)
	}
}
