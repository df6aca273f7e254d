package cascade

import (
	"time"

	"github.com/liqbox/liqbox/event"
)

// State is where a cascade is in its life.
type State uint8

// States of a cascade.
const (
	// Open: the rule's window holds at least its threshold.
	Open State = iota + 1
	// Fading: the window's total fell below the threshold at BelowNs; the
	// cascade closes once it has stayed below for the rule's quiet period,
	// or opens again if it crosses before.
	Fading
	// Closed: over, the final summary; the rule is armed again.
	Closed
)

// String returns "open", "fading" or "closed".
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Fading:
		return "fading"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Snapshot is a cascade as it stands: what its one message shows. It is a
// plain value (no pointers), so a sink copies it without allocating.
// Times are local receive times, Unix ns.
type Snapshot struct {
	ID    uint64 // unique within the engine's life
	Owner int64  // whose rule fired (a chat id; 0 for the command line)
	Rule  Rule
	State State
	// Resumed marks a cascade found open while the engine was rebuilt from
	// the log at start: its chat may have its message already.
	Resumed bool
	// Removed marks a cascade closed because its rule was removed.
	Removed bool

	StartNs  int64  // the first liquidation in the window when the rule fired
	FiredNs  int64  // the liquidation that crossed the threshold
	FiredSeq uint64 // its sequence number
	LastNs   int64  // the latest liquidation counted
	BelowNs  int64  // when the window fell below the threshold (Fading, Closed); 0 while above
	EndNs    int64  // when it closed

	// Total is every liquidation of the cascade since StartNs, by venue in
	// Venues (index event.Venue); Unknown counts those of unknown size,
	// which no total includes.
	Total   Tally
	Unknown int32
	Venues  [VenueSlots]Tally
	Top     [TopN]event.Event // the largest, largest first
	NTop    int

	WindowCents int64 // the rule's window total at the last update
	PeakCents   int64 // the highest window total so far

	// Version increases with every change a reader would see.
	Version uint64
}

// USD is the cascade's total in dollars.
func (s *Snapshot) USD() float64 { return s.Total.USD() }

// WindowUSD is the rule's window total at the last update.
func (s *Snapshot) WindowUSD() float64 { return float64(s.WindowCents) / 100 }

// PeakUSD is the highest window total of the cascade.
func (s *Snapshot) PeakUSD() float64 { return float64(s.PeakCents) / 100 }

// Largest returns the largest liquidations, largest first (a view of s).
func (s *Snapshot) Largest() []event.Event { return s.Top[:s.NTop] }

// LowerBound reports whether a venue whose feed was sampled during the
// cascade (Sampled) contributed: the real total is then higher than the
// one shown.
func (s *Snapshot) LowerBound() bool {
	for v := range s.Venues {
		if s.Venues[v].N > 0 && s.Sampled(event.Venue(v)) {
			return true
		}
	}
	return false
}

// Sampled reports whether venue v's feed was sampled over the cascade's
// span (event.Venue.CoverageOver): a replay of a Gate log of before its
// 2026-08-20 change is, a live cascade of today is not.
func (s *Snapshot) Sampled(v event.Venue) bool {
	return v.CoverageOver(time.Unix(0, s.StartNs), time.Unix(0, s.LastNs)).Coverage == event.CoverageSampled
}

// Duration is how long the cascade has lasted: from its first
// liquidation to its latest.
func (s *Snapshot) Duration() time.Duration { return time.Duration(max(s.LastNs-s.StartNs, 0)) }

// OverNs is when a closed cascade was over: when its window fell below the
// threshold for good (it is declared closed a quiet period later), or its
// end when it never did (a log replay that ended first).
func (s *Snapshot) OverNs() int64 {
	if s.BelowNs != 0 {
		return s.BelowNs
	}
	return s.EndNs
}

// fill copies a breakdown into the snapshot's totals.
func (s *Snapshot) fill(b *breakdown) {
	s.Total, s.Unknown, s.Venues = b.total, b.unknown, b.venues
	s.Top, s.NTop = b.top, int(b.ntop)
}
