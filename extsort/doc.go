// Package extsort puts values in order in bounded memory: sorted runs
// spilled to compressed, checksummed block files and merged back (Runs,
// Merger), values held up to a bound and spilled beyond it (Sorted), and
// sorts and loops split over the cores (SortParallel, ParallelFor). It
// also owns the temporary files of an output directory: created locked
// while their run holds them (CreateLockedTemp), removed when a killed run
// left them (RemoveStale) or when a run stops (RemoveTemporary).
//
// It knows nothing of flows or reports: values are plain Go values
// without pointers, written as their bytes.
//
// Imports: nothing of flowstat.
package extsort
