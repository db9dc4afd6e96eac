package report

import (
	"cmp"
	"slices"

	"flowstat/extsort"
	"flowstat/flows"
	"flowstat/tables"
)

// held is how many bytes of one part's flows Build holds at once.
func (ps *Parts) held() int {
	if ps.HeldBytes > 0 {
		return ps.HeldBytes
	}
	return DefaultHeldBytes
}

// batches reads the flows of parts that keep accepts (every one when keep
// is nil), with their traffic, and calls fn with builders of them and
// every flow each holds. When the flows fit in ps.held() bytes, which is
// the rule, fn is called once, with the flows in memory (b.fl). Otherwise
// they are put in order by destination on disk and fn is called for each
// batch of destinations whose flows fit, and for each destination whose
// flows alone do not (a flood's victim): its builder then has one group,
// whose flows are read from disk, and no b.fl. A builder's traffic is
// that of its destinations; every destination's flows and traffic are in
// one batch. fn must not keep b.fl.
func (ps *Parts) batches(b0 *builder, s tables.Summary, parts []int, keep func(*destFlow) bool, fn func(b *builder, fl flowSeq) error) error {
	all := newSorted(ps.dir, "a part's flows", ps.held(), compareByDestination)
	all.SortBy = sortByDestination
	defer all.Remove()
	all.Expect(ps.count([]byte{roleFlow, roleTraffic}, parts...))
	ds, err := ps.read(s, parts, keep, all.Add)
	if err != nil {
		return err
	}
	if err := all.Err(); err != nil {
		return err
	}
	if !all.IsSpilled() {
		b := ps.batchBuilder(b0, ds, ds.Traffic, all.Held())
		return fn(b, heldFlows(b.fl))
	}
	return ps.cut(b0, ds, all, fn)
}

// read reads the flows of parts that keep accepts (every one when keep is
// nil), giving each to add, and returns their traffic.
func (ps *Parts) read(s tables.Summary, parts []int, keep func(*destFlow) bool, add func(destFlow)) (*Dataset, error) {
	tc, err := NewTrafficCounter(s)
	if err != nil {
		return nil, err
	}
	var d destFlow
	for _, part := range parts {
		err := ps.entries(byDestination, part, func(role byte, value []byte, windows []flows.Window) {
			copy(valueBytes(&d), value)
			if keep == nil || keep(&d) {
				if role == roleFlow {
					add(d)
				}
				tc.addDest(d.dest(), windows)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return NewDatasetWithTraffic(nil, tc, s)
}

// batchBuilder returns a builder of flows fl and traffic, a dataset's.
func (ps *Parts) batchBuilder(b0 *builder, ds *Dataset, traffic []Traffic, fl []destFlow) *builder {
	b := *b0
	b.ds = &Dataset{Summary: ds.Summary, Interval: ds.Interval, Traffic: traffic}
	b.fl, b.groups = fl, nil
	b.dir, b.heldBytes = ps.dir, ps.held()
	return &b
}

// cut reads flows in destination order and calls fn for each batch, as
// batches describes.
func (ps *Parts) cut(b0 *builder, ds *Dataset, all *extsort.Sorted[destFlow], fn func(b *builder, fl flowSeq) error) error {
	traffic := ds.Traffic
	slices.SortStableFunc(traffic, func(x, y Traffic) int { return x.Dest.Compare(y.Dest) })
	// take removes the traffic of the destinations before below (every
	// one left when nil) and returns it by window.
	take := func(below func(d Dest) bool) []Traffic {
		n := 0
		for n < len(traffic) && below(traffic[n].Dest) {
			n++
		}
		tr := slices.Clone(traffic[:n])
		sortTraffic(tr)
		traffic = traffic[n:]
		return tr
	}
	held := func(fl []destFlow, next *destFlow) error {
		tr := take(func(d Dest) bool { return next == nil || d.Compare(next.dest()) < 0 })
		if len(fl) == 0 && len(tr) == 0 {
			return nil
		}
		b := ps.batchBuilder(b0, ds, tr, fl)
		return fn(b, heldFlows(b.fl))
	}
	large := func(group *extsort.Sorted[destFlow], f *destFlow) error {
		d := f.dest()
		b := ps.batchBuilder(b0, ds, take(func(e Dest) bool { return e == d }), nil)
		fl := b.tallied(group)
		defer fl.counted.remove()
		b.groups = []destGroup{{d, fl}}
		return cmp.Or(fn(b, fl), fl.counted.err())
	}
	newGroup := func() *extsort.Sorted[destFlow] {
		return newSorted(ps.dir, "a destination's flows", ps.held(), compareBySource)
	}
	return extsort.CutGroups(all, (*destFlow).sameDest, newGroup, held, large)
}
