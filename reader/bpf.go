package reader

import (
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// Filter applies a tcpdump filter expression. libpcap compiles it, so its
// semantics are exactly tcpdump's; a program is compiled per link type, as
// the offsets it tests depend on the link header.
type Filter struct {
	expr     string
	programs map[int]*pcap.BPF
	failed   map[int]error
}

// filterSnaplen is the capture length the programs are compiled for; it only
// matters for expressions that test lengths beyond the captured bytes.
const filterSnaplen = 262144

// NewFilter compiles expr for Ethernet to report syntax errors before any
// reading. An empty expression gives a nil filter, which matches everything.
func NewFilter(expr string) (*Filter, error) {
	if expr == "" {
		return nil, nil
	}
	f := &Filter{expr: expr, programs: map[int]*pcap.BPF{}, failed: map[int]error{}}
	if _, err := f.program(LinkEthernet); err != nil {
		return nil, err
	}
	return f, nil
}

// String returns the expression.
func (f *Filter) String() string { return f.expr }

// Match reports whether the frame passes the filter. A frame of a link type
// for which the expression cannot be compiled does not pass; Errors lists
// those link types.
func (f *Filter) Match(fr *Frame) bool {
	if f == nil {
		return true
	}
	if len(fr.Data) == 0 {
		return false
	}
	prog, err := f.program(fr.LinkType)
	if err != nil {
		return false
	}
	return prog.Matches(gopacket.CaptureInfo{CaptureLength: len(fr.Data), Length: fr.WireLen}, fr.Data)
}

// Errors returns, per link type, why the expression could not be compiled
// for it.
func (f *Filter) Errors() map[int]error {
	if f == nil {
		return nil
	}
	return f.failed
}

func (f *Filter) program(linkType int) (*pcap.BPF, error) {
	if prog, ok := f.programs[linkType]; ok {
		return prog, nil
	}
	if err, ok := f.failed[linkType]; ok {
		return nil, err
	}
	prog, err := pcap.NewBPF(layers.LinkType(dltOf(linkType)), filterSnaplen, f.expr)
	if err != nil {
		err = fmt.Errorf("invalid filter %q for link type %d: %w", f.expr, linkType, err)
		f.failed[linkType] = err
		return nil, err
	}
	f.programs[linkType] = prog
	return prog, nil
}

// dltOf maps a file's LINKTYPE_ value to the DLT_ value libpcap compiles
// for. They differ only for raw IP, whose DLT_ number varies by platform.
func dltOf(linkType int) int {
	switch linkType {
	case LinkRaw, LinkRawAlt14:
		return LinkRawAlt12 // DLT_RAW on Linux
	}
	return linkType
}

// Clone returns a filter of the same expression with programs of its own:
// a program keeps per-call state, so goroutines filtering at once need one
// each. A nil filter's clone is nil.
func (f *Filter) Clone() *Filter {
	if f == nil {
		return nil
	}
	return &Filter{expr: f.expr, programs: map[int]*pcap.BPF{}, failed: map[int]error{}}
}

// MergeErrors adds to f the link types a clone could not compile for.
func (f *Filter) MergeErrors(clone *Filter) {
	if f == nil || clone == nil {
		return
	}
	for lt, err := range clone.failed {
		if _, ok := f.failed[lt]; !ok {
			f.failed[lt] = err
		}
	}
}
