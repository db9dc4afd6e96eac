package report

import (
	"cmp"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// hostWindow is a row of host_windows.parquet: what one address received
// and sent in one window whichever side of its flows it was, and its
// flows with packets in the window by its side (written with --hosts).
type hostWindow struct {
	IP flows.IP
	Exchange
	FlowsOrig, FlowsResp uint64
}

func compareHostWindows(a, b *hostWindow) int {
	return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Start, b.Start))
}

type hostWindowKey struct {
	ip    flows.IP
	start int64
}

// hostWindows sums flows' windows by address and window of width interval.
type hostWindows struct {
	interval int64
	rows     map[hostWindowKey]*hostWindow
}

func newHostWindows(interval int64) *hostWindows {
	return &hostWindows{interval: interval, rows: map[hostWindowKey]*hostWindow{}}
}

// add counts a flow's (or a destination's) counts c in the window from
// start for ip, the flows' originator or their responder; flows is the
// number of flows they sum.
func (h *hostWindows) add(ip flows.IP, start int64, c sideCounts, flows uint64, originator bool) {
	k := hostWindowKey{ip, start - floorMod(start, h.interval)}
	r := h.rows[k]
	if r == nil {
		r = &hostWindow{IP: ip, Exchange: Exchange{Start: k.start}}
		h.rows[k] = r
	}
	r.Exchange.add(c, originator)
	if originator {
		r.FlowsOrig += flows
	} else {
		r.FlowsResp += flows
	}
}

// sorted returns the rows by address, then window.
func (h *hostWindows) sorted() []hostWindow {
	out := make([]hostWindow, 0, len(h.rows))
	for _, k := range slices.SortedFunc(maps.Keys(h.rows), func(a, b hostWindowKey) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.start, b.start))
	}) {
		out = append(out, *h.rows[k])
	}
	return out
}

// datasetHostWindows returns every address's windows from a dataset's
// traffic by destination and by originator.
func datasetHostWindows(ds *Dataset, interval int64) []hostWindow {
	h := newHostWindows(interval)
	for i := range ds.Traffic {
		t := &ds.Traffic[i]
		h.add(flows.IPOf(t.Dest.IP), t.Start, trafficCounts(t), t.Flows, false)
	}
	for i := range ds.Origins {
		t := &ds.Origins[i]
		h.add(flows.IPOf(t.Dest.IP), t.Start, trafficCounts(t), t.Flows, true)
	}
	return h.sorted()
}

// hostWindows computes the rows of host_windows.parquet from the flows'
// windows: an address's flows as responder are in its part by
// destination, those it originated in its part by originator. One run
// per part, into ps.hostWindowRows.
func (ps *Parts) hostWindows(interval int64) error {
	var err error
	if ps.hostWindowRows, err = newRuns[hostWindow](ps.dir, "host windows"); err != nil {
		return err
	}
	var spill sync.Mutex
	return ps.eachPart(func(part int) error {
		h := newHostWindows(interval)
		var d destFlow
		err := ps.entries(byDestination, part, func(role byte, value []byte, windows []flows.Window) {
			if role != roleFlow {
				return
			}
			copy(valueBytes(&d), value)
			for i := range windows {
				h.add(d.DstIP, windows[i].Start, windowCounts(&windows[i]), 1, false)
			}
		})
		if err != nil {
			return err
		}
		var src flows.IP
		err = ps.entries(byOrigin, part, func(_ byte, value []byte, windows []flows.Window) {
			copy(valueBytes(&src), value)
			for i := range windows {
				h.add(src, windows[i].Start, windowCounts(&windows[i]), 1, true)
			}
		})
		if err != nil {
			return err
		}
		spill.Lock()
		defer spill.Unlock()
		ps.hostWindowRows.Write(h.sorted())
		return ps.hostWindowRows.Err()
	})
}

// writeHostWindows writes host_windows.parquet, sorted by address and
// window; with --hosts only, as hosts.parquet.
func writeHostWindows(dir string, st *Stats) error {
	path := filepath.Join(dir, tables.HostWindowsFile)
	if !st.withHosts {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	left := st.hostWindows
	fill := func(dst []hostWindow) (int, error) {
		n := copy(dst, left)
		left = left[n:]
		return n, nil
	}
	if st.spilledHostWindows != nil {
		m, err := extsort.NewMerger(compareHostWindows, []*extsort.Runs[hostWindow]{st.spilledHostWindows})
		if err != nil {
			return err
		}
		fill = m.Fill
	}
	buf := make([]hostWindow, 4096)
	return tables.WriteBatches(path, tables.HostWindowSchema, func(b *array.RecordBuilder) (bool, error) {
		for rows := 0; rows < tables.RowGroupRows; {
			n, err := fill(buf[:min(len(buf), tables.RowGroupRows-rows)])
			if err != nil || n == 0 {
				return rows > 0, err
			}
			for i := range buf[:n] {
				r := &buf[i]
				b.Field(0).(*array.StringBuilder).Append(r.IP.String())
				b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Start))
				b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Start + st.Interval))
				for k, v := range []uint64{r.PacketsIn, r.PacketsOut, r.BytesIn, r.BytesOut, r.FlowsResp, r.FlowsOrig,
					r.SYNsIn, r.SYNsOut, r.SYNACKsIn, r.SYNACKsOut} {
					b.Field(3 + k).(*array.Uint64Builder).Append(v)
				}
			}
			rows += n
		}
		return true, nil
	})
}

// readHostWindows reads host_windows.parquet as written; nil when the
// directory has none.
func readHostWindows(path string) ([]hostWindow, error) {
	t, err := tables.OpenTable(path, tables.HostWindowColumns)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []hostWindow
	err = t.Each(func(v []parquet.Value) error {
		g := func(name string) uint64 { return t.Get(v, name).Uint64() }
		addr, err := netip.ParseAddr(string(t.Get(v, "ip").ByteArray()))
		if err != nil {
			return err
		}
		out = append(out, hostWindow{IP: flows.IPOf(addr), FlowsResp: g("flows_as_responder"), FlowsOrig: g("flows_as_originator"),
			Exchange: Exchange{Start: t.Get(v, "window_start").Int64(), PacketsIn: g("packets_in"), PacketsOut: g("packets_out"),
				BytesIn: g("bytes_in"), BytesOut: g("bytes_out"), SYNsIn: g("syn_in"), SYNsOut: g("syn_out"),
				SYNACKsIn: g("synack_in"), SYNACKsOut: g("synack_out")}})
		return nil
	})
	return out, err
}

// regroupedHostWindows sums rows into windows of interval; a flow with
// packets in several of them counts in each.
func regroupedHostWindows(rows []hostWindow, interval int64) []hostWindow {
	h := newHostWindows(interval)
	for i := range rows {
		r := &rows[i]
		k := hostWindowKey{r.IP, r.Start - floorMod(r.Start, interval)}
		m := h.rows[k]
		if m == nil {
			m = &hostWindow{IP: r.IP, Exchange: Exchange{Start: k.start}}
			h.rows[k] = m
		}
		m.merge(&r.Exchange)
		m.FlowsResp += r.FlowsResp
		m.FlowsOrig += r.FlowsOrig
	}
	return h.sorted()
}
