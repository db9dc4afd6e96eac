package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"flowstat/flows"
	"flowstat/tables"
)

// The names in a dataset directory besides its tables' directories. They
// begin with "_", which Spark and Hive skip.
const (
	// ManifestFile lists the inputs in the dataset, a JSON line each.
	ManifestFile = "_inputs.jsonl"
	lockFile     = "_lock"
	// A run writes its files under _staging-<run>/, and lists them in
	// _commit-<run>.json before it moves them in.
	stagingPrefix = "_staging-"
	commitPrefix  = "_commit-"
)

// The tables of a dataset, each a directory of Hive partitions.
const (
	DatasetFlows     = "flows"
	DatasetIntervals = "intervals"
)

// identityBytes is how much of each end of an input its identity hashes:
// enough to hold the timestamps of its first and last packets.
const identityBytes = 1 << 20

// DatasetInput is a line of a dataset's manifest: an input a run added.
// Two inputs are the same when their sizes and hashes are; the path and
// modification time only tell the user which file it was.
type DatasetInput struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Hash is the SHA-256 of the input's first and last MiB (its whole
	// content when smaller than 2 MiB), in hex.
	Hash string `json:"hash_first_last_mib"`
	Run  string `json:"run"`
	// The first and last packet times of the run that added the input
	// (null when it had none).
	FirstPacket *time.Time `json:"run_first_packet"`
	LastPacket  *time.Time `json:"run_last_packet"`
}

// AlreadyInDatasetError says that an input was added to the dataset before.
type AlreadyInDatasetError struct {
	Dir   string
	Input string       // the path given now
	Added DatasetInput // the manifest's line
}

func (e *AlreadyInDatasetError) Error() string {
	return fmt.Sprintf("trace %s is already in dataset %s: run %s added it from %s (the same size, first and last MiB); "+
		"analyse only traces not in the dataset yet, or to add this one again, first delete the run's files "+
		"%s and its lines in %s",
		e.Input, e.Dir, e.Added.Run, e.Added.Path,
		filepath.Join(e.Dir, "*", "date=*", "hour=*", "part-"+e.Added.Run+"-*.parquet"), filepath.Join(e.Dir, ManifestFile))
}

// ErrDatasetBusy is returned when another run holds the dataset.
var ErrDatasetBusy = errors.New("another flowstat run is adding to this dataset: wait for it to end")

// Dataset is a partitioned flow dataset a run adds its flows and
// intervals to, locked from OpenDataset to Close: one run at a time adds
// to a dataset. WriteOutputs, given it in Config, writes the run's files
// out of sight, and Commit moves them in.
type Dataset struct {
	Dir string
	// FileBytes is about the largest a file grows (0:
	// tables.DefaultFileBytes).
	FileBytes int64
	// Recovered is how many files of an interrupted run OpenDataset
	// removed.
	Recovered int

	lock     *os.File
	inputs   []DatasetInput
	manifest []byte
	run      string
	// The run's files, relative to Dir, written at once by two goroutines.
	flowFiles, intervalFiles []string
}

// OpenDataset opens the dataset in dir, creating it if need be, for a
// run of the traces at paths: it locks it, undoes what an interrupted run
// left, and refuses with an *AlreadyInDatasetError an input that is in it
// already.
func OpenDataset(dir string, paths []string) (*Dataset, error) {
	var inputs []DatasetInput
	for _, p := range paths {
		in, err := identify(p)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	return OpenDatasetFor(dir, inputs)
}

// OpenDatasetFor is OpenDataset for inputs identified elsewhere: those
// of map tasks (MapInputs), which a merge adds.
func OpenDatasetFor(dir string, inputs []DatasetInput) (*Dataset, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create dataset: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot lock dataset: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("cannot lock dataset %s: %w", dir, ErrDatasetBusy)
		}
		return nil, fmt.Errorf("cannot lock dataset %s: %w", dir, err)
	}
	d := &Dataset{Dir: dir, lock: lock}
	if err := d.open(inputs); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Dataset) open(inputs []DatasetInput) error {
	manifest, err := os.ReadFile(filepath.Join(d.Dir, ManifestFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot read dataset manifest: %w", err)
	}
	d.manifest = manifest
	runs := map[string]bool{}
	var known []DatasetInput
	for i, line := range bytes.Split(manifest, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var in DatasetInput
		if err := json.Unmarshal(line, &in); err != nil {
			return fmt.Errorf("cannot read dataset manifest %s: line %d: %w", filepath.Join(d.Dir, ManifestFile), i+1, err)
		}
		known = append(known, in)
		runs[in.Run] = true
	}
	if d.Recovered, err = recoverDataset(d.Dir, runs); err != nil {
		return err
	}
	for _, in := range inputs {
		for _, k := range known {
			if k.Size == in.Size && k.Hash == in.Hash {
				return &AlreadyInDatasetError{Dir: d.Dir, Input: in.Path, Added: k}
			}
		}
		d.inputs = append(d.inputs, in)
	}
	return nil
}

// identify returns an input's identity: its size and the hash of its ends.
func identify(path string) (DatasetInput, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return DatasetInput{}, fmt.Errorf("cannot identify input: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return DatasetInput{}, fmt.Errorf("cannot identify input: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return DatasetInput{}, fmt.Errorf("cannot identify input: %w", err)
	}
	h := sha256.New()
	size := info.Size()
	head := min(size, identityBytes)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, head)); err != nil {
		return DatasetInput{}, fmt.Errorf("cannot identify input %s: %w", path, err)
	}
	tail := max(head, size-identityBytes)
	if _, err := io.Copy(h, io.NewSectionReader(f, tail, size-tail)); err != nil {
		return DatasetInput{}, fmt.Errorf("cannot identify input %s: %w", path, err)
	}
	return DatasetInput{Path: abs, Size: size, ModTime: info.ModTime().UTC(), Hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// recoverDataset undoes what runs interrupted before their end left in
// dir: the files of a run that listed them but is not in the manifest
// (runs), which it was moving in, and every run's staged files. It
// returns how many files it removed from the tables.
func recoverDataset(dir string, runs map[string]bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cannot read dataset: %w", err)
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, commitPrefix) && strings.HasSuffix(name, ".json"):
			run := strings.TrimSuffix(strings.TrimPrefix(name, commitPrefix), ".json")
			if !runs[run] {
				n, err := removeListed(dir, name)
				removed += n
				if err != nil {
					return removed, err
				}
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return removed, fmt.Errorf("cannot recover dataset: %w", err)
			}
		case strings.HasPrefix(name, stagingPrefix), strings.HasPrefix(name, "._") && strings.Contains(name, ".tmp-"):
			// Staged files, and the manifest or a commit list half written.
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return removed, fmt.Errorf("cannot recover dataset: %w", err)
			}
		}
	}
	return removed, nil
}

// removeListed removes the files a commit list names.
func removeListed(dir, list string) (int, error) {
	data, err := os.ReadFile(filepath.Join(dir, list))
	if err != nil {
		return 0, fmt.Errorf("cannot recover dataset: %w", err)
	}
	var c commitList
	if err := json.Unmarshal(data, &c); err != nil {
		return 0, fmt.Errorf("cannot recover dataset: %s: %w", list, err)
	}
	removed := 0
	for _, f := range c.Files {
		// A list is ours, but its names must stay in the tables.
		if !filepath.IsLocal(f) || !strings.HasPrefix(filepath.Base(f), "part-"+c.Run+"-") {
			return removed, fmt.Errorf("cannot recover dataset: %s names %q", list, f)
		}
		err := os.Remove(filepath.Join(dir, f))
		if err == nil {
			removed++
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("cannot recover dataset: %w", err)
		}
	}
	return removed, nil
}

// commitList is _commit-<run>.json: the files a run moves into the tables.
type commitList struct {
	Run   string   `json:"run"`
	Files []string `json:"files"`
}

// begin names the run whose summary is s, and empties its staging
// directory.
func (d *Dataset) begin(s *tables.Summary) error {
	d.run = runID(s, d.inputs)
	for i := range d.inputs {
		d.inputs[i].Run = d.run
		d.inputs[i].FirstPacket, d.inputs[i].LastPacket = s.FirstSeen, s.LastSeen
	}
	if err := os.RemoveAll(d.staging()); err != nil {
		return fmt.Errorf("cannot stage dataset files: %w", err)
	}
	return nil
}

// staging is the directory the run's files are written in before Commit.
func (d *Dataset) staging() string { return filepath.Join(d.Dir, stagingPrefix+d.run) }

// options says where the files of table go, and which table of the
// output directory out tells their sizes.
func (d *Dataset) options(table, out, file string) tables.SplitOptions {
	return tables.SplitOptions{Dir: filepath.Join(d.staging(), table), Prefix: "part-" + d.run + "-",
		FileBytes: d.FileBytes, Sizes: filepath.Join(out, file)}
}

// stageFlows writes the records next returns, those of flows.parquet in
// out, into the partitions of the flows, out of sight until Commit; inputs
// name the records' input files, as in flows.parquet.
func (d *Dataset) stageFlows(out string, seed uint16, next func() ([]flows.Record, error), inputs []string) error {
	names, err := tables.WriteFlowsPartitioned(d.options(DatasetFlows, out, tables.FlowsFile), seed, next, inputs...)
	d.flowFiles = inTable(DatasetFlows, names)
	return err
}

// linkFlows puts flows.parquet in out into the dataset as it is, when it
// is one file of it (tables.LinkWhole), and reports whether it was.
func (d *Dataset) linkFlows(out string) (bool, error) {
	names, ok, err := tables.LinkWhole(d.options(DatasetFlows, out, tables.FlowsFile), "first_seen")
	d.flowFiles = inTable(DatasetFlows, names)
	return ok, err
}

// stageIntervals writes the rows of intervals.parquet in out into the
// partitions of the intervals, out of sight until Commit.
func (d *Dataset) stageIntervals(out string) error {
	defer phase("dataset intervals")()
	o := d.options(DatasetIntervals, out, tables.IntervalsFile)
	names, ok, err := tables.LinkWhole(o, "window_start")
	if err == nil && !ok {
		names, err = tables.SplitIntervals(o)
	}
	d.intervalFiles = inTable(DatasetIntervals, names)
	return err
}

func inTable(table string, names []string) []string {
	for i := range names {
		names[i] = filepath.Join(table, names[i])
	}
	return names
}

// runID names a run's files: its first packet's time, which orders runs
// as their traces are, and a hash of its inputs' identities, which tells
// apart runs over traces of the same time.
func runID(s *tables.Summary, inputs []DatasetInput) string {
	h := sha256.New()
	for _, in := range inputs {
		fmt.Fprintf(h, "%d %s\n", in.Size, in.Hash)
	}
	first := "00000000T000000Z"
	if s.FirstSeen != nil {
		first = s.FirstSeen.UTC().Format("20060102T150405Z")
	}
	return first + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Commit moves the staged files into the tables and adds the inputs to
// the manifest, last: a run interrupted before has added nothing, and
// the next run into the dataset removes what it moved in. It returns the
// number of files added.
func (d *Dataset) Commit() (int, error) {
	if d.run == "" {
		panic("BUG: Commit before WriteOutputs")
	}
	list := filepath.Join(d.Dir, commitPrefix+d.run+".json")
	if err := tables.WriteJSON(list, commitList{Run: d.run, Files: d.staged()}); err != nil {
		return 0, fmt.Errorf("cannot add to dataset: %w", err)
	}
	n, err := d.commit()
	if err != nil {
		// Take back what was moved in, as the next run would.
		if _, rerr := recoverDataset(d.Dir, map[string]bool{}); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return n, err
}

// commit does Commit's work once the files are listed.
func (d *Dataset) commit() (int, error) {
	list := filepath.Join(d.Dir, commitPrefix+d.run+".json")
	staging := d.staging()
	dirs := map[string]bool{}
	for _, f := range d.staged() {
		to := filepath.Join(d.Dir, f)
		if _, err := os.Lstat(to); err == nil {
			return 0, fmt.Errorf("cannot add to dataset: %s exists", to)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return 0, fmt.Errorf("cannot add to dataset: %w", err)
		}
		if err := os.Rename(filepath.Join(staging, f), to); err != nil {
			return 0, fmt.Errorf("cannot add to dataset: %w", err)
		}
		dirs[filepath.Dir(to)] = true
	}
	// The names must be on disk before the manifest says they are.
	for dir := range dirs {
		syncDir(dir)
	}
	manifest := bytes.Clone(d.manifest)
	if len(manifest) > 0 && manifest[len(manifest)-1] != '\n' {
		manifest = append(manifest, '\n')
	}
	for _, in := range d.inputs {
		line, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("cannot add to dataset: %w", err)
		}
		manifest = append(append(manifest, line...), '\n')
	}
	if err := tables.WriteFileAtomic(filepath.Join(d.Dir, ManifestFile), manifest); err != nil {
		return 0, fmt.Errorf("cannot add to dataset: %w", err)
	}
	syncDir(d.Dir)
	d.manifest = manifest
	// The run is in: its list is of no more use, and were it left, the
	// next run would see the run in the manifest and only remove it.
	os.Remove(list)
	return len(d.staged()), nil
}

// staged are the run's files, relative to Dir.
func (d *Dataset) staged() []string { return slices.Concat(d.flowFiles, d.intervalFiles) }

// Close removes what Stage left and unlocks the dataset.
func (d *Dataset) Close() error {
	var err error
	if d.run != "" {
		err = os.RemoveAll(d.staging())
	}
	return errors.Join(err, d.lock.Close())
}

// Run is the run's name in the dataset's file names and manifest, once
// staged.
func (d *Dataset) Run() string { return d.run }

// stageFlows writes the run's records into the dataset's flows, merging
// the spilled runs again (cfg.Dataset).
func stageFlows(cfg *Config, res *Result) error {
	defer phase("dataset flows")()
	if linked, err := cfg.Dataset.linkFlows(cfg.Out); linked || err != nil {
		return err
	}
	var next func() ([]flows.Record, error)
	if res.spilled == nil {
		left := res.records
		next = func() ([]flows.Record, error) {
			part := left[:min(len(left), tables.RowGroupRows)]
			left = left[len(part):]
			return part, nil
		}
	} else {
		merge, err := spilledRecords(res.spilled)
		if err != nil {
			return err
		}
		next = tables.RowGroupsFrom(merge.Fill)
	}
	return cfg.Dataset.stageFlows(cfg.Out, cfg.CommunityIDSeed, next, res.inputs)
}
