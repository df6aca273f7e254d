package event

import "time"

// Coverage says how much of a venue's liquidations its public feed
// carries, so that every place showing totals can say whether its figure
// is the whole of what happened or a lower bound. The venues' own words are
// quoted in shared/testdata/frames/PROTOCOLS.md section 14.
type Coverage uint8

// Coverage labels.
const (
	// CoverageUndocumented: the venue states no cadence or sampling rule
	// for its feed (HTX); totals are what arrived, with no claim either way.
	CoverageUndocumented Coverage = iota
	// CoverageComplete: the venue says it pushes every liquidation (Bybit's
	// allLiquidation, Gate since 2026-08-20), possibly batched.
	CoverageComplete
	// CoverageSampled: the venue pushes at most one liquidation per symbol
	// (or per side of a pair) a second, so a cascade is under-counted
	// exactly when it matters: totals are a lower bound.
	CoverageSampled
)

// String returns "undocumented", "complete" or "sampled".
func (c Coverage) String() string {
	switch c {
	case CoverageComplete:
		return "complete"
	case CoverageSampled:
		return "sampled"
	}
	return "undocumented"
}

// Describe says what the label means for a total, in words a trader
// reads on the status page or in /stats.
func (c Coverage) Describe() string {
	switch c {
	case CoverageComplete:
		return "every liquidation, as the venue states"
	case CoverageSampled:
		return "a lower bound: the venue sends at most one liquidation per symbol a second"
	}
	return "the venue does not say whether it sends every liquidation"
}

// gateCompleteSince is when Gate's futures.public_liquidates stopped
// sampling: until its 2026-08-20 change it pushed "up to one liquidate
// order data every 1 second" per contract; since then the orders of one
// cycle (1 s) are pushed together, "no longer discarding the others".
// Gate gave the date, not the hour: the day is taken from 00:00 UTC.
var gateCompleteSince = time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)

// Coverage returns the label of v's feed as it was at t (Gate changed on
// 2026-08-20: events captured before it come from a sampled feed).
// A venue with no statement is CoverageUndocumented.
func (v Venue) Coverage(t time.Time) Coverage {
	switch v {
	case BinanceUSDM, BinanceCOINM, OKX:
		return CoverageSampled
	case Bybit:
		return CoverageComplete
	case BitMEX:
		// Not in section 14; BitMEX support (PROTOCOLS.md section 5): the
		// channel "shows all liquidation orders even if immediately filled".
		return CoverageComplete
	case Gate:
		if t.Before(gateCompleteSince) {
			return CoverageSampled
		}
		return CoverageComplete
	}
	return CoverageUndocumented
}
