package reader_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"flowstat/flows"
	"flowstat/reader"
)

// fuzzLinks are the link types a fuzzed frame can claim, by index.
var fuzzLinks = []int{
	reader.LinkEthernet, reader.LinkRaw, reader.LinkNull, reader.LinkLoop, reader.LinkSLL,
	reader.LinkSLL2, reader.LinkIPv4, reader.LinkIPv6, reader.LinkPPP, reader.LinkPPPHDLC,
	reader.LinkCHDLC, reader.LinkSLIP, 147, // the last one is unknown
}

// fuzzFrames encodes frames for FuzzDecodeAndFlows: per frame, the index of
// its link type, a time step in quarter seconds (signed, so that time can go
// back), the length and the bytes.
func fuzzFrames(frames []reader.Frame, first int64) []byte {
	var b []byte
	last := first
	for _, f := range frames {
		link := len(fuzzLinks) - 1
		for i, l := range fuzzLinks {
			if l == f.LinkType {
				link = i
			}
		}
		step := max(-128, min(127, (f.Time-last)/250e6))
		last += step * 250e6
		data := f.Data[:min(len(f.Data), 255)]
		b = append(b, byte(link), byte(int8(step)), byte(len(data)))
		b = append(b, data...)
	}
	return b
}

// corpusFrameSeeds turns the first frames of the corpus traces into seeds.
func corpusFrameSeeds(f *testing.F) {
	paths, _ := filepath.Glob("../../shared/traces/corpus/*")
	for _, p := range paths {
		tr, err := reader.Open(p, nil)
		if err != nil {
			continue
		}
		var frames []reader.Frame
		var fr reader.Frame
		for len(frames) < 64 && tr.Next(&fr) == nil {
			fr.Data = append([]byte(nil), fr.Data...)
			frames = append(frames, fr)
		}
		tr.Close()
		if len(frames) > 0 {
			f.Add(uint8(len(frames)), fuzzFrames(frames, frames[0].Time))
		}
	}
}

// FuzzDecodeAndFlows decodes arbitrary frames and feeds the flow table with
// them, out of time order too: nothing may panic, and every packet decoded
// must end up in exactly one flow record or be counted as an orphan
// fragment, with per-interval counts that add up.
func FuzzDecodeAndFlows(f *testing.F) {
	if _, err := os.Stat("../../shared/traces/corpus"); err == nil {
		corpusFrameSeeds(f)
	}
	f.Add(uint8(0), []byte{0, 4, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, settings uint8, data []byte) {
		opts := flows.Options{IdleTimeout: 5 * time.Second, Linger: time.Second, FragmentTimeout: 3 * time.Second}
		if settings&1 != 0 {
			opts.Interval = time.Duration(1+settings>>4) * time.Second
		}
		if settings&2 != 0 {
			opts.ActiveTimeout = time.Duration(1+settings>>4) * time.Second
		}
		var recs []flows.Record
		var windows [][]flows.Window
		table := flows.New(opts, func(r *flows.Record, ws []flows.Window) {
			recs = append(recs, *r)
			windows = append(windows, append([]flows.Window(nil), ws...))
		})
		var p reader.Packet
		var decoded uint64
		now := int64(1_700_000_000e9)
		for len(data) >= 3 {
			link := fuzzLinks[int(data[0])%len(fuzzLinks)]
			now += int64(int8(data[1])) * 250e6
			n := min(int(data[2]), len(data)-3)
			frame := data[3 : 3+n]
			data = data[3+n:]
			if reader.Decode(link, frame, &p) != reader.OK {
				continue
			}
			if p.IPVersion != 4 && p.IPVersion != 6 {
				t.Fatalf("decoded IP version %d", p.IPVersion)
			}
			p.Time = now
			decoded++
			table.Add(&p)
		}
		table.Flush(table.Now())
		if table.Len() != 0 {
			t.Fatalf("%d flows left after Flush", table.Len())
		}
		var inFlows uint64
		for i := range recs {
			r := &recs[i]
			inFlows += r.Packets[0] + r.Packets[1]
			_, _, _ = r.State.String(), r.EndReason.String(), r.History.String()
			if r.FirstSeen > r.LastSeen {
				t.Fatalf("record %d: first seen %d after last seen %d", i, r.FirstSeen, r.LastSeen)
			}
			if opts.Interval == 0 {
				continue
			}
			var inWindows uint64
			for j, w := range windows[i] {
				inWindows += w.Packets
				if j > 0 && w.Start <= windows[i][j-1].Start {
					t.Fatalf("record %d: windows out of order: %+v", i, windows[i])
				}
				if w.Start > r.LastSeen || w.Start+int64(opts.Interval) <= r.FirstSeen {
					t.Fatalf("record %d (%d..%d): window at %d", i, r.FirstSeen, r.LastSeen, w.Start)
				}
			}
			if inWindows != r.Packets[0]+r.Packets[1] {
				t.Fatalf("record %d: %d packets, %d in its windows", i, r.Packets[0]+r.Packets[1], inWindows)
			}
		}
		if st := table.Stats(); inFlows+st.OrphanFragments != decoded {
			t.Fatalf("%d packets decoded, %d in flows and %d orphan fragments", decoded, inFlows, st.OrphanFragments)
		}
	})
}

// Keep the encoding honest: a frame encoded by fuzzFrames decodes as it was.
func TestFuzzFramesEncoding(t *testing.T) {
	frames := []reader.Frame{{Time: 10e9, LinkType: reader.LinkRaw, Data: []byte{0x45, 0, 0, 20}}}
	b := fuzzFrames(frames, 0)
	if len(b) != 7 || fuzzLinks[b[0]] != reader.LinkRaw || int8(b[1]) != 40 || b[2] != 4 {
		t.Errorf("encoded % x", b)
	}
}
