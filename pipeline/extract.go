package pipeline

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/tables"
)

// ExtractConfig says which flows Extract writes the packets of, and where.
type ExtractConfig struct {
	Dir     string   // an output directory of analyze
	FlowIDs []uint64 // flows by flow_id
	// Finding, when positive, adds the flows of that finding of
	// findings.parquet (FindingFlows).
	Finding int
	// InputDir, when set, is where the inputs are now: each is looked for
	// there under its file name, not at the path analyze was given.
	InputDir string
	Out      string // the pcap to write
}

// ExtractResult is what Extract wrote.
type ExtractResult struct {
	Flows   int    // flows whose packets were written
	Packets uint64 // packets written
	// Short lists the flows of which fewer packets were found than
	// flows.parquet counts (see Extract).
	Short []uint64
}

// NotFoundError is a flow or finding asked for that the directory does
// not have.
type NotFoundError struct{ Err error }

func (e NotFoundError) Error() string { return e.Err.Error() }
func (e NotFoundError) Unwrap() error { return e.Err }

// wanted is a flow whose packets are extracted.
type wanted struct {
	rec   flows.Record
	key   flows.Key
	input int // index in the inputs, in the order analyze merged them
	want  uint64
	got   uint64
	done  bool
}

// extractInput is an input of the analysis: where it is now, and its
// time span.
type extractInput struct {
	name        string // the path analyze was given
	path        string // where it is read from
	first, last int64
	hasTime     bool
}

// Extract writes the packets of the chosen flows of an output directory
// to a pcap file, from the inputs flows.parquet names. Each flow's inputs
// are read from its first packet on (found by its byte offset, without
// reading what comes before in an uncompressed file) until its packets
// are all found, through the later inputs of the run that its time span
// reaches. A packet is a flow's when its flow key (reader's decoding and
// flows' keys, as analyze made them) is the flow's, counting from the
// flow's first packet: the packets that follow with the same key are the
// flow's until as many as flows.parquet counts are found. Later fragments
// that came before their first fragment, which the flow counts, are not
// found; nor are packets after the flow's last_seen plus the idle timeout.
func Extract(cfg ExtractConfig) (*ExtractResult, error) {
	s, err := tables.ReadSummary(filepath.Join(cfg.Dir, tables.SummaryFile))
	if err != nil {
		return nil, err
	}
	inputs, byName := extractInputs(s, cfg.InputDir)
	ids := map[uint64]bool{}
	for _, id := range cfg.FlowIDs {
		ids[id] = true
	}
	var inFinding func(*flows.Record) bool
	if cfg.Finding > 0 {
		if inFinding, err = FindingFlows(cfg.Dir, cfg.Finding); err != nil {
			return nil, err
		}
	}
	// Flows asked for by id are looked for in their column first: only
	// the row groups that hold one are read whole (ids shrinks as flows
	// are found, hence a copy). A finding's flows are known by their
	// fields: every row is read.
	var only map[uint64]bool
	if inFinding == nil {
		only = maps.Clone(ids)
	}
	var ws []*wanted
	err = tables.EachFlowLocatedOf(filepath.Join(cfg.Dir, tables.FlowsFile), only, func(r *flows.Record, input string) error {
		if !ids[r.ID] && (inFinding == nil || !inFinding(r)) {
			return nil
		}
		delete(ids, r.ID)
		in, ok := byName[input]
		switch {
		case r.FirstFrame == 0:
			return fmt.Errorf("flow %d was captured live on %s: there is no file to read its packets from (live --save-pcap keeps them)", r.ID, input)
		case !ok:
			return fmt.Errorf("flow %d: its input %q is not one summary.json lists as read", r.ID, input)
		}
		ws = append(ws, &wanted{rec: *r, key: r.Key(), input: in, want: r.Packets[0] + r.Packets[1]})
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), `no column "input"`) {
			return nil, fmt.Errorf("%s has no input, first_frame and first_offset columns: it was written by an older flowstat; run flowstat analyze again", tables.FlowsFile)
		}
		return nil, err
	}
	if len(ids) > 0 {
		missing := slices.Sorted(maps.Keys(ids))
		return nil, NotFoundError{fmt.Errorf("no flow %d in %s", missing[0], filepath.Join(cfg.Dir, tables.FlowsFile))}
	}
	if len(ws) == 0 {
		return nil, NotFoundError{fmt.Errorf("finding %d has no flows in %s", cfg.Finding, tables.FlowsFile)}
	}
	for _, w := range ws {
		if _, err := os.Stat(inputs[w.input].path); err != nil {
			return nil, missingInput(inputs[w.input], cfg.InputDir, err)
		}
	}
	filter, err := extractFilter(s.Options.BPF)
	if err != nil {
		return nil, err
	}
	x := &extraction{inputs: inputs, decoder: reader.Decoder{NoDecap: s.Options.NoDecap}, filter: filter,
		idle: int64(cmp.Or(s.Options.IdleTimeoutS, flows.DefaultIdleTimeout.Seconds()) * 1e9), active: map[flows.Key]*wanted{}, frags: map[extractFragKey]*wanted{}}
	res := &ExtractResult{Flows: len(ws)}
	err = tables.WriteFileAtomicFrom(cfg.Out, func(out io.Writer) error {
		buf := bufio.NewWriterSize(out, 1<<20)
		x.out = buf
		if err := x.run(ws); err != nil {
			return err
		}
		if x.pw == nil {
			return errors.New("no packet of the flows was found in their inputs: were they changed since analyze?")
		}
		return buf.Flush()
	})
	if err != nil {
		return nil, err
	}
	res.Packets = x.written
	for _, w := range ws {
		if w.got < w.want {
			res.Short = append(res.Short, w.rec.ID)
		}
	}
	return res, nil
}

// extractInputs returns the inputs analyze read, in the order it merged
// them (by their first packet), and their indexes by the name
// flows.parquet gives them.
func extractInputs(s *tables.Summary, inputDir string) ([]extractInput, map[string]int) {
	var ins []extractInput
	for _, in := range s.Inputs {
		if in.Error != "" {
			continue
		}
		e := extractInput{name: in.Path, path: in.Path}
		if inputDir != "" {
			e.path = filepath.Join(inputDir, filepath.Base(in.Path))
		}
		if in.FirstSeen != nil {
			e.first, e.last, e.hasTime = in.FirstSeen.UnixNano(), in.LastSeen.UnixNano(), true
		}
		ins = append(ins, e)
	}
	slices.SortStableFunc(ins, func(a, b extractInput) int {
		if a.hasTime != b.hasTime {
			return boolOrder(!a.hasTime, !b.hasTime)
		}
		return cmp.Compare(a.first, b.first)
	})
	byName := map[string]int{}
	for i, in := range ins {
		byName[in.name] = i
	}
	return ins, byName
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// missingInput says which input is not where it was, and how to point
// extract at it.
func missingInput(in extractInput, inputDir string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot read input %s: %w", in.path, err)
	}
	if inputDir != "" {
		return fmt.Errorf("input %s is not in --input-dir %s (analyze read it as %s)", filepath.Base(in.name), inputDir, in.name)
	}
	return fmt.Errorf("input %s is not there any more (moved, or analyze ran in another directory): give the directory it is in now with --input-dir", in.name)
}

func extractFilter(bpf string) (*reader.Filter, error) {
	if bpf == "" {
		return nil, nil
	}
	f, err := reader.NewFilter(bpf)
	if err != nil {
		return nil, fmt.Errorf("cannot compile the BPF filter analyze used, %q: %w", bpf, err)
	}
	return f, nil
}

// extraction reads the inputs for the wanted flows and writes their
// packets.
type extraction struct {
	inputs  []extractInput
	decoder reader.Decoder
	filter  *reader.Filter
	idle    int64
	// active are the flows whose first packet was read and some of
	// whose packets are still to come, by key; frags the datagrams whose
	// first fragment was a wanted flow's, whose later fragments are too.
	active  map[flows.Key]*wanted
	frags   map[extractFragKey]*wanted
	out     io.Writer
	pw      *pcapgo.Writer
	link    int
	written uint64
	pkt     reader.Packet
}

// extractFragKey matches the fragments of a datagram, as the flow table
// does.
type extractFragKey struct {
	src, dst [16]byte
	vlan     uint16
	proto    uint8
	id       uint32
}

// seekAhead is how far ahead the next flow's first packet must be, with
// no flow open, for reading to jump there rather than read on.
const seekAhead = 16 << 20

// run reads the inputs in the order analyze merged them. An input is read
// from the first packet of the first flow that starts in it, or from its
// start when flows go on from earlier inputs and its time span reaches
// them; reading stops when no flow is open and none starts later in it.
func (x *extraction) run(ws []*wanted) error {
	slices.SortFunc(ws, func(a, b *wanted) int {
		return cmp.Or(cmp.Compare(a.input, b.input), cmp.Compare(a.rec.FirstOffset, b.rec.FirstOffset))
	})
	next := 0 // the first flow not yet started
	for i := range x.inputs {
		var starting []*wanted
		for next < len(ws) && ws[next].input == i {
			starting = append(starting, ws[next])
			next++
		}
		if len(starting) == 0 && !x.reaches(i) {
			continue
		}
		if err := x.read(i, starting); err != nil {
			return err
		}
	}
	return nil
}

// reaches reports whether an open flow's time span reaches into input i.
func (x *extraction) reaches(i int) bool {
	in := &x.inputs[i]
	for _, w := range x.active {
		if !in.hasTime || in.first <= w.rec.LastSeen {
			return true
		}
	}
	return false
}

// read reads input i for the open flows and the flows starting in it.
func (x *extraction) read(i int, starting []*wanted) error {
	in := &x.inputs[i]
	from := int64(0)
	if len(x.active) == 0 && len(starting) > 0 {
		from = starting[0].rec.FirstOffset
	}
	r, err := reader.OpenAt(in.path, from)
	if err != nil {
		return fmt.Errorf("cannot read input %s: %w", in.path, err)
	}
	defer func() { r.Close() }()
	var fr reader.Frame
	for {
		if len(x.active) == 0 && len(starting) == 0 {
			return nil
		}
		if len(x.active) == 0 && r.Seekable() && starting[0].rec.FirstOffset-fr.Offset > seekAhead {
			// Nothing open until a flow far ahead: go there.
			r.Close()
			if r, err = reader.OpenAt(in.path, starting[0].rec.FirstOffset); err != nil {
				return fmt.Errorf("cannot read input %s: %w", in.path, err)
			}
		}
		err := r.Next(&fr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("cannot read input %s: %w", in.path, err)
		}
		var started *wanted
		if len(starting) > 0 && starting[0].rec.FirstOffset <= fr.Offset {
			started = starting[0]
			starting = starting[1:]
			if started.rec.FirstOffset < fr.Offset {
				return changedInput(in, started, fr.Offset)
			}
			if prev := x.active[started.key]; prev != nil {
				prev.done = true // the next record of the same key begins
			}
			x.active[started.key] = started
		}
		if err := x.frame(&fr, i, in); err != nil {
			return err
		}
		if started != nil && started.got == 0 {
			return changedInput(in, started, fr.Offset)
		}
		x.expire(fr.Time)
	}
	if len(starting) > 0 {
		return changedInput(in, starting[0], -1)
	}
	return nil
}

// changedInput says that input in no longer holds flow w's first packet
// where analyze found it.
func changedInput(in *extractInput, w *wanted, at int64) error {
	where := "it ends before"
	switch {
	case at == w.rec.FirstOffset:
		where = fmt.Sprintf("the packet at byte offset %d is another flow's", at)
	case at >= 0:
		where = fmt.Sprintf("no packet starts at byte offset %d (one does at %d)", w.rec.FirstOffset, at)
	}
	return fmt.Errorf("input %s has changed since analyze: flow %d's first packet (frame %d) is not there: %s", in.path, w.rec.ID, w.rec.FirstFrame, where)
}

// frame takes one frame of input i: the packet of an open flow is
// written.
func (x *extraction) frame(fr *reader.Frame, i int, in *extractInput) error {
	if x.filter != nil && !x.filter.Match(fr) {
		return nil
	}
	p := &x.pkt
	if x.decoder.Decode(fr.LinkType, fr.Data, p) != reader.OK {
		return nil
	}
	var w *wanted
	fk := extractFragKey{p.Src, p.Dst, p.VLAN, p.Proto, p.FragID}
	if p.Frag == reader.LaterFrag {
		w = x.frags[fk]
	} else {
		w = x.active[flows.PacketKey(p)]
	}
	if w == nil || w.done {
		return nil
	}
	if w.got == 0 && (w.input != i || fr.Offset != w.rec.FirstOffset) {
		return nil // an earlier record of the same key: not this flow's yet
	}
	if p.Frag == reader.FirstFrag {
		x.frags[fk] = w
	}
	if err := x.write(fr); err != nil {
		return err
	}
	w.got++
	if w.got == w.want {
		w.done = true
		delete(x.active, w.key)
	}
	return nil
}

// expire ends the open flows that no packet can belong to any more: those
// silent past their last packet and the idle timeout, at packet time now.
func (x *extraction) expire(now int64) {
	for k, w := range x.active {
		if w.done || now-w.rec.LastSeen > x.idle {
			delete(x.active, k)
		}
	}
	if len(x.active) == 0 {
		clear(x.frags)
	}
}

// write writes a frame to the pcap, with the link type of the first one.
func (x *extraction) write(fr *reader.Frame) error {
	if x.pw == nil {
		x.pw = pcapgo.NewWriterNanos(x.out)
		x.link = fr.LinkType
		if err := x.pw.WriteFileHeader(262144, layers.LinkType(fr.LinkType)); err != nil {
			return err
		}
	}
	if fr.LinkType != x.link {
		return fmt.Errorf("the flows' packets have link types %d and %d, which one pcap cannot hold: extract them into separate files", x.link, fr.LinkType)
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, fr.Time), CaptureLength: len(fr.Data), Length: fr.WireLen}
	x.written++
	return x.pw.WritePacket(ci, fr.Data)
}

// FindingFlows returns what tells the flows of finding k of
// findings.parquet in dir: of the finding's protocol, with a packet
// between its first and last seen, with its host (or an address of its
// prefix, for a carpet bombing) at one end and, when the
// finding has a port, that port at either end, and when
// finding_sources.parquet lists sources for it (the most active thousand),
// one of them, on its port when one is given, at the other end.
func FindingFlows(dir string, k int) (func(*flows.Record) bool, error) {
	type finding struct {
		host        netip.Prefix // an address's has all its bits; a carpet bombing's is a prefix
		port        int          // -1: none
		proto       uint8
		first, last int64
	}
	var f *finding
	t, err := tables.OpenTable(filepath.Join(dir, tables.FindingsFile), []tables.Column{
		tables.NewColumn("finding_id", parquet.Int32), tables.NewColumn("host", parquet.ByteArray), tables.NewColumn("port", parquet.Int32),
		tables.NewColumn("proto", parquet.Int32), tables.NewColumn("first_seen", parquet.Int64), tables.NewColumn("last_seen", parquet.Int64)})
	if err != nil {
		return nil, err
	}
	err = t.Each(func(v []parquet.Value) error {
		if int(t.Get(v, "finding_id").Int32()) != k {
			return nil
		}
		text := string(t.Get(v, "host").ByteArray())
		host, err := netip.ParsePrefix(text)
		if a, aerr := netip.ParseAddr(text); aerr == nil {
			host, err = netip.PrefixFrom(a, a.BitLen()), nil
		}
		if err != nil {
			return fmt.Errorf("finding %d: host %q: %w", k, text, err)
		}
		f = &finding{host: host, port: -1, proto: uint8(t.Get(v, "proto").Int32()),
			first: t.Get(v, "first_seen").Int64(), last: t.Get(v, "last_seen").Int64()}
		if p := t.Get(v, "port"); !p.IsNull() {
			f.port = int(p.Int32())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, NotFoundError{fmt.Errorf("no finding %d in %s (it has %d)", k, filepath.Join(dir, tables.FindingsFile), t.NumRows())}
	}
	sources := map[netip.Addr][]int{} // source -> its ports (-1: any)
	st, err := tables.OpenTable(filepath.Join(dir, tables.FindingSources), []tables.Column{
		tables.NewColumn("finding_id", parquet.Int32), tables.NewColumn("src_ip", parquet.ByteArray), tables.NewColumn("src_port", parquet.Int32)})
	if err != nil {
		return nil, err
	}
	err = st.Each(func(v []parquet.Value) error {
		if int(st.Get(v, "finding_id").Int32()) != k {
			return nil
		}
		a, err := netip.ParseAddr(string(st.Get(v, "src_ip").ByteArray()))
		if err != nil {
			return fmt.Errorf("finding %d: %w", k, err)
		}
		port := -1
		if p := st.Get(v, "src_port"); !p.IsNull() {
			port = int(p.Int32())
		}
		sources[a] = append(sources[a], port)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func(r *flows.Record) bool {
		if r.Proto != f.proto || r.LastSeen < f.first || r.FirstSeen > f.last {
			return false
		}
		if f.port >= 0 && int(r.SrcPort) != f.port && int(r.DstPort) != f.port {
			return false
		}
		src, dst := r.SrcIP.Addr(), r.DstIP.Addr()
		peer, peerPort := dst, int(r.DstPort)
		switch {
		case f.host.Contains(src):
		case f.host.Contains(dst):
			peer, peerPort = src, int(r.SrcPort)
		default:
			return false
		}
		if len(sources) == 0 {
			return true
		}
		for _, port := range sources[peer] {
			if port < 0 || port == peerPort {
				return true
			}
		}
		return false
	}, nil
}
