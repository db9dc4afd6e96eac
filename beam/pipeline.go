package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"

	"flowstat/flows"
	"flowstat/pipeline"
	"flowstat/reader"
	"flowstat/tables"
)

// Options are the pipeline's: where it writes, and the flow table's
// timeouts (the map tasks' and the join's).
type Options struct {
	Out           string
	IdleTimeout   int64 // nanoseconds
	ActiveTimeout int64
	Version       string
}

func (o Options) flowOptions() flows.Options {
	return flows.Options{IdleTimeout: time.Duration(o.IdleTimeout), ActiveTimeout: time.Duration(o.ActiveTimeout),
		Interval: pipeline.DefaultMapInterval}
}

// build makes the pipeline over the map tasks, traces or byte ranges of
// them:
//
//	tasks -> map (ParDo) -> records that no join changes
//	                     -> fragments by flow key -> GroupByKey -> join (ParDo) -> joined records
//	                     -> inputs (side input of the join and of the writes)
//	records + joined records -> flows/part-*.parquet, a file per bundle
//	                         -> traffic per destination (CombinePerKey) -> destinations.parquet
func build(opts Options, tasks []task) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	elems := make([]any, len(tasks))
	for i, t := range tasks {
		b, _ := json.Marshal(t)
		elems[i] = string(b)
	}
	records, fragments, inputs := beam.ParDo3(s, &mapFn{Opts: opts}, beam.Create(s, elems...))
	joined := beam.ParDo(s, &joinFn{Opts: opts}, beam.GroupByKey(s, fragments), beam.SideInput{Input: inputs})
	all := beam.Flatten(s, records, joined)
	beam.ParDo0(s, &writeFlowsFn{Out: opts.Out}, all, beam.SideInput{Input: inputs})
	perDest := beam.CombinePerKey(s, addTraffic, beam.ParDo(s, destinationOf, all))
	rows := beam.ParDo(s, destinationRowOf, perDest)
	beam.ParDo0(s, &writeDestinationsFn{Out: opts.Out}, beam.GroupByKey(s, beam.AddFixedKey(s, rows)))
	return p
}

// A task is what a map task reads: a trace, a run of consecutive ones,
// or a byte range of one.
type task struct {
	Paths []string            `json:"paths"`
	Range *pipeline.ByteRange `json:"range,omitempty"`
}

// tasksOf makes the map tasks of traces, given in time order: an
// uncompressed pcap or pcapng file larger than rangeBytes (when not 0) in
// ranges of about that size, the others in runs of up to runFiles
// consecutive traces (one each when runFiles <= 1). A run's task logs for
// the join only the packets of its first idle timeout, where a task per
// trace of a minute logs nearly all of them.
func tasksOf(traces []string, rangeBytes int64, runFiles int) ([]task, error) {
	var tasks []task
	var run []string
	endRun := func() {
		if len(run) > 0 {
			tasks, run = append(tasks, task{Paths: run}), nil
		}
	}
	for _, path := range traces {
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read trace: %w", err)
		}
		size := info.Size()
		if rangeBytes <= 0 || size <= rangeBytes || !reader.Splittable(path) {
			if run = append(run, path); len(run) >= runFiles {
				endRun()
			}
			continue
		}
		endRun()
		n := (size + rangeBytes - 1) / rangeBytes
		for i := range n {
			tasks = append(tasks, task{[]string{path}, &pipeline.ByteRange{Start: size * i / n, End: size * (i + 1) / n}})
		}
	}
	endRun()
	return tasks, nil
}

func init() {
	register.DoFn5x1[context.Context, string, func([]byte), func(string, []byte), func(string), error](&mapFn{})
	register.DoFn4x1[string, func(*[]byte) bool, []string, func([]byte), error](&joinFn{})
	register.DoFn2x1[[]byte, []string, error](&writeFlowsFn{})
	register.DoFn2x1[int, func(*[]byte) bool, error](&writeDestinationsFn{})
	register.Function2x1(destinationOf)
	register.Function2x1(destinationRowOf)
	register.Function2x1(addTraffic)
	register.Emitter1[[]byte]()
	register.Emitter1[string]()
	register.Emitter2[string, []byte]()
	register.Emitter2[string, traffic]()
	register.Iter1[[]byte]()
}

// An input is a map task's, as the join needs it: its traces' paths, the
// time of its first frame, which orders the inputs and names them, and
// that of the newest packet its map task's flow table was given, which
// the join ends flows at after it; and as the writes need it: its part of
// its file, to number frames on across the byte ranges of one.
type input struct {
	Paths            []string
	First, TableLast int64
	Part             pipeline.Part
}

// A fragment is what a map task hands the join of one flow key: a
// joinable packet (with its place in the log), a joinable record, or a
// flow open at the end of its input, whose first frame time names it.
type fragment struct {
	first   int64
	kind    byte
	seq     uint64
	payload []byte
}

const (
	fragPacket byte = iota // in this order within an input, as flowstat merge takes them
	fragRecord
	fragOpen
)

func (f *fragment) encode() []byte {
	b := binary.AppendVarint(nil, f.first)
	b = append(b, f.kind)
	b = binary.AppendUvarint(b, f.seq)
	return append(b, f.payload...)
}

func decodeFragment(b []byte) (fragment, error) {
	first, n := binary.Varint(b)
	if n <= 0 || len(b) < n+1 {
		return fragment{}, errors.New("damaged fragment")
	}
	f := fragment{first: first, kind: b[n]}
	seq, m := binary.Uvarint(b[n+1:])
	if m <= 0 {
		return fragment{}, errors.New("damaged fragment")
	}
	f.seq, f.payload = seq, b[n+1+m:]
	return f, nil
}

// A record element is a batch of records, a runner's cost being per
// element: each record its trace's path, its map task's first frame time
// (its name) and its map task encoding, length-prefixed.
type recordBatch []byte

// recordBatchLen is how many records mapFn puts in an element.
const recordBatchLen = 4096

func (rb *recordBatch) add(path string, first int64, r *flows.Record, ws []flows.Window) {
	b := binary.AppendUvarint(nil, uint64(len(path)))
	b = append(b, path...)
	b = binary.AppendVarint(b, first)
	b = pipeline.AppendMapRecord(b, r, ws)
	*rb = append(binary.AppendUvarint(*rb, uint64(len(b))), b...)
}

// eachRecord calls fn with each record of a batch, its trace's path and
// its map task's first frame time.
func eachRecord(b []byte, fn func(path string, first int64, r *flows.Record) error) error {
	var r flows.Record
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errors.New("damaged record batch")
		}
		e := b[k : k+int(n)]
		b = b[k+int(n):]
		m, j := binary.Uvarint(e)
		if j <= 0 || uint64(len(e)-j) < m {
			return errors.New("damaged record")
		}
		first, f := binary.Varint(e[j+int(m):])
		if f <= 0 {
			return errors.New("damaged record")
		}
		if _, err := pipeline.ReadMapRecord(e[j+int(m)+f:], &r, nil); err != nil {
			return err
		}
		if err := fn(string(e[j:j+int(m)]), first, &r); err != nil {
			return err
		}
	}
	return nil
}

// mapFn runs a map task on a trace, a run of traces or a byte range of
// one, in a temporary directory of the worker, and hands out its records,
// its fragments by flow key (a key's together), and its input.
type mapFn struct {
	Opts Options
}

func (f *mapFn) ProcessElement(ctx context.Context, taskJSON string, records func([]byte), fragments func(string, []byte), inputs func(string)) error {
	var t task
	if err := json.Unmarshal([]byte(taskJSON), &t); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flowstat-map-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	filter, err := reader.NewFilter("")
	if err != nil {
		return err
	}
	cfg := &pipeline.Config{Out: filepath.Join(tmp, "map"), Workers: 1, Version: f.Opts.Version,
		Interval: pipeline.DefaultMapInterval, Flows: f.Opts.flowOptions(), Filter: filter}
	if _, err := pipeline.Map(ctx, cfg, t.Paths, t.Range); err != nil {
		return fmt.Errorf("map %s: %w", strings.Join(t.Paths, ", "), err)
	}
	o, err := pipeline.OpenMapOutput(cfg.Out, f.Opts.Version)
	if err != nil {
		return err
	}
	_, first, tableLast := o.Input()
	in := input{Paths: t.Paths, First: first, TableLast: tableLast, Part: o.Part()}
	inJSON, _ := json.Marshal(in)
	inputs(string(inJSON))
	// A key's fragments of the input go out as one element: there are
	// many packets to a key, and a runner's cost is per element.
	byKey := map[string][]byte{}
	var key []byte
	add := func(k flows.Key, fr fragment) {
		key = flows.AppendKey(key[:0], &k)
		b := fr.encode()
		byKey[string(key)] = append(binary.AppendUvarint(byKey[string(key)], uint64(len(b))), b...)
	}
	var seq uint64
	err = o.JoinablePackets(func(jp *flows.JoinPacket) error {
		seq++
		add(jp.Key(), fragment{first, fragPacket, seq, flows.AppendJoinPacket(nil, jp)})
		return nil
	})
	if err != nil {
		return err
	}
	var batch recordBatch
	n := 0
	err = o.Records(func(r *flows.Record, ws []flows.Window) error {
		if r.Joinable {
			add(r.Key(), fragment{first, fragRecord, 0, pipeline.AppendMapRecord(nil, r, ws)})
			return nil
		}
		batch.add(t.Paths[r.Input], first, r, ws) // r.Input: its trace among the task's
		if n++; n%recordBatchLen == 0 {
			records(batch)
			batch = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		records(batch)
	}
	err = o.OpenFlows(func(of *flows.OpenFlow) error {
		add(of.Key(), fragment{first, fragOpen, 0, flows.AppendOpenFlow(nil, of)})
		return nil
	})
	for k, b := range byKey {
		fragments(k, b)
	}
	return err
}

// joinFn joins the fragments of one flow key across the inputs, in time
// order, as flowstat merge does for all keys at once: the key's joinable
// packets replayed on the flow an input before left open, its records but
// the replaced ones, its open flows kept until no later packet can
// continue them.
type joinFn struct {
	Opts   Options
	joiner *flows.Joiner // one for every key: a Joiner's memory is a slab of flows
	traces []trace       // the traces of the inputs in time order, by the joiner's numbers
	batch  recordBatch   // the records of the call's key
}

// trace is a trace of an input: its path and its input's first frame time.
type trace struct {
	path  string
	first int64
}

func (f *joinFn) Setup() {
	f.joiner = flows.NewJoiner(f.Opts.flowOptions(), func(r *flows.Record, ws []flows.Window) {
		tr := f.traces[r.Input]
		f.batch.add(tr.path, tr.first, r, ws)
	})
}

func (f *joinFn) ProcessElement(_ string, values func(*[]byte) bool, inputJSON []string, emit func([]byte)) error {
	ins, err := readInputs(inputJSON)
	if err != nil {
		return err
	}
	index := map[int64]int{}
	for i, in := range ins {
		index[in.First] = i
	}
	var frags []fragment
	var b []byte
	for values(&b) {
		b = slices.Clone(b)
		for len(b) > 0 {
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				return errors.New("damaged fragments")
			}
			fr, err := decodeFragment(b[k : k+int(n)])
			if err != nil {
				return err
			}
			frags = append(frags, fr)
			b = b[k+int(n):]
		}
	}
	slices.SortFunc(frags, func(a, b fragment) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.kind, b.kind), cmp.Compare(a.seq, b.seq))
	})
	// The joiner numbers the traces of input i on from base[i].
	base := make([]int, len(ins))
	f.traces = f.traces[:0]
	for i, in := range ins {
		base[i] = len(f.traces)
		for _, p := range in.Paths {
			f.traces = append(f.traces, trace{p, in.First})
		}
	}
	// Flows end after input i at the newest table packet of the inputs up
	// to it, as flowstat merge ends them.
	endAt := make([]int64, len(ins))
	for i, in := range ins {
		endAt[i] = in.TableLast
		if i > 0 {
			endAt[i] = max(endAt[i], endAt[i-1])
		}
	}
	joiner := f.joiner
	joiner.Flush(0) // what a failed call left
	f.batch = nil
	var r flows.Record
	for i, k := index[frags[0].first], 0; i < len(ins) && (k < len(frags) || joiner.Holds()); i++ {
		if k < len(frags) && !joiner.Holds() {
			i = index[frags[k].first] // nothing held: on to the key's next input
		}
		joiner.Begin(base[i])
		var replaced flows.Replaced
		for ; k < len(frags) && frags[k].first == ins[i].First; k++ {
			fr := &frags[k]
			switch fr.kind {
			case fragPacket:
				var jp flows.JoinPacket
				if _, err := flows.ReadJoinPacket(fr.payload, &jp); err != nil {
					return err
				}
				key := jp.Key()
				joiner.Packet(&jp, &key)
			case fragRecord:
				if replaced == nil {
					replaced = joiner.Replaced()
				}
				ws, err := pipeline.ReadMapRecord(fr.payload, &r, nil)
				if err != nil {
					return err
				}
				if !replaced.Has(&r) {
					r.Joinable = false
					r.Input += int32(base[i])
					tr := f.traces[r.Input]
					f.batch.add(tr.path, tr.first, &r, ws)
				}
			case fragOpen:
				var of flows.OpenFlow
				if _, err := flows.ReadOpenFlow(fr.payload, &of); err != nil {
					return err
				}
				if err := joiner.Open(&of); err != nil {
					return err
				}
			}
		}
		joiner.End(endAt[i])
	}
	if joiner.Holds() {
		joiner.Flush(endAt[len(ins)-1])
	}
	if len(f.batch) > 0 {
		emit(f.batch)
	}
	return nil
}

// readInputs decodes the inputs side input, in time order.
func readInputs(inputJSON []string) ([]input, error) {
	var ins []input
	for _, j := range inputJSON {
		var in input
		if err := json.Unmarshal([]byte(j), &in); err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	slices.SortFunc(ins, func(a, b input) int { return cmp.Compare(a.First, b.First) })
	return ins, nil
}

// writeFlowsFn writes the records of a bundle into a flows.parquet file
// of their own, flows/part-<uuid>.parquet, sorted as flows.parquet is.
type writeFlowsFn struct {
	Out   string
	recs  []flows.Record
	paths []string
	index map[string]int32
	// frameBases are those of the inputs by first frame time: a byte
	// range's frame numbers count on from the ranges before it.
	frameBases map[int64]uint64
}

// StartBundle numbers the inputs' frames on from their side input, once:
// the first of its bundles to run on a worker. (Beam gives a DoFn's side
// inputs to StartBundle and FinishBundle as to ProcessElement.)
func (f *writeFlowsFn) StartBundle(inputJSON []string) error {
	f.recs, f.paths, f.index = nil, nil, map[string]int32{}
	if f.frameBases != nil {
		return nil
	}
	ins, err := readInputs(inputJSON)
	if err != nil {
		return err
	}
	parts := make([]pipeline.Part, len(ins))
	for i, in := range ins {
		parts[i] = in.Part
	}
	bases, err := pipeline.FrameBases(parts)
	if err != nil {
		return err
	}
	f.frameBases = map[int64]uint64{}
	for i, in := range ins {
		f.frameBases[in.First] = bases[i]
	}
	return nil
}

func (f *writeFlowsFn) ProcessElement(b []byte, _ []string) error {
	return eachRecord(b, func(path string, first int64, r *flows.Record) error {
		i, ok := f.index[path]
		if !ok {
			i = int32(len(f.paths))
			f.index[path], f.paths = i, append(f.paths, path)
		}
		r.Input = i
		r.FirstFrame += f.frameBases[first]
		f.recs = append(f.recs, *r)
		return nil
	})
}

func (f *writeFlowsFn) FinishBundle(_ []string) error {
	if len(f.recs) == 0 {
		return nil
	}
	tables.SortFlows(f.recs)
	name := filepath.Join(f.Out, "flows", "part-"+uuid.NewString()+".parquet")
	return tables.WriteFlows(name, 0, f.recs, f.paths...)
}

// traffic is what reached a destination (address, port, protocol): its
// flows, and their packets and bytes both ways.
type traffic struct {
	Flows, Packets, Bytes int64
}

// destinationOf sums a batch's records by destination.
func destinationOf(b []byte, emit func(string, traffic)) error {
	sums := map[string]traffic{}
	err := eachRecord(b, func(_ string, _ int64, r *flows.Record) error {
		k := fmt.Sprintf("%s|%d|%d", r.DstIP, r.DstPort, r.Proto)
		sums[k] = addTraffic(sums[k], traffic{1, int64(r.Packets[0] + r.Packets[1]), int64(r.Bytes[0] + r.Bytes[1])})
		return nil
	})
	for k, t := range sums {
		emit(k, t)
	}
	return err
}

func addTraffic(a, b traffic) traffic {
	return traffic{a.Flows + b.Flows, a.Packets + b.Packets, a.Bytes + b.Bytes}
}

// destinationRow is a row of destinations.parquet.
type destinationRow struct {
	Destination string `parquet:"destination"`
	Flows       int64  `parquet:"flows"`
	Packets     int64  `parquet:"packets"`
	Bytes       int64  `parquet:"bytes"`
}

func destinationRowOf(dest string, t traffic) []byte {
	b, _ := json.Marshal(destinationRow{dest, t.Flows, t.Packets, t.Bytes})
	return b
}

// writeDestinationsFn writes the traffic per destination, few rows, the
// most packets first.
type writeDestinationsFn struct {
	Out string
}

func (f *writeDestinationsFn) ProcessElement(_ int, values func(*[]byte) bool) error {
	var rows []destinationRow
	var b []byte
	for values(&b) {
		var row destinationRow
		if err := json.Unmarshal(b, &row); err != nil {
			return err
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b destinationRow) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Destination, b.Destination))
	})
	path := filepath.Join(f.Out, "destinations.parquet")
	if err := parquet.WriteFile(path+".tmp", rows); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
