// Package eventtest holds events no decoder of this version produces but a
// log may still hold (written by an older binary, or damaged), for the
// tests of every writer: the JSON API, `decode`, `export`, `replay`, the
// terminal and CSV.
package eventtest

import (
	"math"
	"unicode"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
)

// Hostile returns events with every value a writer must survive: unknown,
// infinite and negative sizes and prices, a BitMEX quanto row (quantity
// and notional unknown), the q = p = 1e200 frame older decoders accepted,
// and symbols carrying terminal escapes, newlines, quotes, C1 controls,
// bidi overrides, invalid UTF-8 and spreadsheet formulas.
func Hostile() []event.Event {
	base := event.Event{Seq: 1, RecvNs: 1_764_230_400_000_000_000, TimeMs: 1_764_230_399_990,
		Price: 3000, Qty: 10, Notional: 30000, Venue: event.BitMEX, Market: event.Linear,
		Side: event.Long, Basis: event.BasisLinear, Symbol: event.MakeSymbol("ETHUSD")}
	nan, inf := math.NaN(), math.Inf(1)
	var out []event.Event
	add := func(edit func(e *event.Event)) {
		e := base
		e.Seq = uint64(len(out) + 1)
		edit(&e)
		out = append(out, e)
	}
	add(func(e *event.Event) {
		e.Qty, e.Notional, e.Basis, e.Market = nan, nan, event.BasisUnknown, event.MarketUnknown
	}) // quanto
	add(func(e *event.Event) { e.Qty, e.Price, e.Notional = 1e200, 1e200, inf }) // q = p = 1e200
	add(func(e *event.Event) { e.Notional = inf })
	add(func(e *event.Event) { e.Notional = -inf })
	add(func(e *event.Event) { e.Notional = -5 })
	add(func(e *event.Event) { e.Notional = nan }) // NaN with a known basis
	add(func(e *event.Event) { e.Notional, e.Basis = 30000, event.BasisUnknown })
	add(func(e *event.Event) { e.Price, e.Qty = nan, inf })
	add(func(e *event.Event) { e.Price, e.Qty = -inf, -1 })
	add(func(e *event.Event) { e.Price, e.Qty, e.Notional = 0, 0, 0 })
	add(func(e *event.Event) { e.Basis, e.Venue, e.Side, e.Market = 200, 77, 9, 9 }) // enums from a newer binary
	for _, sym := range []string{
		"BTC\x1b[2JUSDT", "BTCUSDT\n12:00:00.000  binance-usdm   FAKE", "A\rB\tC\x00D\x7f",
		"\xc2\x9b31mRED", "\xe2\x80\xaeTDSUCTB", "\xff\xfe\xfd", `A"B\C`,
		"=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1", "-1", "\tTAB", "\rCR", "比特币USDT",
	} {
		add(func(e *event.Event) { e.Symbol = event.MakeSymbol(sym) })
	}
	return out
}

// TerminalSafe reports the first byte offset in b that a terminal would
// act on (a C0 control other than the newline ending a line, DEL, a C1
// control, an invalid UTF-8 byte, or a bidi or other format character), or
// -1 when there is none.
func TerminalSafe(b []byte) int {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			if (c < 0x20 && c != '\n') || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && n == 1) || r < 0xa0 || unicode.Is(unicode.Cf, r) {
			return i
		}
		i += n
	}
	return -1
}
