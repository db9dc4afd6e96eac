package report

import (
	"os"
	"path/filepath"
	"syscall"
)

// Spilled data lives in hidden files beside the outputs. A run removes
// its own, but one that is killed (SIGKILL, out of memory) cannot: each
// file is locked while its run lives, and the next run in the directory
// removes those nobody holds.

// createSpillFile creates a hidden file in dir, named after pattern as
// os.CreateTemp does, and locks it for the life of the process.
func createSpillFile(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// RemoveStale deletes the spill and part files that runs killed before
// they could clean up left in dir: those no running process holds
// locked. It returns how many it deleted.
func RemoveStale(dir string) int {
	names, _ := filepath.Glob(filepath.Join(dir, ".flowstat-*.tmp"))
	removed := 0
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && os.Remove(name) == nil {
			removed++
		}
		f.Close()
	}
	return removed
}
