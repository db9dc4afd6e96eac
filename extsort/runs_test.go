package extsort

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestRunsMerge spills sorted runs longer and shorter than a block, merges
// them with runs in memory, and gets every value once, in order.
func TestRunsMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	runs, err := NewRuns[float64](t.TempDir(), "durations", "")
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Remove()
	var all []float64
	var inMemory [][]float64
	for i, n := range []int{0, 1, 3, runBlockBytes / 8, runBlockBytes/8 + 1, 3*runBlockBytes/8 + 5, 100} {
		run := make([]float64, n)
		for j := range run {
			run[j] = float64(rng.IntN(1000)) // ties across runs
		}
		slices.Sort(run)
		all = append(all, run...)
		if i%3 == 2 {
			inMemory = append(inMemory, run)
		} else {
			runs.Write(run)
		}
	}
	slices.Sort(all)
	m, err := NewMerger(func(a, b *float64) int { return cmp.Compare(*a, *b) }, []*Runs[float64]{runs, nil}, inMemory...)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	buf := make([]float64, 7)
	for {
		n, err := m.Fill(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("merged %d values, want the %d sorted ones", len(got), len(all))
	}
}

// TestMergerRunCounts merges one run, a few and many, some empty, with
// ties: the merge order must not depend on how many runs there are.
func TestMergerRunCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100} {
		var all []float64
		in := make([][]float64, k)
		for i := range in {
			for range rng.IntN(40) {
				in[i] = append(in[i], float64(rng.IntN(50)))
			}
			slices.Sort(in[i])
			all = append(all, in[i]...)
		}
		slices.Sort(all)
		m, err := NewMerger(func(a, b *float64) int { return cmp.Compare(*a, *b) }, nil, in...)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, len(all)+1)
		n, err := m.Fill(got)
		if err != nil || !slices.Equal(got[:n], all) {
			t.Fatalf("%d runs: merged %d values (error %v), want the %d sorted ones", k, n, err, len(all))
		}
	}
}

// TestRunsDamaged damages a spill file: reading it back must fail with
// the file named, whatever byte was hit (a block's header: its size,
// size decompressed or checksum; its bytes), never give other values.
func TestRunsDamaged(t *testing.T) {
	run := make([]float64, 3*runBlockBytes/8)
	for i := range run {
		run[i] = float64(i)
	}
	// Bytes of the first block's header and of its bytes, of the second's
	// header (read with the first block), and the file's last byte.
	second := func(data []byte) int64 { return frameBytes + int64(binary.LittleEndian.Uint32(data)) }
	for _, hit := range []func(data []byte) int64{
		func([]byte) int64 { return 0 }, func([]byte) int64 { return 5 }, func([]byte) int64 { return 9 },
		func([]byte) int64 { return 100 },
		func(data []byte) int64 { return second(data) + 1 }, func(data []byte) int64 { return second(data) + 6 },
		func([]byte) int64 { return 30_000 },
		func(data []byte) int64 { return int64(len(data)) - 1 },
	} {
		runs, err := NewRuns[float64](t.TempDir(), "durations", "")
		if err != nil {
			t.Fatal(err)
		}
		runs.Write(run)
		name := runs.f.Name()
		data, err := os.ReadFile(name)
		if err != nil || len(data) < 30_001 {
			t.Fatalf("spill file of %d bytes: %v", len(data), err)
		}
		at := hit(data)
		if _, err := runs.f.WriteAt([]byte{data[at] ^ 0x55}, at); err != nil {
			t.Fatal(err)
		}
		m, err := NewMerger(func(a, b *float64) int { return cmp.Compare(*a, *b) }, []*Runs[float64]{runs})
		for buf := make([]float64, 1000); err == nil; {
			var n int
			if n, err = m.Fill(buf); n == 0 && err == nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), "cannot read durations back from "+name) {
			t.Errorf("byte %d damaged: %v", at, err)
		}
		runs.Remove()
	}
}

// TestRunsCodecDamaged damages a spill file of encoded values: reading it
// back must fail, whatever byte was hit, never give other values.
func TestRunsCodecDamaged(t *testing.T) {
	run := make([]uint64, 3*runBlockBytes/8)
	for i := range run {
		run[i] = uint64(i) << 20
	}
	for _, at := range []int64{0, 5, 9, 12, 100, 5000} {
		runs, err := NewRuns[uint64](t.TempDir(), "values", "")
		if err != nil {
			t.Fatal(err)
		}
		runs.EncodeWith(uvarints)
		runs.Write(run)
		data, err := os.ReadFile(runs.f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runs.f.WriteAt([]byte{data[at] ^ 0x55}, at); err != nil {
			t.Fatal(err)
		}
		m, err := NewMerger(func(a, b *uint64) int { return cmp.Compare(*a, *b) }, []*Runs[uint64]{runs})
		for buf := make([]uint64, 1000); err == nil; {
			var n int
			if n, err = m.Fill(buf); n == 0 && err == nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), "cannot read values back from "+runs.f.Name()) {
			t.Errorf("byte %d damaged: %v", at, err)
		}
		runs.Remove()
	}
}

// BenchmarkRuns spills 256 k flow records in sorted runs of 16 k, as
// analyze's shards do, and merges them back: S2 and the checksum both
// ways, the system calls and the merge.
// TestRunsMergeAsWritten writes many runs with a small fan-in: they are
// merged as they come, so few are left, the file's merged space is given
// back, and merging what is left gives every value once, in order.
func TestRunsMergeAsWritten(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRunsMergeAsWritten(t, nil) })
	t.Run("codec", func(t *testing.T) { testRunsMergeAsWritten(t, &uvarints) })
}

// uvarints is a Codec of uint64 values as varints.
var uvarints = Codec[uint64]{
	Append: func(b []byte, v *uint64) []byte { return binary.AppendUvarint(b, *v) },
	Read: func(b []byte, v *uint64) ([]byte, error) {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad varint")
		}
		*v = x
		return b[n:], nil
	},
	MaxBytes: binary.MaxVarintLen64,
}

func testRunsMergeAsWritten(t *testing.T, codec *Codec[uint64]) {
	rng := rand.New(rand.NewPCG(3, 4))
	runs, err := NewRuns[uint64](t.TempDir(), "values", "")
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Remove()
	if codec != nil {
		runs.EncodeWith(*codec)
	}
	const fanIn = 4
	runs.fanIn = fanIn
	runs.MergeAsWritten(func(a, b *uint64) int { return cmp.Compare(*a, *b) })
	var all []uint64
	const written = 150
	for range written {
		run := make([]uint64, rng.IntN(3*runBlockBytes/8))
		for j := range run {
			run[j] = rng.Uint64N(1 << 20) // ties across runs
		}
		slices.Sort(run)
		all = append(all, run...)
		runs.Write(run)
		if n, levels := len(runs.runs), slices.Max(runs.levels)+1; n > (fanIn-1)*levels {
			t.Fatalf("%d runs on %d levels", n, levels)
		}
	}
	if n := len(runs.runs); n >= 10 {
		t.Fatalf("%d runs left of %d written", n, written)
	}
	// Every value was written 3 or 4 times (150 runs: levels 0 to 3), but
	// only the last copy takes space.
	var st syscall.Stat_t
	if err := syscall.Stat(runs.f.Name(), &st); err != nil {
		t.Fatal(err)
	}
	fi, _ := runs.f.Stat()
	probe, err := os.Create(filepath.Join(filepath.Dir(runs.f.Name()), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	probe.Write(make([]byte, 8192))
	defer probe.Close()
	if err := punchHole(probe, 0, 4096); err != nil {
		t.Logf("%s cannot punch holes (%v): the merged runs keep their space", runs.f.Name(), err)
	} else if st.Blocks*512 > fi.Size()/2 {
		t.Errorf("%d of the file's %d bytes allocated, want the merged runs' space given back", st.Blocks*512, fi.Size())
	}
	slices.Sort(all)
	m, err := NewMerger(func(a, b *uint64) int { return cmp.Compare(*a, *b) }, []*Runs[uint64]{runs})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint64, len(all)+1)
	n, err := m.Fill(got)
	if err != nil || !slices.Equal(got[:n], all) {
		t.Fatalf("merged %d values (error %v), want the %d sorted ones", n, err, len(all))
	}
}

// drain reads every value of m, a buffer at a time.
func drain[T any](tb testing.TB, m *Merger[T], buf []T) {
	for {
		n, err := m.Fill(buf)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}
