package reader

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Damage at the sizes of real archives: regions of zeros (what a file
// system leaves of a capture the machine died while writing) and of random
// bytes (a bad disk run, a botched copy), smaller than a chunk, as large
// as one and over several, at the start, inside a chunk, across chunk
// boundaries and at the end, in traces larger than the split threshold
// and read in chunks of the size analyze uses.

// sizedFrames makes about size bytes of Ethernet TCP frames of varied
// lengths, with payloads of pseudo-random bytes, 10 µs apart.
func sizedFrames(size int) []testFrame {
	rng := rand.New(rand.NewPCG(1, 2))
	var frames []testFrame
	for total, i := 0, 0; total < size; i++ {
		n := 40 + rng.IntN(1460)
		data := ether(etherIPv4, nil, ipv4TCP("10.0.0.1", "10.0.0.2", uint16(1000+i%5000), 80, ACK, n))
		payload := make([]byte, n-40)
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		data = append(data, payload...)
		frames = append(frames, testFrame{time: 1_700_000_000_000_000_000 + int64(i)*10_000, link: LinkEthernet, data: data})
		total += len(data) + 16
	}
	return frames
}

// damaged returns a copy of data with n bytes from at overwritten: zeros,
// or random bytes.
func damaged(data []byte, at, n int, random bool) []byte {
	out := slices.Clone(data)
	region := out[at : at+n]
	if !random {
		clear(region)
		return out
	}
	rng := rand.New(rand.NewPCG(uint64(at), uint64(n)))
	for i := 0; i+8 <= len(region); i += 8 {
		binary.LittleEndian.PutUint64(region[i:], rng.Uint64())
	}
	return out
}

// frameSum is a frame as these tests compare it: where it was, its time
// and lengths, and a hash of its bytes (traces of tens of MB are compared).
type frameSum struct {
	offset, time int64
	wire, length int
	hash         uint64
}

func sumOf(f *Frame) frameSum {
	h := fnv.New64a()
	h.Write(f.Data)
	return frameSum{f.Offset, f.Time, f.WireLen, len(f.Data), h.Sum64()}
}

func sumSequentially(path string) ([]frameSum, []Damage, error) {
	tr, err := Open(path, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tr.Close()
	var out []frameSum
	var f Frame
	for tr.Next(&f) == nil {
		out = append(out, sumOf(&f))
	}
	return out, tr.Damages, nil
}

func sumSplit(s *Split, workers int) ([]frameSum, []Damage, error) {
	read := func(c *ChunkReader, _ int) []frameSum {
		var out []frameSum
		var f Frame
		for c.Next(&f) == nil {
			out = append(out, sumOf(&f))
		}
		return out
	}
	var frames []frameSum
	use := func(part []frameSum) error { frames = append(frames, part...); return nil }
	var tr Trace
	err := ReadSplit(s, workers, 2*workers, read, use, &tr)
	return frames, tr.Damages, err
}

// readBoth reads path sequentially and in chunks of DefaultChunkSize on
// two goroutines, and fails the test unless both give the same frames and
// damages, or when either takes longer than limit.
func readBoth(t *testing.T, name, path string, limit time.Duration) (frames int, damages []Damage) {
	t.Helper()
	type result struct {
		frames  []frameSum
		damages []Damage
		err     error
	}
	done := make(chan [2]result, 1)
	go func() {
		var r [2]result
		r[0].frames, r[0].damages, r[0].err = sumSequentially(path)
		s, err := SplitTrace(path, DefaultChunkSize, nil)
		if err == nil && s == nil {
			err = fmt.Errorf("not split")
		}
		if err == nil {
			r[1].frames, r[1].damages, err = sumSplit(s, 2)
		}
		r[1].err = err
		done <- r
	}()
	var r [2]result
	select {
	case r = <-done:
	case <-time.After(limit):
		t.Fatalf("%s: reading did not end within %v", name, limit)
	}
	if r[0].err != nil || r[1].err != nil {
		t.Fatalf("%s: reading: %v; split reading: %v", name, r[0].err, r[1].err)
	}
	if !slices.Equal(r[0].frames, r[1].frames) {
		t.Errorf("%s: %d frames read in chunks differ from the %d of a sequential pass", name, len(r[1].frames), len(r[0].frames))
	}
	if got, want := fmt.Sprint(damageList(r[1].damages)), fmt.Sprint(damageList(r[0].damages)); got != want {
		t.Errorf("%s: damages read in chunks %s, want %s", name, got, want)
	}
	return len(r[0].frames), r[0].damages
}

// TestSplitDamagedAtSize reads traces of 36 MB with damaged regions of
// several sizes and places in chunks of the default size, and requires
// the frames and damaged regions of a sequential pass, within a deadline
// generous against the clean trace's reading.
func TestSplitDamagedAtSize(t *testing.T) {
	if testing.Short() {
		t.Skip("reads traces of tens of MB")
	}
	const size = 36 << 20
	frames := sizedFrames(size)
	traces := map[string][]byte{
		"pcap":   writePcap(binary.LittleEndian, false, LinkEthernet, frames),
		"pcapng": writePcapng(binary.BigEndian, frames),
	}
	dir := t.TempDir()
	chunk := int(DefaultChunkSize)
	for format, clean := range traces {
		path := filepath.Join(dir, "clean."+format)
		if err := os.WriteFile(path, clean, 0o644); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		n, damages := readBoth(t, format+" intact", path, time.Minute)
		if n != len(frames) || len(damages) != 0 {
			t.Fatalf("%s intact: %d frames, damages %v; want %d, none", format, n, damageList(damages), len(frames))
		}
		limit := max(30*time.Second, 20*time.Since(started))
		first := 24 // after pcap's file header, in the first record for pcapng
		regions := map[string]int{"100 kB": 100 << 10, "one chunk": chunk, "20 MB": 20 << 20}
		for sizeName, n := range regions {
			places := map[string]int{
				"at the start":        first,
				"inside a chunk":      chunk + chunk/4,
				"across a boundary":   max(2*chunk-n/2, chunk) + 7, // over the boundary at 2*chunk, or from the first on
				"at the end":          len(clean) - n,
				"inside, then intact": len(clean) - n - chunk/2,
			}
			for place, at := range places {
				for _, random := range []bool{false, true} {
					kind := "zeros"
					if random {
						kind = "random bytes"
					}
					name := fmt.Sprintf("%s: %s of %s %s", format, sizeName, kind, place)
					path := filepath.Join(dir, "damaged."+format)
					if err := os.WriteFile(path, damaged(clean, at, n, random), 0o644); err != nil {
						t.Fatal(err)
					}
					if _, damages := readBoth(t, name, path, limit); len(damages) == 0 {
						t.Errorf("%s: no damage found", name)
					}
				}
			}
		}
		// Nothing but a header and garbage.
		header := 24
		if format == "pcapng" {
			header = 28
		}
		path = filepath.Join(dir, "garbage."+format)
		garbage := damaged(clean[:header+30<<20], header, 30<<20, true)
		if err := os.WriteFile(path, garbage, 0o644); err != nil {
			t.Fatal(err)
		}
		if n, damages := readBoth(t, format+": a header and 30 MB of random bytes", path, limit); n != 0 || len(damages) != 1 {
			t.Errorf("%s, a header and garbage: %d frames, damages %v; want none, one", format, n, damageList(damages))
		}
	}
}

// BenchmarkReadSplitDamaged reads a 36 MB trace whole, with 20 MB of
// zeros, and with 20 MB of random bytes across chunk boundaries, in one
// pass and in chunks on two goroutines: a damaged region must cost about
// what reading as many bytes costs, or less.
func BenchmarkReadSplitDamaged(b *testing.B) {
	clean := writePcap(binary.LittleEndian, false, LinkEthernet, sizedFrames(36<<20))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"intact", clean},
		{"zeros", damaged(clean, 5<<20, 20<<20, false)},
		{"random", damaged(clean, 5<<20, 20<<20, true)},
	} {
		path := filepath.Join(b.TempDir(), "trace.pcap")
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/sequential", func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				tr, err := Open(path, nil)
				if err != nil {
					b.Fatal(err)
				}
				var f Frame
				for tr.Next(&f) == nil {
				}
				tr.Close()
			}
		})
		b.Run(c.name+"/split", func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			s, err := SplitTrace(path, DefaultChunkSize, nil)
			if err != nil || s == nil {
				b.Fatalf("cannot split: %v", err)
			}
			for b.Loop() {
				if _, _, err := sumSplit(s, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
