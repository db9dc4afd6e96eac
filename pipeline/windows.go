package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// windowJob is a closed window on its way to disk.
type windowJob struct {
	start, end time.Time // nominal bounds
	from, to   time.Time // what was captured
	stores     []recordStore
	traffic    []*report.TrafficCounter // per shard, like stores
	counts     tables.PacketCounts
	input      inputStats
	capture    CaptureSummary
	tmp        string // temporary directory already made, or ""
	pcapErr    error
}

// CaptureSummary is summary.json's "capture" object: how the window was
// captured and what was lost.
//
// TODO(report): this belongs in tables.Summary and report.md's summary;
// until then live adds it to summary.json itself and inserts a Capture
// section into report.md, which 'flowstat report' does not reproduce.
type CaptureSummary struct {
	Interface   string    `json:"interface"`
	LinkType    int       `json:"link_type"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	From        time.Time `json:"captured_from"`
	To          time.Time `json:"captured_to"`
	Partial     bool      `json:"partial"` // the capture started or stopped inside the window
	RotateS     float64   `json:"rotate_s"`
	Snaplen     int       `json:"snaplen"`
	BufferBytes int       `json:"buffer_bytes"`
	Promisc     bool      `json:"promisc"`
	// Received counts what the kernel's filter passed, dropped or not.
	Received         uint64 `json:"received"`
	KernelDropped    uint64 `json:"kernel_dropped"`
	InterfaceDropped uint64 `json:"interface_dropped"`
	// Captured counts what flowstat read from the kernel; FlowstatDropped
	// what it then dropped because its queue was full.
	Captured        uint64 `json:"captured"`
	FlowstatDropped uint64 `json:"flowstat_dropped"`
	// BacklogMax is the most frames waiting for processing at once.
	BacklogMax int64 `json:"backlog_max"`
	// WindowsPending counts the earlier windows still being written when
	// this one closed.
	WindowsPending int `json:"windows_pending"`
}

func (c *CaptureSummary) dropped() uint64 {
	return c.KernelDropped + c.InterfaceDropped + c.FlowstatDropped
}

// LiveSummary is summary.json of a live window: analyze's, plus "capture".
type LiveSummary struct {
	tables.Summary
	Capture CaptureSummary `json:"capture"`
}

// windowWriter writes closed windows in its own goroutine, in order, so
// that the capture never waits for the disk.
type windowWriter struct {
	cfg      *CaptureConfig
	linkType int
	jobs     chan *windowJob
	done     chan struct{}
	failed   int
	firstErr error

	// mu is held while a window is renamed into place and latest repointed,
	// and by abort, which never releases it: after abort no window appears.
	mu      sync.Mutex
	aborted bool
	temps   map[string]bool // temporary directories in use
}

// pendingWindows is how many closed windows may wait for the writer before
// closing another makes the capture loop wait (the capture goroutine still
// does not: the batch queue and the kernel's buffer take the frames).
const pendingWindows = 4

func newWindowWriter(cfg *CaptureConfig, linkType int) *windowWriter {
	w := &windowWriter{
		cfg: cfg, linkType: linkType,
		jobs:  make(chan *windowJob, pendingWindows),
		done:  make(chan struct{}),
		temps: map[string]bool{},
	}
	go w.run()
	return w
}

func (w *windowWriter) submit(j *windowJob) {
	j.capture.WindowsPending = len(w.jobs)
	w.jobs <- j
}

// close waits for every window to be written and returns the first error.
func (w *windowWriter) close() error {
	close(w.jobs)
	<-w.done
	if w.failed > 0 {
		return fmt.Errorf("%d window(s) could not be written, the first: %w", w.failed, w.firstErr)
	}
	return nil
}

func (w *windowWriter) run() {
	defer close(w.done)
	for j := range w.jobs {
		name, res, err := w.write(j)
		if err != nil {
			w.failed++
			if w.firstErr == nil {
				w.firstErr = err
			}
			if w.cfg.Failed != nil {
				w.cfg.Failed(fmt.Errorf("cannot write window %s: %w", windowName(j.start), err))
			}
			continue
		}
		if w.cfg.Written != nil && name != "" {
			c := &j.capture
			w.cfg.Written(fmt.Sprintf("%s: %d packets, %d flows; dropped %d (kernel %d, interface %d, flowstat %d)",
				filepath.Join(w.cfg.Out, name), res.Summary.Packets.Read, len(res.records),
				c.dropped(), c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped))
		}
	}
}

// WindowLayout names window directories: the window's start, UTC.
const WindowLayout = "20060102T150405Z"

// windowDir matches window directories, with the suffix that a window
// written twice (flowstat restarted within it) gets.
var windowDir = regexp.MustCompile(`^\d{8}T\d{6}Z(-\d+)?$`)

// IsWindowDir reports whether name is the name of a window's directory.
func IsWindowDir(name string) bool { return windowDir.MatchString(name) }

func windowName(start time.Time) string { return start.UTC().Format(WindowLayout) }

// LatestLink is the symbolic link in the output directory to the newest
// window.
const LatestLink = "latest"

// tempPrefix starts the temporary names in the output directory, removed
// at start: what a killed run left.
const tempPrefix = ".flowstat-tmp-"

// removeStale removes the temporary directories and links of a run that
// was killed.
func (w *windowWriter) removeStale() {
	ents, err := os.ReadDir(w.cfg.Out)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			os.RemoveAll(filepath.Join(w.cfg.Out, e.Name()))
		}
	}
}

// tempDir makes a temporary directory for the window starting at start.
func (w *windowWriter) tempDir(start time.Time) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return "", errors.New("aborted")
	}
	dir, err := os.MkdirTemp(w.cfg.Out, tempPrefix+windowName(start)+"-*")
	if err != nil {
		return "", fmt.Errorf("cannot create a window directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // MkdirTemp makes it private
		os.Remove(dir)
		return "", fmt.Errorf("cannot create a window directory: %w", err)
	}
	w.temps[dir] = true
	return dir, nil
}

// write writes a window into a temporary directory, then publishes it. It
// returns the window's directory name.
func (w *windowWriter) write(j *windowJob) (string, *Result, error) {
	res := &Result{records: sortedRecords(j.stores), traffic: j.traffic[0], Summary: w.summary(j), inputs: []string{w.cfg.Interface}}
	for _, tc := range j.traffic[1:] {
		res.traffic.Merge(tc)
	}
	res.Summary.Flows.CountFlows(res.records)
	var err error
	c := w.captureOf(j)
	tmp := j.tmp
	if tmp == "" {
		if tmp, err = w.tempDir(j.start); err != nil {
			return "", nil, err
		}
	}
	cfg := w.cfg.Config
	cfg.Out = tmp
	err = WriteOutputs(&cfg, res)
	if err == nil {
		err = tables.WriteJSON(filepath.Join(tmp, tables.SummaryFile), &LiveSummary{res.Summary, c})
	}
	if err == nil && !cfg.NoReport {
		err = insertCaptureSection(filepath.Join(tmp, tables.MarkdownFile), &c)
	}
	if err != nil {
		w.drop(tmp)
		return "", nil, err
	}
	name, err := w.publish(tmp, windowName(j.start))
	return name, res, err
}

// summary is summary.json's analyze part for a window.
func (w *windowWriter) summary(j *windowJob) tables.Summary {
	cfg := w.cfg
	s := tables.Summary{Tool: "flowstat", Version: cfg.Version, Packets: j.counts}
	s.Options = summaryOptions(&cfg.Config)
	in := tables.Input{Path: cfg.Interface, Format: "live capture", LinkTypes: j.input.linkTypes,
		Packets: j.input.packets, Bytes: j.input.bytes}
	if in.LinkTypes == nil {
		in.LinkTypes = []int{}
	}
	if j.input.packets > 0 {
		in.FirstSeen, in.LastSeen = utcTime(j.input.first), utcTime(j.input.last)
	}
	s.Inputs = []tables.Input{in}
	if j.pcapErr != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("packets.pcap is incomplete: %v", j.pcapErr))
	}
	c := &j.capture
	if n := c.dropped(); n > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d packets were lost (kernel %d, interface %d, flowstat %d): flows and counts here miss them; see the Capture section",
			n, c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped))
	}
	setSpan(&s)
	s.ElapsedS = j.to.Sub(j.from).Seconds()
	if s.ElapsedS > 0 {
		s.PacketsPS = float64(s.Packets.Read) / s.ElapsedS
	}
	return s
}

func (w *windowWriter) captureOf(j *windowJob) CaptureSummary {
	c := j.capture
	c.Interface, c.LinkType = w.cfg.Interface, w.linkType
	c.WindowStart, c.WindowEnd = j.start.UTC(), j.end.UTC()
	c.From, c.To = j.from.UTC(), j.to.UTC()
	c.Partial = j.from.After(j.start) || j.to.Before(j.end)
	c.RotateS = w.cfg.Rotate.Seconds()
	c.Snaplen, c.BufferBytes, c.Promisc = w.cfg.Capture.Snaplen, w.cfg.Capture.BufferSize, !w.cfg.Capture.NoPromisc
	return c
}

// drop removes a temporary directory that will not be published.
func (w *windowWriter) drop(tmp string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	os.RemoveAll(tmp)
	delete(w.temps, tmp)
}

// publish renames a complete window directory into place, repoints latest
// at it and removes windows beyond --keep.
func (w *windowWriter) publish(tmp, name string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.aborted {
		return "", errors.New("aborted")
	}
	out := w.cfg.Out
	final := name
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(out, final)); errors.Is(err, os.ErrNotExist) {
			break
		}
		final = fmt.Sprintf("%s-%d", name, i)
	}
	if err := os.Rename(tmp, filepath.Join(out, final)); err != nil {
		return "", fmt.Errorf("cannot publish window: %w", err)
	}
	delete(w.temps, tmp)
	// A new link under a temporary name renamed over the old one: readers
	// of latest see the previous window or this one, never nothing.
	link := filepath.Join(out, tempPrefix+LatestLink)
	os.Remove(link)
	if err := os.Symlink(final, link); err != nil {
		return final, fmt.Errorf("cannot point %s at %s: %w", LatestLink, final, err)
	}
	if err := os.Rename(link, filepath.Join(out, LatestLink)); err != nil {
		os.Remove(link)
		return final, fmt.Errorf("cannot point %s at %s: %w", LatestLink, final, err)
	}
	syncDir(out)
	return final, w.prune()
}

// prune removes the oldest windows beyond --keep.
func (w *windowWriter) prune() error {
	if w.cfg.Keep == 0 {
		return nil
	}
	ents, err := os.ReadDir(w.cfg.Out)
	if err != nil {
		return fmt.Errorf("cannot list windows: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && IsWindowDir(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, compareWindows)
	for _, n := range names[:max(0, len(names)-w.cfg.Keep)] {
		if err := os.RemoveAll(filepath.Join(w.cfg.Out, n)); err != nil {
			return fmt.Errorf("cannot remove old window: %w", err)
		}
	}
	return nil
}

// compareWindows orders window names by start, then by the suffix of a
// window written again.
func compareWindows(a, b string) int {
	const n = len(WindowLayout)
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// syncDir makes renames in dir durable; failing to is not worth an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// abort removes every temporary directory and stops any window from
// appearing; the process exits after it.
func (w *windowWriter) abort() {
	w.mu.Lock() // never released
	w.aborted = true
	for dir := range w.temps {
		os.RemoveAll(dir)
	}
	os.Remove(filepath.Join(w.cfg.Out, tempPrefix+LatestLink))
}

// openPcap makes the temporary directory of the window starting at start
// and opens its packets.pcap. On failure the window has no pcap; the error
// is reported with the window.
func (w *windowWriter) openPcap(start time.Time) (string, *pcapFile) {
	dir, err := w.tempDir(start)
	if err != nil {
		return "", &pcapFile{err: err}
	}
	return dir, newPcapFile(filepath.Join(dir, PcapFile), w.linkType, w.cfg.Capture.Snaplen)
}

// PcapFile is a window's packets, with SavePcap.
const PcapFile = "packets.pcap"

// pcapFile writes a window's frames. Its first error stops it; close
// returns that error.
type pcapFile struct {
	f   *os.File
	buf *bufio.Writer
	w   *pcapgo.Writer
	ci  gopacket.CaptureInfo
	err error
}

func newPcapFile(path string, linkType, snaplen int) *pcapFile {
	p := &pcapFile{}
	p.f, p.err = os.Create(path)
	if p.err != nil {
		return p
	}
	p.buf = bufio.NewWriterSize(p.f, 4<<20)
	p.w = pcapgo.NewWriterNanos(p.buf)
	p.err = p.w.WriteFileHeader(uint32(snaplen), layers.LinkType(linkType))
	return p
}

func (p *pcapFile) write(fr *reader.Frame) {
	if p.err != nil {
		return
	}
	p.ci.Timestamp = time.Unix(0, fr.Time)
	p.ci.CaptureLength, p.ci.Length = len(fr.Data), fr.WireLen
	p.err = p.w.WritePacket(p.ci, fr.Data)
}

func (p *pcapFile) close() error {
	if p.f == nil {
		return p.err
	}
	if p.err == nil {
		p.err = p.buf.Flush()
	}
	if err := p.f.Close(); p.err == nil {
		p.err = err
	}
	if p.err != nil {
		return fmt.Errorf("cannot write %s: %w", PcapFile, p.err)
	}
	return nil
}

// insertCaptureSection adds a Capture section to report.md, after its
// Summary section.
//
// TODO(report): render this in report.Markdown from tables.Summary.
func insertCaptureSection(path string, c *CaptureSummary) error {
	md, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read report: %w", err)
	}
	var b strings.Builder
	b.WriteString("## Capture\n\n")
	partial := ""
	if c.Partial {
		partial = " (partial: the capture started or stopped inside it)"
	}
	fmt.Fprintf(&b, "- **Interface** `%s`, window %s to %s UTC%s; captured from %s to %s.\n", c.Interface,
		c.WindowStart.Format(time.DateTime), c.WindowEnd.Format(time.DateTime), partial,
		c.From.Format("15:04:05.000"), c.To.Format("15:04:05.000"))
	fmt.Fprintf(&b, "- **Received** by the kernel's filter: %d packets; read by flowstat: %d.\n", c.Received, c.Captured)
	fmt.Fprintf(&b, "- **Dropped:** %d by the kernel (buffer full), %d by the interface, %d by flowstat (its queue full).\n",
		c.KernelDropped, c.InterfaceDropped, c.FlowstatDropped)
	fmt.Fprintf(&b, "- **Backlog:** at most %d packets waited for processing; %d earlier windows were still being written when this one closed.\n",
		c.BacklogMax, c.WindowsPending)
	if c.dropped() > 0 {
		b.WriteString("\nPackets were lost, so flows and counts in this report miss some traffic. The kernel drops when flowstat reads too slowly: raise --buffer, narrow the capture with -b, or see docs/performance.md.\n")
	}
	b.WriteString("\n")
	section := b.String()
	text := string(md)
	at := len(text)
	if i := strings.Index(text, "## Summary\n"); i >= 0 {
		if j := strings.Index(text[i:], "\n## "); j >= 0 {
			at = i + j + 1
		}
	}
	if at == len(text) {
		section = "\n" + strings.TrimSuffix(section, "\n")
	}
	return tables.WriteFileAtomic(path, []byte(text[:at]+section+text[at:]))
}
