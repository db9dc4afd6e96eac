// Command gentrace writes a deterministic synthetic packet trace (classic
// pcap, Ethernet) and, optionally, its exact ground truth as JSON.
//
//	go run ./scripts/gentrace -seed 1 -flows 1000 -out t.pcap -truth t.json
//	go run ./scripts/gentrace -mix bench -flows 2000000 -out bench.pcap
//
// The same flags always produce byte-identical output. See package
// flowstat/scripts/gen for the scenarios and the truth format.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"flowstat/scripts/gen"
)

func main() {
	var (
		seed     = flag.Uint64("seed", 1, "random seed (same seed and flags: identical output)")
		flows    = flag.Int("flows", 1000, "exact number of ground-truth flows")
		out      = flag.String("out", "", "output pcap file (\"-\" for stdout)")
		truth    = flag.String("truth", "", "write the ground truth JSON to this file (optional)")
		snaplen  = flag.Int("snaplen", gen.DefaultSnaplen, "capture length per packet")
		nano     = flag.Bool("nano", false, "nanosecond-resolution pcap (default microseconds)")
		duration = flag.Duration("duration", 0, "trace span, first flow to last packet (default max(5m, flows/1000 s))")
		mix      = flag.String("mix", "default", "scenario mix: "+strings.Join(gen.Mixes(), ", ")+", or name=weight,... optionally after a preset")
		start    = flag.String("start", gen.DefaultStart.Format(time.RFC3339), "time of the first flow (RFC 3339)")
		idle     = flag.Duration("idle", gen.DefaultIdleTimeout, "idle timeout the truth assumes")
		linger   = flag.Duration("linger", gen.DefaultLinger, "TCP close linger the truth assumes")
		nonTCPH  = flag.Bool("non-tcp-history", false, "give UDP/ICMP flows history letters too (D/d for payload)")
		list     = flag.Bool("list", false, "list scenarios and mixes, then exit")
		quiet    = flag.Bool("q", false, "no summary on stderr")
	)
	flag.Parse()
	if *list {
		for _, s := range gen.Scenarios() {
			fmt.Printf("%-13s %s\n", s.Name, s.Description)
		}
		fmt.Println()
		for _, m := range gen.Mixes() {
			w, _ := gen.MixWeights(m)
			fmt.Printf("mix %-9s %v\n", m, w)
		}
		return
	}
	if *out == "" {
		fail(fmt.Errorf("-out is required"))
	}
	st, err := time.Parse(time.RFC3339Nano, *start)
	if err != nil {
		fail(fmt.Errorf("-start: %v", err))
	}
	cfg := gen.Config{
		Seed: *seed, Flows: *flows, Snaplen: *snaplen, Nano: *nano, Duration: *duration, Mix: *mix,
		Start: st, IdleTimeout: *idle, Linger: *linger, NonTCPHistory: *nonTCPH, SkipFlows: *truth == "",
	}
	began := time.Now()
	var w io.Writer
	var file *os.File
	if *out == "-" {
		w = os.Stdout
	} else {
		file, err = os.Create(*out)
		if err != nil {
			fail(err)
		}
		w = file
	}
	t, err := gen.Write(w, cfg)
	if err != nil {
		fail(err)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			fail(err)
		}
	}
	genTime := time.Since(began)
	if *truth != "" {
		tf, err := os.Create(*truth)
		if err != nil {
			fail(err)
		}
		bw := bufio.NewWriter(tf)
		if err := t.WriteJSON(bw); err != nil {
			fail(err)
		}
		if err := bw.Flush(); err != nil {
			fail(err)
		}
		if err := tf.Close(); err != nil {
			fail(err)
		}
	}
	if !*quiet {
		nflows := 0
		for _, n := range t.ByState {
			nflows += n
		}
		fmt.Fprintf(os.Stderr, "gentrace: %d packets, %d IP bytes, %d flows in %.2fs (pcap), %.2fs total; states %v\n",
			t.Packets, t.Bytes, nflows, genTime.Seconds(), time.Since(began).Seconds(), t.ByState)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gentrace:", err)
	os.Exit(1)
}
