package report

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
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

// hostFlow is a flow as one of its hosts saw it. The parts by host hold
// them encoded (appendHostFlow).
type hostFlow struct {
	FirstSeen, LastSeen int64
	Packets, Bytes      [2]uint64 // indexed by received, sent
	Host, Peer          flows.IP
	PeerPort            uint16 // 0 for protocols without ports
	Proto               uint8
	Originator          bool // the host originated the flow
}

// hostFlowOf returns the flow as its originator (orig) or its responder
// saw it. A flow without addresses (not IP) has no hosts: see hasHosts.
func hostFlowOf(r *flows.Record, orig bool) hostFlow {
	var port uint16
	hasPorts := r.Proto == protoTCP || r.Proto == protoUDP || r.Proto == protoSCTP
	if orig {
		if hasPorts {
			port = r.DstPort
		}
		return hostFlow{
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
			Packets: [2]uint64{r.Packets[flows.Rev], r.Packets[flows.Fwd]},
			Bytes:   [2]uint64{r.Bytes[flows.Rev], r.Bytes[flows.Fwd]},
			Host:    r.SrcIP, Peer: r.DstIP, PeerPort: port, Proto: r.Proto, Originator: true,
		}
	}
	if hasPorts {
		port = r.SrcPort
	}
	return hostFlow{
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Packets: r.Packets, Bytes: r.Bytes,
		Host: r.DstIP, Peer: r.SrcIP, PeerPort: port, Proto: r.Proto,
	}
}

// hasHosts reports whether a record is between two addresses.
func hasHosts(r *flows.Record) bool { return r.SrcIP.BitLen() != 0 }

const protoSCTP = 132

// Flags of an encoded hostFlow.
const (
	hostOriginator = 1 << iota
	hostV6
)

// appendHostFlow appends f to b in about 30 bytes instead of its 88: the
// parts by host take two for every flow, and writing and compressing
// them cost the run more than anything else of the hosts' statistics.
func appendHostFlow(b []byte, f *hostFlow) []byte {
	var flags byte
	if f.Originator {
		flags |= hostOriginator
	}
	v6 := f.Host.BitLen() == 128
	if v6 {
		flags |= hostV6
	}
	b = append(b, flags, f.Proto)
	b = binary.LittleEndian.AppendUint16(b, f.PeerPort)
	for _, ip := range []flows.IP{f.Host, f.Peer} {
		a := ip.Bytes16()
		if v6 {
			b = append(b, a[:]...)
		} else {
			b = append(b, a[12:]...)
		}
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(f.FirstSeen))
	b = binary.AppendUvarint(b, uint64(f.LastSeen-f.FirstSeen))
	for d := range 2 {
		b = binary.AppendUvarint(b, f.Packets[d])
		b = binary.AppendUvarint(b, f.Bytes[d])
	}
	return b
}

// readHostFlow decodes what appendHostFlow wrote into f.
func readHostFlow(b []byte, f *hostFlow) {
	flags := b[0]
	f.Originator, f.Proto = flags&hostOriginator != 0, b[1]
	f.PeerPort = binary.LittleEndian.Uint16(b[2:])
	b = b[4:]
	if flags&hostV6 != 0 {
		f.Host, f.Peer = flows.IPOf(netip.AddrFrom16([16]byte(b[:16]))), flows.IPOf(netip.AddrFrom16([16]byte(b[16:32])))
		b = b[32:]
	} else {
		f.Host, f.Peer = flows.IPOf(netip.AddrFrom4([4]byte(b[:4]))), flows.IPOf(netip.AddrFrom4([4]byte(b[4:8])))
		b = b[8:]
	}
	f.FirstSeen = int64(binary.LittleEndian.Uint64(b))
	b = b[8:]
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		b = b[n:]
		return v
	}
	f.LastSeen = f.FirstSeen + int64(uv())
	for d := range 2 {
		f.Packets[d] = uv()
		f.Bytes[d] = uv()
	}
}

// compareHostFlows orders a host's flows by peer: a row counts its
// distinct peers as it reads them.
func compareHostFlows(x, y hostFlow) int {
	if c := x.Host.Compare(y.Host); c != 0 {
		return c
	}
	return x.Peer.Compare(y.Peer)
}

// sortHostFlows puts flows in compareHostFlows' order. Those between
// IPv4 addresses, most of them, are sorted by 8-byte keys and moved into
// place once, before the IPv6 ones: as for sortByDestination, comparing and
// moving the flows themselves took about twice as long.
func sortHostFlows(fl []hostFlow) {
	type key struct {
		pair uint64 // host, then peer
		at   int32
	}
	keys := make([]key, len(fl))
	n6 := 0
	for i := range fl {
		f := &fl[i]
		switch f.Host.BitLen() {
		case 32:
			h, p := f.Host.Bytes16(), f.Peer.Bytes16()
			keys[i] = key{uint64(binary.BigEndian.Uint32(h[12:]))<<32 | uint64(binary.BigEndian.Uint32(p[12:])), int32(i)}
		case 128:
			keys[i] = key{math.MaxUint64, int32(i)}
			n6++
		default:
			extsort.SortParallel(fl, compareHostFlows)
			return
		}
	}
	extsort.SortParallel(keys, func(x, y key) int { return cmp.Compare(x.pair, y.pair) })
	from := make([]int32, len(keys))
	for i := range keys {
		from[i] = keys[i].at
	}
	extsort.MoveInto(fl, from)
	extsort.SortParallel(fl[len(fl)-n6:], compareHostFlows)
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
	row hostRow
	// ports are the peer ports and their packets, found by a linear search
	// among the few most hosts have, by index beyond.
	ports []peerPort
	index map[peerPort]int // by port and protocol (Packets 0), when ports are many
}

// manyPorts is where hostTally starts to index its ports.
const manyPorts = 16

func (t *hostTally) start(f *hostFlow) {
	t.row = hostRow{IP: f.Host, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen}
	t.ports = t.ports[:0]
	t.index = nil
}

func (t *hostTally) addPort(p peerPort, packets uint64) {
	if t.index != nil {
		if i, ok := t.index[p]; ok {
			t.ports[i].Packets += packets
			return
		}
	} else {
		for i := range t.ports {
			if t.ports[i].Port == p.Port && t.ports[i].Proto == p.Proto {
				t.ports[i].Packets += packets
				return
			}
		}
	}
	if len(t.ports) == manyPorts {
		t.index = make(map[peerPort]int, 2*manyPorts)
		for i, q := range t.ports {
			q.Packets = 0
			t.index[q] = i
		}
	}
	if t.index != nil {
		t.index[p] = len(t.ports)
	}
	p.Packets = packets
	t.ports = append(t.ports, p)
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
	t.addPort(peerPort{Port: f.PeerPort, Proto: f.Proto}, f.Packets[received]+f.Packets[sent])
}

// end returns the row, with the peer ports that exchanged the most
// packets (ties: the lower protocol, then port).
func (t *hostTally) end() hostRow {
	r := t.row
	for _, p := range t.ports {
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
	var t hostTally
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
		if r := &b.ds.Flows[i]; hasHosts(r) {
			all = append(all, hostFlowOf(r, true), hostFlowOf(r, false))
		}
	}
	sortHostFlows(all)
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
		all.SortBy = sortHostFlows
		defer all.Remove()
		all.Expect(ps.count([]byte{roleHost}, part))
		var f hostFlow
		err := ps.entries(byHost, part, func(_ byte, value []byte, _ []flows.Window) {
			readHostFlow(value, &f)
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
	path := filepath.Join(dir, tables.HostsFile)
	if !st.withHosts {
		// One of an earlier run would not describe this one's flows.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove the earlier run's %s: %w", tables.HostsFile, err)
		}
		return nil
	}
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
	return tables.WriteBatches(path, tables.HostSchema, func(b *array.RecordBuilder) (bool, error) {
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
