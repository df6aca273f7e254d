package cascade

import (
	"math/bits"

	"github.com/liqbox/liqbox/event"
)

// Window sums. Each (asset, side, window length) the rules need has one
// ring of Buckets buckets, each Window/Buckets long, and the ring's running
// totals: adding an event is one bucket and the totals, in integer cents,
// and moving on to a new bucket subtracts the one it replaces. The sum
// therefore covers the current, partial bucket and the Buckets-1 before
// it: between Window·(1 − 1/Buckets) and Window of the past, never more
// (a 5-minute rule's total is of the last 4 min 55 s to 5 min). The work
// per event is bounded: one bucket, plus at most Buckets buckets cleared
// when time has moved on by a whole window.
//
// Each bucket also keeps its per-venue totals and its largest
// liquidations, so that the moment a rule fires the window's breakdown by
// venue and its largest liquidations are known exactly, without a scan of
// the log.

// Buckets is the number of buckets of every window.
const Buckets = 60

// VenueSlots bounds the venues a breakdown holds (index event.Venue); a
// venue beyond it is counted under VenueUnknown. TestVenueSlots fails when
// event gains more venues than fit.
const VenueSlots = 16

// TopN is how many of the largest liquidations a cascade shows.
const TopN = 5

// Tally is a count and the USD behind it, in cents.
type Tally struct {
	Cents int64
	N     int32
}

// USD is the tally's amount in dollars.
func (t Tally) USD() float64 { return float64(t.Cents) / 100 }

// breakdown is what a window, a bucket or a cascade holds: totals, per
// venue, the liquidations of unknown size, and the largest ones.
type breakdown struct {
	total   Tally
	unknown int32
	vmask   uint32 // the venues with a tally, so clearing skips the rest
	ntop    int8
	venues  [VenueSlots]Tally
	top     [TopN]event.Event // largest first; entries past ntop are stale
}

// reset empties b without touching its stale entries.
func (b *breakdown) reset() {
	b.total, b.unknown, b.ntop = Tally{}, 0, 0
	for m := b.vmask; m != 0; m &= m - 1 {
		b.venues[bits.TrailingZeros32(m)] = Tally{}
	}
	b.vmask = 0
}

func venueSlot(v event.Venue) int {
	if int(v) >= VenueSlots {
		return 0
	}
	return int(v)
}

// add counts ev, whose USD notional is c cents (0: unknown size).
func (b *breakdown) add(ev *event.Event, c int64) {
	if c == 0 {
		b.unknown++
		return
	}
	b.total.Cents += c
	b.total.N++
	i := venueSlot(ev.Venue)
	b.venues[i].Cents += c
	b.venues[i].N++
	b.vmask |= 1 << i
	b.insertTop(ev)
}

// insertTop keeps top the largest events, largest first: an insertion step
// over TopN entries, allocation-free.
func (b *breakdown) insertTop(ev *event.Event) {
	i := int(b.ntop)
	if i == TopN {
		if ev.Notional <= b.top[TopN-1].Notional {
			return
		}
		i--
	} else {
		b.ntop++
	}
	for ; i > 0 && b.top[i-1].Notional < ev.Notional; i-- {
		b.top[i] = b.top[i-1]
	}
	b.top[i] = *ev
}

// merge adds o's totals and largest events to b.
func (b *breakdown) merge(o *breakdown) {
	b.total.Cents += o.total.Cents
	b.total.N += o.total.N
	b.unknown += o.unknown
	b.vmask |= o.vmask
	for m := o.vmask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros32(m)
		b.venues[i].Cents += o.venues[i].Cents
		b.venues[i].N += o.venues[i].N
	}
	for i := 0; i < int(o.ntop); i++ {
		b.insertTop(&o.top[i])
	}
}

// bucket is one slice of a window.
type bucket struct {
	stamp   int64 // the bucket's number: time / width
	firstNs int64 // receive time of its first event, 0 if none
	breakdown
}

// ring is the sliding window of one (asset, side, length).
type ring struct {
	width int64 // bucket length, ns
	cur   int64 // number of the newest bucket; buckets cur-Buckets+1 … cur are in the window
	// Running totals of the buckets in the window (the largest events are
	// not: they are merged from the buckets when asked; vmask holds every
	// venue seen since the last reset).
	tot breakdown
	b   [Buckets]bucket
}

func newRing(window int64) *ring { return &ring{width: window / Buckets} }

// advance moves the window's end to the bucket holding nowNs, expiring the
// buckets it leaves behind.
func (r *ring) advance(nowNs int64) {
	k := nowNs / r.width
	if k <= r.cur {
		return
	}
	if k-r.cur >= Buckets {
		r.tot.reset()
		for i := range r.b {
			r.b[i].reset()
			r.b[i].stamp, r.b[i].firstNs = 0, 0
		}
		r.cur = k
		return
	}
	for j := r.cur + 1; j <= k; j++ {
		// The slot holds bucket j-Buckets, the oldest in the window (or
		// nothing, since a reset): it leaves the totals.
		bk := &r.b[j%Buckets]
		r.tot.total.Cents -= bk.total.Cents
		r.tot.total.N -= bk.total.N
		r.tot.unknown -= bk.unknown
		for m := bk.vmask; m != 0; m &= m - 1 {
			i := bits.TrailingZeros32(m)
			r.tot.venues[i].Cents -= bk.venues[i].Cents
			r.tot.venues[i].N -= bk.venues[i].N
		}
		bk.reset()
		bk.stamp, bk.firstNs = j, 0
	}
	r.cur = k
}

// add counts ev (c cents, 0 when its size is unknown) at its receive
// time; it reports false when that time is already out of the window (the
// clock stepped back, or the event waited longer than a window).
func (r *ring) add(ev *event.Event, c int64) bool {
	t := ev.RecvNs
	r.advance(t)
	k := t / r.width
	if k <= r.cur-Buckets {
		return false
	}
	bk := &r.b[k%Buckets]
	if bk.stamp != k {
		// Only possible for a bucket of the window that has had no event
		// since the ring was reset: it holds nothing.
		bk.stamp = k
	}
	if bk.firstNs == 0 || t < bk.firstNs {
		bk.firstNs = t
	}
	bk.add(ev, c)
	if c == 0 {
		r.tot.unknown++
		return true
	}
	r.tot.total.Cents += c
	r.tot.total.N++
	i := venueSlot(ev.Venue)
	r.tot.venues[i].Cents += c
	r.tot.venues[i].N++
	r.tot.vmask |= 1 << i
	return true
}

// sum is the window's total in cents at nowNs.
func (r *ring) sum(nowNs int64) int64 {
	r.advance(nowNs)
	return r.tot.total.Cents
}

// sumAt is the window's total in cents at t without moving the ring: the
// buckets that would have expired by t are left out. For a t inside the
// newest bucket or before it, it is the total now.
func (r *ring) sumAt(t int64) int64 {
	k := t / r.width
	s := r.tot.total.Cents
	if k <= r.cur {
		return s
	}
	if k-r.cur >= Buckets {
		return 0
	}
	for j := r.cur + 1; j <= k; j++ {
		s -= r.b[j%Buckets].total.Cents
	}
	return s
}

// content returns what the window holds at nowNs: its totals, its largest
// liquidations and the receive time of its first event (0 if empty). It
// merges the buckets: a cold path, when a rule fires.
func (r *ring) content(nowNs int64, into *breakdown) (firstNs int64) {
	r.advance(nowNs)
	into.merge(&r.tot) // the running totals hold no largest events: those come from the buckets
	for i := range r.b {
		bk := &r.b[i]
		if bk.stamp <= r.cur-Buckets || bk.stamp > r.cur {
			continue
		}
		for j := 0; j < int(bk.ntop); j++ {
			into.insertTop(&bk.top[j])
		}
		if bk.firstNs != 0 && (firstNs == 0 || bk.firstNs < firstNs) {
			firstNs = bk.firstNs
		}
	}
	return firstNs
}
