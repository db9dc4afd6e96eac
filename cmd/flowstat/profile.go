package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles writes a CPU profile to $FLOWSTAT_CPUPROFILE, an execution
// trace to $FLOWSTAT_TRACE (where goroutines wait: go tool trace
// -pprof=sync) and, at the end, a heap profile to $FLOWSTAT_MEMPROFILE, for
// docs/performance.md. The returned function stops them.
func startProfiles() func() {
	cpu, mem := os.Getenv("FLOWSTAT_CPUPROFILE"), os.Getenv("FLOWSTAT_MEMPROFILE")
	traceFile := startTo(os.Getenv("FLOWSTAT_TRACE"), "execution trace", func(f *os.File) error { return trace.Start(f) })
	cpuFile := startTo(cpu, "CPU profile", func(f *os.File) error { return pprof.StartCPUProfile(f) })
	return func() {
		if traceFile != nil {
			trace.Stop()
			traceFile.Close()
		}
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem == "" {
			return
		}
		runtime.GC()
		f, err := os.Create(mem)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "flowstat: cannot write the heap profile: %v\n", err)
		}
	}
}

// startTo creates path, when set, and starts writing what into it; it
// returns the file, or nil after saying on stderr why it cannot.
func startTo(path, what string, start func(*os.File) error) *os.File {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err == nil {
		if err = start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "flowstat: cannot write the %s: %v\n", what, err)
		return nil
	}
	return f
}
