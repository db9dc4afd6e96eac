package pipeline

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"flowstat/flows"
	"flowstat/tables"
)

// MapOutput is a map task's output directory, read by a merge that runs
// elsewhere than Merge: the Apache Beam pipeline's (beam/).
type MapOutput struct {
	Dir string
	m   mapManifest
}

// OpenMapOutput reads the manifest of the map task output in dir, which
// flowstat version must have written.
func OpenMapOutput(dir, version string) (*MapOutput, error) {
	b, err := os.ReadFile(filepath.Join(dir, mapManifestFile))
	if err != nil {
		return nil, MapError{fmt.Errorf("%s is not the output of a finished map task (%w): run flowstat map on its input again", dir, err)}
	}
	o := &MapOutput{Dir: dir}
	if err := json.Unmarshal(b, &o.m); err != nil {
		return nil, MapError{fmt.Errorf("%s: %w", filepath.Join(dir, mapManifestFile), err)}
	}
	if o.m.Format != mapFormat || o.m.Version != version {
		return nil, MapError{fmt.Errorf("%s was written by flowstat %s: merge the outputs of the same flowstat (this is %s)", dir, o.m.Version, version)}
	}
	if n := len(o.m.Inputs); n == 0 || len(o.m.Identities) != n || n > 1 && o.m.Range != nil {
		return nil, MapError{fmt.Errorf("%s: %w: run flowstat map on its input again", filepath.Join(dir, mapManifestFile), errMapDamaged)}
	}
	return o, nil
}

// Input returns the path of the task's first input as given to map (the
// Beam pipeline's tasks read one each), the time of its first frame,
// which orders the inputs, and the time of the newest packet its flow
// table was given, which the join ends flows at after it
// (flows.Joiner.End).
func (o *MapOutput) Input() (path string, first, tableLast int64) {
	return o.m.Inputs[0], o.m.JoinFrom, o.m.TableLast
}

// FlowOptions returns the options of the map task's flow table, for a
// flows.Joiner.
func (o *MapOutput) FlowOptions() flows.Options {
	opts := o.m.Summary.Options
	return flows.Options{IdleTimeout: seconds(opts.IdleTimeoutS), ActiveTimeout: seconds(opts.ActiveTimeoutS),
		Linger: seconds(opts.LingerS), Interval: seconds(opts.IntervalS)}
}

// Records calls fn with each record the map task made and its windows,
// valid only during the call.
func (o *MapOutput) Records(fn func(r *flows.Record, windows []flows.Window) error) error {
	var r flows.Record
	var ws []flows.Window
	for sh := range o.m.Shards {
		err := readFrames(filepath.Join(o.Dir, "records-"+strconv.Itoa(sh)+".bin"), func(b []byte) error {
			var err error
			if ws, err = readMapRecord(b, &r, ws); err != nil {
				return err
			}
			return fn(&r, ws)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// JoinablePackets calls fn with each packet the map task logged, in the
// order its table counted those of each key.
func (o *MapOutput) JoinablePackets(fn func(jp *flows.JoinPacket) error) error {
	var jp flows.JoinPacket
	return o.joinableEntries(func(_ uint64, b []byte) error {
		if _, err := flows.ReadJoinPacket(b, &jp); err != nil {
			return err
		}
		return fn(&jp)
	})
}

// joinableEntries calls fn with the KeyHash of each packet the map task
// logged and its encoding (AppendJoinPacket), valid during the call.
func (o *MapOutput) joinableEntries(fn func(keyHash uint64, b []byte) error) error {
	for sh := range o.m.Shards {
		err := readFrames(filepath.Join(o.Dir, "joinable-"+strconv.Itoa(sh)+".bin"), func(b []byte) error {
			if len(b) < 8 {
				return errMapDamaged
			}
			return fn(binary.LittleEndian.Uint64(b), b[8:])
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// OpenFlows calls fn with each flow open at the end of the input, valid
// only during the call (its windows stay its own).
func (o *MapOutput) OpenFlows(fn func(of *flows.OpenFlow) error) error {
	var of flows.OpenFlow
	return readFrames(filepath.Join(o.Dir, "open.bin"), func(b []byte) error {
		if _, err := flows.ReadOpenFlow(b, &of); err != nil {
			return err
		}
		return fn(&of)
	})
}

// AppendMapRecord and ReadMapRecord encode a record and its windows as a
// map task's output holds them, to carry them between the workers of a
// distributed merge.
func AppendMapRecord(b []byte, r *flows.Record, windows []flows.Window) []byte {
	return appendMapRecord(b, r, windows)
}

// ReadMapRecord decodes what AppendMapRecord wrote, the windows into ws.
func ReadMapRecord(b []byte, r *flows.Record, ws []flows.Window) ([]flows.Window, error) {
	return readMapRecord(b, r, ws)
}

// Part is what a distributed merge needs of a map task's output to number
// frames on across the byte ranges of one input (map --range), and to
// check, as Merge does, that those ranges cover it and meet.
type Part struct {
	Input    string       `json:"input"`
	Identity DatasetInput `json:"identity"`
	Range    *mapRange    `json:"range,omitempty"`
	Frames   uint64       `json:"frames"`
}

// Part returns the map task's Part.
func (o *MapOutput) Part() Part {
	p := Part{Input: o.m.Inputs[0], Identity: o.m.Identities[0], Range: o.m.Range}
	if len(o.m.Summary.Inputs) > 0 {
		p.Frames = o.m.Summary.Inputs[0].Packets
	}
	return p
}

// FrameBases checks the parts of map task outputs, in any order, as
// Merge checks map task outputs (a file's byte ranges must cover it and
// meet), and returns the frames of each one's input in the ranges before
// its own: what its frame numbers count on from.
func FrameBases(parts []Part) ([]uint64, error) {
	mans := make([]mapManifest, len(parts))
	for i, p := range parts {
		mans[i] = mapManifest{Inputs: []string{p.Input}, Identities: []DatasetInput{p.Identity}, Range: p.Range,
			Summary: tables.Summary{Inputs: []tables.Input{{Packets: p.Frames}}}}
	}
	if err := numberFiles(mans); err != nil {
		return nil, err
	}
	bases := make([]uint64, len(mans))
	for i := range mans {
		bases[i] = mans[i].frameBase
	}
	return bases, nil
}
