package reader

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcap"
)

// fakePackets plays libpcap: it returns frames numbered 1 to n in one
// reused buffer, as ZeroCopyReadPacketData does, then only timeouts.
type fakePackets struct {
	n, max    int
	buf       []byte
	t0        time.Time
	exhausted chan struct{}
	timeouts  int
	stats     []pcap.Stats // returned in turn by Stats, the last one repeated
}

func newFakePackets(n int) *fakePackets {
	return &fakePackets{max: n, buf: make([]byte, 60), t0: time.Unix(1_700_000_000, 0), exhausted: make(chan struct{})}
}

func (f *fakePackets) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if f.n == f.max {
		if f.timeouts++; f.timeouts == 2 {
			close(f.exhausted) // the capture has handled the first timeout: all is flushed
		}
		time.Sleep(time.Millisecond)
		return nil, gopacket.CaptureInfo{}, pcap.NextErrorTimeoutExpired
	}
	f.n++
	binary.BigEndian.PutUint32(f.buf, uint32(f.n))
	ts := f.t0.Add(time.Duration(f.n) * time.Microsecond)
	return f.buf, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f.buf), Length: len(f.buf) + 4}, nil
}

func (f *fakePackets) Stats() (*pcap.Stats, error) {
	if len(f.stats) == 0 {
		return &pcap.Stats{}, nil
	}
	st := f.stats[0]
	if len(f.stats) > 1 {
		f.stats = f.stats[1:]
	}
	return &st, nil
}

func startFake(src *fakePackets, opts LiveOptions) *Live {
	l := newLive("fake", LinkEthernet, src, opts)
	go l.run()
	return l
}

// TestLiveCopiesFrames checks that each frame keeps its own bytes though
// the source reuses its buffer, and that every frame arrives in order.
func TestLiveCopiesFrames(t *testing.T) {
	const n = 5000
	src := newFakePackets(n)
	l := startFake(src, LiveOptions{})
	next := uint32(1)
	for b := range l.Batches() {
		for _, fr := range b.Frames {
			if got := binary.BigEndian.Uint32(fr.Data); got != next {
				t.Fatalf("frame %d holds %d", next, got)
			}
			if want := src.t0.Add(time.Duration(next) * time.Microsecond).UnixNano(); fr.Time != want || fr.WireLen != 64 || fr.LinkType != LinkEthernet {
				t.Fatalf("frame %d: %+v", next, fr)
			}
			next++
		}
		if len(b.Frames) > batchFrames {
			t.Fatalf("batch of %d frames", len(b.Frames))
		}
		l.Release(b)
		if next == n+1 {
			l.Stop()
		}
	}
	if st := l.Stats(); st.Captured != n || st.Dropped != 0 || st.Backlog != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := l.Err(); err != nil {
		t.Error(err)
	}
}

// TestLiveNeverWaits checks that a consumer that does not keep up costs
// dropped frames, counted, and never stalls the capture.
func TestLiveNeverWaits(t *testing.T) {
	const n = 20 * batchFrames
	src := newFakePackets(n)
	l := startFake(src, LiveOptions{Queue: 2})
	select {
	case <-src.exhausted: // the capture read everything though nobody consumed
	case <-time.After(10 * time.Second):
		t.Fatal("the capture waited for the consumer")
	}
	if st := l.Stats(); st.Backlog != 2*batchFrames || st.Dropped != n-2*batchFrames {
		t.Errorf("before consuming: %+v", st)
	}
	l.Stop()
	got := 0
	for b := range l.Batches() {
		got += len(b.Frames)
		l.Release(b)
	}
	st := l.Stats()
	if st.Captured != n || uint64(got)+st.Dropped != n || st.Backlog != 0 {
		t.Errorf("consumed %d, stats %+v", got, st)
	}
}

// TestLiveKernelCounters checks that the kernel's counters are summed
// across libpcap's 32-bit wrap.
func TestLiveKernelCounters(t *testing.T) {
	src := newFakePackets(0)
	src.stats = []pcap.Stats{
		{PacketsReceived: 1<<32 - 10, PacketsDropped: 1<<32 - 1, PacketsIfDropped: 3},
		{PacketsReceived: 5, PacketsDropped: 1, PacketsIfDropped: 4},
	}
	l := startFake(src, LiveOptions{})
	<-src.exhausted
	time.Sleep(20 * time.Millisecond) // a few timeouts, each sampling
	l.Close()
	if st := l.Stats(); st.Received != 1<<32+5 || st.KernelDropped != 1<<32+1 || st.InterfaceDropped != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestLiveAllocs checks that capturing allocates nothing per frame once
// batches are recycled.
func TestLiveAllocs(t *testing.T) {
	const n = 200 * batchFrames
	src := newFakePackets(n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := startFake(src, LiveOptions{})
	got := 0
	for b := range l.Batches() {
		got += len(b.Frames)
		l.Release(b)
		if got == n {
			l.Stop()
		}
	}
	runtime.ReadMemStats(&after)
	if perFrame := float64(after.Mallocs-before.Mallocs) / n; perFrame > 0.01 {
		t.Errorf("%.3f allocations per frame", perFrame)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	_, err := OpenLive("flowstat-none0", LiveOptions{})
	if os.Geteuid() == 0 && !errors.Is(err, ErrNoDevice) {
		t.Errorf("no such interface: %v", err)
	}
	if !errors.Is(err, ErrNoDevice) && !errors.Is(err, ErrPermission) {
		t.Errorf("no such interface, without root: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	if _, err := OpenLive("lo", LiveOptions{BPF: "tcp port"}); !errors.Is(err, ErrFilter) {
		t.Errorf("bad filter: %v", err)
	}
}

// TestOpenLiveLoopback captures datagrams on lo.
func TestOpenLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("capturing on lo needs root (or CAP_NET_RAW and CAP_NET_ADMIN); CI runs this test as root")
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	l, err := OpenLive("lo", LiveOptions{BPF: "udp dst port " + strconv.Itoa(port)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("udp4", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 5
	for range n {
		c.Write([]byte("flowstat"))
	}
	var p Packet
	got := 0
	timeout := time.After(5 * time.Second)
	for got < n {
		select {
		case b := <-l.Batches():
			for _, fr := range b.Frames {
				if out := Decode(fr.LinkType, fr.Data, &p); out != OK || int(p.DstPort) != port || p.Payload != 8 {
					t.Errorf("frame decodes as %v: %+v", out, p)
				}
				got++
			}
			l.Release(b)
		case <-timeout:
			t.Fatalf("captured %d of %d datagrams", got, n)
		}
	}
	l.Stop()
	for b := range l.Batches() {
		got += len(b.Frames)
		l.Release(b)
	}
	st := l.Stats()
	if got != n || st.Captured != n || st.Received < n || st.KernelDropped+st.Dropped != 0 {
		t.Errorf("captured %d, stats %+v", got, st)
	}
}
