package pipeline

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"

	"flowstat/flows"
	"flowstat/reader"
	"flowstat/report"
	"flowstat/tables"
)

// Map and merge: an archive too large for one run is read by map tasks,
// one input, a run of consecutive inputs, or one byte range of a large
// input each, anywhere; a merge joins their outputs into the outputs one
// analyze run over all the inputs would write. A map task's table hands
// out the flows open at the end of its input and logs the packets of flows
// that may continue one the input before left open (flows, join.go); the
// merge takes the inputs in time order, resumes the open flows and replays
// the logged packets of their keys, and takes every other record as the
// map task made it.
//
// A map task's output is a directory: map.json (the input's summary,
// frames per second, orphan fragments, its table's newest packet time,
// its byte range), and S2-compressed files of length-prefixed entries:
// records-N.bin (each table's records with their windows), joinable-N.bin
// (the logged packets, each behind its key's hash) and open.bin (the open
// flows). Its encodings live as long as the archive's processing: merge
// refuses the output of another flowstat version or format.

const (
	mapManifestFile = "map.json"
	mapFormat       = 4
	// DefaultMapInterval is a map task's window: the merge's windows are
	// multiples of it, chosen when the whole archive's span is known.
	DefaultMapInterval = time.Second
)

// mapManifest is map.json.
type mapManifest struct {
	Format  int    `json:"format"`
	Version string `json:"version"`
	// Inputs are the task's inputs as given, Identities theirs, for a
	// dataset the merge adds to. A task of several inputs reads them as
	// analyze does, merged in time order; it reads no byte range.
	Inputs     []string       `json:"inputs"`
	Identities []DatasetInput `json:"identities"`
	Shards     int            `json:"shards"`
	// JoinFrom is the inputs' first frame time, Last their last: the
	// map tasks of one archive follow each other without overlap.
	JoinFrom int64 `json:"join_from_ns"`
	Last     int64 `json:"last_ns"`
	// TableLast is the time of the newest packet the task's flow table
	// was given (frames that make no packet, as non-IP ones, do not
	// count): the time the join ends flows at after the input, as analyze
	// ends them at its table's newest packet.
	TableLast int64          `json:"table_last_ns"`
	Summary   tables.Summary `json:"summary"`
	// Range is the byte range of the input the task read (map --range);
	// nil: all of it.
	Range   *mapRange    `json:"range,omitempty"`
	Seconds mapSeconds   `json:"seconds"`
	Orphans []mapOrphans `json:"orphan_fragments"`

	// Set by readManifests: the number of the merge's input the task
	// read first (ranges of one file share it; the task's other inputs
	// are numbered on from it), and the frames of that input in the
	// ranges before the task's.
	file      int
	frameBase uint64
}

// mapRange is a map task's byte range of its input, and how its reading
// met the ranges before and after, which other tasks read.
type mapRange struct {
	ByteRange
	reader.RangeEnds
}

// ByteRange is the bytes [Start, End) of a trace: a map task reads the
// records that start in it.
type ByteRange struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

type mapSeconds struct {
	First, Last int64
	Counts      [][3]int64 // second, frames, bytes
}

type mapOrphans struct {
	Src, Dst       netip.Addr
	Proto          uint8
	Packets, Bytes uint64
	First, Last    int64
}

// mapWriter writes a map task's output into a temporary directory, which
// commit names as asked.
type mapWriter struct {
	dir      string
	records  []*frameWriter
	joinable []*frameWriter
	opened   *frameWriter
	bufs     [][]byte // each shard's encoding buffer
	openBuf  []byte
	seconds  *perSecond
	orphans  []flows.Orphans
	// tableLast is the flow table's newest packet time (see TableLast).
	tableLast int64
	// byteRange is the part of the input the task reads (nil: all), split
	// the reader's, which says how its reading met the range's ends.
	byteRange *ByteRange
	split     *reader.Split
}

// rangeToRead returns the byte range a map task reads, or nil.
func (m *mapWriter) rangeToRead() *ByteRange {
	if m == nil {
		return nil
	}
	return m.byteRange
}

// Map reads the traces at paths, consecutive inputs of an archive, into
// the map task output directory cfg.Out, which must not exist or be
// empty, for Merge; of one trace, only the records that start in the byte
// range r when r is not nil (the other ranges of the file read by other
// tasks). cfg.Interval is the task's window (0: DefaultMapInterval).
//
// A task of several inputs joins their flows itself, as analyze does:
// only the first idle timeout of the run has packets to log, which a
// task per input of a few minutes logs nearly all of.
func Map(ctx context.Context, cfg *Config, paths []string, r *ByteRange) (*tables.Summary, error) {
	out := cfg.Out
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: a map task writes into a new directory (remove it to map again)", out)
	}
	if r != nil && len(paths) != 1 {
		return nil, errors.New("a map task reads a byte range of one trace")
	}
	first, err := firstTime(paths, r, cmp.Or(cfg.ChunkSize, reader.DefaultChunkSize))
	if err != nil {
		return nil, err
	}
	var ids []DatasetInput
	for _, path := range paths {
		id, err := identify(path)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".flowstat-map-*")
	if err != nil {
		return nil, err
	}
	m, err := newMapWriter(tmp, cfg.Workers)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	m.byteRange = r
	c := *cfg
	c.Out, c.mapTo, c.NoReport = tmp, m, true
	c.Interval = cmp.Or(c.Interval, DefaultMapInterval)
	c.Flows.Interval = c.Interval
	c.Flows.JoinFrom = max(first, 1)
	res, err := Analyze(ctx, &c, paths)
	if err == nil {
		err = m.commit(&c, res, ids, first, r, out)
	}
	if err != nil {
		m.close()
		os.RemoveAll(tmp)
		return nil, err
	}
	return &res.Summary, nil
}

// firstTime returns the time of the first record of the traces at paths,
// or of the one that starts in byte range r of paths[0]: a range where no
// record starts has none (0), and maps to an output without packets,
// which merge takes when the record before runs over it. The range is
// read in chunks of chunkSize bytes.
func firstTime(paths []string, r *ByteRange, chunkSize int64) (int64, error) {
	if r != nil {
		split, err := reader.SplitRange(paths[0], r.Start, r.End, chunkSize, nil)
		if err != nil {
			return 0, InputError{err}
		}
		first, _ := reader.FirstTimeInRange(split)
		return first, nil
	}
	first, found := int64(0), false
	for _, path := range paths {
		if t, ok := reader.FirstTime(path); ok && (!found || t < first) {
			first, found = t, true
		}
	}
	if !found {
		return 0, InputError{fmt.Errorf("%s: not a pcap or pcapng trace with a packet", strings.Join(paths, ", "))}
	}
	return first, nil
}

func newMapWriter(dir string, shards int) (*mapWriter, error) {
	m := &mapWriter{dir: dir, bufs: make([][]byte, shards)}
	var err error
	for i := range shards {
		w, e := createFrames(filepath.Join(dir, "records-"+strconv.Itoa(i)+".bin"))
		m.records, err = append(m.records, w), cmp.Or(err, e)
		w, e = createFrames(filepath.Join(dir, "joinable-"+strconv.Itoa(i)+".bin"))
		m.joinable, err = append(m.joinable, w), cmp.Or(err, e)
	}
	m.opened, _ = createFrames(filepath.Join(dir, "open.bin"))
	if err == nil && m.opened == nil {
		err = errors.New("cannot create " + filepath.Join(dir, "open.bin"))
	}
	return m, err
}

func (m *mapWriter) record(shard int, r *flows.Record, windows []flows.Window) error {
	m.bufs[shard] = appendMapRecord(m.bufs[shard][:0], r, windows)
	return m.records[shard].write(m.bufs[shard])
}

// logJoinable logs jp behind its key's KeyHash, which lets the merge
// skip the packets of keys no input before left open without decoding
// them (flows.Joiner.Wants).
func (m *mapWriter) logJoinable(shard int, jp *flows.JoinPacket) error {
	k := jp.Key()
	m.bufs[shard] = binary.LittleEndian.AppendUint64(m.bufs[shard][:0], flows.KeyHash(&k))
	m.bufs[shard] = flows.AppendJoinPacket(m.bufs[shard], jp)
	return m.joinable[shard].write(m.bufs[shard])
}

func (m *mapWriter) open(o *flows.OpenFlow) error {
	m.openBuf = flows.AppendOpenFlow(m.openBuf[:0], o)
	return m.opened.write(m.openBuf)
}

// close closes every file, returning the first error.
func (m *mapWriter) close() error {
	var err error
	for _, w := range slices.Concat(m.records, m.joinable, []*frameWriter{m.opened}) {
		if w != nil {
			err = cmp.Or(err, w.close())
		}
	}
	return err
}

// commit writes map.json and gives the temporary directory its name.
func (m *mapWriter) commit(cfg *Config, res *Result, ids []DatasetInput, first int64, r *ByteRange, out string) error {
	if err := m.close(); err != nil {
		return err
	}
	s := res.Summary
	man := mapManifest{Format: mapFormat, Version: cfg.Version, Identities: ids, Shards: len(m.records),
		JoinFrom: max(first, 1), Summary: s}
	for _, in := range s.Inputs {
		man.Inputs = append(man.Inputs, in.Path)
	}
	if s.LastSeen != nil {
		man.Last = s.LastSeen.UnixNano()
	}
	man.TableLast = m.tableLast
	if r != nil {
		man.Range = &mapRange{*r, m.split.Ends}
	}
	sec := m.seconds
	sec.flush()
	man.Seconds = mapSeconds{First: sec.first, Last: sec.last}
	for t, n := range sec.counts {
		man.Seconds.Counts = append(man.Seconds.Counts, [3]int64{t, int64(n.packets), int64(n.bytes)})
	}
	for _, o := range m.orphans {
		man.Orphans = append(man.Orphans, mapOrphans{Src: o.Src.Addr(), Dst: o.Dst.Addr(), Proto: o.Proto,
			Packets: o.Packets, Bytes: o.Bytes, First: o.First, Last: o.Last})
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	if err := tables.WriteFileAtomic(filepath.Join(m.dir, mapManifestFile), b); err != nil {
		return err
	}
	os.Remove(out) // an empty directory; one with files was refused
	return os.Rename(m.dir, out)
}

// appendMapRecord encodes a record, its tunnel (which a TunnelRef names
// only within the process) and its windows.
func appendMapRecord(b []byte, r *flows.Record, windows []flows.Window) []byte {
	b = flows.AppendRecord(b, r)
	b = flows.AppendTunnel(b, r.Tunnel.Get())
	b = binary.AppendUvarint(b, uint64(len(windows)))
	for _, w := range windows {
		b = binary.AppendVarint(b, w.Start)
		for _, v := range [...]uint64{w.Packets, w.Bytes, w.RespPackets, w.RespBytes, uint64(w.SYNs), uint64(w.SYNACKs)} {
			b = binary.AppendUvarint(b, v)
		}
	}
	return b
}

var errMapDamaged = errors.New("damaged entry")

// readMapRecord decodes what appendMapRecord wrote, the windows into ws.
func readMapRecord(b []byte, r *flows.Record, ws []flows.Window) ([]flows.Window, error) {
	b, err := flows.ReadRecord(b, r)
	if err != nil {
		return nil, err
	}
	tn, b, err := flows.ReadTunnel(b)
	if err != nil {
		return nil, err
	}
	r.Tunnel = flows.NoTunnel
	if tn.Kind != reader.TunnelNone {
		r.Tunnel = flows.RefTunnel(tn)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errMapDamaged
	}
	b = b[k:]
	ws = ws[:0]
	for range n {
		var w flows.Window
		var v [7]uint64
		start, k := binary.Varint(b)
		if k <= 0 {
			return nil, errMapDamaged
		}
		b, w.Start = b[k:], start
		for j := 1; j < 7; j++ {
			if v[j], k = binary.Uvarint(b); k <= 0 {
				return nil, errMapDamaged
			}
			b = b[k:]
		}
		w.Packets, w.Bytes, w.RespPackets, w.RespBytes = v[1], v[2], v[3], v[4]
		w.SYNs, w.SYNACKs = uint32(v[5]), uint32(v[6])
		ws = append(ws, w)
	}
	return ws, nil
}

// MapError is a map task output that cannot be merged.
type MapError struct{ Err error }

func (e MapError) Error() string { return e.Err.Error() }
func (e MapError) Unwrap() error { return e.Err }

// readManifests reads the map.json of each map task output directory,
// in the order of their inputs' times, and checks that they can be
// merged: the same flowstat and options, inputs that do not overlap. It
// returns them and their directories, but the byte ranges where no
// record starts, which hold nothing once checked.
func readManifests(dirs []string, version string) ([]mapManifest, []string, error) {
	var mans []mapManifest
	for _, d := range dirs {
		o, err := OpenMapOutput(d, version)
		if err != nil {
			return nil, nil, err
		}
		mans = append(mans, o.m)
	}
	order := make([]int, len(mans))
	for i := range order {
		order[i] = i
	}
	// Ranges without a record come last: a file's number is that of its
	// first output in time order.
	joinFrom := func(m *mapManifest) int64 {
		if m.empty() {
			return math.MaxInt64
		}
		return m.JoinFrom
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(joinFrom(&mans[a]), joinFrom(&mans[b])) })
	var sorted []mapManifest
	var sortedDirs []string
	for _, j := range order {
		sorted, sortedDirs = append(sorted, mans[j]), append(sortedDirs, dirs[j])
	}
	if err := numberFiles(sorted); err != nil {
		return nil, nil, err
	}
	for i := range sorted {
		if !sameFlowOptions(sorted[0].Summary.Options, sorted[i].Summary.Options) {
			return nil, nil, MapError{fmt.Errorf("%s and %s were mapped with different options (interval, timeouts, filters, decapsulation): map them alike", sorted[0].name(), sorted[i].name())}
		}
	}
	n := len(sorted)
	for n > 0 && sorted[n-1].empty() {
		n--
	}
	sorted, sortedDirs = sorted[:n], sortedDirs[:n]
	for i := 1; i < len(sorted); i++ {
		a, b := &sorted[i-1], &sorted[i]
		if b.JoinFrom < a.Last {
			return nil, nil, MapError{fmt.Errorf("%s starts (%s) before %s ends (%s): inputs that overlap in time cannot be joined: map them in one task, or analyze them together",
				b.name(), time.Unix(0, b.JoinFrom).UTC().Format(time.RFC3339Nano), a.name(), time.Unix(0, a.Last).UTC().Format(time.RFC3339Nano))}
		}
	}
	return sorted, sortedDirs, nil
}

// name names the task's inputs in messages.
func (m *mapManifest) name() string {
	if n := len(m.Inputs); n > 1 {
		return fmt.Sprintf("the run of %d traces %s to %s", n, m.Inputs[0], m.Inputs[n-1])
	}
	return m.Inputs[0]
}

// empty reports whether the task read a byte range where no record starts.
func (m *mapManifest) empty() bool { return m.Range != nil && m.Range.First < 0 }

// numberFiles sets the file and frame base of map task outputs in time
// order, a task's inputs numbered one after another: outputs of one file
// (by its size and content hash) must be byte ranges of it that cover it
// and meet where one sequential pass over it goes from one to the next.
func numberFiles(mans []mapManifest) error {
	type fileKey struct {
		size int64
		hash string
	}
	byFile := map[fileKey][]*mapManifest{}
	number := map[fileKey]int{}
	var files []fileKey
	for i := range mans {
		m := &mans[i]
		for j, id := range m.Identities {
			k := fileKey{id.Size, id.Hash}
			n, seen := number[k]
			if !seen {
				n, number[k], files = len(files), len(files), append(files, k)
			}
			if j == 0 {
				m.file = n
			}
			byFile[k] = append(byFile[k], m)
		}
	}
	for _, k := range files {
		parts := byFile[k]
		if len(parts) == 1 && parts[0].Range == nil {
			continue
		}
		if err := checkRanges(parts, k.size); err != nil {
			return err
		}
		var frames uint64
		for _, m := range parts {
			m.frameBase = frames
			frames += m.Summary.Inputs[0].Packets
		}
	}
	return nil
}

// checkRanges checks that the map task outputs of one file of size bytes
// are byte ranges that cover it, each read on from where the one before
// stopped, and puts parts in the order of their ranges.
func checkRanges(parts []*mapManifest, size int64) error {
	name := parts[0].name()
	for _, m := range parts {
		if m.Range == nil {
			return MapError{fmt.Errorf("%s was mapped twice: merge one map task output of each input, or of each of its byte ranges (map --range)", name)}
		}
	}
	slices.SortFunc(parts, func(a, b *mapManifest) int { return cmp.Compare(a.Range.Start, b.Range.Start) })
	at := int64(0)
	var prev *mapRange // the last range with a record
	var prevLast int64 // its last frame's time
	for _, m := range parts {
		r := m.Range
		switch {
		case r.Start > at:
			return MapError{fmt.Errorf("bytes %d:%d of %s were not mapped: map that range too", at, r.Start, name)}
		case r.Start < at:
			return MapError{fmt.Errorf("bytes %d:%d of %s were mapped twice: merge map task outputs of ranges that do not overlap", r.Start, at, name)}
		}
		at = r.End
		notMet := func(stop, first int64) error {
			return MapError{fmt.Errorf("the ranges %d:%d and %d:%d of %s do not meet where one pass reads from one to the other (the first stopped at byte %d, the second started at %d; damage across their boundary?): map %d:%d as one range",
				prev.Start, prev.End, r.Start, r.End, name, stop, first, prev.Start, r.End)}
		}
		switch {
		case prev == nil:
		case r.First < 0:
			// No record starts in the range: one pass reads none there
			// when the record before runs over all of it.
			if prev.Stop < r.End || prev.Open || prev.Ended {
				return notMet(prev.Stop, -1)
			}
			continue
		case !r.Follows(prev.RangeEnds):
			return notMet(prev.Stop, r.First)
		case m.JoinFrom < prevLast:
			// One pass would go back in time here; the merge would not.
			return MapError{fmt.Errorf("the ranges %d:%d and %d:%d of %s are not in time order (packets out of order across their boundary): map %d:%d as one range",
				prev.Start, prev.End, r.Start, r.End, name, prev.Start, r.End)}
		}
		prev, prevLast = r, m.Last
	}
	if at != size {
		return MapError{fmt.Errorf("bytes %d:%d of %s were not mapped: map that range too", at, size, name)}
	}
	return nil
}

// MapInputs returns the identities of the inputs of the map task outputs
// in dirs, in time order, for the dataset a merge adds to
// (OpenDatasetFor), and refuses outputs that cannot be merged.
func MapInputs(dirs []string, version string) ([]DatasetInput, error) {
	mans, _, err := readManifests(dirs, version)
	if err != nil {
		return nil, err
	}
	var ids []DatasetInput
	for _, m := range mans {
		if m.file == len(ids) {
			ids = append(ids, m.Identities...)
		}
	}
	return ids, nil
}

// sameFlowOptions reports whether two map tasks made flows alike.
func sameFlowOptions(a, b tables.Options) bool {
	return a.IntervalS == b.IntervalS && a.IdleTimeoutS == b.IdleTimeoutS && a.ActiveTimeoutS == b.ActiveTimeoutS &&
		a.LingerS == b.LingerS && a.BPF == b.BPF && slices.Equal(a.Targets, b.Targets) &&
		a.MaxFlows == b.MaxFlows && a.NoDecap == b.NoDecap
}

// mergeInterval returns the merge's window: cfg's, which must be a
// multiple of the map tasks' window, or the one AutoInterval chooses for
// the whole span, when it is one.
func mergeInterval(cfg *Config, mapInterval time.Duration, span time.Duration) (time.Duration, error) {
	if cfg.Interval != 0 {
		if cfg.Interval%mapInterval != 0 {
			return 0, MapError{fmt.Errorf("--interval %v is not a multiple of the map tasks' %v: give a multiple, or map again with --interval", cfg.Interval, mapInterval)}
		}
		return cfg.Interval, nil
	}
	if auto := AutoInterval(span); auto%mapInterval == 0 {
		return auto, nil
	}
	return mapInterval, nil
}

// Merge joins the outputs of map tasks (Map) in dirs into what one
// analyze run over their inputs gives, for WriteOutputs. cfg's flow
// options are taken from the map tasks; its window (0: chosen for the
// span) must be a multiple of theirs.
func Merge(ctx context.Context, cfg *Config, dirs []string) (*Result, error) {
	started := time.Now()
	cfg = cfg.withDefaults()
	dirs = slices.Clone(dirs)
	mans, dirs, err := readManifests(dirs, cfg.Version)
	if err != nil {
		return nil, err
	}
	opts := mans[0].Summary.Options
	mapInterval := time.Duration(opts.IntervalS * float64(time.Second))
	lastAll, tableLast := mans[len(mans)-1].Last, int64(0)
	for _, m := range mans {
		lastAll = max(lastAll, m.Last)
	}
	auto := cfg.Interval == 0
	if cfg.Interval, err = mergeInterval(cfg, mapInterval, time.Duration(lastAll-mans[0].JoinFrom)); err != nil {
		return nil, err
	}
	cfg.Flows = flows.Options{IdleTimeout: seconds(opts.IdleTimeoutS), ActiveTimeout: seconds(opts.ActiveTimeoutS),
		Linger: seconds(opts.LingerS), Interval: mapInterval}
	res := &Result{}
	s := &res.Summary
	s.Tool, s.Version = "flowstat", cfg.Version
	s.Options = opts
	s.Options.IntervalS, s.Options.IntervalAuto, s.Options.Workers = cfg.Interval.Seconds(), auto, cfg.Workers
	// The joiner's records go to a collector shard of their own, beside
	// those of the record readers.
	col, err := newCollector(cfg, res, cfg.Workers+1)
	if err != nil {
		return nil, err
	}
	if cfg.Interval != mapInterval {
		col.interval = int64(cfg.Interval)
	}
	joined := startJoinedRecords(col, cfg.Workers)
	joiner := flows.NewJoiner(cfg.Flows, joined.add)
	readers := startRecordReaders(col, cfg.Workers)
	loadCtx, stopLoading := context.WithCancel(ctx)
	defer stopLoading()
	loads := loadJoins(loadCtx, dirs, mans, cfg.Workers)
	fail := func(err error) (*Result, error) {
		stopLoading()
		readers.wait()
		joined.wait()
		col.remove()
		return nil, err
	}
	var secs perSecond
	var orphans []flows.Orphans
	bar := cfg.Progress.Merging(len(mans))
	endJoin := phase("join")
	for i, m := range mans {
		if err := stopped(ctx); err != nil {
			return fail(err)
		}
		if err := joinInput(ctx, joiner, readers, loads[i], dirs[i], &m); err != nil {
			return fail(err)
		}
		tableLast = max(tableLast, m.TableLast)
		joiner.End(tableLast)
		if m.file == len(s.Inputs) {
			res.inputs = append(res.inputs, m.Inputs...)
			s.Inputs = append(s.Inputs, m.Summary.Inputs...)
		} else {
			addRange(&s.Inputs[m.file], &m.Summary.Inputs[0])
		}
		s.Packets.Add(&m.Summary.Packets)
		s.Damage = append(s.Damage, m.Summary.Damage...)
		for _, w := range m.Summary.Warnings {
			if !slices.Contains(s.Warnings, w) {
				s.Warnings = append(s.Warnings, w)
			}
		}
		secs.merge(m.Seconds.perSecond())
		orphans = append(orphans, orphansOf(m.Orphans)...)
		if bar != nil {
			bar.Add(1)
		}
	}
	joiner.Flush(tableLast)
	if err := cmp.Or(readers.wait(), joined.wait()); err != nil {
		col.remove()
		return nil, err
	}
	endJoin()
	if bar != nil {
		bar.Finish()
	}
	col.finish(res)
	s.Peak = secs.peak()
	setSpan(s)
	s.FragmentTargets = report.FragmentTargets(orphans, *s)
	s.ElapsedS = time.Since(started).Seconds()
	return res, nil
}

// addRange adds what a map task read of a byte range of an input to in,
// what the tasks of its ranges before read.
func addRange(in, r *tables.Input) {
	if r.Packets > 0 {
		if in.Packets == 0 || r.FirstSeen.Before(*in.FirstSeen) {
			in.FirstSeen = r.FirstSeen
		}
		if in.Packets == 0 || r.LastSeen.After(*in.LastSeen) {
			in.LastSeen = r.LastSeen
		}
	}
	in.Packets += r.Packets
	in.Bytes += r.Bytes
	for _, lt := range r.LinkTypes {
		if !slices.Contains(in.LinkTypes, lt) {
			in.LinkTypes = append(in.LinkTypes, lt)
		}
	}
	in.Error = cmp.Or(in.Error, r.Error)
}

// joinInput takes the map task output in dir, whose joinable packets and
// open flows come from loads: the packets replayed on the flows the
// inputs before left open, its other records handed to the readers, and
// the flows it left open kept for the inputs after.
func joinInput(ctx context.Context, joiner *flows.Joiner, readers *recordReaders, loads <-chan joinChunk, dir string, m *mapManifest) error {
	joiner.BeginAt(m.file, m.frameBase)
	handed := false
	for {
		var c joinChunk
		select {
		case c = <-loads:
		case <-ctx.Done():
			return cmp.Or(stopped(ctx), ctx.Err())
		}
		if c.err != nil {
			return c.err
		}
		if err := c.replay(joiner); err != nil {
			return MapError{fmt.Errorf("%s: %w", dir, err)}
		}
		if (len(c.open) > 0 || c.last) && !handed {
			// Every packet is replayed: which records are replaced is known.
			for sh := range m.Shards {
				readers.tasks <- recordTask{path: filepath.Join(dir, "records-"+strconv.Itoa(sh)+".bin"), input: m.file,
					frameBase: m.frameBase, replaced: joiner.Replaced()}
			}
			handed = true
		}
		for j := range c.open {
			if err := joiner.Open(&c.open[j]); err != nil {
				return MapError{fmt.Errorf("%s: %w", dir, err)}
			}
		}
		c.release()
		if c.last {
			return nil
		}
	}
}

// joinChunk is part of what the joiner takes of a map task's output: its
// joinable packets as logged (their keys' hashes, and their encodings one
// after another in packets, ending at ends), then its open flows; last
// marks an output's last chunk.
type joinChunk struct {
	hashes  []uint64
	packets []byte
	ends    []int
	open    []flows.OpenFlow
	last    bool
	err     error
}

// replay gives the joiner the chunk's packets that it may replay, decoded:
// few, as few keys stay open across an input's start.
func (c *joinChunk) replay(joiner *flows.Joiner) error {
	var jp flows.JoinPacket
	start := 0
	for i, h := range c.hashes {
		end := c.ends[i]
		if joiner.Wants(h) {
			if _, err := flows.ReadJoinPacket(c.packets[start:end], &jp); err != nil {
				return err
			}
			k := jp.Key()
			joiner.Packet(&jp, &k)
		}
		start = end
	}
	return nil
}

// joinChunkLen is how many packets or flows a joinChunk holds: enough to
// keep the joiner busy, few enough that the chunks read ahead stay small.
const joinChunkLen = 8192

// chunkBuffers keeps the buffers of the chunks the joiner is done with,
// for the loaders, which would otherwise allocate and clear a chunk's
// buffers (megabytes, mostly open flows) for each chunk they read.
var chunkBuffers sync.Pool

// newJoinChunk returns an empty chunk with room for joinChunkLen packets
// and open flows.
func newJoinChunk() joinChunk {
	if c, ok := chunkBuffers.Get().(*joinChunk); ok {
		return joinChunk{hashes: c.hashes[:0], packets: c.packets[:0], ends: c.ends[:0], open: c.open[:0]}
	}
	return joinChunk{hashes: make([]uint64, 0, joinChunkLen), ends: make([]int, 0, joinChunkLen),
		open: make([]flows.OpenFlow, 0, joinChunkLen)}
}

// release gives c's buffers back for another chunk.
func (c *joinChunk) release() {
	chunkBuffers.Put(&joinChunk{hashes: c.hashes, packets: c.packets, ends: c.ends, open: c.open})
	c.hashes, c.packets, c.ends, c.open = nil, nil, nil, nil
}

// loadJoins reads and decodes the joinable packets and open flows of the
// map task outputs, a channel each, n outputs at once, a few chunks ahead
// of the joiner.
func loadJoins(ctx context.Context, dirs []string, mans []mapManifest, n int) []chan joinChunk {
	out := make([]chan joinChunk, len(dirs))
	for i := range out {
		out[i] = make(chan joinChunk, 4)
	}
	go func() {
		running := make(chan struct{}, n)
		for i, dir := range dirs {
			select {
			case running <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-running }()
				loadJoin(ctx, &MapOutput{Dir: dir, m: mans[i]}, out[i])
			}()
		}
	}()
	return out
}

// loadJoin sends the joinable packets and open flows of the map task
// output o to out, in chunks.
func loadJoin(ctx context.Context, o *MapOutput, out chan<- joinChunk) {
	c := newJoinChunk()
	send := func() bool {
		select {
		case out <- c:
			c = newJoinChunk()
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := o.joinableEntries(func(h uint64, b []byte) error {
		c.hashes, c.packets = append(c.hashes, h), append(c.packets, b...)
		c.ends = append(c.ends, len(c.packets))
		if len(c.hashes) == joinChunkLen && !send() {
			return ctx.Err()
		}
		return nil
	})
	if err == nil && len(c.hashes) > 0 && !send() {
		return
	}
	err = cmp.Or(err, o.OpenFlows(func(of *flows.OpenFlow) error {
		c.open = append(c.open, *of)
		if len(c.open) == joinChunkLen && !send() {
			return ctx.Err()
		}
		return nil
	}))
	c.last, c.err = true, err
	send()
}

// joinedRecords takes the joiner's records to a collector shard of their
// own on a goroutine of its own, a batch at a time.
type joinedRecords struct {
	col   *collector
	shard int
	batch []joinedRecord
	ch    chan []joinedRecord
	done  chan error
}

type joinedRecord struct {
	r  flows.Record
	ws []flows.Window
}

const joinedBatch = 1024

func startJoinedRecords(col *collector, shard int) *joinedRecords {
	j := &joinedRecords{col: col, shard: shard, ch: make(chan []joinedRecord, 4), done: make(chan error, 1)}
	go func() {
		var err error
		for b := range j.ch {
			for k := range b {
				if err == nil {
					err = col.add(shard, &b[k].r, b[k].ws)
				}
			}
		}
		j.done <- err
	}()
	return j
}

// add is the joiner's EmitFunc.
func (j *joinedRecords) add(r *flows.Record, ws []flows.Window) {
	j.batch = append(j.batch, joinedRecord{*r, slices.Clone(ws)})
	if len(j.batch) == joinedBatch {
		j.ch <- j.batch
		j.batch = make([]joinedRecord, 0, joinedBatch)
	}
}

// wait hands over the last batch, waits for all to be collected and
// returns the first error.
func (j *joinedRecords) wait() error {
	if j.ch == nil {
		return nil
	}
	j.ch <- j.batch
	close(j.ch)
	j.ch = nil
	return <-j.done
}

// recordTask is a file of a map task's records, but the replaced ones:
// its inputs are numbered from input on.
type recordTask struct {
	path      string
	input     int
	frameBase uint64 // of the task's byte range in the input
	replaced  flows.Replaced
}

// recordReaders read map tasks' records, each into a collector shard of
// its own, while the joiner goes on with the next inputs: the records of
// an input depend only on which keys were replayed in it.
type recordReaders struct {
	tasks chan recordTask
	wg    sync.WaitGroup
	errs  []error
}

func startRecordReaders(col *collector, n int) *recordReaders {
	rr := &recordReaders{tasks: make(chan recordTask, 1024), errs: make([]error, n)}
	for w := range n {
		rr.wg.Go(func() {
			var r flows.Record
			var ws []flows.Window
			for t := range rr.tasks {
				if rr.errs[w] != nil {
					continue // the merge fails: drain
				}
				rr.errs[w] = readFrames(t.path, func(b []byte) error {
					var err error
					if ws, err = readMapRecord(b, &r, ws); err != nil {
						return err
					}
					if t.replaced.Has(&r) {
						return nil
					}
					r.Joinable = false
					r.Input += int32(t.input)
					r.FirstFrame += t.frameBase
					return col.add(w, &r, ws)
				})
			}
		})
	}
	return rr
}

// wait waits for the tasks given, and returns the first error.
func (rr *recordReaders) wait() error {
	close(rr.tasks)
	rr.wg.Wait()
	return errors.Join(rr.errs...)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// perSecond returns the counts map.json holds.
func (ms *mapSeconds) perSecond() *perSecond {
	c := &perSecond{first: ms.First, last: ms.Last, counts: map[int64]secondCount{}}
	for _, x := range ms.Counts {
		c.counts[x[0]] = secondCount{packets: uint64(x[1]), bytes: uint64(x[2])}
		c.n += uint64(x[1])
	}
	return c
}

func orphansOf(in []mapOrphans) []flows.Orphans {
	var out []flows.Orphans
	for _, o := range in {
		out = append(out, flows.Orphans{Src: flows.IPOf(o.Src), Dst: flows.IPOf(o.Dst), Proto: o.Proto,
			Packets: o.Packets, Bytes: o.Bytes, First: o.First, Last: o.Last})
	}
	return out
}

// frameWriter writes length-prefixed entries into an S2-compressed file:
// S2 (Snappy's successor) compresses the open flows and logged packets a
// few times faster than zstd's fastest level, which took half a map
// task's time, and decompresses them faster in the merge. Entries are
// gathered in buf and handed to S2 a block at a time: each of its Writes
// locks and checks its state, as much work as a small entry's copy.
type frameWriter struct {
	f   *os.File
	z   *s2.Writer
	buf []byte
}

// frameBlock is how much frameWriter gathers before S2 takes it.
const frameBlock = 64 << 10

func createFrames(path string) (*frameWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &frameWriter{f: f, z: s2.NewWriter(f, s2.WriterConcurrency(1)), buf: make([]byte, 0, 2*frameBlock)}, nil
}

func (w *frameWriter) write(b []byte) error {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
	if len(w.buf) < frameBlock {
		return nil
	}
	_, err := w.z.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *frameWriter) close() error {
	if w.f == nil {
		return nil
	}
	_, err := w.z.Write(w.buf)
	err = cmp.Or(err, w.z.Close(), w.f.Sync(), w.f.Close())
	w.f = nil
	return err
}

// readFrames calls fn with each entry of a file frameWriter wrote; the
// entry is valid only during the call.
func readFrames(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return MapError{fmt.Errorf("%w: map its input again", err)}
	}
	defer f.Close()
	r := bufio.NewReaderSize(s2.NewReader(f), 1<<16)
	var buf []byte
	for n := 0; ; n++ {
		size, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return nil
		}
		if err == nil && size > 1<<24 {
			err = errMapDamaged
		}
		if err == nil {
			buf = slices.Grow(buf[:0], int(size))[:size]
			_, err = io.ReadFull(r, buf)
		}
		if err == nil {
			err = fn(buf)
		}
		if err != nil {
			var me MapError
			if errors.As(err, &me) {
				return err
			}
			return MapError{fmt.Errorf("%s, entry %d: %w: map its input again", path, n, err)}
		}
	}
}
