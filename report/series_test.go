package report

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSeriesBounded adds series of windows, short and longer than a
// figure's points, with ties of packets and empty windows: the busiest
// are those the whole series sorted gives, and each point of the figure is
// the highest of its windows, however many there are.
func TestSeriesBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 47, 48, 49, 500, 2 * maxFigurePoints, 2*maxFigurePoints + 1, 5*maxFigurePoints + 3, 40_000} {
		ws := make([]Interval, n)
		for i := range ws {
			w := &ws[i]
			w.Start, w.End = int64(i)*10, int64(i+1)*10
			if rng.IntN(4) > 0 { // a quarter of the windows empty
				w.Packets, w.Flows = rng.Uint64N(20), rng.Uint64N(3) // ties
			}
			w.SYNs, w.SYNACKs, w.HalfOpen, w.SYNOnly = rng.Uint64N(1000), rng.Uint64N(10), rng.Uint64N(50), uint64(i)
		}
		var s Series
		for i := range ws {
			s.add(&ws[i])
		}

		// What the report showed when it kept every window.
		var busy []Interval
		for _, w := range ws {
			if w.Packets > 0 || w.Flows > 0 {
				busy = append(busy, w)
			}
		}
		want := slices.Clone(busy)
		if len(want) > MaxTimelineRows {
			slices.SortStableFunc(want, func(x, y Interval) int { return cmp.Compare(y.Packets, x.Packets) })
			want = want[:MaxTimelineRows]
			slices.SortFunc(want, func(x, y Interval) int { return cmp.Compare(x.Start, y.Start) })
		}
		if s.Windows != n || s.Busy != len(busy) || !slices.Equal(s.Busiest, want) || s.End != ws[n-1].End {
			t.Fatalf("%d windows: %d windows, %d busy, busiest %v; want %d busy, busiest %v",
				n, s.Windows, s.Busy, starts(s.Busiest), len(busy), starts(want))
		}

		if len(s.Handshake) > 2*maxFigurePoints || n > 2*maxFigurePoints && len(s.Handshake) <= maxFigurePoints/2 {
			t.Fatalf("%d windows: %d points", n, len(s.Handshake))
		}
		if n <= 2*maxFigurePoints && s.PerPoint != 1 {
			t.Fatalf("%d windows: %d a point, want 1", n, s.PerPoint)
		}
		for i, p := range s.Handshake {
			of := ws[i*s.PerPoint : min(n, (i+1)*s.PerPoint)]
			highest := func(count func(w Interval) uint64) uint64 {
				return slices.Max(mapped(of, count))
			}
			want := HandshakePoint{of[0].Start, highest(func(w Interval) uint64 { return w.SYNs }),
				highest(func(w Interval) uint64 { return w.SYNACKs }), highest(func(w Interval) uint64 { return w.HalfOpen }),
				highest(func(w Interval) uint64 { return w.SYNOnly })}
			if p != want {
				t.Fatalf("%d windows, %d a point: point %d is %+v, want %+v", n, s.PerPoint, i, p, want)
			}
		}
		if last := len(s.Handshake) - 1; (last+1)*s.PerPoint < n {
			t.Fatalf("%d windows: %d points of %d miss the last", n, len(s.Handshake), s.PerPoint)
		}
	}
}

func starts(ws []Interval) []int64 { return mapped(ws, func(w Interval) int64 { return w.Start }) }

func mapped[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// TestActivityBounded pairs the activity of long findings: each point is
// the highest of its windows, PerPoint of them from its start.
func TestActivityBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2 * maxFigurePoints, 2*maxFigurePoints + 1, 4*maxFigurePoints + 1, 9*maxFigurePoints + 7} {
		ps := make([]ActivityPoint, n)
		for i := range ps {
			ps[i] = ActivityPoint{int64(i) * 10, rng.Uint64N(100), rng.Uint64N(100), uint64(n - i)}
		}
		whole := slices.Clone(ps)
		a := activityOf(ps, int64(n)*10)
		if a.Windows != n || a.End != int64(n)*10 || len(a.Points) > 2*maxFigurePoints || n > 2*maxFigurePoints && len(a.Points) <= maxFigurePoints {
			t.Fatalf("%d windows: %d points of %d, %d windows, end %d", n, len(a.Points), a.PerPoint, a.Windows, a.End)
		}
		if len(a.Points) != (n+a.PerPoint-1)/a.PerPoint {
			t.Fatalf("%d windows: %d points of %d", n, len(a.Points), a.PerPoint)
		}
		for i, p := range a.Points {
			of := whole[i*a.PerPoint : min(n, (i+1)*a.PerPoint)]
			want := of[0]
			for _, q := range of[1:] {
				want = higherActivity(want, q)
			}
			if p != want {
				t.Fatalf("%d windows, %d a point: point %d is %+v, want %+v", n, a.PerPoint, i, p, want)
			}
		}
	}
}
