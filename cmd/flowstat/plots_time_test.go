package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"flowstat/report"
	"flowstat/scripts/gen"
)

// timeStats analyses paths with flowstat analyze and builds the report
// again from the output, figures included.
func timeStats(t *testing.T, args ...string) *report.Stats {
	t.Helper()
	dir := t.TempDir()
	if code := run(append([]string{"analyze", "-q", "--no-plots", "-o", dir}, args...)); code != exitOK {
		t.Fatalf("analyze %v: exit %d", args, code)
	}
	ds, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := report.Build(ds, report.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// timeFigures are the figures over time of st.
func timeFigures(st *report.Stats) []report.Figure {
	return slices.DeleteFunc(slices.Clone(st.Figures), func(f report.Figure) bool {
		return len(f.Panels[0].Lines) == 0 || f.Panels[0].XAxis != report.TimeAxis
	})
}

// unitScale reads the multiple of a rate axis' label: "k packets/s" is 1e3.
func unitScale(label string) float64 {
	switch {
	case strings.HasPrefix(label, "k"):
		return 1e3
	case strings.HasPrefix(label, "M"):
		return 1e6
	case strings.HasPrefix(label, "G"):
		return 1e9
	}
	return 1
}

// No line of any figure over time starts before the capture's first
// packet or goes on after its last, and each ends at a break; on every
// real capture.
func TestFiguresWithinCapture(t *testing.T) {
	names := []string{"pkt.TCP.synflood.spoofed.pcap", "amp.UDP.snmp.src161.pcapng", "amp.dns.RRSIG.fragmented.pcap",
		"amp.TCP.reflection.SYNACK.pcap", "ps-tcp_syn.pcap", "na-url_redirection.pcapng", "cs-httpServerCredentials.pcap"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			st := timeStats(t, realTrace(t, name))
			first, last := float64(st.Summary.FirstSeen.UnixNano())/1e9, float64(st.Summary.LastSeen.UnixNano())/1e9
			figs := timeFigures(st)
			if !slices.ContainsFunc(figs, func(f report.Figure) bool { return f.File == "plots/throughput.png" }) {
				t.Errorf("no throughput figure among %d over time", len(figs))
			}
			for _, f := range figs {
				for _, p := range f.Panels {
					for _, l := range p.Lines {
						lo, hi := slices.Min(l.X), slices.Max(l.X)
						if lo < first || hi > last {
							t.Errorf("%s, %q: drawn from %s to %s, outside the capture's %s to %s", f.File, l.Name,
								clock(lo), clock(hi), clock(first), clock(last))
						}
						if !math.IsNaN(l.Y[len(l.Y)-1]) {
							t.Errorf("%s, %q: the last point is %v, not the end of the line", f.File, l.Name, l.Y[len(l.Y)-1])
						}
					}
				}
			}
		})
	}
}

func clock(s float64) string {
	return time.Unix(0, int64(s*1e9)).UTC().Format("15:04:05.000000")
}

// The SYN flood's throughput starts at its first packet and ends at its
// last, and its first and last windows, which the capture covers in part,
// are rates over the time it covers: the window's packets, counted by
// tshark too, divided by the covered time.
func TestThroughputEdges(t *testing.T) {
	trace := realTrace(t, "pkt.TCP.synflood.spoofed.pcap")
	st := timeStats(t, trace)
	i := slices.IndexFunc(st.Figures, func(f report.Figure) bool { return f.File == "plots/throughput.png" })
	if i < 0 {
		t.Fatal("no throughput figure")
	}
	pn := st.Figures[i].Panels[0]
	l := pn.Lines[0]
	scale := unitScale(pn.YLabel)
	first, last := st.Summary.FirstSeen.UnixNano(), st.Summary.LastSeen.UnixNano()
	iv := st.Interval
	if got := int64(math.Round(l.X[0] * 1e9)); abs(got-first) > 1000 {
		t.Errorf("the line starts at %s, the first packet is at %s", clock(l.X[0]), clock(float64(first)/1e9))
	}
	if got := int64(math.Round(l.X[len(l.X)-1] * 1e9)); abs(got-last) > 1000 {
		t.Errorf("the line ends at %s, the last packet is at %s", clock(l.X[len(l.X)-1]), clock(float64(last)/1e9))
	}
	r0, rn := st.Rates[0], st.Rates[len(st.Rates)-1]
	covered0, coveredN := r0.Start+iv-first, last-rn.Start
	// Both are wide enough to be drawn alone (see minEdgeShare): the
	// trace's first packet is at 10:30:21.09951, its last at 10:30:44.783363.
	if covered0*4 < iv || coveredN*4 < iv || covered0 >= iv || coveredN >= iv {
		t.Fatalf("the trace's edges moved: the first window is covered %v, the last %v of %v", time.Duration(covered0), time.Duration(coveredN), time.Duration(iv))
	}
	if want := float64(r0.Packets) / (float64(covered0) / 1e9); math.Abs(l.Y[0]*scale-want) > 1e-6*want {
		t.Errorf("first window: %.1f packets/s, want %d packets over %v = %.1f", l.Y[0]*scale, r0.Packets, time.Duration(covered0), want)
	}
	lastY := l.Y[len(l.Y)-2] // the line's last point is its end, NaN
	if want := float64(rn.Packets) / (float64(coveredN) / 1e9); math.Abs(lastY*scale-want) > 1e-6*want {
		t.Errorf("last window: %.1f packets/s, want %d packets over %v = %.1f", lastY*scale, rn.Packets, time.Duration(coveredN), want)
	}
	// The windows' packets as tshark counts them, from packet times.
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed: the windows' counts are not cross-checked")
	}
	out, err := exec.Command("tshark", "-r", trace, "-T", "fields", "-e", "frame.time_epoch").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var n0, nn uint64
	for line := range strings.Lines(string(out)) {
		sec, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
		if err != nil {
			t.Fatal(err)
		}
		ns := int64(math.Round(sec*1e6)) * 1000 // a microsecond pcap
		if ns < r0.Start+iv {
			n0++
		}
		if ns >= rn.Start {
			nn++
		}
	}
	if n0 != r0.Packets || nn != rn.Packets {
		t.Errorf("tshark counts %d and %d packets in the first and last windows, the report %d and %d", n0, nn, r0.Packets, rn.Packets)
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Two generated captures of SYN floods three months apart, read together:
// every figure's line breaks between them, with no point in the gap, and
// each part starts at its capture's first packet and ends at its last. In
// the windows chosen (1 h), and in 1 min windows, too many for every one
// to be kept (see maxDenseWindows in report), where the SYN flood's
// figure is drawn.
func TestFiguresBreakAtGap(t *testing.T) {
	dir := t.TempDir()
	starts := []time.Time{time.Date(2024, 1, 10, 7, 0, 0, 0, time.UTC), time.Date(2024, 4, 10, 19, 0, 0, 0, time.UTC)}
	var paths []string
	for i, start := range starts {
		data, _, err := gen.Generate(gen.Config{Seed: uint64(i + 1), Flows: 2000, Start: start, Duration: 6 * time.Hour, Mix: "synflood"})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strconv.Itoa(i)+".pcap")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, c := range []struct {
		interval string
		want     []string
	}{
		{"auto", []string{"plots/throughput.png", "plots/traffic-203.0.113.82-80-tcp.png"}},
		{"1m", []string{"plots/throughput.png", "plots/handshake-203.0.113.82-80-tcp.png", "plots/traffic-203.0.113.82-80-tcp.png"}},
	} {
		t.Run(c.interval, func(t *testing.T) {
			st := timeStats(t, append([]string{"-i", c.interval}, paths...)...)
			checkBreaks(t, st, c.want)
		})
	}
}

// checkBreaks checks that the figures want, over the time of two inputs
// far apart, break between them.
func checkBreaks(t *testing.T, st *report.Stats, want []string) {
	t.Helper()
	in := st.Summary.Inputs
	if len(in) != 2 {
		t.Fatalf("%d inputs", len(in))
	}
	aFirst, aLast := float64(in[0].FirstSeen.UnixNano())/1e9, float64(in[0].LastSeen.UnixNano())/1e9
	bFirst, bLast := float64(in[1].FirstSeen.UnixNano())/1e9, float64(in[1].LastSeen.UnixNano())/1e9
	var files []string
	for _, f := range timeFigures(st) {
		files = append(files, f.File)
		for _, l := range f.Panels[0].Lines {
			var breaks []float64
			for j, y := range l.Y {
				if math.IsNaN(y) {
					breaks = append(breaks, l.X[j])
				}
				if x := l.X[j]; x > aLast && x < bFirst {
					t.Errorf("%s, %q: a point at %v, in the gap", f.File, l.Name, time.Unix(int64(x), 0).UTC())
				}
			}
			// One break in each capture: at its last packet, or at the end
			// of a target's last window in it.
			ends := []float64{aLast, bLast}
			var in []float64
			for _, x := range breaks {
				switch {
				case x > aFirst && x <= aLast+1e-3:
					in = append(in, aLast)
				case x > bFirst && x <= bLast+1e-3:
					in = append(in, bLast)
				}
			}
			if f.File == "plots/throughput.png" {
				in = breaks
			}
			if !slices.EqualFunc(in, ends, func(a, b float64) bool { return math.Abs(a-b) < 1e-3 }) {
				t.Errorf("%s, %q: breaks at %v, want one in each capture, the throughput's at its last packet %v", f.File, l.Name, breaks, ends)
			}
			if f.File == "plots/throughput.png" && (math.Abs(l.X[0]-aFirst) > 1e-3 || !slices.ContainsFunc(l.X, func(x float64) bool { return math.Abs(x-bFirst) < 1e-3 })) {
				t.Errorf("%s: the parts do not start at the captures' first packets %v and %v", f.File, aFirst, bFirst)
			}
		}
		if got, want := f.Panels[0].XLabel, "time (UTC), 2024-01-10 to 2024-04-11"; !strings.HasPrefix(got, want) {
			t.Errorf("%s: time axis %q, want %q", f.File, got, want)
		}
	}
	if !slices.Equal(files, want) {
		t.Errorf("figures over time %q, want %q", files, want)
	}
}
