package pipeline

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
	stop := LimitMemory(16 << 20)
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

// TestMaxFlowsFor: the default bound on open flows is 60 % of the memory,
// or of a cgroup's smaller limit, at 400 bytes a flow; none without
// /proc/meminfo.
func TestMaxFlowsFor(t *testing.T) {
	meminfo := "MemTotal:       24683620 kB\nMemFree:        16578252 kB\n"
	total := int64(24683620) << 10
	for _, c := range []struct {
		name     string
		meminfo  string
		cgroups  []string
		expected int
	}{
		{"machine", meminfo, nil, int(total / 10 * 6 / 400)},
		{"no cgroup limit", meminfo, []string{"max\n", "9223372036854771712\n"}, int(total / 10 * 6 / 400)},
		{"cgroup v2 limit", meminfo, []string{"2147483648\n", ""}, int(int64(2<<30) / 10 * 6 / 400)},
		{"cgroup v1 limit", meminfo, []string{"", "1073741824\n"}, int(int64(1<<30) / 10 * 6 / 400)},
		{"unreadable", "", []string{"1073741824"}, 0},
	} {
		if got := maxFlowsFor(c.meminfo, c.cgroups...); got != c.expected {
			t.Errorf("%s: %d flows, want %d", c.name, got, c.expected)
		}
	}
}
