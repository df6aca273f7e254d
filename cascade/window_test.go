package cascade

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// naiveWindow keeps every event it accepted and answers by recomputing
// from all of them: the definition the ring must agree with exactly.
type naiveWindow struct {
	width int64
	cur   int64 // newest bucket number seen
	evs   []naiveEvent
}

type naiveEvent struct {
	ev event.Event
	c  int64
}

func (n *naiveWindow) see(t int64) { n.cur = max(n.cur, t/n.width) }

func (n *naiveWindow) add(ev event.Event, c int64) bool {
	n.see(ev.RecvNs)
	if ev.RecvNs/n.width <= n.cur-Buckets {
		return false
	}
	n.evs = append(n.evs, naiveEvent{ev, c})
	return true
}

func (n *naiveWindow) in(x naiveEvent) bool {
	k := x.ev.RecvNs / n.width
	return k > n.cur-Buckets && k <= n.cur
}

func (n *naiveWindow) content(now int64) (b breakdown, first int64) {
	n.see(now)
	var known []event.Event
	for _, x := range n.evs {
		if !n.in(x) {
			continue
		}
		if first == 0 || x.ev.RecvNs < first {
			first = x.ev.RecvNs
		}
		if x.c == 0 {
			b.unknown++
			continue
		}
		b.total.Cents += x.c
		b.total.N++
		b.venues[x.ev.Venue].Cents += x.c
		b.venues[x.ev.Venue].N++
		known = append(known, x.ev)
	}
	slices.SortStableFunc(known, func(a, b event.Event) int {
		switch {
		case a.Notional > b.Notional:
			return -1
		case a.Notional < b.Notional:
			return 1
		}
		return 0
	})
	for i := 0; i < len(known) && i < TopN; i++ {
		b.top[i] = known[i]
		b.ntop++
	}
	return b, first
}

// exact is the total of every accepted event received in (now-d, now].
func (n *naiveWindow) exact(now int64, d time.Duration) int64 {
	var s int64
	for _, x := range n.evs {
		if x.ev.RecvNs > now-int64(d) && x.ev.RecvNs <= now {
			s += x.c
		}
	}
	return s
}

// TestWindowAgainstNaive feeds random streams (bursts, lulls longer than
// a window, events a little out of order and a few from before the
// window, unknown sizes) to a ring and to the naive recomputation, and
// checks after every step that totals, per-venue tallies, the largest
// events and the window's first event agree exactly, and that the sum
// lies between the exact sliding sums over the window less one bucket and
// over the whole window.
func TestWindowAgainstNaive(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 4 // under qemu's armv7 the forty take 2.5 minutes
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		window := time.Duration(1+rng.IntN(30)) * time.Minute
		r := newRing(int64(window))
		n := &naiveWindow{width: r.width}
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano()
		inOrder := true
		for step := 0; step < 3000; step++ {
			switch p := rng.Float64(); {
			case p < 0.01:
				now += int64(window) * int64(1+rng.IntN(3)) // a lull longer than the window
			case p < 0.3:
				now += rng.Int64N(int64(window) / 20)
			default:
				now += rng.Int64N(int64(time.Second))
			}
			at := now
			if rng.Float64() < 0.1 {
				// Out of order: a little late, or up to a little more than
				// a window late (around the window's far edge), or from
				// well before it.
				switch q := rng.Float64(); {
				case q < 0.6:
					at -= rng.Int64N(int64(window) / 10)
				case q < 0.95:
					at -= rng.Int64N(int64(window) * 12 / 10)
				default:
					at -= int64(window) * 2
				}
				inOrder = false
			}
			usd := rng.ExpFloat64() * 50_000
			c := cents(usd)
			if rng.Float64() < 0.05 {
				c = 0 // unknown size
			}
			ev := event.Event{RecvNs: at, Venue: event.Venue(1 + rng.IntN(5)), Side: event.Long, Notional: usd,
				Seq: uint64(step + 1), Symbol: event.MakeSymbol("BTCUSDT")}
			if got, want := r.add(&ev, c), n.add(ev, c); got != want {
				t.Fatalf("seed %d step %d: add accepted %v, naive %v", seed, step, got, want)
			}
			q := now
			if rng.Float64() < 0.2 {
				q += rng.Int64N(int64(window)) // a query ahead of the events (a tick)
				now = q
			}
			var got breakdown
			gotFirst := r.content(q, &got)
			want, wantFirst := n.content(q)
			if got.total != want.total || got.unknown != want.unknown || got.venues != want.venues || gotFirst != wantFirst {
				t.Fatalf("seed %d step %d: ring total %+v unknown %d first %d venues %v\nnaive total %+v unknown %d first %d venues %v",
					seed, step, got.total, got.unknown, gotFirst, got.venues, want.total, want.unknown, wantFirst, want.venues)
			}
			if got.ntop != want.ntop {
				t.Fatalf("seed %d step %d: %d largest, naive %d", seed, step, got.ntop, want.ntop)
			}
			for i := 0; i < int(got.ntop); i++ {
				if got.top[i].Notional != want.top[i].Notional {
					t.Fatalf("seed %d step %d: largest #%d %v, naive %v", seed, step, i, got.top[i].Notional, want.top[i].Notional)
				}
			}
			if s := r.sum(q); s != want.total.Cents {
				t.Fatalf("seed %d step %d: sum %d, content %d", seed, step, s, want.total.Cents)
			}
			if inOrder {
				lo, hi := n.exact(q, window-time.Duration(r.width)), n.exact(q, window)
				if s := r.sum(q); s < lo || s > hi {
					t.Fatalf("seed %d step %d: sum %d outside the exact sums [%d, %d] of the window less a bucket and the window", seed, step, s, lo, hi)
				}
			}
		}
	}
}

func TestVenueSlots(t *testing.T) {
	if n := len(event.Venues()); n >= VenueSlots {
		t.Fatalf("event has %d venues; VenueSlots (%d) must exceed it so each keeps its own line in a breakdown", n, VenueSlots)
	}
}
