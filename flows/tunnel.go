package flows

import (
	"sync"

	"flowstat/reader"
)

// Tunnel is the outermost tunnel a flow's first packet came in: its kind,
// its identifier (VNI, TEID, label, key or session), and its outer
// endpoints (none for MPLS, which has no addresses of its own).
type Tunnel struct {
	Kind     reader.Tunnel
	ID       uint32
	Src, Dst IP
}

// TunnelRef names a Tunnel in the process's list of the tunnels seen, so
// that a record carries four bytes for it rather than forty: records are
// copied, sorted and spilled many times, and few flows are tunnelled.
// NoTunnel, the zero value, is a flow outside tunnels.
type TunnelRef uint32

// NoTunnel is the TunnelRef of flows outside tunnels.
const NoTunnel TunnelRef = 0

// tunnels is every Tunnel given a TunnelRef, by ref - 1. Distinct tunnels
// are few (endpoints of an overlay, times its ids), and are kept for the
// life of the process, as records that name them may be anywhere.
var tunnels struct {
	sync.Mutex
	list []Tunnel
	refs map[Tunnel]TunnelRef
}

// RefTunnel returns the TunnelRef of t, the same each time.
func RefTunnel(t Tunnel) TunnelRef {
	tunnels.Lock()
	defer tunnels.Unlock()
	if ref, ok := tunnels.refs[t]; ok {
		return ref
	}
	if tunnels.refs == nil {
		tunnels.refs = map[Tunnel]TunnelRef{}
	}
	tunnels.list = append(tunnels.list, t)
	ref := TunnelRef(len(tunnels.list))
	tunnels.refs[t] = ref
	return ref
}

// Get returns the Tunnel that ref names; a Tunnel of kind
// reader.TunnelNone for NoTunnel.
func (ref TunnelRef) Get() Tunnel {
	if ref == NoTunnel {
		return Tunnel{}
	}
	tunnels.Lock()
	defer tunnels.Unlock()
	return tunnels.list[ref-1]
}
