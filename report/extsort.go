package report

import (
	"path/filepath"

	"flowstat/extsort"
)

// newSorted is extsort.NewSorted, whose errors end with the report's hint.
func newSorted[T any](dir, what string, heldBytes int, compare func(a, b T) int) *extsort.Sorted[T] {
	return extsort.NewSorted(dir, what, SpaceHint, heldBytes, compare)
}

// newRuns is extsort.NewRuns, whose errors end with the report's hint.
func newRuns[T any](dir, what string) (*extsort.Runs[T], error) {
	return extsort.NewRuns[T](dir, what, SpaceHint)
}

// RemoveStale deletes the temporary files that runs killed before their
// end left in the output directory dir and its plots, and returns how
// many (extsort.RemoveStale).
func RemoveStale(dir string) int { return extsort.RemoveStale(dir, filepath.Join(dir, PlotsDir)) }

// RemoveTemporary deletes the temporary files of a stopping run in the
// output directory dir and its plots (extsort.RemoveTemporary).
func RemoveTemporary(dir string) { extsort.RemoveTemporary(dir, filepath.Join(dir, PlotsDir)) }
