package main

import (
	"fmt"
	"os"
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
	show := cfg.progress == "always" || (cfg.progress == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	if cfg.quiet || !show {
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
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetDescription("reading"),
	)
	return p
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
	p.last = now
	rate := float64(packets) / now.Sub(p.start).Seconds()
	p.bar.Describe(fmt.Sprintf("%s packets, %s packets/s", humanCount(float64(packets)), humanCount(rate)))
	p.bar.Set64(p.counter.Load())
}

func (p *progress) finish() {
	if p.bar != nil {
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
