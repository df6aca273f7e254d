package enrich

import (
	"math"
	"sync"

	"github.com/liqbox/liqbox/event"
)

// Rolling windows. The 1 m and 5 m figures come from 5-second buckets and
// the 1 h figure from 1-minute buckets, so each is exact to within one
// bucket at its far edge: precise enough for a risk read, and a fixed
// 3 KB per symbol with no allocation once the symbol has been seen.
const (
	fineStepNs    = int64(5e9)
	fineBuckets   = 60 // 5 minutes
	fine1m        = 12 // buckets in one minute
	coarseStepNs  = int64(60e9)
	coarseBuckets = 60 // 1 hour

	// histLen is how many recent sizes per symbol the percentile is taken
	// over, within the last hour (histSpanNs), the longest window, so that
	// the log's last hour rebuilds all of it after a restart.
	histLen    = 256
	histSpanNs = coarseBuckets * coarseStepNs
	// minHistory is the history below which a percentile says too little to
	// drive the rules' risk level.
	minHistory = 20

	// A cascade is at least cascadeMinEvents liquidations on one side of a
	// symbol within a minute whose USD total is at least cascadeFactor times
	// that side's average minute over the last hour.
	cascadeMinEvents = 5
	cascadeFactor    = 3.0
)

type bucket struct {
	stamp       int64 // bucket number (time / step); identifies which window slot this is
	long, short float64
	nLong       int32
	nShort      int32
}

func (b *bucket) add(stamp int64, side event.Side, usd float64) {
	if b.stamp != stamp {
		if b.stamp > stamp {
			return // the slot already holds a newer period: this event is too old for the window
		}
		*b = bucket{stamp: stamp}
	}
	switch side {
	case event.Long:
		b.long += usd
		b.nLong++
	case event.Short:
		b.short += usd
		b.nShort++
	}
}

type symKey struct {
	venue event.Venue
	sym   event.Symbol
}

type symAgg struct {
	fine    [fineBuckets]bucket
	coarse  [coarseBuckets]bucket
	hist    [histLen]sized
	histN   int    // filled slots, up to histLen
	histPos int    // next slot to overwrite
	lastSeq uint64 // highest sequence number counted: an event is counted once
}

// sized is one liquidation in the size history.
type sized struct {
	usd float64
	ns  int64 // when it happened
}

// aggregates holds the per-symbol rolling state that Observe feeds and
// Offer reads when it snapshots an alert's context.
type aggregates struct {
	mu      sync.Mutex // guards syms and every *symAgg in it
	syms    map[symKey]*symAgg
	maxSyms int
}

func newAggregates(maxSyms int) *aggregates {
	return &aggregates{syms: make(map[symKey]*symAgg, 256), maxSyms: maxSyms}
}

// eventNs is the time an event counts at: the exchange's own time, so that a
// venue's replayed backlog lands in the past rather than in the current
// minute; the local receive time when the venue gave none.
func eventNs(ev *event.Event) int64 {
	if ev.TimeMs > 0 {
		return ev.TimeMs * 1e6
	}
	return ev.RecvNs
}

// observe adds ev to its symbol's windows and size history, once: an
// event whose sequence number was counted already (seeded from the log,
// then redelivered by it) is not counted again. Events without a sequence
// number are always counted. It reports false when the symbol table is
// full and the event was not counted.
func (a *aggregates) observe(ev *event.Event) bool {
	a.mu.Lock()
	ok := a.observeLocked(ev)
	a.mu.Unlock()
	return ok
}

func (a *aggregates) observeLocked(ev *event.Event) bool {
	if !ev.NotionalKnown() || ev.Notional <= 0 {
		return true // nothing to add up; not a table overflow
	}
	t := eventNs(ev)
	if t <= 0 {
		return true
	}
	k := symKey{venue: ev.Venue, sym: ev.Symbol}
	s := a.syms[k]
	if s == nil {
		if len(a.syms) >= a.maxSyms {
			return false
		}
		s = new(symAgg)
		a.syms[k] = s
	}
	if ev.Seq != 0 {
		if ev.Seq <= s.lastSeq {
			return true
		}
		s.lastSeq = ev.Seq
	}
	fs := t / fineStepNs
	s.fine[fs%fineBuckets].add(fs, ev.Side, ev.Notional)
	cs := t / coarseStepNs
	s.coarse[cs%coarseBuckets].add(cs, ev.Side, ev.Notional)
	s.hist[s.histPos] = sized{usd: ev.Notional, ns: t}
	s.histPos = (s.histPos + 1) % histLen
	if s.histN < histLen {
		s.histN++
	}
	return true
}

// alertContext is what an alert's prompt and its rules fallback know beyond
// the event itself. It is a value so that Offer can queue it without
// allocating.
type alertContext struct {
	Long1m, Short1m   float64
	Long5m, Short5m   float64
	Long1h, Short1h   float64
	N1mSame           int32   // liquidations on the alert's side in the last minute
	Percentile        float64 // share of the symbol's recent sizes below this one, 0–100; NaN without history
	HistoryN          int32
	HistoryMean       float64
	Cascade           bool
	CascadeMultiplier float64 // last minute on the alert's side / that side's average minute over the hour
}

// observeAndSnapshot counts ev (unless it was already) and computes its
// context as of its own time, so the context of an alert always includes
// the alert itself. It does not allocate once the symbol has been seen,
// and reports false when the symbol table is full.
func (a *aggregates) observeAndSnapshot(ev *event.Event) (alertContext, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.observeLocked(ev)
	return a.snapshotLocked(ev), ok
}

// snapshot computes ev's context as of ev's own time. It does not allocate.
func (a *aggregates) snapshot(ev *event.Event) alertContext {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snapshotLocked(ev)
}

func (a *aggregates) snapshotLocked(ev *event.Event) alertContext {
	cx := alertContext{Percentile: math.NaN()}
	t := eventNs(ev)
	k := symKey{venue: ev.Venue, sym: ev.Symbol}
	s := a.syms[k]
	if s == nil || t <= 0 {
		return cx
	}
	fs := t / fineStepNs
	var n1mLong, n1mShort int32
	for i := range s.fine {
		b := &s.fine[i]
		age := fs - b.stamp
		if age < 0 || age >= fineBuckets {
			continue
		}
		cx.Long5m += b.long
		cx.Short5m += b.short
		if age < fine1m {
			cx.Long1m += b.long
			cx.Short1m += b.short
			n1mLong += b.nLong
			n1mShort += b.nShort
		}
	}
	cs := t / coarseStepNs
	for i := range s.coarse {
		b := &s.coarse[i]
		age := cs - b.stamp
		if age < 0 || age >= coarseBuckets {
			continue
		}
		cx.Long1h += b.long
		cx.Short1h += b.short
	}
	same1m, same1h := cx.Long1m, cx.Long1h
	cx.N1mSame = n1mLong
	if ev.Side == event.Short {
		same1m, same1h = cx.Short1m, cx.Short1h
		cx.N1mSame = n1mShort
	}
	if avg := same1h / coarseBuckets; avg > 0 {
		cx.CascadeMultiplier = same1m / avg
	}
	cx.Cascade = cx.N1mSame >= cascadeMinEvents && cx.CascadeMultiplier >= cascadeFactor

	if ev.NotionalKnown() {
		var below, equal, sum, n float64
		for _, h := range s.hist[:s.histN] {
			// The past hour as of the alert: nothing later (a log seeded
			// past a redelivered alert), nothing older than the windows.
			if h.ns > t || h.ns <= t-histSpanNs {
				continue
			}
			n++
			sum += h.usd
			switch {
			case h.usd < ev.Notional:
				below++
			case h.usd == ev.Notional:
				equal++
			}
		}
		if n > 0 {
			// Ties count half, so a size equal to every recent one sits at the 50th percentile.
			cx.Percentile = 100 * (below + equal/2) / n
			cx.HistoryN = int32(n)
			cx.HistoryMean = sum / n
		}
	}
	return cx
}
