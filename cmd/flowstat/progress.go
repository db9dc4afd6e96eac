package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"flowstat/reader"
)

// progress draws one bar on stderr from the reader's byte counter: bytes
// read from disk (so compressed inputs show true progress), rate, packets/s
// and ETA. It draws nothing when stderr is not a terminal, unless asked to.
type progress struct {
	bar     *progressbar.ProgressBar
	counter *reader.Counter
	start   time.Time
	last    time.Time
}

func newProgress(cfg *analyzeConfig, paths []string, counter *reader.Counter) *progress {
	p := &progress{counter: counter, start: time.Now()}
	if !showProgress(cfg) {
		return p
	}
	total := int64(0)
	for _, path := range paths {
		info, err := os.Stat(path)
		if path == "-" || err != nil {
			total = -1
			break
		}
		total += info.Size()
	}
	p.bar = newBar(total, "reading", progressbar.OptionShowCount(), progressbar.OptionShowBytes(true))
	return p
}

// showProgress reports whether bars are drawn: on a terminal, unless
// asked otherwise.
func showProgress(cfg *analyzeConfig) bool {
	show := cfg.progress == "always" || (cfg.progress == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	return show && !cfg.quiet
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

// update is called by the reading loop every few thousand packets; it
// redraws at most a few times per second.
func (p *progress) update(packets uint64) {
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

// finish draws the final count and ends the bar.
func (p *progress) finish(packets uint64) {
	if p.bar != nil {
		p.redraw(packets, time.Now())
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}

// stepProgress draws a bar of steps, such as the flows ended at the end
// of input, on stderr when the reading bar would be drawn. Its methods do
// nothing on a nil *stepProgress.
type stepProgress struct{ bar *progressbar.ProgressBar }

func newStepProgress(cfg *analyzeConfig, what string, total int) *stepProgress {
	if !showProgress(cfg) {
		return nil
	}
	return &stepProgress{newBar(int64(total), what)}
}

// add is safe for concurrent use.
func (p *stepProgress) add(done int) {
	if p != nil {
		p.bar.Add(done)
	}
}

func (p *stepProgress) finish() {
	if p != nil {
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
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

func newOutputProgress(cfg *analyzeConfig, flows uint64) *outputProgress {
	if !showProgress(cfg) || flows == 0 {
		return nil
	}
	what := "writing flows.parquet and the report"
	if cfg.noReport {
		what = "writing flows.parquet"
	}
	return &outputProgress{bar: newBar(1000, what), flows: int64(flows), noReport: cfg.noReport}
}

// share is the bar's per mille for done of total of one of its parts.
func (p *outputProgress) share(done, total int64) int64 {
	part := int64(500)
	if p.noReport {
		part = 1000
	}
	return part * min(done, total) / max(total, 1)
}

// wroteRows counts rows written to flows.parquet (written so far in all).
func (p *outputProgress) wroteRows(rows int64) {
	p.update(func() { p.rows = p.share(rows, p.flows) })
}

// built counts the report's steps done, of total.
func (p *outputProgress) built(done, total int) {
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

func (p *outputProgress) finish() {
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
