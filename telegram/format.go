package telegram

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// MaxText is Telegram's limit on a message's text, in characters after
// entity parsing; we hold the raw HTML under it, which is stricter.
const MaxText = 4096

// appendEscaped appends s with the three characters Telegram's HTML mode
// reserves replaced by entities. Invalid UTF-8 becomes U+FFFD, since
// Telegram rejects a message that is not valid UTF-8.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '<':
			dst = append(dst, "&lt;"...)
		case c == '>':
			dst = append(dst, "&gt;"...)
		case c == '&':
			dst = append(dst, "&amp;"...)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		i++
	}
	return dst
}

// escape is appendEscaped for cold paths.
func escape(s string) string { return string(appendEscaped(nil, s)) }

// appendSymbol escapes an event's symbol without allocating.
func appendSymbol(dst []byte, y *event.Symbol) []byte {
	for _, c := range y.Bytes() {
		switch c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		default:
			if c < 0x20 || c >= 0x7f {
				c = '?' // symbols are ASCII; anything else is noise
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// usd is money.AppendUSD for cold paths.
func usd(v float64, unknown string) string { return string(money.AppendUSD(nil, v, unknown)) }

// appendClock appends an exchange time as HH:MM:SS.mmm UTC.
func appendClock(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	h, m, s := t.Clock()
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, m)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = append(dst, '.')
	milli := t.Nanosecond() / 1e6
	dst = append(dst, byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10))
	return append(dst, " UTC"...)
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

// appendLatency appends a duration in ms with two decimals, or µs below 0.1 ms.
func appendLatency(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	if d < 100*time.Microsecond {
		dst = strconv.AppendInt(dst, int64(d/time.Microsecond), 10)
		return append(dst, " µs"...)
	}
	dst = strconv.AppendFloat(dst, float64(d)/1e6, 'f', 2, 64)
	return append(dst, " ms"...)
}

// alertFacts are the figures an alert shows beside its event.
type alertFacts struct {
	onBox  time.Duration // on the box while it ran, the limit wait excluded
	wait   time.Duration // waiting for Telegram's limits
	late   time.Duration // replays only: the liquidation's exchange time to the send
	replay replayKind
}

// replayKind says whether, and how, an alert is not news.
type replayKind uint8

const (
	live         replayKind = iota
	afterRestart            // read back from the log by this run: the last one had not delivered it
	fromLog                 // offered already marked as replayed (liqbox replay --telegram)
)

// appendAlertHTML appends one alert in Telegram HTML: side, venue, symbol,
// USD notional, price, exchange time and the on-box latency, then the
// rate-limit wait when there was one. A redelivered alert says so first,
// with how late it is. Every byte from the exchange is escaped. The result
// is a few hundred bytes, far under MaxText. A live alert allocates
// nothing when dst has room.
func appendAlertHTML(dst []byte, ev *event.Event, t *texts, f *alertFacts) []byte {
	if f.replay != live {
		title, age := t.Replayed, t.Late
		if f.replay == fromLog {
			title, age = t.ReplayedLog, t.Ago
		}
		dst = append(dst, "♻️ <b>"...)
		dst = append(dst, title...)
		dst = append(dst, "</b> · "...)
		before, after, _ := strings.Cut(age, "%s")
		dst = append(dst, before...)
		dst = appendAge(dst, f.late, t)
		dst = append(dst, after...)
		dst = append(dst, '\n')
	}
	if ev.Side == event.Long {
		dst = append(dst, "🔴 "...)
	} else {
		dst = append(dst, "🟢 "...)
	}
	dst = append(dst, "<b>"...)
	side := ev.Side
	if side > event.Short {
		side = event.SideUnknown
	}
	dst = append(dst, t.Liquidated[side]...)
	dst = append(dst, "</b> · "...)
	dst = append(dst, ev.Venue.String()...)
	dst = append(dst, "\n<b>"...)
	dst = appendSymbol(dst, &ev.Symbol)
	dst = append(dst, "</b> <b>"...)
	n := ev.Notional
	if !ev.NotionalKnown() {
		n = math.NaN()
	}
	dst = money.AppendUSD(dst, n, t.UnknownUSD)
	dst = append(dst, "</b> "...)
	dst = append(dst, t.At...)
	dst = append(dst, ' ')
	dst = money.AppendPrice(dst, ev.Price)
	dst = append(dst, '\n')
	dst = append(dst, t.TimeLabel...)
	dst = append(dst, ' ')
	dst = appendClock(dst, ev.TimeMs)
	dst = append(dst, " · "...)
	dst = append(dst, t.OnBoxLabel...)
	dst = append(dst, ' ')
	dst = appendLatency(dst, f.onBox)
	if f.wait > 0 {
		// On its own line: the on-box figure is what the box did, this is
		// what Telegram's limits cost.
		dst = append(dst, "\n⏳ "...)
		dst = append(dst, t.LimitWait...)
		dst = append(dst, ' ')
		dst = appendLatency(dst, f.wait)
	}
	return dst
}

// appendAge appends a lateness in whole seconds, or minutes and seconds,
// or hours and minutes, in t's units.
func appendAge(dst []byte, d time.Duration, t *texts) []byte {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		dst = strconv.AppendInt(dst, s, 10)
		dst = append(dst, ' ')
		return append(dst, t.UnitSec...)
	case s < 3600:
		dst = strconv.AppendInt(dst, s/60, 10)
		dst = append(dst, ' ')
		dst = append(dst, t.UnitMin...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, s%60, 10)
		dst = append(dst, ' ')
		return append(dst, t.UnitSec...)
	}
	dst = strconv.AppendInt(dst, s/3600, 10)
	dst = append(dst, ' ')
	dst = append(dst, t.UnitHour...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, s%3600/60, 10)
	dst = append(dst, ' ')
	return append(dst, t.UnitMin...)
}

// appendAnalysisHTML appends the enrichment's analysis below an alert,
// marked as the model's or the rules' (with why the rules were used, when
// known), in t's language where the analysis has it, with all its text
// escaped.
func appendAnalysisHTML(dst []byte, a *event.Analysis, t *texts) []byte {
	dst = append(dst, "\n\n"...)
	return appendAnalysisBody(dst, a, t)
}

// appendAnalysisBody is an analysis without the blank line that separates
// it from its alert.
func appendAnalysisBody(dst []byte, a *event.Analysis, t *texts) []byte {
	dst = append(dst, "<i>"...)
	if a.Source == "llm" {
		model := a.Model
		if model == "" {
			model = "?"
		}
		dst = appendEscaped(dst, strings.Replace(t.AnalysisLLM, "%s", model, 1))
	} else {
		dst = appendEscaped(dst, t.AnalysisRules)
		if a.Reason != "" {
			dst = append(dst, ": "...)
			reason, ok := t.Reasons[a.Reason]
			if !ok {
				reason = a.Reason
			}
			dst = appendEscaped(dst, reason)
		}
	}
	dst = append(dst, "</i> · <b>"...)
	r := a.Risk
	if int(r) >= len(t.Risk) {
		r = event.RiskUnknown
	}
	dst = append(dst, t.Risk[r]...)
	dst = append(dst, "</b>\n"...)
	words := a.In(t.Code)
	dst = appendEscaped(dst, clip(words.Summary, 1200))
	if words.Recommendation != "" {
		dst = append(dst, "\n<b>"...)
		dst = append(dst, t.Recommend...)
		dst = append(dst, ":</b> "...)
		dst = appendEscaped(dst, clip(words.Recommendation, 800))
	}
	return dst
}

// appendAlertLine appends one line that names an alert in a message that
// carries several analyses: side, symbol, size, venue and exchange time.
func appendAlertLine(dst []byte, ev *event.Event, t *texts) []byte {
	if ev.Side == event.Long {
		dst = append(dst, "🔴 "...)
	} else {
		dst = append(dst, "🟢 "...)
	}
	dst = append(dst, "<b>"...)
	dst = append(dst, t.side(ev.Side)...)
	dst = append(dst, ' ')
	dst = appendSymbol(dst, &ev.Symbol)
	dst = append(dst, ' ')
	n := ev.Notional
	if !ev.NotionalKnown() {
		n = math.NaN()
	}
	dst = money.AppendUSD(dst, n, t.UnknownUSD)
	dst = append(dst, "</b> · "...)
	dst = append(dst, ev.Venue.String()...)
	dst = append(dst, " · "...)
	return appendClock(dst, ev.TimeMs)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// chartURL is the venue's trading page for a symbol, for the Chart button.
func chartURL(v event.Venue, m event.Market, symbol string) string {
	switch v {
	case event.BinanceUSDM:
		return "https://www.binance.com/en/futures/" + url.PathEscape(symbol)
	case event.BinanceCOINM:
		return "https://www.binance.com/en/delivery/" + url.PathEscape(strings.ToLower(symbol))
	case event.Bybit:
		if m == event.Inverse {
			return "https://www.bybit.com/trade/inverse/" + url.PathEscape(symbol)
		}
		return "https://www.bybit.com/trade/usdt/" + url.PathEscape(symbol)
	case event.OKX:
		return "https://www.okx.com/trade-swap/" + url.PathEscape(strings.ToLower(symbol))
	case event.BitMEX:
		return "https://www.bitmex.com/app/trade/" + url.PathEscape(symbol)
	}
	return "https://www.tradingview.com/symbols/" + url.PathEscape(symbol) + "/"
}

// parseWindow reads a duration such as 30m, 1h, 24h, 7d.
func parseWindow(s string, max time.Duration) (time.Duration, bool) {
	if len(s) < 2 {
		return 0, false
	}
	unit := time.Duration(0)
	switch s[len(s)-1] {
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || time.Duration(n) > max/unit {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// windowName prints a window as the user typed it (1h, 24h, 7d).
func windowName(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}
