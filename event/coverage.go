package event

import "time"

// Coverage says how much of a venue's liquidations its public feed
// carries, as the venue itself states it (shared/testdata/frames/
// PROTOCOLS.md section 14), so that every place showing totals can say
// whether its figure is the whole of what happened or a lower bound. A
// sampled feed under-counts exactly in cascades, when several positions of
// one symbol are liquidated within the same second.
type Coverage uint8

// Coverages.
const (
	// CoverageUndocumented: the venue states no cadence or sampling rule
	// for its feed; totals are what arrived, with no claim either way.
	CoverageUndocumented Coverage = iota
	// CoverageComplete: the venue says it pushes every liquidation,
	// possibly batched.
	CoverageComplete
	// CoverageSampled: the venue pushes at most a few liquidations per
	// symbol per interval; totals are a lower bound.
	CoverageSampled
)

// String returns "complete", "sampled" or "undocumented".
func (c Coverage) String() string {
	switch c {
	case CoverageComplete:
		return "complete"
	case CoverageSampled:
		return "sampled"
	}
	return "undocumented"
}

// Describe says what the label means for a total, in words a trader reads
// on the status page or in /stats.
func (c Coverage) Describe() string {
	switch c {
	case CoverageComplete:
		return "every liquidation, as the venue states"
	case CoverageSampled:
		return "a lower bound: the venue sends only some liquidations"
	}
	return "the venue does not say whether it sends every liquidation"
}

// VenueCoverage is what a venue's feed carries, with the venue's rule in
// words a trader understands.
type VenueCoverage struct {
	Coverage Coverage
	// Rule is the venue's own statement, e.g. "at most 1 liquidation per
	// symbol per second".
	Rule string
}

// gateCompleteSince is when Gate's futures.public_liquidates stopped
// sampling: until its 2026-08-20 change it pushed "up to one liquidate
// order data every 1 second" per contract; since then the orders of one
// cycle (1 s) are pushed together, "no longer discarding the others".
// Gate gave the date, not the hour: the day is taken from 00:00 UTC.
var gateCompleteSince = time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)

// CoverageAt returns what venue v's feed carried at t (Gate changed on
// 2026-08-20: events captured before it come from a sampled feed). A new
// venue adds its case here, from its own documentation.
func (v Venue) CoverageAt(t time.Time) VenueCoverage {
	switch v {
	case BinanceUSDM, BinanceCOINM, Aster:
		return VenueCoverage{CoverageSampled, "at most 1 liquidation per symbol per second: totals are a lower bound"}
	case OKX:
		return VenueCoverage{CoverageSampled, "at most 1 liquidation per contract per second: totals are a lower bound"}
	case Bitget:
		return VenueCoverage{CoverageSampled, "only the largest long and the largest short per pair per second: totals are a lower bound"}
	case Bybit:
		return VenueCoverage{CoverageComplete, "every liquidation (Bybit says so), in 500 ms batches"}
	case BitMEX:
		// Not in section 14; BitMEX support (PROTOCOLS.md section 5): the
		// channel "shows all liquidation orders even if immediately filled".
		return VenueCoverage{CoverageComplete, "every liquidation order, even one filled at once (BitMEX support)"}
	case KrakenFutures:
		return VenueCoverage{CoverageComplete, "every liquidation trade (one message per trade)"}
	case Deribit:
		return VenueCoverage{CoverageComplete, "every liquidation trade, batched every 100 ms (believed complete: the docs describe batching, not sampling)"}
	case Gate:
		if t.Before(gateCompleteSince) {
			return VenueCoverage{CoverageSampled, "at most 1 liquidation per contract per second before 2026-08-20: totals are a lower bound"}
		}
		return VenueCoverage{CoverageComplete, "every liquidation since 2026-08-20 (Gate says so), in 1 s batches"}
	}
	return VenueCoverage{CoverageUndocumented, "no completeness statement from the venue"}
}

// Coverage is CoverageAt now: what the venue's feed carries today.
func (v Venue) Coverage() VenueCoverage { return v.CoverageAt(time.Now()) }

// Sampled reports whether the venue's liquidation feed is a sample today,
// so that totals including it are lower bounds.
func (v Venue) Sampled() bool { return v.Coverage().Coverage == CoverageSampled }
