package reader

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcap"
)

// Sentinel errors that OpenLive wraps, so that callers can name the fix.
var (
	ErrNoDevice   = errors.New("no such network interface")
	ErrPermission = errors.New("no permission to capture")
	ErrFilter     = errors.New("invalid capture filter")
)

// LiveOptions configure a live capture. The zero value works: see
// withDefaults.
type LiveOptions struct {
	// BPF is a tcpdump filter expression. libpcap compiles it and the kernel
	// runs it, so frames it rejects never cross into user space.
	BPF string
	// Snaplen is how many bytes of each frame are kept.
	Snaplen int
	// NoPromisc leaves the interface out of promiscuous mode.
	NoPromisc bool
	// BufferSize is the kernel's capture buffer, in bytes. It absorbs bursts
	// and the moments when flowstat reads slowly.
	BufferSize int
	// Timeout is how long libpcap may hold frames before handing them over;
	// it bounds how late a frame reaches the consumer when traffic is slow.
	Timeout time.Duration
	// Queue is how many batches may wait for the consumer. When it is full
	// the capture drops the batch it holds and counts it, rather than wait.
	Queue int
}

// Defaults: a snaplen of 262144 keeps whole frames (tcpdump's default); a
// 64 MiB buffer holds about 0.4 s of a saturated 1 Gb/s link; 100 ms keeps
// windows and stops prompt; 256 batches of up to 1024 frames let the
// consumer stall for a second at 250 000 frames/s without losing any.
const (
	DefaultSnaplen    = 262144
	DefaultBufferSize = 64 << 20
	DefaultTimeout    = 100 * time.Millisecond
	DefaultQueue      = 256
)

func (o LiveOptions) withDefaults() LiveOptions {
	if o.Snaplen <= 0 {
		o.Snaplen = DefaultSnaplen
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	return o
}

// Batch is a run of captured frames. The frames' Data point into the
// batch's own buffer: they are valid until the batch goes back with
// Live.Release.
type Batch struct {
	Frames []Frame
	buf    []byte
}

// Batch limits: about a thousand frames (STYLE §4), and a buffer that holds
// them when they are small; large frames end a batch sooner.
const (
	batchFrames = 1024
	batchBytes  = 512 << 10
	// batchAge is the longest span of packet time one batch holds, so
	// that a trickle of frames still reaches the consumer promptly.
	batchAge = int64(50 * time.Millisecond)
	// statsEvery is how often, in packet time, the capture samples the
	// kernel's counters while frames keep coming.
	statsEvery = int64(100 * time.Millisecond)
)

// LiveStats are a capture's counters since it opened.
type LiveStats struct {
	// Received counts the frames the kernel's filter passed, including
	// those it then dropped (libpcap's ps_recv).
	Received uint64
	// KernelDropped counts frames the kernel dropped because its buffer was
	// full: flowstat read too slowly (ps_drop).
	KernelDropped uint64
	// InterfaceDropped counts frames the interface or its driver dropped
	// (ps_ifdrop), for every capture on the interface.
	InterfaceDropped uint64
	// Captured counts the frames read from the kernel.
	Captured uint64
	// Dropped counts the captured frames that flowstat dropped because Queue
	// batches were already waiting for the consumer.
	Dropped uint64
	// Backlog is the number of frames waiting for the consumer now.
	Backlog int64
}

// packetSource is what the capture loop reads: a *pcap.Handle, or a test's
// fake.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	Stats() (*pcap.Stats, error)
}

var _ packetSource = (*pcap.Handle)(nil)

// Live captures from a network interface. Its capture goroutine copies
// frames into batches and hands them over without ever waiting for the
// consumer: when the consumer is behind by Queue batches, the batch is
// dropped and counted in LiveStats.Dropped.
type Live struct {
	// Interface is the interface captured on.
	Interface string
	// LinkType is the LINKTYPE_ of every frame.
	LinkType int

	opts   LiveOptions
	src    packetSource
	handle *pcap.Handle // nil for a fake source
	out    chan *Batch
	free   chan *Batch
	done   chan struct{}
	stop   atomic.Bool
	err    error // why the capture ended early; set before out closes

	captured, dropped atomic.Uint64
	queued            atomic.Int64

	// Kernel counters as last sampled, summed over the wrapping 32-bit
	// values libpcap reports.
	received, kernelDropped, ifDropped atomic.Uint64
	last                               pcap.Stats
	closeOnce                          sync.Once
}

// OpenLive starts capturing on the interface iface. The capture runs until
// Stop or Close.
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	opts = opts.withDefaults()
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, liveError(iface, err)
	}
	defer in.CleanUp()
	for _, err := range []error{
		in.SetSnapLen(opts.Snaplen),
		in.SetPromisc(!opts.NoPromisc),
		in.SetTimeout(opts.Timeout),
		in.SetBufferSize(opts.BufferSize),
	} {
		if err != nil {
			return nil, liveError(iface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, liveError(iface, err)
	}
	if opts.BPF != "" {
		if err := h.SetBPFFilter(opts.BPF); err != nil {
			h.Close()
			return nil, fmt.Errorf("cannot set filter %q on %s: %w: %v", opts.BPF, iface, ErrFilter, err)
		}
	}
	linkType := int(h.LinkType())
	if linkType == LinkRawAlt12 {
		linkType = LinkRaw // DLT_RAW on Linux; files call it LINKTYPE_RAW
	}
	l := newLive(iface, linkType, h, opts)
	l.handle = h
	go l.run()
	return l, nil
}

// liveError wraps libpcap's complaint in the sentinel that names its cause.
// libpcap reports these as status codes whose text varies between
// versions, hence the matching on words.
func liveError(iface string, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "no such device"):
		return fmt.Errorf("cannot capture on %s: %w (%v)", iface, ErrNoDevice, err)
	case strings.Contains(msg, "permission") || strings.Contains(msg, "not permitted"):
		return fmt.Errorf("cannot capture on %s: %w (%v)", iface, ErrPermission, err)
	}
	return fmt.Errorf("cannot capture on %s: %w", iface, err)
}

func newLive(iface string, linkType int, src packetSource, opts LiveOptions) *Live {
	opts = opts.withDefaults()
	return &Live{
		Interface: iface,
		LinkType:  linkType,
		opts:      opts,
		src:       src,
		out:       make(chan *Batch, opts.Queue),
		free:      make(chan *Batch, opts.Queue+2),
		done:      make(chan struct{}),
	}
}

// Batches returns the channel of captured batches. It closes once the
// capture has stopped and handed over every frame; Err then says whether
// it stopped on an error. A consumer must give every batch back with
// Release, and must keep receiving until the channel closes.
func (l *Live) Batches() <-chan *Batch { return l.out }

// Release gives a batch back for reuse; its frames are invalid afterwards.
func (l *Live) Release(b *Batch) {
	l.queued.Add(-int64(len(b.Frames)))
	b.Frames, b.buf = b.Frames[:0], b.buf[:0]
	select {
	case l.free <- b:
	default:
	}
}

// Stop ends the capture: within Timeout the last frames are handed over
// and the channel of batches closes.
func (l *Live) Stop() { l.stop.Store(true) }

// Err returns why the capture ended, if not by Stop. It is valid once the
// channel of batches has closed.
func (l *Live) Err() error {
	<-l.done
	return l.err
}

// Close stops the capture, discards what was not consumed and releases
// the interface.
func (l *Live) Close() {
	l.closeOnce.Do(func() {
		l.Stop()
		for b := range l.out {
			l.Release(b)
		}
		<-l.done
		if l.handle != nil {
			l.handle.Close()
		}
	})
}

// Stats returns the counters. The kernel's are sampled by the capture
// goroutine every 100 ms of packet time, whenever libpcap's timeout passes
// without a frame, and when the capture stops; so they may lag by that.
func (l *Live) Stats() LiveStats {
	return LiveStats{
		Received:         l.received.Load(),
		KernelDropped:    l.kernelDropped.Load(),
		InterfaceDropped: l.ifDropped.Load(),
		Captured:         l.captured.Load(),
		Dropped:          l.dropped.Load(),
		Backlog:          l.queued.Load(),
	}
}

// run is the capture goroutine. It never waits for the consumer, except
// to hand over the last batch once stopped.
func (l *Live) run() {
	defer close(l.done)
	defer close(l.out)
	b := l.newBatch()
	var sampled int64 // packet time of the last sample
	for !l.stop.Load() {
		data, ci, err := l.src.ZeroCopyReadPacketData()
		if err == pcap.NextErrorTimeoutExpired {
			if len(b.Frames) > 0 {
				b = l.flush(b)
			}
			l.sample()
			continue
		}
		if err != nil {
			l.err = fmt.Errorf("cannot capture on %s: %w", l.Interface, err)
			break
		}
		t := ci.Timestamp.UnixNano()
		if n := len(b.Frames); n > 0 && (n == batchFrames || len(b.buf)+len(data) > cap(b.buf) || t-b.Frames[0].Time >= batchAge) {
			b = l.flush(b)
		}
		if t-sampled >= statsEvery {
			l.sample()
			sampled = t
		}
		// Copy before the next read reuses data (ZeroCopyReadPacketData).
		start := len(b.buf)
		b.buf = append(b.buf, data...)
		b.Frames = append(b.Frames, Frame{Time: t, LinkType: l.LinkType, WireLen: ci.Length, Data: b.buf[start:len(b.buf):len(b.buf)]})
	}
	if len(b.Frames) > 0 {
		n := len(b.Frames)
		l.captured.Add(uint64(n))
		l.queued.Add(int64(n))
		l.out <- b // the consumer keeps receiving until out closes
	}
	l.sample()
}

// flush hands b over, or drops its frames when the queue is full, and
// returns the batch to fill next.
func (l *Live) flush(b *Batch) *Batch {
	n := len(b.Frames)
	l.captured.Add(uint64(n))
	l.queued.Add(int64(n)) // before the send, so Release never sees it negative
	select {
	case l.out <- b:
		return l.newBatch()
	default:
		l.queued.Add(-int64(n))
		l.dropped.Add(uint64(n))
		b.Frames, b.buf = b.Frames[:0], b.buf[:0]
		return b
	}
}

func (l *Live) newBatch() *Batch {
	select {
	case b := <-l.free:
		return b
	default:
		// The buffer is never outgrown, so frames' Data stay valid: a frame
		// that does not fit starts a new batch, and the first always fits.
		return &Batch{Frames: make([]Frame, 0, batchFrames), buf: make([]byte, 0, max(batchBytes, l.opts.Snaplen))}
	}
}

// sample adds what the kernel's counters gained since the last sample.
// libpcap's counters are 32-bit and wrap, so differences are taken in 32
// bits. pcap_stats is called only from the capture goroutine, which is the
// only one using the handle.
func (l *Live) sample() {
	st, err := l.src.Stats()
	if err != nil {
		return
	}
	l.received.Add(uint64(uint32(st.PacketsReceived) - uint32(l.last.PacketsReceived)))
	l.kernelDropped.Add(uint64(uint32(st.PacketsDropped) - uint32(l.last.PacketsDropped)))
	l.ifDropped.Add(uint64(uint32(st.PacketsIfDropped) - uint32(l.last.PacketsIfDropped)))
	l.last = *st
}
