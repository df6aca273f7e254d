package event

import (
	"fmt"
	"time"
)

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

// Label is the word a total of this coverage carries, in lang ("en",
// "vi"; English otherwise): "complete", "lower bound" or "undocumented".
func (c Coverage) Label(lang string) string {
	if c > CoverageSampled {
		c = CoverageUndocumented
	}
	return coverageWords(lang).labels[c]
}

// VenueCoverage is what a venue's feed carries, with the venue's rule in
// words a trader understands. It implements telegram.Localized.
type VenueCoverage struct {
	Coverage Coverage
	// Rule is the venue's own statement, in English, e.g. "Binance sends
	// at most 1 liquidation per symbol per second".
	Rule string
	// RuleVI is Rule in Vietnamese.
	RuleVI string
}

// Text is the label and the rule in lang, e.g. "lower bound: Binance
// sends at most 1 liquidation per symbol per second": the line every
// place showing a venue's figures gives it.
func (c VenueCoverage) Text(lang string) string {
	rule := c.Rule
	if lang == "vi" && c.RuleVI != "" {
		rule = c.RuleVI
	}
	return c.Coverage.Label(lang) + ": " + rule
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
	case BinanceUSDM, BinanceCOINM:
		return VenueCoverage{CoverageSampled, "Binance sends at most 1 liquidation per symbol per second",
			"Binance gửi tối đa 1 lệnh thanh lý mỗi mã mỗi giây"}
	case Aster:
		return VenueCoverage{CoverageSampled, "Aster sends at most 1 liquidation per symbol per second",
			"Aster gửi tối đa 1 lệnh thanh lý mỗi mã mỗi giây"}
	case OKX:
		return VenueCoverage{CoverageSampled, "OKX sends at most 1 liquidation per contract per second",
			"OKX gửi tối đa 1 lệnh thanh lý mỗi hợp đồng mỗi giây"}
	case Bitget:
		return VenueCoverage{CoverageSampled, "Bitget sends only the largest long and the largest short per pair per second",
			"Bitget chỉ gửi lệnh long lớn nhất và lệnh short lớn nhất của mỗi cặp mỗi giây"}
	case Bybit:
		return VenueCoverage{CoverageComplete, "Bybit says it sends every liquidation, in 500 ms batches",
			"Bybit cho biết họ gửi mọi lệnh thanh lý, theo lô 500 ms"}
	case BitMEX:
		// Not in section 14; BitMEX support (PROTOCOLS.md section 5): the
		// channel "shows all liquidation orders even if immediately filled".
		return VenueCoverage{CoverageComplete, "BitMEX sends every liquidation order, even one filled at once (BitMEX support)",
			"BitMEX gửi mọi lệnh thanh lý, kể cả lệnh khớp ngay (theo bộ phận hỗ trợ BitMEX)"}
	case KrakenFutures:
		return VenueCoverage{CoverageComplete, "Kraken sends every liquidation trade, one message per trade",
			"Kraken gửi mọi giao dịch thanh lý, mỗi giao dịch một tin"}
	case Deribit:
		return VenueCoverage{CoverageComplete,
			"Deribit sends every liquidation trade in 100 ms batches (believed complete: its docs describe batching, not sampling)",
			"Deribit gửi mọi giao dịch thanh lý theo lô 100 ms (coi là đầy đủ: tài liệu của họ nói gộp lô, không nói lấy mẫu)"}
	case Gate:
		if t.Before(gateCompleteSince) {
			return VenueCoverage{CoverageSampled, "Gate sent at most 1 liquidation per contract per second before 2026-08-20",
				"Gate gửi tối đa 1 lệnh thanh lý mỗi hợp đồng mỗi giây trước 2026-08-20"}
		}
		return VenueCoverage{CoverageComplete, "Gate says it sends every liquidation since 2026-08-20, in 1 s batches",
			"Gate cho biết họ gửi mọi lệnh thanh lý từ 2026-08-20, theo lô 1 giây"}
	case HTX:
		return VenueCoverage{CoverageUndocumented, "HTX does not say whether it sends every liquidation",
			"HTX không nói họ có gửi mọi lệnh thanh lý hay không"}
	case Bitfinex:
		return VenueCoverage{CoverageUndocumented, "Bitfinex does not say whether it sends every liquidation",
			"Bitfinex không nói họ có gửi mọi lệnh thanh lý hay không"}
	}
	return VenueCoverage{CoverageUndocumented, "the venue does not say whether it sends every liquidation",
		"sàn không nói có gửi mọi lệnh thanh lý hay không"}
}

// CoverageOver returns what venue v's feed carried over the period from
// from to to, for totals of old logs (liqbox stats --from --to): a period
// in which the feed changed (Gate's 2026-08-20) is a lower bound if it was
// sampled in any part of it. A zero from is the beginning of time.
func (v Venue) CoverageOver(from, to time.Time) VenueCoverage {
	a, b := v.CoverageAt(from), v.CoverageAt(to)
	if a.Coverage == b.Coverage || a.Coverage != CoverageSampled && b.Coverage != CoverageSampled {
		return b
	}
	if v == Gate {
		return VenueCoverage{CoverageSampled,
			"Gate sent at most 1 liquidation per contract per second before 2026-08-20 and every one since: the part of this period before the change is a lower bound",
			"Gate gửi tối đa 1 lệnh thanh lý mỗi hợp đồng mỗi giây trước 2026-08-20 và gửi mọi lệnh từ đó: phần trước thay đổi là cận dưới"}
	}
	// The sampled part makes the period's figure a lower bound.
	if a.Coverage == CoverageSampled {
		return a
	}
	return b
}

// Coverage is CoverageAt now: what the venue's feed carries today.
func (v Venue) Coverage() VenueCoverage { return v.CoverageAt(time.Now()) }

// Sampled reports whether the venue's liquidation feed is a sample today,
// so that totals including it are lower bounds.
func (v Venue) Sampled() bool { return v.Coverage().Coverage == CoverageSampled }

// CoverageSum is the coverage of a figure summed over venues: complete
// only if every venue in it is, a lower bound if any is sampled, without
// a claim otherwise. The zero value is an empty sum; Add does not
// allocate.
type CoverageSum struct {
	seen, sampled, undocumented uint64 // bit v for Venue v
}

// Add counts venue v, whose feed carried c over the figure's period.
func (s *CoverageSum) Add(v Venue, c Coverage) {
	bit := uint64(1) << (v & 63)
	s.seen |= bit
	switch c {
	case CoverageSampled:
		s.sampled |= bit
	case CoverageUndocumented:
		s.undocumented |= bit
	}
}

// Merge adds every venue of o, as if each had been added to s: the
// coverage of a sum of sums.
func (s *CoverageSum) Merge(o CoverageSum) {
	s.seen |= o.seen
	s.sampled |= o.sampled
	s.undocumented |= o.undocumented
}

// Empty reports whether no venue was added.
func (s CoverageSum) Empty() bool { return s.seen == 0 }

// Coverage is the sum's: sampled when any venue is, undocumented when any
// is (and none sampled), complete when all are.
func (s CoverageSum) Coverage() Coverage {
	switch {
	case s.sampled != 0:
		return CoverageSampled
	case s.undocumented != 0:
		return CoverageUndocumented
	}
	return CoverageComplete
}

// Venues returns the venues whose coverage decides the sum's: the sampled
// ones of a lower bound, the undocumented ones of a sum without a claim,
// none of a complete one.
func (s CoverageSum) Venues() []Venue {
	mask := s.sampled
	if mask == 0 {
		mask = s.undocumented
	}
	var out []Venue
	for v := Venue(0); v < 64; v++ {
		if mask&(1<<v) != 0 {
			out = append(out, v)
		}
	}
	return out
}

// Text says in lang whether the sum is complete, e.g. "totals are a lower
// bound: binance-usdm, okx send only some liquidations"; "" for an empty
// sum.
func (s CoverageSum) Text(lang string) string {
	if s.Empty() {
		return ""
	}
	w := coverageWords(lang)
	vs := s.Venues()
	names := ""
	for i, v := range vs {
		if i > 0 {
			names += ", "
		}
		names += v.String()
	}
	n := min(len(vs), 2) - 1 // 0: one venue, 1: several
	switch s.Coverage() {
	case CoverageSampled:
		return fmt.Sprintf(w.sumSampled[n], names)
	case CoverageUndocumented:
		return fmt.Sprintf(w.sumUndocumented[n], names)
	}
	return w.sumComplete
}

type coverageText struct {
	labels      [3]string // by Coverage
	sumComplete string
	// sumSampled and sumUndocumented are for one venue and for several;
	// %s: their names.
	sumSampled, sumUndocumented [2]string
}

var coverageTexts = map[string]*coverageText{
	"en": {labels: [3]string{CoverageUndocumented: "undocumented", CoverageComplete: "complete", CoverageSampled: "lower bound"},
		sumComplete: "totals are complete: every venue in them sends every liquidation",
		sumSampled: [2]string{"totals are a lower bound: %s sends only some liquidations",
			"totals are a lower bound: %s send only some liquidations"},
		sumUndocumented: [2]string{"totals make no claim to be complete: %s does not say whether it sends every liquidation",
			"totals make no claim to be complete: %s do not say whether they send every liquidation"}},
	"vi": {labels: [3]string{CoverageUndocumented: "không rõ", CoverageComplete: "đầy đủ", CoverageSampled: "cận dưới"},
		sumComplete: "tổng là đầy đủ: mọi sàn trong đó gửi mọi lệnh thanh lý",
		sumSampled:  [2]string{"tổng là cận dưới: %s chỉ gửi một phần lệnh thanh lý", "tổng là cận dưới: %s chỉ gửi một phần lệnh thanh lý"},
		sumUndocumented: [2]string{"tổng không rõ có đầy đủ không: %s không nói có gửi mọi lệnh thanh lý hay không",
			"tổng không rõ có đầy đủ không: %s không nói có gửi mọi lệnh thanh lý hay không"}},
}

func coverageWords(lang string) *coverageText {
	if w := coverageTexts[lang]; w != nil {
		return w
	}
	return coverageTexts["en"]
}
