package pipeline

import (
	"time"

	"flowstat/report"
	"flowstat/tables"
)

// perSecond counts frames and their bytes on the wire in each second of
// packet time, for the peak second the report quotes. Frames come mostly
// in time order, so a frame costs a comparison; a map entry is touched
// once per second of the capture.
type perSecond struct {
	n           uint64
	first, last int64 // times of the first and last frame counted
	cur         int64 // the second of the frames in curCount
	curCount    secondCount
	counts      map[int64]secondCount // the other seconds
}

type secondCount struct{ packets, bytes uint64 }

func (c *perSecond) add(t int64, wireLen int) {
	sec := report.FloorDiv(t, int64(time.Second))
	if c.n == 0 {
		c.first, c.last, c.cur = t, t, sec
	}
	c.first, c.last = min(c.first, t), max(c.last, t)
	if sec != c.cur {
		c.flush()
		c.cur = sec
	}
	c.curCount.packets++
	c.curCount.bytes += uint64(wireLen)
	c.n++
}

// flush moves the current second's counts into the map.
func (c *perSecond) flush() {
	if c.curCount.packets == 0 {
		return
	}
	if c.counts == nil {
		c.counts = map[int64]secondCount{}
	}
	sum := c.counts[c.cur]
	sum.packets += c.curCount.packets
	sum.bytes += c.curCount.bytes
	c.counts[c.cur] = sum
	c.curCount = secondCount{}
}

// merge adds the counts of o, which it empties.
func (c *perSecond) merge(o *perSecond) {
	if o.n == 0 {
		return
	}
	o.flush()
	c.flush()
	if c.n == 0 {
		c.first, c.last = o.first, o.last
	}
	c.first, c.last = min(c.first, o.first), max(c.last, o.last)
	c.n += o.n
	if c.counts == nil {
		c.counts = map[int64]secondCount{}
	}
	for sec, n := range o.counts {
		sum := c.counts[sec]
		sum.packets += n.packets
		sum.bytes += n.bytes
		c.counts[sec] = sum
	}
	o.counts = nil
}

// peak returns the second with the most frames, the earliest of equals,
// or nil when none was counted.
func (c *perSecond) peak() *tables.Peak {
	if c.n == 0 {
		return nil
	}
	c.flush()
	var best int64
	var most secondCount
	for sec, n := range c.counts {
		if n.packets > most.packets || (n.packets == most.packets && sec < best) {
			best, most = sec, n
		}
	}
	start := best * int64(time.Second)
	from, to := max(start, c.first), min(start+int64(time.Second), c.last)
	p := &tables.Peak{Start: time.Unix(0, start).UTC(), Packets: most.packets, Bytes: most.bytes, CoveredS: float64(to-from) / 1e9}
	if p.CoveredS > 0 {
		p.PacketsPerS = float64(p.Packets) / p.CoveredS
		p.BitsPerS = float64(p.Bytes) * 8 / p.CoveredS
	}
	return p
}
