package flows

// State is a flow's outcome in Zeek's conn_state vocabulary.
type State uint8

// States, as defined by Zeek's conn.log and evaluated on what was seen.
const (
	OTH    State = iota // no SYN seen: midstream traffic, or not TCP and neither side active
	S0                  // SYN seen, no reply (UDP/ICMP: only the originator sent)
	S1                  // handshake seen, not closed
	SF                  // normal close (UDP/ICMP: both directions carried packets)
	REJ                 // SYN answered by RST
	S2                  // handshake, FIN from the originator only
	S3                  // handshake, FIN from the responder only
	RSTO                // handshake, originator reset first
	RSTR                // handshake, responder reset first
	RSTOS0              // SYN then RST from the originator, no SYN-ACK
	RSTRH               // SYN-ACK then RST from the responder, no SYN
	SH                  // SYN then FIN from the originator, no SYN-ACK
	SHR                 // SYN-ACK then FIN from the responder, no SYN (UDP/ICMP: only the responder sent)
	numStates
)

var stateNames = [numStates]string{"OTH", "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR"}

func (s State) String() string { return stateNames[s] }

// States lists every state in a fixed order, for tables and reports.
func States() []State {
	out := make([]State, numStates)
	for i := range out {
		out[i] = State(i)
	}
	return out
}

// ParseState returns the state with the given name.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// EndReason says why a flow record was closed.
type EndReason uint8

// End reasons.
const (
	EndFIN     EndReason = iota // FIN from both sides, after the linger
	EndRST                      // RST, after the linger
	EndIdle                     // no packet for the idle timeout
	EndActive                   // cut by the active timeout; the flow continues in a new record
	EndEOF                      // still open at the end of the input
	EndEvicted                  // closed early because the flow table was full
	EndOpen                     // still open when a live capture window closed
	numEndReasons
)

var endReasonNames = [numEndReasons]string{"fin", "rst", "idle", "active", "eof", "evicted", "open"}

func (e EndReason) String() string { return endReasonNames[e] }

// ParseEndReason returns the end reason with the given name.
func ParseEndReason(name string) (EndReason, bool) {
	for i, n := range endReasonNames {
		if n == name {
			return EndReason(i), true
		}
	}
	return 0, false
}

// Direction indexes per-direction counters: Fwd is what the originator
// sent, Rev what the responder sent.
const (
	Fwd = 0
	Rev = 1
)

// Record is one ended flow, oriented from originator (Src) to responder (Dst).
// Its fields are in order of size, 8-byte ones first, so that none is
// padded: records are copied, sorted, merged and written millions at a
// time.
type Record struct {
	ID        uint64
	FirstSeen int64 // nanoseconds since the Unix epoch, UTC
	LastSeen  int64
	Packets   [2]uint64 // indexed by Fwd, Rev
	Bytes     [2]uint64 // IP lengths from the IP headers
	// PayloadBytes counts the transport payload the IP headers imply (IP
	// length less the IP and transport headers), right also in captures of
	// headers only: Zeek's orig_bytes, where Bytes is its orig_ip_bytes.
	PayloadBytes [2]uint64
	// For TCP: the segments with data each side sent again (whose sequence
	// range it had sent before) and their payload bytes, and the segments
	// announcing a zero window (a receiver asking its peer to stop).
	RetransBytes   [2]uint64
	RetransPackets [2]uint32
	ZeroWindows    [2]uint32
	// FirstFrame and FirstOffset locate the flow's first packet in input
	// Input: its frame number (1-based, 0 when unknown: live captures)
	// and the byte offset of its record (reader.Frame.Offset). Later
	// fragments that came before their first fragment are counted in the
	// flow but precede its first packet.
	FirstFrame  uint64
	FirstOffset int64
	// HandshakeRTT is the time from the originator's first SYN to the
	// responder's first SYN-ACK, or -1 when either was not seen.
	HandshakeRTT int64
	// MinIPLen and MaxIPLen are the smallest and largest IP length of a
	// packet each side sent, 0 when it sent none.
	MinIPLen, MaxIPLen [2]uint32
	Input              int32  // index of the input the first packet came from
	SYNs               uint32 // SYN packets without ACK, both directions
	SYNACKs            uint32
	RSTs               uint32
	// Tunnel names the outermost tunnel the flow's first packet came in;
	// NoTunnel outside tunnels.
	Tunnel    TunnelRef
	VLAN      uint16
	SrcPort   uint16
	DstPort   uint16
	Proto     uint8
	IPVersion uint8
	SrcIP     IP
	DstIP     IP
	// MinTTL and MaxTTL are the lowest and highest IPv4 TTL or IPv6 hop
	// limit each side sent: a narrow band from many sources hints at
	// spoofing from one place, a wide one at reflectors.
	MinTTL, MaxTTL [2]uint8
	TCPFlags       [2]uint8 // OR of the TCP flags each side sent
	State          State
	HalfOpen       bool
	// Echo marks an ICMP echo flow, whose ports are the identifier and 0;
	// other ICMP flows have the type and the code as ports.
	Echo bool
	// ICMPType and ICMPCode are, for ICMP and ICMPv6, the originator's
	// message type and code: an echo flow's request, or its reply when no
	// request was seen.
	ICMPType, ICMPCode uint8
	History            History
	EndReason          EndReason
	// Joinable marks, in a map task's table (Options.JoinFrom), the
	// record of a flow that may continue one the input before left open:
	// a merge replaces it by the joined flow's when it did (join.go).
	Joinable bool
}

// History is a flow's Zeek-style history: one letter per kind of event in
// order of first occurrence, upper case when the originator sent it. It is a
// value, so records hold no pointer to it.
type History struct {
	letters [2 * numHist]byte
	n       uint8
}

// String returns the letters, such as "ShADadFf".
func (h History) String() string { return string(h.letters[:h.n]) }

// AppendTo appends the letters to b.
func (h History) AppendTo(b []byte) []byte { return append(b, h.letters[:h.n]...) }

// ParseHistory returns the History of a string written by String; longer
// strings are cut.
func ParseHistory(s string) History {
	var h History
	h.n = uint8(copy(h.letters[:], s))
	return h
}

// Duration returns the time between the first and the last packet, in seconds.
func (r *Record) Duration() float64 { return float64(r.LastSeen-r.FirstSeen) / 1e9 }

// Window is a flow's traffic in one statistics interval.
type Window struct {
	Start   int64  // start of the interval, nanoseconds since the epoch, aligned to the interval
	Packets uint64 // both directions
	Bytes   uint64
	// RespPackets and RespBytes are the responder's share of Packets and
	// Bytes: what reached the originator. A host's traffic each way is
	// counted from them, whichever side of its flows it was.
	RespPackets uint64
	RespBytes   uint64
	SYNs        uint32 // SYN packets without ACK from the originator
	SYNACKs     uint32 // SYN-ACK packets from the responder
}
