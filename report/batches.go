package report

import (
	"cmp"
	"slices"

	"flowstat/flows"
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
func (ps *Parts) batches(b0 *builder, s Summary, parts []int, keep func(*destFlow) bool, fn func(b *builder, fl flowSeq) error) error {
	all := newSorted(ps.dir, "a part's flows", ps.held(), compareByDestination)
	defer all.remove()
	// Make room for every flow at once when they fit.
	all.held = make([]destFlow, 0, min(all.limit, ps.count([]byte{roleFlow, roleTraffic}, parts...)))
	ds, err := ps.read(s, parts, keep, all.add)
	if err != nil {
		return err
	}
	if err := all.Err(); err != nil {
		return err
	}
	if !all.isSpilled() {
		b := ps.batchBuilder(b0, ds, ds.Traffic, all.held, nil)
		return fn(b, heldFlows(b.fl))
	}
	return ps.cut(b0, ds, all, fn)
}

// read reads the flows of parts that keep accepts (every one when keep is
// nil), giving each to add, and returns their traffic.
func (ps *Parts) read(s Summary, parts []int, keep func(*destFlow) bool, add func(destFlow)) (*Dataset, error) {
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

// batchBuilder returns a builder of flows fl, or of one group of spilled
// flows, and traffic, a dataset's.
func (ps *Parts) batchBuilder(b0 *builder, ds *Dataset, traffic []Traffic, fl []destFlow, large *destGroup) *builder {
	b := *b0
	b.ds = &Dataset{Summary: ds.Summary, Interval: ds.Interval, Traffic: traffic}
	b.fl, b.groups = fl, nil
	if large != nil {
		b.groups = []destGroup{*large}
	}
	b.dir, b.heldBytes = ps.dir, ps.held()
	return &b
}

// cut reads flows in destination order and calls fn for each batch, as
// batches describes.
func (ps *Parts) cut(b0 *builder, ds *Dataset, all *sorted[destFlow], fn func(b *builder, fl flowSeq) error) error {
	traffic := ds.Traffic
	held := make([]destFlow, 0, all.limit) // whole groups, then the start of the current one
	slices.SortStableFunc(traffic, func(x, y Traffic) int { return x.Dest.Compare(y.Dest) })
	var (
		first int               // where the current group starts in held
		large *sorted[destFlow] // the current group, once it does not fit in held
		last  destFlow          // the last flow read
		err   error
	)
	// giveHeld gives the whole groups held, with the traffic of the
	// destinations before below (every one left when nil).
	giveHeld := func(below *Dest) {
		n := len(traffic)
		if below != nil {
			n, _ = slices.BinarySearchFunc(traffic, *below, func(t Traffic, d Dest) int { return t.Dest.Compare(d) })
		}
		if first > 0 || n > 0 {
			tr := slices.Clone(traffic[:n])
			sortTraffic(tr)
			b := ps.batchBuilder(b0, ds, tr, held[:first], nil)
			err = cmp.Or(err, fn(b, heldFlows(b.fl)))
		}
		traffic = traffic[n:]
		held = held[:copy(held, held[first:])]
		first = 0
	}
	// giveLarge gives the current group, spilled, with its traffic: the
	// traffic left starts with it, as giveHeld gave that before it.
	giveLarge := func() {
		d := last.dest()
		n := 0
		for n < len(traffic) && traffic[n].Dest == d {
			n++
		}
		tr := slices.Clone(traffic[:n])
		sortTraffic(tr)
		traffic = traffic[n:]
		fl := flowSeq{large: large}
		fl.largeDurations = sortedDurations(fl, ps.dir, ps.held())
		b := ps.batchBuilder(b0, ds, tr, nil, &destGroup{d, fl})
		err = cmp.Or(err, large.Err(), fl.largeDurations.Err(), fn(b, fl), large.Err(), fl.largeDurations.Err())
		large.remove()
		fl.largeDurations.remove()
		large = nil
	}
	all.each(func(f *destFlow) bool {
		if (len(held) > 0 || large != nil) && !f.sameDest(&last) {
			if large != nil {
				giveLarge()
			}
			first = len(held)
		}
		last = *f
		if large == nil && len(held) == all.limit {
			d := f.dest()
			giveHeld(&d)
			if len(held) == all.limit { // the group alone fills the memory: spill it
				large = newSorted(ps.dir, "a destination's flows", ps.held(), compareBySource)
				large.expect(all.limit)
				for i := range held {
					large.add(held[i])
				}
				held = held[:0]
			}
		}
		if large != nil {
			large.add(*f)
		} else {
			held = append(held, *f)
		}
		return err == nil
	})
	if large != nil {
		giveLarge()
	}
	first = len(held)
	giveHeld(nil)
	return cmp.Or(err, all.Err())
}
