package report

import (
	"cmp"
	"path/filepath"
	"sync"

	"github.com/apache/arrow/go/v17/arrow/array"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// The statistics by host (hosts.parquet) count what an address received
// and sent whatever the orientation of its flows: the victim of a
// reflection is the originator of the reflected flows, and what hit it is
// what their responders sent. Each flow is seen twice, once by each of its
// hosts, as a hostFlow; a host's flows, in order of peer, give its row.

// Indexes of hostFlow's and hostRow's per-direction counts.
const (
	received = 0
	sent     = 1
)

// hostFlow is a flow as one of its hosts saw it, in 88 bytes: the parts
// by host hold millions of them for a flood's victim.
type hostFlow struct {
	FirstSeen, LastSeen int64
	Packets, Bytes      [2]uint64 // indexed by received, sent
	Host, Peer          flows.IP
	PeerPort            uint16 // 0 for protocols without ports
	Proto               uint8
	Originator          bool // the host originated the flow
}

// hostFlowsOf returns the flow as its originator and as its responder saw
// it. A host without an address (no IP flow) has none.
func hostFlowsOf(r *flows.Record, each func(*hostFlow)) {
	if r.SrcIP.BitLen() == 0 {
		return
	}
	hasPorts := r.Proto == protoTCP || r.Proto == protoUDP || r.Proto == protoSCTP
	port := func(p uint16) uint16 {
		if hasPorts {
			return p
		}
		return 0
	}
	orig := hostFlow{
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		Packets: [2]uint64{r.Packets[flows.Rev], r.Packets[flows.Fwd]},
		Bytes:   [2]uint64{r.Bytes[flows.Rev], r.Bytes[flows.Fwd]},
		Host:    r.SrcIP, Peer: r.DstIP, PeerPort: port(r.DstPort), Proto: r.Proto, Originator: true,
	}
	each(&orig)
	resp := hostFlow{
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		Packets: r.Packets, Bytes: r.Bytes,
		Host: r.DstIP, Peer: r.SrcIP, PeerPort: port(r.SrcPort), Proto: r.Proto,
	}
	each(&resp)
}

const protoSCTP = 132

// compareHostFlows orders a host's flows by peer: a row counts its
// distinct peers as it reads them.
func compareHostFlows(x, y hostFlow) int {
	if c := x.Host.Compare(y.Host); c != 0 {
		return c
	}
	return x.Peer.Compare(y.Peer)
}

// peerPort is one of a host's peer ports and the packets exchanged with
// it (0: none).
type peerPort struct {
	Packets uint64
	Port    uint16
	Proto   uint8
}

// hostRow is a row of hosts.parquet, as a plain value to be spilled.
type hostRow struct {
	FirstSeen, LastSeen   int64
	Packets, Bytes        [2]uint64 // indexed by received, sent
	Originated, Responded uint64    // flows
	Peers                 uint64    // distinct addresses
	Top                   [tables.TopPeerPorts]peerPort
	IP                    flows.IP
}

func compareHostRows(a, b *hostRow) int { return a.IP.Compare(b.IP) }

// hostTally makes the row of one host from its flows in peer order.
type hostTally struct {
	row   hostRow
	ports map[peerPort]uint64 // by port and protocol (Packets 0)
}

func (t *hostTally) start(f *hostFlow) {
	t.row = hostRow{IP: f.Host, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen}
	clear(t.ports)
}

func (t *hostTally) add(f *hostFlow, newPeer bool) {
	r := &t.row
	r.FirstSeen, r.LastSeen = min(r.FirstSeen, f.FirstSeen), max(r.LastSeen, f.LastSeen)
	for d := range 2 {
		r.Packets[d] += f.Packets[d]
		r.Bytes[d] += f.Bytes[d]
	}
	if f.Originator {
		r.Originated++
	} else {
		r.Responded++
	}
	if newPeer {
		r.Peers++
	}
	t.ports[peerPort{Port: f.PeerPort, Proto: f.Proto}] += f.Packets[received] + f.Packets[sent]
}

// end returns the row, with the peer ports that exchanged the most
// packets (ties: the lower protocol, then port).
func (t *hostTally) end() hostRow {
	r := t.row
	for p, n := range t.ports {
		p.Packets = n
		for i := range r.Top {
			if comparePeerPorts(&p, &r.Top[i]) < 0 {
				copy(r.Top[i+1:], r.Top[i:])
				r.Top[i] = p
				break
			}
		}
	}
	return r
}

// comparePeerPorts orders peer ports by packets, most first; an empty
// slot (no packets, no protocol) comes last.
func comparePeerPorts(a, b *peerPort) int {
	if *b == (peerPort{}) {
		return -1
	}
	return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
}

// hostRows calls emit with the row of each host of flows, which are in
// compareHostFlows' order.
func hostRows(flows func(yield func(*hostFlow) bool), emit func(hostRow)) {
	t := hostTally{ports: map[peerPort]uint64{}}
	var prev hostFlow
	have := false
	for f := range flows {
		switch {
		case !have:
			t.start(f)
			t.add(f, true)
		case f.Host != prev.Host:
			emit(t.end())
			t.start(f)
			t.add(f, true)
		default:
			t.add(f, f.Peer != prev.Peer)
		}
		prev, have = *f, true
	}
	if have {
		emit(t.end())
	}
}

// hosts computes the rows of hosts.parquet from the dataset's flows.
func (b *builder) hosts(st *Stats) {
	all := make([]hostFlow, 0, 2*len(b.ds.Flows))
	for i := range b.ds.Flows {
		hostFlowsOf(&b.ds.Flows[i], func(f *hostFlow) { all = append(all, *f) })
	}
	extsort.SortParallel(all, compareHostFlows)
	hostRows(func(yield func(*hostFlow) bool) {
		for i := range all {
			if !yield(&all[i]) {
				return
			}
		}
	}, func(r hostRow) { st.hosts = append(st.hosts, r) })
}

// hosts computes the rows of hosts.parquet from the parts by host, one
// run per part, into ps.hostRows.
func (ps *Parts) hosts() error {
	var err error
	if ps.hostRows, err = newRuns[hostRow](ps.dir, "host rows"); err != nil {
		return err
	}
	var spill sync.Mutex
	return ps.eachPart(func(part int) error {
		all := newSorted(ps.dir, "a part's flows by host", ps.held(), compareHostFlows)
		defer all.Remove()
		all.Expect(ps.count([]byte{roleHost}, part))
		var f hostFlow
		err := ps.entries(byHost, part, func(_ byte, value []byte, _ []flows.Window) {
			copy(valueBytes(&f), value)
			all.Add(f)
		})
		if err != nil {
			return err
		}
		var rows []hostRow
		hostRows(all.Each, func(r hostRow) { rows = append(rows, r) })
		if err := all.Err(); err != nil {
			return err
		}
		spill.Lock()
		defer spill.Unlock()
		ps.hostRows.Write(rows)
		return ps.hostRows.Err()
	})
}

// writeHosts writes hosts.parquet, sorted by address.
func writeHosts(dir string, st *Stats) error {
	left := st.hosts
	fill := func(dst []hostRow) (int, error) {
		n := copy(dst, left)
		left = left[n:]
		return n, nil
	}
	if st.spilledHosts != nil {
		m, err := extsort.NewMerger(compareHostRows, []*extsort.Runs[hostRow]{st.spilledHosts})
		if err != nil {
			return err
		}
		fill = m.Fill
	}
	buf := make([]hostRow, 4096)
	return tables.WriteBatches(filepath.Join(dir, tables.HostsFile), tables.HostSchema, func(b *array.RecordBuilder) (bool, error) {
		for rows := 0; rows < tables.RowGroupRows; {
			n, err := fill(buf[:min(len(buf), tables.RowGroupRows-rows)])
			if err != nil || n == 0 {
				return rows > 0, err
			}
			for i := range buf[:n] {
				appendHost(b, &buf[i])
			}
			rows += n
		}
		return true, nil
	})
}

func appendHost(b *array.RecordBuilder, r *hostRow) {
	b.Field(0).(*array.StringBuilder).Append(r.IP.String())
	col := 1
	u := func(v uint64) {
		b.Field(col).(*array.Uint64Builder).Append(v)
		col++
	}
	u(r.Packets[received])
	u(r.Bytes[received])
	u(r.Packets[sent])
	u(r.Bytes[sent])
	u(r.Originated)
	u(r.Responded)
	u(r.Peers)
	appendTime(b, col, r.FirstSeen)
	appendTime(b, col+1, r.LastSeen)
	col += 2
	for _, p := range r.Top {
		port, proto, packets := b.Field(col).(*array.Uint16Builder), b.Field(col+1).(*array.Uint8Builder), b.Field(col+2).(*array.Uint64Builder)
		if p == (peerPort{}) {
			port.AppendNull()
			proto.AppendNull()
			packets.AppendNull()
		} else {
			port.Append(p.Port)
			proto.Append(p.Proto)
			packets.Append(p.Packets)
		}
		col += 3
	}
}
