package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/tables"
)

// tsharkFrame is one frame as tshark dissects it: its number, time, length
// and the TCP or UDP 5-tuple of its outermost IP packet ("" when it has
// none, or is a fragment).
type tsharkFrame struct {
	number int
	time   string
	length string
	tuple  string // unordered: see unorderedTuple
	// datagram names its IP datagram (addresses and IPv4 identification),
	// and later says it is a fragment other than the first.
	datagram string
	later    bool
}

// tsharkFrames lists every frame of trace with IP reassembly off, so that a
// first fragment shows its ports and a later one none.
func tsharkFrames(t *testing.T, trace string, filter string) []tsharkFrame {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): no independent dissection to compare with")
	}
	fields := []string{"frame.number", "frame.time_epoch", "frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
		"ip.proto", "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "ip.frag_offset", "ip.id"}
	args := []string{"-r", trace, "-o", "ip.defragment:FALSE", "-T", "fields", "-E", "separator=,", "-E", "occurrence=f"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var frames []tsharkFrame
	for line := range strings.Lines(string(out)) {
		v := strings.Split(strings.TrimRight(line, "\n"), ",")
		n, err := strconv.Atoi(v[0])
		if err != nil {
			t.Fatalf("tshark: frame number %q", v[0])
		}
		fr := tsharkFrame{number: n, time: v[1], length: v[2]}
		src, dst, proto := v[3], v[4], v[7]
		if src == "" {
			src, dst, proto = v[5], v[6], v[8]
		}
		var sport, dport string
		switch proto {
		case "6":
			sport, dport = v[9], v[10]
		case "17":
			sport, dport = v[11], v[12]
		}
		if sport != "" && (v[13] == "" || v[13] == "0") {
			fr.tuple = unorderedTuple(src, sport, dst, dport, proto)
		}
		fr.datagram, fr.later = src+" "+dst+" "+v[14], v[13] != "" && v[13] != "0"

		frames = append(frames, fr)
	}
	return frames
}

// unorderedTuple is a 5-tuple the same in both directions.
func unorderedTuple(src, sport, dst, dport, proto string) string {
	a, b := src+" "+sport, dst+" "+dport
	if b < a {
		a, b = b, a
	}
	return a + " " + b + " " + proto
}

// locatedFlow is a record of flows.parquet with its input.
type locatedFlow struct {
	rec   flows.Record
	input string
}

func locatedFlows(t *testing.T, dir string) []locatedFlow {
	t.Helper()
	var out []locatedFlow
	err := tables.EachFlowLocated(filepath.Join(dir, tables.FlowsFile), func(r *flows.Record, input string) error {
		out = append(out, locatedFlow{*r, input})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *locatedFlow) tuple() string {
	r := &f.rec
	return unorderedTuple(r.SrcIP.Addr().String(), fmt.Sprint(r.SrcPort), r.DstIP.Addr().String(), fmt.Sprint(r.DstPort), fmt.Sprint(r.Proto))
}

// extractTraces are the real captures the extraction is checked on, and
// the sample, which is compressed.
func extractTraces(t *testing.T) []string {
	traces := []string{"../../testdata/sample.pcap.gz"}
	if _, err := os.Stat(filepath.Join(sharedDir(), "real")); err != nil {
		t.Logf("shared traces absent (%v): checking the sample only", err)
		return traces
	}
	for _, name := range []string{"cs-httpServerCredentials.pcap", "na-url_redirection.pcapng", "amp.UDP.snmp.src161.pcapng",
		"amp.dns.RRSIG.fragmented.pcap", "ps-tcp_syn.pcap", "amp.TCP.reflection.SYNACK.pcap"} {
		traces = append(traces, filepath.Join(sharedDir(), "real", name))
	}
	return traces
}

// TestFirstFrameAsTshark reads the real captures with -j 2 in chunks of
// 4099 bytes (which split their flows) and checks every TCP and UDP flow's
// first_frame against tshark: the first record of a 5-tuple begins at the
// tuple's first frame, the later ones at frames of the tuple; and every
// first_offset is that of a record header the frame's length follows.
func TestFirstFrameAsTshark(t *testing.T) {
	defer func(size int64) { splitChunkSize = size }(splitChunkSize)
	splitChunkSize = 4099
	for _, trace := range extractTraces(t) {
		t.Run(filepath.Base(trace), func(t *testing.T) {
			frames := tsharkFrames(t, trace, "")
			framesOf := map[string][]int{}
			for _, fr := range frames {
				if fr.tuple != "" {
					framesOf[fr.tuple] = append(framesOf[fr.tuple], fr.number)
				}
			}
			out := t.TempDir()
			if code := analyzeInto(t, out, "-j", "2", "--no-report", trace); code != exitOK {
				t.Fatalf("exit status %d", code)
			}
			firsts := map[string][]int{}
			checked := 0
			for _, f := range locatedFlows(t, out) {
				if f.input != trace {
					t.Fatalf("flow %d: input %q, want %q", f.rec.ID, f.input, trace)
				}
				if f.rec.FirstFrame == 0 || f.rec.FirstFrame > uint64(len(frames)) {
					t.Fatalf("flow %d: first frame %d of %d", f.rec.ID, f.rec.FirstFrame, len(frames))
				}
				if (f.rec.Proto != 6 && f.rec.Proto != 17) || f.rec.Tunnel != flows.NoTunnel {
					continue // tshark's first IP header is a tunnel's
				}
				firsts[f.tuple()] = append(firsts[f.tuple()], int(f.rec.FirstFrame))
				checked++
			}
			for tuple, got := range firsts {
				want := framesOf[tuple]
				slices.Sort(got)
				if len(want) == 0 || got[0] != want[0] {
					t.Errorf("%s: flows begin at frames %v; tshark's first frame of it is %v", tuple, got, want[:min(1, len(want))])
					continue
				}
				for _, n := range got {
					if _, found := slices.BinarySearch(want, n); !found {
						t.Errorf("%s: a flow begins at frame %d, which tshark does not give this 5-tuple", tuple, n)
					}
				}
			}
			if checked == 0 {
				t.Fatal("no TCP or UDP flow to check")
			}
			t.Logf("%d TCP and UDP flows begin at tshark's frames", checked)
		})
	}
}

// TestExtractAsTshark extracts flows of the real captures (the five with
// the most packets, and every fiftieth, 15 at most) whose 5-tuple makes
// one flow:
// the pcap holds packets_fwd+packets_rev packets, the very frames tshark
// selects in the input by the flow's addresses and ports.
func TestExtractAsTshark(t *testing.T) {
	for _, trace := range extractTraces(t) {
		t.Run(filepath.Base(trace), func(t *testing.T) {
			frames := tsharkFrames(t, trace, "")
			framesOf := map[string][]tsharkFrame{}
			for _, fr := range frames {
				if fr.tuple != "" {
					framesOf[fr.tuple] = append(framesOf[fr.tuple], fr)
				}
			}
			out := t.TempDir()
			if code := analyzeInto(t, out, "--no-report", trace); code != exitOK {
				t.Fatalf("exit status %d", code)
			}
			all := locatedFlows(t, out)
			perTuple := map[string]int{}
			for _, f := range all {
				perTuple[f.tuple()]++
			}
			var alone []locatedFlow
			for _, f := range all {
				if (f.rec.Proto == 6 || f.rec.Proto == 17) && perTuple[f.tuple()] == 1 && f.rec.VLAN == 0 && f.rec.Tunnel == flows.NoTunnel {
					alone = append(alone, f)
				}
			}
			slices.SortStableFunc(alone, func(a, b locatedFlow) int {
				return int(b.rec.Packets[0]+b.rec.Packets[1]) - int(a.rec.Packets[0]+a.rec.Packets[1])
			})
			var chosen []locatedFlow
			for i, f := range alone {
				if (i < 5 || i%50 == 0) && len(chosen) < 15 {
					chosen = append(chosen, f)
				}
			}
			if len(chosen) == 0 {
				t.Fatal("no flow to extract")
			}
			for _, f := range chosen {
				r := &f.rec
				pcap := filepath.Join(t.TempDir(), "flow.pcap")
				if code := run([]string{"extract", "-q", "--flow-id", fmt.Sprint(r.ID), "-o", pcap, out}); code != exitOK {
					t.Fatalf("flow %d: exit status %d", r.ID, code)
				}
				got := tsharkFrames(t, pcap, "")
				// tshark's frames of the flow's addresses and ports, as
				// -Y 'ip.addr==A && ip.addr==B && tcp.port==P && tcp.port==Q'
				// selects them.
				want := framesOf[f.tuple()]
				n := r.Packets[0] + r.Packets[1]
				if uint64(len(got)) != n && !fragmented(got) {
					t.Errorf("flow %d (%s): %d packets extracted, flows.parquet counts %d", r.ID, f.tuple(), len(got), n)
					continue
				}
				if fragmented(got) {
					// tshark gives a later fragment no ports: the flow's
					// frames with ports must be tshark's, and the packets
					// all but the later fragments that came before their
					// first fragment.
					var withPorts []tsharkFrame
					for _, g := range got {
						if g.tuple != "" {
							withPorts = append(withPorts, g)
						}
					}
					early := earlyFragments(frames, want)
					if fmt.Sprint(renumbered(withPorts)) != fmt.Sprint(renumbered(want)) || uint64(len(got)+early) != n {
						t.Errorf("flow %d (%s): %d packets extracted, %d with ports, %d fragments before their first; tshark gives the 5-tuple %d, flows.parquet counts %d",
							r.ID, f.tuple(), len(got), len(withPorts), early, len(want), n)
					}
					continue
				}
				if len(got) != len(want) {
					t.Errorf("flow %d (%s): %d packets extracted, tshark gives the 5-tuple %d", r.ID, f.tuple(), len(got), len(want))
					continue
				}
				for i := range got {
					if got[i].time != want[i].time || got[i].length != want[i].length || got[i].tuple != want[i].tuple {
						t.Errorf("flow %d: packet %d is %+v, tshark's frame %+v", r.ID, i+1, got[i], want[i])
						break
					}
				}
			}
			t.Logf("%d flows extracted as tshark selects them", len(chosen))
		})
	}
}

// earlyFragments counts the later fragments of the datagrams whose first
// fragments are firsts that come before their first fragment in frames.
func earlyFragments(frames, firsts []tsharkFrame) int {
	firstAt := map[string]int{}
	for _, f := range firsts {
		if _, ok := firstAt[f.datagram]; !ok {
			firstAt[f.datagram] = f.number
		}
	}
	n := 0
	for _, f := range frames {
		if at, ok := firstAt[f.datagram]; ok && f.later && f.number < at {
			n++
		}
	}
	return n
}

// fragmented reports whether frames hold a fragment, whose 5-tuple tshark
// leaves empty with reassembly off.
func fragmented(frames []tsharkFrame) bool {
	return slices.ContainsFunc(frames, func(f tsharkFrame) bool { return f.tuple == "" })
}

// TestExtractAcrossRotatedFiles cuts a capture into two files in the
// middle of its flows, the second compressed, as a rotating capture
// leaves them: a flow that begins in the first and ends in the second is
// extracted whole, as it is from the uncut capture; flows.parquet names
// the file and the frame within it. The inputs moved elsewhere are found
// with --input-dir, and without it the error names the missing file.
func TestExtractAcrossRotatedFiles(t *testing.T) {
	whole := realTrace(t, "cs-httpServerCredentials.pcap")
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	const header = 24
	starts := pcapRecords(data)
	starts = starts[:len(starts)-1] // the end
	const cut = 32                  // frames 1..32 in the first file: the flow from port 42000 (frames 27 to 49) spans the cut
	dir := t.TempDir()
	first, second := filepath.Join(dir, "cap-1.pcap"), filepath.Join(dir, "cap-2.pcap")
	if err := os.WriteFile(first, data[:starts[cut]], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, slices.Concat(data[:header], data[starts[cut]:]), 0o644); err != nil {
		t.Fatal(err)
	}
	writeGzip(t, second, second+".gz")
	os.Remove(second)
	second += ".gz"

	wholeOut, partsOut := filepath.Join(dir, "whole"), filepath.Join(dir, "parts")
	if code := analyzeInto(t, wholeOut, "--no-report", whole); code != exitOK {
		t.Fatalf("whole: exit status %d", code)
	}
	if code := analyzeInto(t, partsOut, "--no-report", second, first); code != exitOK {
		t.Fatalf("parts: exit status %d", code)
	}
	var spanning *locatedFlow
	parts := locatedFlows(t, partsOut)
	for i, f := range parts {
		if f.rec.SrcPort == 42000 || f.rec.DstPort == 42000 {
			spanning = &parts[i]
		}
		if f.input == second && f.rec.FirstOffset < header {
			t.Errorf("flow %d begins in %s at offset %d, inside the file header", f.rec.ID, second, f.rec.FirstOffset)
		}
	}
	if spanning == nil || spanning.input != first || spanning.rec.FirstFrame != 27 || spanning.rec.FirstOffset != int64(starts[26]) {
		t.Fatalf("the flow of port 42000: %+v, want it in %s at frame 27, offset %d", spanning, first, starts[26])
	}
	if spanning.rec.LastSeen <= spanning.rec.FirstSeen || spanning.rec.Packets[0]+spanning.rec.Packets[1] != 15 {
		t.Fatalf("the flow of port 42000 has %v packets", spanning.rec.Packets)
	}
	extract := func(out string, args ...string) ([]tsharkFrame, int) {
		pcap := filepath.Join(t.TempDir(), "flow.pcap")
		code := run(append([]string{"extract", "-q", "--flow-id", fmt.Sprint(spanning.rec.ID), "-o", pcap, out}, args...))
		if code != exitOK {
			return nil, code
		}
		return tsharkFrames(t, pcap, ""), code
	}
	want := tsharkFrames(t, whole, "tcp.port==42000")
	got, code := extract(partsOut)
	if code != exitOK || len(got) != 15 || fmt.Sprint(got) != fmt.Sprint(renumbered(want)) {
		t.Fatalf("extracted from the two files (exit %d): %v\nwant %v", code, got, want)
	}

	moved := filepath.Join(dir, "moved")
	if err := os.Mkdir(moved, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{first, second} {
		if err := os.Rename(p, filepath.Join(moved, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	if got, code := extract(partsOut, "--input-dir", moved); code != exitOK || fmt.Sprint(got) != fmt.Sprint(renumbered(want)) {
		t.Errorf("with --input-dir (exit %d): %v", code, got)
	}
	if _, code := extract(partsOut); code != exitFailed {
		t.Errorf("inputs moved: exit status %d, want %d", code, exitFailed)
	}
}

// renumbered numbers frames from 1, as in a file of their own.
func renumbered(frames []tsharkFrame) []tsharkFrame {
	out := slices.Clone(frames)
	for i := range out {
		out[i].number = i + 1
	}
	return out
}

// TestExtractFinding extracts the flows of the SYN-ACK reflection's
// finding: every packet is between the victim and a listed reflector, and
// there are as many as the chosen flows count.
func TestExtractFinding(t *testing.T) {
	trace := realTrace(t, "amp.TCP.reflection.SYNACK.pcap")
	out := t.TempDir()
	if code := analyzeInto(t, out, trace); code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	inFinding, err := pipeline.FindingFlows(out, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	var n int
	for _, f := range locatedFlows(t, out) {
		if inFinding(&f.rec) {
			want += f.rec.Packets[0] + f.rec.Packets[1]
			n++
		}
	}
	if n == 0 {
		t.Fatal("finding 1 has no flows")
	}
	pcap := filepath.Join(t.TempDir(), "finding.pcap")
	if code := run([]string{"extract", "-q", "--finding", "1", "-o", pcap, out}); code != exitOK {
		t.Fatalf("extract: exit status %d", code)
	}
	got := tsharkFrames(t, pcap, "")
	if uint64(len(got)) != want {
		t.Errorf("%d packets extracted; the finding's %d flows count %d", len(got), n, want)
	}
	t.Logf("finding 1: %d flows, %d packets", n, len(got))
	if code := run([]string{"extract", "-q", "--finding", "99", "-o", pcap, out}); code != exitUsage {
		t.Errorf("no finding 99: exit status %d, want %d", code, exitUsage)
	}
}
