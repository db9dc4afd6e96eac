package plots

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"image"
	"image/png"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/plot"

	"flowstat/flows"
	"flowstat/report"
	"flowstat/tables"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata")

var t0 = time.Date(2024, 3, 5, 7, 0, 0, 0, time.UTC).UnixNano()

// testStats builds a report of five minutes of made-up traffic with 10 s
// windows: web clients, a SYN flood from 10:02 and a port scan, so that
// every kind of figure has something to show.
func testStats(t *testing.T) *report.Stats {
	t.Helper()
	const iv = int64(10 * time.Second)
	var recs []flows.Record
	var windows [][]flows.Window
	add := func(src, dst string, sport, dport uint16, state flows.State, end flows.EndReason, first, last int64, pkts uint64, syn bool) {
		r := flows.Record{ID: uint64(len(recs) + 1), Proto: 6, IPVersion: 4,
			SrcIP: flows.IPOf(netip.MustParseAddr(src)), SrcPort: sport, DstIP: flows.IPOf(netip.MustParseAddr(dst)), DstPort: dport,
			FirstSeen: first, LastSeen: last, State: state, EndReason: end, HandshakeRTT: -1}
		// Spread the packets over the flow's windows.
		var ws []flows.Window
		for w := first - first%iv; w <= last; w += iv {
			ws = append(ws, flows.Window{Start: w})
		}
		for i := range pkts {
			w := &ws[int(i)%len(ws)]
			w.Packets++
			w.Bytes += 400
			r.Packets[i%2]++
			r.Bytes[i%2] += 400
		}
		if syn {
			ws[0].SYNs = 1
			r.SYNs = 1
		}
		recs = append(recs, r)
		windows = append(windows, ws)
	}
	for i := range 600 {
		first := t0 + int64(i)*int64(500*time.Millisecond)
		dur := int64(i%37+1) * int64(97*time.Millisecond) * int64(i%5+1)
		add(fmt.Sprintf("10.0.0.%d", i%50+1), fmt.Sprintf("192.0.2.%d", i%4+1), uint16(30000+i), 443,
			flows.SF, flows.EndFIN, first, first+dur, uint64(6+i%20), true)
	}
	for i := range 3000 {
		first := t0 + int64(2*time.Minute) + int64(i)*int64(20*time.Millisecond)
		add(fmt.Sprintf("198.51.%d.%d", i/250, i%250), "192.0.2.1", uint16(1024+i), 80,
			flows.S0, flows.EndEOF, first, first, 1, true)
	}
	for i := range 300 {
		first := t0 + int64(time.Minute) + int64(i)*int64(100*time.Millisecond)
		add("10.9.9.9", "192.0.2.7", 50000, uint16(i+1), flows.REJ, flows.EndRST, first, first+int64(time.Millisecond), 2, true)
	}
	s := tables.Summary{Tool: "flowstat", Version: "test",
		Options: tables.Options{IntervalS: 10, IdleTimeoutS: 60, LingerS: 2, Targets: []string{}}}
	ds, err := report.NewDataset(recs, windows, s)
	if err != nil {
		t.Fatal(err)
	}
	st, err := report.Build(ds, report.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestWrite(t *testing.T) {
	st := testStats(t)
	dir := t.TempDir()
	// Plots of an earlier run, and a file that is not flowstat's.
	os.MkdirAll(filepath.Join(dir, report.PlotsDir), 0o755)
	for _, name := range []string{"finding-9.png", "notes.png"} {
		os.WriteFile(filepath.Join(dir, report.PlotsDir, name), []byte("x"), 0o644)
	}
	if err := Write(dir, st.Figures); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range st.Figures {
		want = append(want, filepath.Base(f.File))
	}
	want = append(want, "notes.png")
	slices.Sort(want)
	entries, _ := os.ReadDir(filepath.Join(dir, report.PlotsDir))
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("plots = %q, want %q", got, want)
	}
	kinds := []string{"throughput.png", "states.png", "top-destinations.png", "durations.png",
		"handshake-192.0.2.1-80-tcp.png", "finding-2.png"}
	for _, k := range kinds {
		if !slices.Contains(got, k) {
			t.Errorf("no %s among %q", k, got)
		}
	}
	for _, f := range st.Figures {
		t.Run(f.File, func(t *testing.T) {
			checkPNG(t, filepath.Join(dir, f.File), len(f.Panels))
		})
	}
}

// checkPNG decodes a PNG and checks it is legible and not blank: big
// enough, with ink in several colours and no more ink than a plot has.
func checkPNG(t *testing.T, path string, panels int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 960 || b.Dy() < 200 || b.Dy() > 420*panels+200 {
		t.Errorf("size %dx%d", b.Dx(), b.Dy())
	}
	ink, colours := inkOf(img)
	if ink < 0.01 || ink > 0.5 {
		t.Errorf("%.1f %% of the pixels inked", 100*ink)
	}
	if colours < 3 {
		t.Errorf("%d colours: nothing drawn in colour", colours)
	}
}

func inkOf(img image.Image) (share float64, colours int) {
	b := img.Bounds()
	n := 0
	seen := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
			seen[[3]uint32{r >> 13, g >> 13, bl >> 13}] = true
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), len(seen)
}

// Rendering is deterministic, and the figures look as reviewed: compare
// with the golden images (regenerate with -update and look at them).
func TestGolden(t *testing.T) {
	st := testStats(t)
	for _, name := range []string{"throughput.png", "durations.png", "states.png"} {
		t.Run(name, func(t *testing.T) {
			i := slices.IndexFunc(st.Figures, func(f report.Figure) bool { return f.File == report.PlotsDir+"/"+name })
			if i < 0 {
				t.Fatalf("no figure %s", name)
			}
			got, err := Render(st.Figures[i])
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Render(st.Figures[i])
			if !bytes.Equal(got, again) {
				t.Error("two renderings differ")
			}
			path := filepath.Join("testdata", "golden-"+name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := pixelDiff(t, got, want); d > 0.002 {
				t.Errorf("%s differs from %s in %.2f %% of the pixels; run with -update and look at it", name, path, 100*d)
			}
		})
	}
}

// gapStats builds a report of two captures of web traffic 90 days apart,
// five minutes each in 10 s windows: too many windows from the first to
// the last for every one to be kept.
func gapStats(t *testing.T) *report.Stats {
	t.Helper()
	const iv = int64(10 * time.Second)
	var recs []flows.Record
	var windows [][]flows.Window
	var inputs []tables.Input
	for part, start := range []int64{t0, t0 + int64(90*24*time.Hour)} {
		first, last := start, start
		for i := range 300 {
			f := start + int64(i)*int64(time.Second) + int64(part*300+i)%7*int64(100*time.Millisecond)
			pkts := uint64(4 + i%9)
			r := flows.Record{ID: uint64(len(recs) + 1), Proto: 6, IPVersion: 4,
				SrcIP: flows.IPOf(netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", part, i%200+1))), SrcPort: uint16(30000 + i),
				DstIP: flows.IPOf(netip.MustParseAddr("192.0.2.1")), DstPort: 443,
				FirstSeen: f, LastSeen: f + int64(time.Second), State: flows.SF, EndReason: flows.EndFIN, HandshakeRTT: -1,
				Packets: [2]uint64{pkts / 2, pkts - pkts/2}, Bytes: [2]uint64{pkts * 300, pkts * 300}}
			var ws []flows.Window
			for w := r.FirstSeen - r.FirstSeen%iv; w <= r.LastSeen; w += iv {
				ws = append(ws, flows.Window{Start: w})
			}
			ws[0].Packets, ws[0].Bytes = pkts, pkts*600
			recs, windows = append(recs, r), append(windows, ws)
			last = max(last, r.LastSeen)
		}
		from, to := time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		inputs = append(inputs, tables.Input{Path: fmt.Sprintf("part%d.pcap", part), FirstSeen: &from, LastSeen: &to})
	}
	s := tables.Summary{Tool: "flowstat", Version: "test", Inputs: inputs,
		Options: tables.Options{IntervalS: 10, IdleTimeoutS: 60, LingerS: 2, Targets: []string{}}}
	ds, err := report.NewDataset(recs, windows, s)
	if err != nil {
		t.Fatal(err)
	}
	st, err := report.Build(ds, report.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Two captures months apart: the line breaks between them, drawn in the
// first and last few columns only, with dates on the axis; as reviewed.
func TestGoldenGap(t *testing.T) {
	st := gapStats(t)
	i := slices.IndexFunc(st.Figures, func(f report.Figure) bool { return f.File == report.PlotsDir+"/throughput.png" })
	if i < 0 {
		t.Fatal("no throughput figure")
	}
	got, err := Render(st.Figures[i])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	// The line's blue, in the middle of the plotting area's width.
	blue := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := 200; x < 800; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 60 && g>>8 > 80 && g>>8 < 150 && bl>>8 > 140 {
				blue++
			}
		}
	}
	if blue > 0 {
		t.Errorf("%d pixels of the line between the captures", blue)
	}
	path := filepath.Join("testdata", "golden-gap.png")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := pixelDiff(t, got, want); d > 0.002 {
		t.Errorf("differs from %s in %.2f %% of the pixels; run with -update and look at it", path, 100*d)
	}
}

// pixelDiff returns the share of pixels that differ visibly between two
// PNGs (1 when their sizes differ). gonum's cmpimg would need rsc.io/pdf.
func pixelDiff(t *testing.T, a, b []byte) float64 {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Bounds() != ib.Bounds() {
		return 1
	}
	r := ia.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x1000 {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestRenderErrors(t *testing.T) {
	for _, f := range []report.Figure{
		{File: "plots/none.png"},
		{File: "plots/empty.png", Panels: []report.Panel{{YLabel: "y"}}},
		{File: "plots/ragged.png", Panels: []report.Panel{{Lines: []report.Line{{Name: "l", X: []float64{1, 2}, Y: []float64{1}}}}}},
	} {
		if _, err := Render(f); err == nil {
			t.Errorf("%s: no error", f.File)
		}
	}
}

func TestTicks(t *testing.T) {
	lo := float64(t0) / 1e9
	ticks := timeTicks{}.Ticks(lo, lo+300)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"07:00", "07:01", "07:02", "07:03", "07:04", "07:05"}; !slices.Equal(labels, want) {
		t.Errorf("time labels over 5 min = %q, want %q", labels, want)
	}
	labels = nil
	for _, tk := range (durationTicks{}).Ticks(1e-4, 10) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s"}; !slices.Equal(labels, want) {
		t.Errorf("duration labels = %q, want %q", labels, want)
	}
}

// Time ticks over spans from milliseconds to months, and over two
// captures months apart: a few labels, distinct, in time order, each
// narrower, in the font drawn, than the space between two labels on a
// panel of the figure (about 860 of its 960 pixels).
func TestTimeTicksFit(t *testing.T) {
	start := float64(time.Date(2024, 1, 10, 7, 0, 0, 123_000_000, time.UTC).UnixNano()) / 1e9
	apart := float64(time.Date(2024, 4, 10, 8, 0, 0, 0, time.UTC).UnixNano()) / 1e9
	style := newPlot().X.Tick.Label
	for _, c := range []struct {
		name   string
		lo, hi float64
		has    string // a layout its labels have
	}{
		{"5 ms", start, start + 0.005, "07:00:00.125"},
		{"1 s", start, start + 1, "07:00:00.400"},
		{"1 min", start, start + 60, "07:00:30"},
		{"1 h", start, start + 3600, "07:30"},
		{"1 day", start, start + 86400, "01-11 00:00"},
		{"3 months", start, start + 91*86400, "2024-02-05"},
		{"two captures months apart", start, apart, "2024-03-04"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var labelled []plot.Tick
			for _, tk := range (timeTicks{}).Ticks(c.lo, c.hi) {
				if tk.Value < c.lo || tk.Value > c.hi {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, c.lo, c.hi)
				}
				if tk.Label != "" {
					labelled = append(labelled, tk)
				}
			}
			slices.SortFunc(labelled, func(a, b plot.Tick) int { return cmp.Compare(a.Value, b.Value) })
			if len(labelled) < 2 || len(labelled) > 10 {
				t.Fatalf("%d labels: %v", len(labelled), labelled)
			}
			var labels []string
			for i, tk := range labelled {
				labels = append(labels, tk.Label)
				if i == 0 {
					continue
				}
				prev := labelled[i-1]
				if tk.Label == prev.Label {
					t.Errorf("label %q twice", tk.Label)
				}
				spacing := (tk.Value - prev.Value) / (c.hi - c.lo) * 860
				// Points to pixels at 96 dpi; half of each label on either side.
				w := float64(style.Width(tk.Label)+style.Width(prev.Label)) / 2 * dpi / 72
				if w+8 > spacing {
					t.Errorf("labels %q and %q, %.0f px wide, are %.0f px apart", prev.Label, tk.Label, w, spacing)
				}
			}
			if !slices.IsSorted(labels) {
				t.Errorf("labels out of order: %q", labels)
			}
			if !slices.Contains(labels, c.has) {
				t.Errorf("labels %q lack %q", labels, c.has)
			}
		})
	}
}
