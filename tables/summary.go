package tables

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"flowstat/extsort"
	"flowstat/flows"
)

// Summary is summary.json: what was read, what became of every packet, and
// the flows by protocol and state. `flowstat report` reads it back for the
// options the flows were made with.
type Summary struct {
	Tool      string        `json:"tool"`
	Version   string        `json:"version"`
	Options   Options       `json:"options"`
	Inputs    []Input       `json:"inputs"`
	Packets   PacketCounts  `json:"packets"`
	Flows     FlowCounts    `json:"flows"`
	Damage    []DamageEntry `json:"damage"`
	Warnings  []string      `json:"warnings"`
	ElapsedS  float64       `json:"elapsed_s"`
	PacketsPS float64       `json:"packets_per_s"`
	FirstSeen *time.Time    `json:"first_seen,omitempty"`
	LastSeen  *time.Time    `json:"last_seen,omitempty"`
	// Peak is the busiest second of packet time; nil when no frame passed
	// the filters.
	Peak *Peak `json:"peak_second,omitempty"`
	// FragmentTargets are the destinations of IP fragments whose first
	// fragment never came (in no flow), the most such packets first.
	FragmentTargets []FragmentTarget `json:"fragment_targets,omitempty"`
}

// Peak is the second, aligned to the second in UTC, in which the capture
// has the most frames (the earliest of equals), counted from packet times
// as tshark counts them: every frame the filters let through, whatever it
// decodes to. Its rates are over the part of the second the capture covers
// (from its first frame, or to its last), which is all of it but at the
// capture's ends.
type Peak struct {
	Start       time.Time `json:"start"`
	Packets     uint64    `json:"packets"`
	Bytes       uint64    `json:"bytes"` // on the wire
	CoveredS    float64   `json:"covered_s"`
	PacketsPerS float64   `json:"packets_per_s"` // 0 when CoveredS is 0 (a capture of one instant)
	BitsPerS    float64   `json:"bits_per_s"`
}

// FragmentTarget is a destination of fragments that joined no flow, their
// first fragment never having come: many are a fragment flood.
type FragmentTarget struct {
	Dst       string    `json:"dst"`
	Proto     uint8     `json:"proto"` // of the datagrams, from the IP header
	Packets   uint64    `json:"packets"`
	Bytes     uint64    `json:"bytes"` // IP lengths
	Sources   uint64    `json:"sources"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// PeakPPS and PeakBPS are those of the busiest second, estimated from
	// each source's fragments as from a flow's.
	PeakPPS float64 `json:"peak_pps"`
	PeakBPS float64 `json:"peak_bps"`
	// TopSources are the sources that sent the most, at most 100.
	TopSources []FragmentSource `json:"top_sources"`
}

// FragmentSource is what one source sent a FragmentTarget.
type FragmentSource struct {
	Src       string    `json:"src"`
	Packets   uint64    `json:"packets"`
	Bytes     uint64    `json:"bytes"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Options are the settings the flows were made with.
type Options struct {
	IntervalS float64 `json:"interval_s"`
	// IntervalAuto says that the interval was chosen to fit the capture's
	// span (--interval auto), not given.
	IntervalAuto   bool     `json:"interval_auto"`
	IdleTimeoutS   float64  `json:"idle_timeout_s"`
	ActiveTimeoutS float64  `json:"active_timeout_s"` // 0: off
	LingerS        float64  `json:"linger_s"`
	Targets        []string `json:"targets"`
	BPF            string   `json:"bpf"`
	Workers        int      `json:"workers"`
	MaxFlows       int      `json:"max_flows,omitempty"` // 0: unbounded
	// CommunityIDSeed is the seed of flows.parquet's community_id.
	CommunityIDSeed uint16 `json:"community_id_seed"`
	// NoDecap says the flows are the tunnels' outer ones (--no-decap):
	// extract decodes the packets alike.
	NoDecap bool `json:"no_decap,omitempty"`
}

// Input describes one trace read.
type Input struct {
	Path        string     `json:"path"`
	Format      string     `json:"format"`
	Compression string     `json:"compression"`
	LinkTypes   []int      `json:"link_types"`
	FirstSeen   *time.Time `json:"first_seen"`
	LastSeen    *time.Time `json:"last_seen"`
	Packets     uint64     `json:"packets"`
	Bytes       uint64     `json:"bytes"` // frame lengths on the wire
	Error       string     `json:"error,omitempty"`
}

// PacketCounts says what became of the packets. Read is every frame; each
// frame lands in exactly one of FilteredOut, NonIP, Truncated,
// DecodeErrors, UnknownLink or IPv4+IPv6.
type PacketCounts struct {
	Read            uint64 `json:"read"`
	FilteredOut     uint64 `json:"filtered_out"` // by --bpf or --target
	IPv4            uint64 `json:"ipv4"`
	IPv6            uint64 `json:"ipv6"`
	NonIP           uint64 `json:"non_ip"`
	TCP             uint64 `json:"tcp"`
	UDP             uint64 `json:"udp"`
	ICMP            uint64 `json:"icmp"` // ICMP and ICMPv6
	Other           uint64 `json:"other"`
	Fragments       uint64 `json:"fragments"`
	OrphanFragments uint64 `json:"orphan_fragments"`
	ICMPErrors      uint64 `json:"icmp_errors"`
	Truncated       uint64 `json:"truncated"`
	DecodeErrors    uint64 `json:"decode_errors"`
	UnknownLink     uint64 `json:"unknown_link"`
	OutOfOrder      uint64 `json:"out_of_order"`
	Bytes           uint64 `json:"bytes"` // IP bytes of the packets that made flows
}

// Add adds o's counts to c.
func (c *PacketCounts) Add(o *PacketCounts) {
	c.Read += o.Read
	c.FilteredOut += o.FilteredOut
	c.IPv4 += o.IPv4
	c.IPv6 += o.IPv6
	c.NonIP += o.NonIP
	c.TCP += o.TCP
	c.UDP += o.UDP
	c.ICMP += o.ICMP
	c.Other += o.Other
	c.Fragments += o.Fragments
	c.OrphanFragments += o.OrphanFragments
	c.ICMPErrors += o.ICMPErrors
	c.Truncated += o.Truncated
	c.DecodeErrors += o.DecodeErrors
	c.UnknownLink += o.UnknownLink
	c.OutOfOrder += o.OutOfOrder
	c.Bytes += o.Bytes
}

// FlowCounts counts flow records.
type FlowCounts struct {
	Total   uint64                       `json:"total"`
	ByProto map[string]uint64            `json:"by_proto"`
	ByState map[string]map[string]uint64 `json:"by_state"` // protocol -> state -> records
	ByEnd   map[string]uint64            `json:"by_end_reason"`
}

// DamageEntry is one damaged region of an input.
type DamageEntry struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Reason string `json:"reason"`
}

// ProtoName names an IP protocol for tables and reports.
func ProtoName(proto uint8) string {
	switch proto {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 132:
		return "sctp"
	}
	return fmt.Sprintf("ip-%d", proto)
}

// CountFlows adds records to the counts.
func (c *FlowCounts) CountFlows(recs []flows.Record) {
	var t FlowTally
	for i := range recs {
		t.Count(&recs[i])
	}
	t.AddTo(c)
}

// FlowTally counts flow records with integer keys: cheap enough for a flow
// table's goroutines. Tallies add into FlowCounts.
type FlowTally struct {
	byState map[uint16]uint64 // protocol << 8 | state
	byEnd   [256]uint64
}

// Count adds one record.
func (t *FlowTally) Count(r *flows.Record) {
	if t.byState == nil {
		t.byState = map[uint16]uint64{}
	}
	t.byState[uint16(r.Proto)<<8|uint16(r.State)]++
	t.byEnd[r.EndReason]++
}

// AddTo adds the tally to c.
func (t *FlowTally) AddTo(c *FlowCounts) {
	if len(t.byState) == 0 {
		return
	}
	if c.ByProto == nil {
		c.ByProto, c.ByState, c.ByEnd = map[string]uint64{}, map[string]map[string]uint64{}, map[string]uint64{}
	}
	for k, n := range t.byState {
		proto, state := ProtoName(uint8(k>>8)), flows.State(k&0xFF).String()
		c.Total += n
		c.ByProto[proto] += n
		if c.ByState[proto] == nil {
			c.ByState[proto] = map[string]uint64{}
		}
		c.ByState[proto][state] += n
	}
	for end, n := range t.byEnd {
		if n > 0 {
			c.ByEnd[flows.EndReason(end).String()] += n
		}
	}
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", filepath.Base(path), err)
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// ReadSummary reads summary.json.
func ReadSummary(path string) (*Summary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	return &s, nil
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers never see a partial file.
func WriteFileAtomic(path string, data []byte) error {
	return WriteFileAtomicFrom(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileAtomicFrom writes what write writes (unbuffered: write
// buffers) to a temporary file beside path, syncs it and renames it over
// path, so readers never see a partial file; on an error the temporary
// file is removed.
func WriteFileAtomicFrom(path string, write func(io.Writer) error) error {
	tmp, err := extsort.CreateLockedTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return writeError(path, err)
	}
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(0o644) // as os.WriteFile would make it, not CreateTemp's 0600
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		// Renamed while still open, so locked: another run's RemoveStale leaves it alone.
		err = os.Rename(tmp.Name(), path)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return writeError(path, err)
	}
	return nil
}

// writeError says which output could not be written and why. An I/O error
// is reduced to its cause (no space left on device, ...): the temporary
// file it names is gone.
func writeError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot write %s: %w", path, err)
}
