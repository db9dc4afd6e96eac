package reader

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

type testFrame struct {
	time int64
	link int
	data []byte
}

// writePcap encodes frames as classic pcap in the given byte order and
// resolution.
func writePcap(order binary.AppendByteOrder, nano bool, link int, frames []testFrame) []byte {
	var b []byte
	magic := uint32(pcapMicroLE)
	if nano {
		magic = pcapNanoLE
	}
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, uint32(link))
	for _, f := range frames {
		frac := f.time % 1e9
		if !nano {
			frac /= 1000
		}
		b = order.AppendUint32(b, uint32(f.time/1e9))
		b = order.AppendUint32(b, uint32(frac))
		b = order.AppendUint32(b, uint32(len(f.data)))
		b = order.AppendUint32(b, uint32(len(f.data)))
		b = append(b, f.data...)
	}
	return b
}

// pcapngBlock encodes one block with its trailing length.
func pcapngBlock(order binary.AppendByteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	var b []byte
	b = order.AppendUint32(b, typ)
	b = order.AppendUint32(b, uint32(len(body)+12))
	b = append(b, body...)
	return order.AppendUint32(b, uint32(len(body)+12))
}

// writePcapng encodes two interfaces: 0 is Ethernet in microseconds, 1 is
// raw IP in nanoseconds (if_tsresol 9) with an unknown block between them.
func writePcapng(order binary.AppendByteOrder, frames []testFrame) []byte {
	var shb []byte
	shb = order.AppendUint32(shb, byteOrderMagic)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = order.AppendUint64(shb, ^uint64(0))
	b := pcapngBlock(order, blockSHB, shb)
	idb := func(link uint16, resol byte) []byte {
		var body []byte
		body = order.AppendUint16(body, link)
		body = order.AppendUint16(body, 0)
		body = order.AppendUint32(body, 0)
		if resol != 0 {
			body = order.AppendUint16(body, 9)
			body = order.AppendUint16(body, 1)
			body = append(body, resol, 0, 0, 0)
			body = append(body, 0, 0, 0, 0)
		}
		return pcapngBlock(order, blockIDB, body)
	}
	b = append(b, idb(LinkEthernet, 0)...)
	b = append(b, pcapngBlock(order, 0x0BAD, []byte("unknown block"))...)
	b = append(b, idb(LinkRaw, 9)...)
	for _, f := range frames {
		iface, ts := uint32(0), uint64(f.time/1000)
		if f.link == LinkRaw {
			iface, ts = 1, uint64(f.time)
		}
		var body []byte
		body = order.AppendUint32(body, iface)
		body = order.AppendUint32(body, uint32(ts>>32))
		body = order.AppendUint32(body, uint32(ts))
		body = order.AppendUint32(body, uint32(len(f.data)))
		body = order.AppendUint32(body, uint32(len(f.data)))
		body = append(body, f.data...)
		b = append(b, pcapngBlock(order, blockEPB, body)...)
	}
	return b
}

func sampleFrames(link int) []testFrame {
	var out []testFrame
	for i := 0; i < 5; i++ {
		data := ipv4TCP("10.0.0.1", "10.0.0.2", uint16(1000+i), 80, SYN, 40)
		if link == LinkEthernet {
			data = ether(etherIPv4, nil, data)
		}
		out = append(out, testFrame{time: 1_600_000_000_123_456_000 + int64(i)*1_000_000_000, link: link, data: data})
	}
	return out
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, path string) (*Trace, []testFrame) {
	t.Helper()
	tr, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var got []testFrame
	var f Frame
	for {
		err := tr.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testFrame{f.Time, f.LinkType, append([]byte(nil), f.Data...)})
	}
	return tr, got
}

// openAll opens the traces at paths, in order.
func openAll(t *testing.T, paths ...string) []*Trace {
	t.Helper()
	var traces []*Trace
	for _, p := range paths {
		tr, err := Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		traces = append(traces, tr)
	}
	return traces
}

func sameFrames(t *testing.T, got, want []testFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].time != want[i].time || got[i].link != want[i].link || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("frame %d: time %d link %d, want %d %d", i, got[i].time, got[i].link, want[i].time, want[i].link)
		}
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zstded(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll(b, nil)
}

// xzed compresses b in xz blocks of 4 KiB, so that a cut stream still
// holds whole blocks to decompress.
func xzed(b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.WriterConfig{BlockSize: 4 << 10}.NewWriter(&buf)
	if err != nil {
		panic(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// lz4ed compresses b in the lz4 frame format, or in lz4 -l's legacy one,
// in blocks of 64 KiB.
func lz4ed(b []byte, legacy bool) []byte {
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.LegacyOption(legacy)); err != nil {
		panic(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// bzip2Frames is testdata/frames1000.pcap.bz2, made by `bzip2 -1` (Go has
// no bzip2 encoder) of repeatFrames(1000) written as a little-endian
// pcap: three bzip2 blocks.
func bzip2Frames(t *testing.T) ([]byte, []testFrame) {
	t.Helper()
	b, err := os.ReadFile("testdata/frames1000.pcap.bz2")
	if err != nil {
		t.Fatal(err)
	}
	return b, repeatFrames(1000)
}

func TestOpenFormats(t *testing.T) {
	bz, bzFrames := bzip2Frames(t)
	eth := sampleFrames(LinkEthernet)
	mixed := append(sampleFrames(LinkEthernet)[:2], sampleFrames(LinkRaw)[2:]...)
	mixed[3].time += 789 // nanosecond detail that only if_tsresol 9 keeps
	tests := []struct {
		name, format, compression string
		data                      []byte
		want                      []testFrame
	}{
		{"pcap little-endian µs", "pcap", "", writePcap(binary.LittleEndian, false, LinkEthernet, eth), eth},
		{"pcap big-endian µs", "pcap", "", writePcap(binary.BigEndian, false, LinkEthernet, eth), eth},
		{"pcap little-endian ns", "pcap-ns", "", writePcap(binary.LittleEndian, true, LinkEthernet, eth), eth},
		{"pcap big-endian ns", "pcap-ns", "", writePcap(binary.BigEndian, true, LinkEthernet, eth), eth},
		{"pcapng two interfaces", "pcapng", "", writePcapng(binary.LittleEndian, mixed), mixed},
		{"pcapng big-endian", "pcapng", "", writePcapng(binary.BigEndian, mixed), mixed},
		{"gzip pcap", "pcap", "gzip", gzipped(writePcap(binary.LittleEndian, false, LinkEthernet, eth)), eth},
		{"zstd pcapng", "pcapng", "zstd", zstded(writePcapng(binary.LittleEndian, mixed)), mixed},
		{"xz pcapng", "pcapng", "xz", xzed(writePcapng(binary.LittleEndian, mixed)), mixed},
		{"bzip2 pcap", "pcap", "bzip2", bz, bzFrames},
		{"lz4 pcapng", "pcapng", "lz4", lz4ed(writePcapng(binary.LittleEndian, mixed), false), mixed},
		{"lz4 legacy pcap", "pcap", "lz4", lz4ed(writePcap(binary.LittleEndian, false, LinkEthernet, eth), true), eth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Misleading names on purpose: detection is by content.
			tr, got := readAll(t, writeTemp(t, "trace.pcapng", tc.data))
			if tr.Format != tc.format || tr.Compression != tc.compression {
				t.Errorf("format %q/%q, want %q/%q", tr.Format, tr.Compression, tc.format, tc.compression)
			}
			if len(tr.Damages) != 0 {
				t.Errorf("damage reported: %v", tr.Damages)
			}
			sameFrames(t, got, tc.want)
		})
	}
}

func TestOpenRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		hint string // what the error must say
	}{
		"empty":     {nil, "the file is empty"},
		"text":      {[]byte("this is not a capture\n"), "first bytes 74 68 69 73"},
		"short":     {[]byte{0xd4, 0xc3}, "2 bytes long"},
		"bad magic": {bytes.Repeat([]byte{0xAB}, 100), "first bytes ab ab ab ab"},
		"zip":       {append([]byte("PK\x03\x04"), make([]byte, 60)...), "a zip archive: extract the trace, e.g. `unzip -p "},
		".Z":        {append([]byte{0x1f, 0x9d, 0x90}, make([]byte, 60)...), "`gzip -dc "},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(writeTemp(t, "x.pcap", tc.data), nil)
			if !errors.Is(err, ErrBadMagic) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %v, want ErrBadMagic saying %q", err, tc.hint)
			}
		})
	}
}

func TestDamagedPcap(t *testing.T) {
	eth := sampleFrames(LinkEthernet)
	whole := writePcap(binary.LittleEndian, false, LinkEthernet, eth)
	recLen := 16 + len(eth[0].data)
	t.Run("truncated in a record", func(t *testing.T) {
		cut := len(whole) - recLen/2
		tr, got := readAll(t, writeTemp(t, "t.pcap", whole[:cut]))
		sameFrames(t, got, eth[:4])
		if len(tr.Damages) != 1 || !errors.Is(tr.Damages[0], ErrTruncated) || tr.Damages[0].Offset != int64(24+4*recLen) {
			t.Errorf("damages %v", tr.Damages)
		}
	})
	t.Run("garbage between records", func(t *testing.T) {
		at := 24 + 2*recLen
		garbage := bytes.Repeat([]byte{0xFF}, 37)
		damaged := append(append(append([]byte{}, whole[:at]...), garbage...), whole[at:]...)
		tr, got := readAll(t, writeTemp(t, "g.pcap", damaged))
		sameFrames(t, got, eth)
		if len(tr.Damages) != 1 || tr.Damages[0].Offset != int64(at) || tr.Damages[0].Length != 37 {
			t.Errorf("damages %v", tr.Damages)
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		z := gzipped(whole)
		tr, got := readAll(t, writeTemp(t, "z.pcap.gz", z[:len(z)-20]))
		if len(got) == 0 || len(got) > len(eth) || len(tr.Damages) != 1 {
			t.Errorf("read %d frames, damages %v", len(got), tr.Damages)
		}
	})
}

func TestMergeOrdersByTime(t *testing.T) {
	a := sampleFrames(LinkEthernet)
	b := sampleFrames(LinkEthernet)
	for i := range b {
		b[i].time += 500_000_000
	}
	pa := writeTemp(t, "a.pcap", writePcap(binary.LittleEndian, false, LinkEthernet, a))
	pb := writeTemp(t, "b.pcap", writePcap(binary.BigEndian, true, LinkEthernet, b))
	m := NewMerge(openAll(t, pb, pa))
	var last int64
	var inputs []int
	for {
		f, in, err := m.Next()
		if err == io.EOF {
			break
		}
		if f.Time < last {
			t.Fatalf("time went back: %d after %d", f.Time, last)
		}
		last = f.Time
		inputs = append(inputs, in)
	}
	want := []int{1, 0, 1, 0, 1, 0, 1, 0, 1, 0}
	if len(inputs) != len(want) {
		t.Fatalf("inputs %v", inputs)
	}
	for i := range want {
		if inputs[i] != want[i] {
			t.Fatalf("inputs %v, want %v", inputs, want)
		}
	}
}

func TestFilter(t *testing.T) {
	if _, err := NewFilter("tcp port"); err == nil {
		t.Fatal("an invalid expression compiled")
	}
	f, err := NewFilter("tcp dst port 80 and src host 10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	yes := Frame{LinkType: LinkEthernet, Data: ether(etherIPv4, nil, ipv4TCP("10.0.0.1", "10.0.0.2", 1, 80, SYN, 40))}
	no := Frame{LinkType: LinkEthernet, Data: ether(etherIPv4, nil, ipv4TCP("10.0.0.3", "10.0.0.2", 1, 80, SYN, 40))}
	raw := Frame{LinkType: LinkRaw, Data: ipv4TCP("10.0.0.1", "10.0.0.2", 1, 80, SYN, 40)}
	yes.WireLen, no.WireLen, raw.WireLen = len(yes.Data), len(no.Data), len(raw.Data)
	if !f.Match(&yes) || f.Match(&no) || !f.Match(&raw) {
		t.Errorf("match: %v %v %v", f.Match(&yes), f.Match(&no), f.Match(&raw))
	}
}

// TestMergeParksInputs merges rotated traces, some compressed, some
// damaged, given newest first: the frames come in time order (ties in input
// order), at most two inputs are open at a time, each ends closed, every
// byte is counted once, and damage met before a parked input's first frame
// is listed once. An input closed, or parked, keeps no buffer, nor a place
// in the heap.
func TestMergeParksInputs(t *testing.T) {
	const files = 12
	start := int64(1_600_000_000_000_000_000)
	type frameOf struct {
		f     testFrame
		input int
	}
	var want []frameOf
	paths := make([]string, files)
	var size int64
	for k := range files {
		n := 5
		if k%3 == 0 {
			n = 3000 // decompressed past the read-ahead's first block
		}
		frames := make([]testFrame, n)
		for i := range frames {
			data := ether(etherIPv4, nil, ipv4TCP("10.0.0.1", "10.0.0.2", uint16(1000+i), 80, SYN, 40))
			// File k's last frame has file k+1's first time: a tie.
			frames[i] = testFrame{time: start + int64(i)*1000, link: LinkEthernet, data: data}
		}
		start = frames[n-1].time
		input := files - 1 - k // given newest first
		var b []byte
		switch k % 4 {
		case 0:
			b = gzipped(writePcap(binary.LittleEndian, false, LinkEthernet, frames))
		case 1:
			b = writePcap(binary.BigEndian, true, LinkEthernet, frames)
			if k == 5 { // garbage before the first record
				b = slices.Concat(b[:24], bytes.Repeat([]byte{0xFF}, 29), b[24:])
			}
		case 2:
			b = zstded(writePcapng(binary.LittleEndian, frames))
		case 3:
			b = writePcap(binary.LittleEndian, false, LinkEthernet, frames)
			if k == 7 { // and after it
				at := 24 + 16 + len(frames[0].data)
				b = slices.Concat(b[:at], bytes.Repeat([]byte{0xFF}, 31), b[at:])
			}
		}
		paths[input] = writeTemp(t, fmt.Sprintf("r%02d.pcap", k), b)
		size += int64(len(b))
		for _, f := range frames {
			want = append(want, frameOf{f, input})
		}
	}
	slices.SortStableFunc(want, func(a, b frameOf) int {
		return cmp.Or(cmp.Compare(a.f.time, b.f.time), cmp.Compare(a.input, b.input))
	})

	var counter Counter
	traces := make([]*Trace, files)
	for i, p := range paths {
		var err error
		if traces[i], err = Open(p, &counter); err != nil {
			t.Fatal(err)
		}
	}
	m := NewMerge(traces)
	var got []testFrame
	var inputs []int
	mostOpen := 0
	for {
		f, in, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testFrame{f.Time, f.LinkType, append([]byte(nil), f.Data...)})
		inputs = append(inputs, in)
		open := 0
		for i, tr := range traces {
			if tr.closers != nil {
				open++
			} else if i != in && m.frames[i].Data != nil {
				t.Fatalf("closed input %d still holds a frame's buffer", i)
			}
		}
		mostOpen = max(mostOpen, open)
		if m.order.Len() > open {
			t.Fatalf("%d inputs in the heap, %d open: parked ones wait apart", m.order.Len(), open)
		}
	}
	wantFrames := make([]testFrame, len(want))
	for i, w := range want {
		wantFrames[i] = w.f
		if inputs[i] != w.input {
			t.Fatalf("frame %d from input %d, want %d", i, inputs[i], w.input)
		}
	}
	sameFrames(t, got, wantFrames)
	if mostOpen > 2 {
		t.Errorf("%d inputs open at once, want at most 2", mostOpen)
	}
	for i, tr := range traces {
		if tr.closers != nil {
			t.Errorf("input %d is still open after its end", i)
		}
		if wantDamage := i == files-1-5 || i == files-1-7; (len(tr.Damages) == 1) != wantDamage || len(tr.Damages) > 1 {
			t.Errorf("input %d: damages %v", i, tr.Damages)
		}
	}
	if counter.Load() != size {
		t.Errorf("counted %d bytes, the files have %d", counter.Load(), size)
	}
}

// TestMergeInputGone: an input deleted, or replaced by something else,
// before its turn is damage at its start, and the others are read; one
// that cannot be opened for lack of file descriptors stops the merge, and
// the error names it.
func TestMergeInputGone(t *testing.T) {
	early, late := sampleFrames(LinkEthernet), sampleFrames(LinkEthernet)
	for i := range late {
		late[i].time += 1e12
	}
	open := func(t *testing.T) []*Trace {
		pe := writeTemp(t, "early.pcap", writePcap(binary.LittleEndian, false, LinkEthernet, early))
		pl := writeTemp(t, "late.pcap", writePcap(binary.LittleEndian, false, LinkEthernet, late))
		return openAll(t, pe, pl)
	}
	readAll := func(m *Merge) (read, failed int, err error) {
		for {
			_, in, err := m.Next()
			if err != nil {
				return read, in, err
			}
			read++
		}
	}
	for name, change := range map[string]func(path string) error{
		"deleted":  os.Remove,
		"replaced": func(path string) error { return os.WriteFile(path, []byte("not a trace any more"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			traces := open(t)
			m := NewMerge(traces)
			if err := change(traces[1].Path); err != nil {
				t.Fatal(err)
			}
			read, _, err := readAll(m)
			d := traces[1].Damages
			if err != io.EOF || read != len(early) || len(d) != 1 || d[0].Offset != 0 || len(traces[0].Damages) != 0 {
				t.Fatalf("read %d frames, %v; damages %v", read, err, d)
			}
		})
	}
	t.Run("too many open files", func(t *testing.T) {
		both := sampleFrames(LinkEthernet) // overlapping: open at once
		for i := range both {
			both[i].time += 500_000_000
		}
		traces := open(t)
		traces[1].Close()
		p := writeTemp(t, "overlapping.pcap", writePcap(binary.LittleEndian, false, LinkEthernet, both))
		var err error
		if traces[1], err = Open(p, nil); err != nil {
			t.Fatal(err)
		}
		m := NewMerge(traces)
		// Room for one more file: the lowest descriptor free now.
		probe, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		free := probe.Fd()
		probe.Close()
		var saved syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
			t.Fatal(err)
		}
		lower := saved
		lower.Cur = uint64(free) + 1
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lower); err != nil {
			t.Skipf("cannot lower the file limit: %v", err)
		}
		read, failed, err := readAll(m)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
		if read != 1 || failed != 1 || !tooManyOpen(err) || !strings.Contains(err.Error(), "ulimit -n") {
			t.Fatalf("read %d frames, then input %d: %v", read, failed, err)
		}
	})
}

// TestMergeLeanBuffers merges twelve traces that overlap in time, some
// compressed, one with a frame near the lean window's size: all are open
// at once, the four opened after the first eight read through lean
// buffers, and the frames come as from full ones.
func TestMergeLeanBuffers(t *testing.T) {
	const inputs = 12
	type frameOf struct {
		f     testFrame
		input int
	}
	var want []frameOf
	traces := make([]*Trace, inputs)
	for in := range inputs {
		var frames []testFrame
		for i := range 200 {
			data := ether(etherIPv4, nil, ipv4TCP("10.0.0.1", "10.0.0.2", uint16(1000+i), 80, SYN, 40))
			if in == inputs-1 && i == 100 {
				data = append(data, make([]byte, 60_000)...)
			}
			frames = append(frames, testFrame{time: 1_600_000_000_000_000_000 + int64(i*inputs+in)*1000, link: LinkEthernet, data: data})
			want = append(want, frameOf{frames[i], in})
		}
		b := writePcap(binary.LittleEndian, false, LinkEthernet, frames)
		if in%3 == 0 {
			b = gzipped(b)
		}
		var err error
		if traces[in], err = Open(writeTemp(t, fmt.Sprintf("i%02d.pcap", in), b), nil); err != nil {
			t.Fatal(err)
		}
		traces[in].Park()
	}
	slices.SortStableFunc(want, func(a, b frameOf) int { return cmp.Compare(a.f.time, b.f.time) })
	m := NewMerge(traces)
	var got []testFrame
	for i := 0; ; i++ {
		f, in, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if in != want[i].input {
			t.Fatalf("frame %d from input %d, want %d", i, in, want[i].input)
		}
		got = append(got, testFrame{f.Time, f.LinkType, append([]byte(nil), f.Data...)})
	}
	wantFrames := make([]testFrame, len(want))
	for i, w := range want {
		wantFrames[i] = w.f
	}
	sameFrames(t, got, wantFrames)
	for in, tr := range traces {
		if tr.lean != (in >= fullyBuffered) {
			t.Errorf("input %d: lean %v", in, tr.lean)
		}
	}
	if m.open != 0 {
		t.Errorf("%d inputs counted open after the end", m.open)
	}
}

// TestOpenParked: a file is checked through lean buffers and parked, and
// a merge reads it whole; a pipe, which cannot be read again, stays open
// with full buffers.
func TestOpenParked(t *testing.T) {
	eth := sampleFrames(LinkEthernet)
	data := gzipped(writePcap(binary.LittleEndian, false, LinkEthernet, eth))
	var counter Counter
	tr, err := OpenParked(writeTemp(t, "a.pcap.gz", data), &counter)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.parked || counter.n.Load() != 0 {
		t.Fatalf("parked %v, %d bytes counted", tr.parked, counter.n.Load())
	}
	sameFrames(t, mergeAll(t, NewMerge([]*Trace{tr})), eth)

	// OpenParked read the first frame's time: the merge opens nothing
	// before an input's turn, so an input gone by then is found gone then.
	a, err := OpenParked(writeTemp(t, "a.pcap.gz", data), nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := writeTemp(t, "gone.pcap.gz", data)
	b, err := OpenParked(gone, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	m := NewMerge([]*Trace{a, b})
	if len(b.Damages) != 0 {
		t.Fatalf("the merge opened an input before its turn: %v", b.Damages)
	}
	sameFrames(t, mergeAll(t, m), eth)
	if len(b.Damages) != 1 || b.Damages[0].Offset != 0 {
		t.Fatalf("an input gone before its turn: damages %+v", b.Damages)
	}

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.Write(data)
			f.Close()
		}
	}()
	tr, err = OpenParked(fifo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.parked || tr.lean {
		t.Fatalf("a pipe: parked %v, lean %v", tr.parked, tr.lean)
	}
	sameFrames(t, mergeAll(t, NewMerge([]*Trace{tr})), eth)
}

// mergeAll reads every frame m gives.
func mergeAll(t *testing.T, m *Merge) []testFrame {
	t.Helper()
	var got []testFrame
	for {
		f, _, err := m.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, testFrame{f.Time, f.LinkType, append([]byte(nil), f.Data...)})
	}
}
