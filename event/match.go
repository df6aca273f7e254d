package event

import (
	"math"
	"time"
)

// MatchRule decides whether two copies of a liquidation that arrived from
// different sources are one liquidation, and in what they disagree. Copies
// from a venue's redundant connections carry the same exchange fields and
// so the same Key; a relay's copy does not: it reports the size in USD (the
// base quantity is derived from it), its time may be its own, its numbers
// may be rounded. The live pipeline applies this rule to a relay's copy
// against the venue's own (and the other way round), and `liqbox compare`
// applies it to the events of two logs, so both count the same things.
//
// Two events are the same liquidation when they have the same venue and
// symbol, their exchange times (TimeMs) are at most Window apart, and
//   - they have the same side and USD notionals within SizeTol of each
//     other (relative to the larger), or
//   - their sides differ and their notionals are within Agree: a copy
//     that reports another side for the very same size is the same
//     liquidation with its side wrong (a relay that reports the order side
//     instead of the position's), not a second liquidation.
//
// When either notional is unknown (contract metadata missing) the USD is
// not compared: copies on the same side within Window match, copies on
// opposite sides do not. A USD difference of up to a dollar is rounding (a
// relay that reports cents), never a difference: the shares above are of
// what exceeds it.
//
// A matched pair disagrees in its side, in its USD when the notionals
// differ by more than Agree, and in its price when the prices do.
type MatchRule struct {
	Window  time.Duration
	SizeTol float64
	Agree   float64
}

// DefaultMatchRule is the rule the pipeline and `liqbox compare` use unless
// configured otherwise: 500 ms, 10 %, 1 %. Binance sends at most one
// liquidation per symbol per second, so within half a second a copy can
// never be taken for the symbol's next or previous liquidation, even when
// the relay's copy arrives before the venue's (the match then has only
// other liquidations to choose from); half a second also covers a relay
// that stamps its own time with the lag it advertises (under 50 ms). One
// percent separates rounding from a different figure (an order price taken
// for the fill price differs by more).
func DefaultMatchRule() MatchRule {
	return MatchRule{Window: 500 * time.Millisecond, SizeTol: 0.10, Agree: 0.01}
}

// Disagreement is the set of fields in which two copies of one liquidation
// differ.
type Disagreement uint8

// The fields a matched pair can disagree in.
const (
	DisagreeSide Disagreement = 1 << iota
	DisagreeUSD
	DisagreePrice
)

// Fields names each field of the set, in a fixed order: side, usd, price.
func (d Disagreement) Fields() []string {
	var out []string
	for _, f := range [...]struct {
		bit  Disagreement
		name string
	}{{DisagreeSide, "side"}, {DisagreeUSD, "usd"}, {DisagreePrice, "price"}} {
		if d&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// Compare reports whether a and b are the same liquidation under r, in
// what they disagree if they are, and how far apart they are: dist is 0
// for identical copies and grows with the time and size difference, so a
// caller with several candidates keeps the closest. It allocates nothing.
func (r MatchRule) Compare(a, b *Event) (same bool, d Disagreement, dist float64) {
	if a.Venue != b.Venue || a.Symbol != b.Symbol {
		return false, 0, 0
	}
	dt := a.TimeMs - b.TimeMs
	if dt < 0 {
		dt = -dt
	}
	window := r.Window.Milliseconds()
	if dt > window {
		return false, 0, 0
	}
	known := a.NotionalKnown() && b.NotionalKnown()
	usd := 0.0
	if known {
		usd = usdDiff(a.Notional, b.Notional)
	}
	switch {
	case a.Side == b.Side:
		if usd > r.SizeTol {
			return false, 0, 0
		}
	case !known || usd > r.Agree:
		return false, 0, 0
	default:
		d |= DisagreeSide
	}
	if usd > r.Agree {
		d |= DisagreeUSD
	}
	if relDiff(a.Price, b.Price) > r.Agree {
		d |= DisagreePrice
	}
	dist = usd
	if window > 0 {
		dist += float64(dt) / float64(window)
	}
	if d&DisagreeSide != 0 {
		dist++ // a same-side candidate as close is the likelier copy
	}
	return true, d, dist
}

// usdDiff is what exceeds a dollar of |x−y|, relative to the larger of two
// USD sizes: a cent-rounded copy of a $0.30 liquidation is the same one.
func usdDiff(x, y float64) float64 {
	m := math.Max(math.Abs(x), math.Abs(y))
	if m == 0 {
		return 0
	}
	return math.Max(0, math.Abs(x-y)-1) / m
}

// relDiff is |x−y| relative to the larger magnitude; 0 when both are 0.
func relDiff(x, y float64) float64 {
	m := math.Max(math.Abs(x), math.Abs(y))
	if m == 0 {
		return 0
	}
	return math.Abs(x-y) / m
}
