package flows

import (
	"testing"

	"flowstat/reader"
)

// TestFirstPacketLocation numbers packets as a reader does and checks that
// each record names the frame, offset and input of the packet that began
// it: a new flow, the continuation of one cut at the active timeout, and
// more flows than the slab's heap chunks hold, whose locations live in
// mapped memory.
func TestFirstPacketLocation(t *testing.T) {
	const flowsN = heapChunks<<chunkBits + 5000
	var recs []Record
	tab := New(Options{ActiveTimeout: 10 * 1e9}, func(r *Record, _ []Window) { recs = append(recs, *r) })
	frame := uint64(0)
	add := func(at int64, port uint16, flags uint8) {
		frame++
		p := reader.Packet{Time: t0 + at, IPVersion: 4, Proto: reader.ProtoTCP, TCPFlags: flags, IPLen: 40,
			Src: client.As16(), Dst: server.As16(), SrcPort: port, DstPort: 80,
			Input: 3, Frame: frame, Offset: 24 + 56*int64(frame-1)}
		tab.Add(&p)
	}
	for i := range flowsN {
		add(int64(i), uint16(1024+i), S)
	}
	add(flowsN+1, 1024, A)      // flow 1024 goes on: not its first packet
	add(flowsN+20*sec, 1024, A) // after the active timeout: a new record begins here
	firstFrameOf := map[uint16][]uint64{}
	tab.Flush(0)
	for _, r := range recs {
		if r.Input != 3 || r.FirstOffset != 24+56*int64(r.FirstFrame-1) {
			t.Fatalf("record of port %d: input %d, frame %d at offset %d", r.SrcPort, r.Input, r.FirstFrame, r.FirstOffset)
		}
		firstFrameOf[r.SrcPort] = append(firstFrameOf[r.SrcPort], r.FirstFrame)
	}
	for i := range flowsN {
		port := uint16(1024 + i)
		got := firstFrameOf[port]
		want := []uint64{uint64(i + 1)}
		if port == 1024 {
			want = []uint64{1, flowsN + 2}
		}
		if len(got) != len(want) || (len(got) == 2) != (port == 1024) {
			t.Fatalf("port %d: first frames %v, want %v", port, got, want)
		}
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Fatalf("port %d: first frames %v, want %v", port, got, want)
			}
		}
	}
}
