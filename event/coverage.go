package event

// Coverage says how much of a venue's liquidations its public feed
// carries, as the venue itself states it (shared/testdata/frames/
// PROTOCOLS.md section 14). A sampled feed under-counts exactly in
// cascades, when several positions of one symbol are liquidated within the
// same second: every total that includes it is a lower bound.
type Coverage uint8

// Coverages.
const (
	// CoverageUndocumented: the venue says nothing about completeness.
	CoverageUndocumented Coverage = iota
	// CoverageComplete: the venue says it pushes every liquidation.
	CoverageComplete
	// CoverageSampled: the venue pushes at most a few per symbol per
	// interval; totals are a lower bound.
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

// VenueCoverage is what a venue's feed carries, with the venue's rule in
// words a trader understands, for every place that shows totals.
type VenueCoverage struct {
	Coverage Coverage
	// Rule is the venue's own statement, e.g. "at most 1 liquidation per
	// symbol per second".
	Rule string
}

// Coverage returns what venue v's feed carries. A new venue adds its case
// here, from its own documentation.
func (v Venue) Coverage() VenueCoverage {
	switch v {
	case BinanceUSDM, BinanceCOINM, Aster:
		return VenueCoverage{CoverageSampled, "at most 1 liquidation per symbol per second: totals are a lower bound"}
	case OKX:
		return VenueCoverage{CoverageSampled, "at most 1 liquidation per contract per second: totals are a lower bound"}
	case Bitget:
		return VenueCoverage{CoverageSampled, "only the largest long and the largest short per pair per second: totals are a lower bound"}
	case Bybit:
		return VenueCoverage{CoverageComplete, "every liquidation (Bybit says so), in 500 ms batches"}
	case KrakenFutures:
		return VenueCoverage{CoverageComplete, "every liquidation trade (one message per trade)"}
	case Deribit:
		return VenueCoverage{CoverageComplete, "every liquidation trade, batched every 100 ms (believed complete: the docs describe batching, not sampling)"}
	}
	return VenueCoverage{CoverageUndocumented, "no completeness statement from the venue"}
}

// Sampled reports whether the venue's liquidation feed is a sample, so
// that totals including it are lower bounds.
func (v Venue) Sampled() bool { return v.Coverage().Coverage == CoverageSampled }
