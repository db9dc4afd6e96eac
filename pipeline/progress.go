package pipeline

import "flowstat/reader"

// Progress is told how a run advances, so that a command line can draw
// bars. Each method starts a stage and returns what is told of it; the
// stages come one after the other.
type Progress interface {
	// Reading starts reading total bytes (-1: unknown), which counter
	// counts as they are read from disk (compressed inputs included).
	Reading(total int64, counter *reader.Counter) ReadProgress
	// Ending starts ending the flows still open at the end of input; nil
	// when those are not to be told.
	Ending(open int) StepProgress
	// Merging starts merging the outputs of map tasks, a step each; nil
	// when it is not to be told.
	Merging(inputs int) StepProgress
	// Output starts writing flows.parquet, and building and writing the
	// report beside it when withReport.
	Output(flows uint64, withReport bool) OutputProgress
}

// ReadProgress is told the packets read so far, from one goroutine at a
// time, every few thousand packets, then once when the reading ends.
type ReadProgress interface {
	Update(packets uint64)
	Finish(packets uint64)
}

// StepProgress is told steps done, from several goroutines at once.
type StepProgress interface {
	Add(steps int)
	Finish()
}

// OutputProgress is told the rows written to flows.parquet so far, and
// the report's steps done, from two goroutines at once.
type OutputProgress interface {
	WroteRows(rows int64)
	Built(done, total int)
	Finish()
}

// noProgress tells nothing.
type (
	noProgress       struct{}
	noReadProgress   struct{}
	noOutputProgress struct{}
)

func (noProgress) Reading(int64, *reader.Counter) ReadProgress { return noReadProgress{} }
func (noProgress) Ending(int) StepProgress                     { return nil }
func (noProgress) Merging(int) StepProgress                    { return nil }
func (noProgress) Output(uint64, bool) OutputProgress          { return noOutputProgress{} }

func (noReadProgress) Update(uint64) {}
func (noReadProgress) Finish(uint64) {}

func (noOutputProgress) WroteRows(int64) {}
func (noOutputProgress) Built(int, int)  {}
func (noOutputProgress) Finish()         {}
