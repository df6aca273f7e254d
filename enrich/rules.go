package enrich

import (
	"math"
	"strconv"
	"strings"

	"github.com/liqbox/liqbox/event"
)

// Languages enrichment writes in.
const (
	langEN = "en"
	langVI = "vi"
)

// Sources of an analysis, as put in event.Analysis.Source.
const (
	SourceLLM   = "llm"
	SourceRules = "rules"
)

// langs are the languages liqbox writes; the rules read comes in all of them.
var langs = [...]string{langEN, langVI}

// rulesAnalysis is the read liqbox gives without the model: the alert's
// size against the symbol's recent history and whether a cascade is under
// way. It is deliberately plain so nobody mistakes it for the model's. It
// is written in lang and, in Alt, in every other language, so each chat
// reads it in its own; reason says why the model's read is not there.
func rulesAnalysis(ev *event.Event, cx *alertContext, lang, reason string) event.Analysis {
	risk, enoughHistory := rulesRisk(cx)
	a := event.Analysis{Seq: ev.Seq, Risk: risk, Source: SourceRules, Lang: lang, Reason: reason,
		Alt: make([]event.Text, 0, len(langs)-1)}
	for _, l := range langs {
		t := rulesText(ev, cx, risk, enoughHistory, l)
		if l == lang {
			a.Summary, a.Recommendation = t.Summary, t.Recommendation
		} else {
			a.Alt = append(a.Alt, t)
		}
	}
	return a
}

// rulesRisk grades an alert from its context alone.
func rulesRisk(cx *alertContext) (risk event.Risk, enoughHistory bool) {
	risk = event.RiskLow
	enoughHistory = cx.HistoryN >= minHistory && !math.IsNaN(cx.Percentile)
	switch {
	case cx.Cascade, enoughHistory && cx.Percentile >= 95:
		risk = event.RiskHigh
	case enoughHistory && cx.Percentile >= 75, cx.N1mSame >= 3, !enoughHistory:
		// Without history a large alert cannot be called small.
		risk = event.RiskMedium
	}
	return risk, enoughHistory
}

// rulesText words the rules read in lang.
func rulesText(ev *event.Event, cx *alertContext, risk event.Risk, enoughHistory bool, lang string) event.Text {
	sym := ev.Symbol.String()
	side := ev.Side.Upper()
	size := "?"
	if ev.NotionalKnown() {
		size = usdShort(ev.Notional)
	}
	same1m, same1h := cx.Long1m, cx.Long1h
	if ev.Side == event.Short {
		same1m, same1h = cx.Short1m, cx.Short1h
	}
	var b strings.Builder
	t := event.Text{Lang: lang}
	if lang == langVI {
		b.WriteString("Thanh lý " + side + " " + sym + " " + size)
		if enoughHistory {
			b.WriteString(": lớn hơn " + pct(cx.Percentile) + " trong " + strconv.Itoa(int(cx.HistoryN)) + " lệnh gần nhất của mã")
		} else {
			b.WriteString(": chưa đủ lịch sử để so sánh")
		}
		b.WriteString("; " + side + " bị thanh lý 1 phút " + usdShort(same1m) + " (" + strconv.Itoa(int(cx.N1mSame)) + " lệnh), 1 giờ " + usdShort(same1h) + ".")
		if cx.Cascade {
			b.WriteString(" Đang có thanh lý dây chuyền.")
		}
		switch risk {
		case event.RiskHigh:
			t.Recommendation = "Biến động mạnh có thể tiếp diễn: siết cắt lỗ, giảm đòn bẩy phía " + side + " đến khi thị trường ổn định."
		case event.RiskMedium:
			t.Recommendation = "Theo dõi các lệnh thanh lý tiếp theo; tránh tăng đòn bẩy lúc này."
		default:
			t.Recommendation = "Thanh lý đơn lẻ; chưa cần hành động."
		}
	} else {
		b.WriteString(side + " liquidation on " + sym + " " + size)
		if enoughHistory {
			b.WriteString(": larger than " + pct(cx.Percentile) + " of the last " + strconv.Itoa(int(cx.HistoryN)) + " on this symbol")
		} else {
			b.WriteString(": not enough history to compare")
		}
		b.WriteString("; " + strings.ToLower(side) + "s liquidated 1m " + usdShort(same1m) + " (" + strconv.Itoa(int(cx.N1mSame)) + " events), 1h " + usdShort(same1h) + ".")
		if cx.Cascade {
			b.WriteString(" Cascade under way.")
		}
		switch risk {
		case event.RiskHigh:
			t.Recommendation = "Expect more volatility: tighten stops and cut leverage on " + strings.ToLower(side) + "s until it settles."
		case event.RiskMedium:
			t.Recommendation = "Watch for follow-on liquidations; avoid adding leverage now."
		default:
			t.Recommendation = "Isolated liquidation; no action needed."
		}
	}
	// The symbol came from an exchange: clean it like the model's text.
	t.Summary = cleanText(b.String(), maxSummaryRunes)
	t.Recommendation = cleanText(t.Recommendation, maxRecommendationRunes)
	return t
}

func pct(p float64) string { return strconv.Itoa(int(math.Floor(p))) + "%" }

// usdShort prints a USD amount compactly: $950, $12.3K, $4.56M, $1.2B.
func usdShort(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	switch a := math.Abs(v); {
	case a >= 1e9:
		return "$" + strconv.FormatFloat(v/1e9, 'f', 2, 64) + "B"
	case a >= 1e6:
		return "$" + strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a >= 1e3:
		return "$" + strconv.FormatFloat(v/1e3, 'f', 1, 64) + "K"
	}
	return "$" + strconv.FormatFloat(v, 'f', 0, 64)
}
