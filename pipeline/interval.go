package pipeline

import (
	"time"

	"flowstat/reader"
)

// intervalLadder is the windows --interval auto chooses from: 1, 2 and 5
// times the powers of ten, with minutes and hours as a clock has them.
var intervalLadder = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute,
	time.Hour,
}

// autoWindows is how many windows the capture spans at least under the
// interval AutoInterval chooses (at most about 2.5 times as many, the
// ladder's widest step): enough for a timeline and plots to show the
// attack's shape, few enough to read.
const autoWindows = 100

// unknownSpanInterval is the window when the span cannot be known before
// reading: right for captures of minutes to hours.
const unknownSpanInterval = time.Minute

// AutoInterval returns the longest window of the ladder that cuts span
// into at least autoWindows windows: 1 ms for the shortest captures, an
// hour for the longest.
func AutoInterval(span time.Duration) time.Duration {
	best := intervalLadder[0]
	for _, w := range intervalLadder {
		if span/w >= autoWindows {
			best = w
		}
	}
	return best
}

// intervalForInputs chooses the window for the span of the traces at
// paths, or says that it cannot know it before reading them. With several
// traces, only the one that starts last is read to its end: in an archive
// of rotated files it is the one that ends last.
func intervalForInputs(paths []string) (time.Duration, bool) {
	var first, last, latestStart int64
	latest := ""
	for _, p := range paths {
		if p == "-" {
			return unknownSpanInterval, false
		}
		start, ok := reader.FirstTime(p)
		if !ok {
			continue // not a trace: skipped or refused by the run
		}
		if latest == "" {
			first = start
		}
		if latest == "" || start > latestStart {
			latest, latestStart = p, start
		}
		first = min(first, start)
	}
	if latest == "" {
		return unknownSpanInterval, false
	}
	_, last, ok := reader.Span(latest)
	if !ok {
		return unknownSpanInterval, false
	}
	return AutoInterval(time.Duration(last - first)), true
}
