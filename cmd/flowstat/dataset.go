package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"flowstat/pipeline"
)

// openDataset opens --dataset's directory with open, saying
// what it undid of an interrupted run. An input already in the dataset
// is the user's to fix.
func openDataset(cfg *analyzeConfig, open func() (*pipeline.Dataset, error)) (*pipeline.Dataset, error) {
	ds, err := open()
	var added *pipeline.AlreadyInDatasetError
	if errors.As(err, &added) {
		return nil, usageError{err}
	}
	if err != nil {
		return nil, err
	}
	ds.FileBytes = cfg.datasetFileBytes
	if ds.Recovered > 0 && !cfg.quiet {
		fmt.Fprintf(os.Stderr, "flowstat: removed %d files from dataset %s that a run killed while adding them left\n", ds.Recovered, cfg.dataset)
	}
	return ds, nil
}

// commitDataset moves the run's staged files into the dataset and records
// its inputs. It takes a few renames, which a signal would cut in two:
// SIGINT and SIGTERM wait until it is done.
func commitDataset(ds *pipeline.Dataset, quiet bool) error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	n, err := ds.Commit()
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "flowstat: added %d files of run %s to dataset %s\n", n, ds.Run(), ds.Dir)
	}
	select {
	case <-signals:
		return fmt.Errorf("%w once the run was in dataset %s", errInterrupted, ds.Dir)
	default:
		return nil
	}
}

// sizeValue is a pflag.Value for a size in bytes, with an optional K, M or
// G (powers of 1024).
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"G", 30}, {"M", 20}, {"K", 10}} {
		if *v.n > 0 && *v.n%(1<<u.shift) == 0 {
			return strconv.FormatInt(*v.n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*v.n, 10)
}

func (v sizeValue) Set(s string) error {
	shift := 0
	switch {
	case strings.HasSuffix(s, "K"):
		shift = 10
	case strings.HasSuffix(s, "M"):
		shift = 20
	case strings.HasSuffix(s, "G"):
		shift = 30
	}
	num := s
	if shift > 0 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return fmt.Errorf("%q is not a positive size (try 512M or 1G)", s)
	}
	*v.n = n << shift
	return nil
}

func (v sizeValue) Type() string { return "size" }
