package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"flowstat/report"
)

// untilInterrupted runs work until it returns, or until SIGINT or SIGTERM
// arrives: then it returns at once, whatever work is doing (opening,
// reading, skipping a damaged region, ending flows, writing). The
// temporary files in dir are deleted and none is created there afterwards,
// so that the outputs are each complete or absent; work's goroutines end
// with the process. work is given a context that the signal cancels, to
// stop early where it can, and a flag to set once it writes outputs, which
// the error says.
func untilInterrupted(dir string, work func(ctx context.Context, writing *atomic.Bool) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var writing atomic.Bool
	done := make(chan error, 1)
	go func() { done <- work(ctx, &writing) }()
	select {
	case err := <-done:
		if ctx.Err() == nil {
			return err
		}
	case <-ctx.Done():
	}
	report.RemoveTemporary(dir)
	if writing.Load() {
		return fmt.Errorf("%w while writing the outputs: those in %s are each complete or absent", errInterrupted, dir)
	}
	return errInterrupted
}
