package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"flowstat/pipeline"
	"flowstat/reader"
)

// bars draws the pipeline's progress on stderr: when it is a terminal,
// unless asked otherwise (--progress) or quiet.
type bars struct{ show bool }

func newBars(mode string, quiet bool) pipeline.Progress {
	show := mode == "always" || (mode == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	return bars{show && !quiet}
}

// endingShown is how many flows open at the end of input take long
// enough to end for a bar: seconds. A variable for tests.
var endingShown = 1 << 20

// Ending draws the flows ended at the end of input, when many are open.
func (b bars) Ending(open int) pipeline.StepProgress {
	if !b.show || open < endingShown {
		return nil
	}
	return &stepProgress{newBar(int64(open), fmt.Sprintf("ending the %s flows still open", humanCount(float64(open))))}
}

func (b bars) Merging(inputs int) pipeline.StepProgress {
	if !b.show {
		return nil
	}
	return &stepProgress{newBar(int64(inputs), "merging the map tasks' outputs", progressbar.OptionShowCount())}
}

// progress draws one bar on stderr from the reader's byte counter: bytes
// read from disk (so compressed inputs show true progress), rate, packets/s
// and ETA. It draws nothing when stderr is not a terminal, unless asked to.
type progress struct {
	bar     *progressbar.ProgressBar
	counter *reader.Counter
	start   time.Time
	last    time.Time
}

func (b bars) Reading(total int64, counter *reader.Counter) pipeline.ReadProgress {
	p := &progress{counter: counter, start: time.Now()}
	if !b.show {
		return p
	}
	p.bar = newBar(total, "reading", progressbar.OptionShowCount(), progressbar.OptionShowBytes(true))
	return p
}

// newBar makes a bar on stderr with rate and ETA.
func newBar(total int64, description string, more ...progressbar.Option) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total, append([]progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetDescription(description),
	}, more...)...)
}

// Update is called by the reading loop every few thousand packets; it
// redraws at most a few times per second.
func (p *progress) Update(packets uint64) {
	if p.bar == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.redraw(packets, now)
}

func (p *progress) redraw(packets uint64, now time.Time) {
	p.last = now
	rate := float64(packets) / now.Sub(p.start).Seconds()
	p.bar.Describe(fmt.Sprintf("%s packets, %s packets/s", humanCount(float64(packets)), humanCount(rate)))
	p.bar.Set64(p.counter.Load())
}

// Finish draws the final count and ends the bar.
func (p *progress) Finish(packets uint64) {
	if p.bar != nil {
		p.redraw(packets, time.Now())
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}

// stepProgress draws a bar of steps, such as the flows ended at the end
// of input.
type stepProgress struct{ bar *progressbar.ProgressBar }

// Add is safe for concurrent use.
func (p *stepProgress) Add(done int) { p.bar.Add(done) }

func (p *stepProgress) Finish() {
	p.bar.Finish()
	fmt.Fprintln(os.Stderr)
}

// outputProgress draws one bar while flows.parquet is written and the
// report built beside it (flows.parquet alone with --no-report). Each
// takes about as long as the other, so each has half the bar: the rows
// written of the flows, and the report's steps, the last of them its
// files. Its methods do nothing on a nil *outputProgress.
type outputProgress struct {
	bar          *progressbar.ProgressBar
	flows        int64
	noReport     bool
	mu           sync.Mutex
	rows, report int64 // per mille of the bar
}

func (b bars) Output(flows uint64, withReport bool) pipeline.OutputProgress {
	if !b.show || flows == 0 {
		return (*outputProgress)(nil)
	}
	what := "writing flows.parquet"
	if withReport {
		what = "writing flows.parquet and the report"
	}
	return &outputProgress{bar: newBar(1000, what), flows: int64(flows), noReport: !withReport}
}

// share is the bar's per mille for done of total of one of its parts.
func (p *outputProgress) share(done, total int64) int64 {
	part := int64(500)
	if p.noReport {
		part = 1000
	}
	return part * min(done, total) / max(total, 1)
}

// WroteRows counts rows written to flows.parquet (written so far in all).
func (p *outputProgress) WroteRows(rows int64) {
	p.update(func() { p.rows = p.share(rows, p.flows) })
}

// Built counts the report's steps done, of total.
func (p *outputProgress) Built(done, total int) {
	p.update(func() { p.report = p.share(int64(done), int64(total)) })
}

// update sets one part of the bar and draws both.
func (p *outputProgress) update(set func()) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	set()
	p.bar.Set64(p.rows + p.report)
}

func (p *outputProgress) Finish() {
	if p != nil {
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}

// humanCount writes 1234567 as 1.2M.
func humanCount(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
