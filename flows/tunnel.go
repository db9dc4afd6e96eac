package flows

import (
	"flowstat/intern"
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

// tunnels numbers the Tunnels given a TunnelRef. Distinct tunnels are few
// (endpoints of an overlay, times its ids).
var tunnels intern.List[Tunnel]

// RefTunnel returns the TunnelRef of t, the same each time.
func RefTunnel(t Tunnel) TunnelRef { return TunnelRef(tunnels.Ref(t)) }

// Get returns the Tunnel that ref names; a Tunnel of kind
// reader.TunnelNone for NoTunnel.
func (ref TunnelRef) Get() Tunnel {
	if ref == NoTunnel {
		return Tunnel{}
	}
	return tunnels.Get(uint32(ref))
}
