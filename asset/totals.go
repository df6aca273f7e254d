package asset

import (
	"sort"
	"time"

	"github.com/liqbox/liqbox/event"
)

// Total is one asset's liquidations across every venue over the last hour
// and the last day, by the receive time of each liquidation.
type Total struct {
	Name         Name
	USD1h, USD1d float64
	N1h, N1d     int
	// LowerBound is set when a venue whose feed was sampled when it
	// captured the event (event.Venue.CoverageAt) contributed to the day's
	// figure: the real one is higher.
	LowerBound bool
	// Coverage1h and Coverage1d are the coverage of the hour's and the
	// day's figure: every venue that contributed, with what its feed
	// carried when it captured the event. Coverage1d is sampled exactly
	// when LowerBound is set; Coverage1h is empty without an event in the
	// hour.
	Coverage1h, Coverage1d event.CoverageSum
}

// Totals adds liquidations up per asset for /stats and the page's top
// assets. The zero value is not usable: call NewTotals.
type Totals struct {
	now int64 // Unix ns: the windows end here
	m   map[Name]*Total
}

// NewTotals counts over the hour and the day before now.
func NewTotals(now time.Time) *Totals {
	return &Totals{now: now.UnixNano(), m: map[Name]*Total{}}
}

// Add counts ev if it falls in the last day before now and its size is
// known; an unmapped symbol is left out.
func (t *Totals) Add(ev *event.Event) {
	age := t.now - ev.RecvNs
	if age < 0 || age >= int64(24*time.Hour) || !ev.NotionalKnown() {
		return
	}
	a := Of(ev.Venue, ev.Symbol.Bytes())
	if a.IsZero() {
		return
	}
	x := t.m[a]
	if x == nil {
		x = &Total{Name: a}
		t.m[a] = x
	}
	// Coverage at the event's capture: a Gate event of before its
	// 2026-08-20 change came from a sampled feed.
	c := ev.Venue.CoverageAt(time.Unix(0, ev.RecvNs)).Coverage
	x.USD1d += ev.Notional
	x.N1d++
	x.Coverage1d.Add(ev.Venue, c)
	if age < int64(time.Hour) {
		x.USD1h += ev.Notional
		x.N1h++
		x.Coverage1h.Add(ev.Venue, c)
	}
	if c == event.CoverageSampled {
		x.LowerBound = true
	}
}

// Top returns the n assets with the most USD liquidated over the day,
// largest first (ties by name).
func (t *Totals) Top(n int) []Total {
	out := make([]Total, 0, len(t.m))
	for _, x := range t.m {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].USD1d != out[j].USD1d {
			return out[i].USD1d > out[j].USD1d
		}
		return out[i].Name.String() < out[j].Name.String()
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
