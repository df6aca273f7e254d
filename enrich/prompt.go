package enrich

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// systemPrompt tells the model what it gets, what to answer and in which
// language. Keys and risk levels stay English so validation is language-blind.
func systemPrompt(lang string) string {
	return "You are a risk analyst for crypto derivatives traders. Each alert is a large forced liquidation that just happened. " +
		"For each alert judge the short-term risk it signals for traders of that symbol. " +
		"\"side\" is the side of the position that was liquidated (long: longs were force-sold). " +
		"\"context\" holds liqbox's own measurements from the live feed, which you cannot know otherwise: USD liquidated on the symbol per side over the last 1 minute, 5 minutes and 1 hour, " +
		"how many liquidations hit the alert's side in the last minute, this size's percentile among the symbol's recent liquidations, and whether a liquidation cascade is under way. " +
		languageLine(lang) + " " +
		"Reply with one JSON object and nothing else: {\"alerts\":[{\"id\":\"<alert id>\",\"risk_level\":\"LOW|MEDIUM|HIGH\",\"summary\":\"at most 200 characters\",\"recommendation\":\"at most 150 characters\"}]}, exactly one entry per alert id."
}

// languageLine tells the model which language to write in.
func languageLine(lang string) string {
	if lang == langVI {
		return "Write summary and recommendation in Vietnamese (tiếng Việt). Keep the JSON keys and the risk_level values in English."
	}
	return "Write summary and recommendation in English."
}

type sideUSD struct {
	Long  float64 `json:"long"`
	Short float64 `json:"short"`
}

type promptContext struct {
	Liq1m             sideUSD  `json:"liquidated_usd_1m"`
	Liq5m             sideUSD  `json:"liquidated_usd_5m"`
	Liq1h             sideUSD  `json:"liquidated_usd_1h"`
	SameSide1m        int32    `json:"same_side_liquidations_1m"`
	SizePercentile    *float64 `json:"size_percentile,omitempty"`
	HistoryCount      int32    `json:"history_count"`
	HistoryMeanUSD    float64  `json:"history_mean_usd"`
	Cascade           bool     `json:"cascade"`
	CascadeMultiplier float64  `json:"minute_vs_hourly_average"`
}

type promptAlert struct {
	ID          string        `json:"id"`
	Exchange    string        `json:"exchange"`
	Symbol      string        `json:"symbol"`
	Side        string        `json:"side"`
	Price       float64       `json:"price"`
	NotionalUSD *float64      `json:"notional_usd"`
	Time        string        `json:"time"`
	Context     promptContext `json:"context"`
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// finite maps NaN and infinities, which JSON cannot carry, to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// prompt builds the messages for a batch and the id → batch index map used
// to validate the answer. Ids are the alerts' sequence numbers.
func (e *Enricher) prompt(batch []item) (system, user string, ids map[string]int) {
	ids = make(map[string]int, len(batch))
	alerts := make([]promptAlert, len(batch))
	for i := range batch {
		ev, cx := &batch[i].ev, &batch[i].cx
		id := strconv.FormatUint(ev.Seq, 10)
		ids[id] = i
		a := promptAlert{
			ID: id, Exchange: ev.Venue.String(), Symbol: ev.Symbol.String(), Side: ev.Side.String(),
			Price: finite(ev.Price),
			Time:  time.Unix(0, eventNs(ev)).UTC().Format(time.RFC3339),
			Context: promptContext{
				Liq1m:             sideUSD{round(cx.Long1m, 0), round(cx.Short1m, 0)},
				Liq5m:             sideUSD{round(cx.Long5m, 0), round(cx.Short5m, 0)},
				Liq1h:             sideUSD{round(cx.Long1h, 0), round(cx.Short1h, 0)},
				SameSide1m:        cx.N1mSame,
				HistoryCount:      cx.HistoryN,
				HistoryMeanUSD:    round(cx.HistoryMean, 0),
				Cascade:           cx.Cascade,
				CascadeMultiplier: round(cx.CascadeMultiplier, 2),
			},
		}
		if ev.NotionalKnown() {
			n := round(ev.Notional, 0)
			a.NotionalUSD = &n
		}
		if !math.IsNaN(cx.Percentile) {
			p := round(cx.Percentile, 1)
			a.Context.SizePercentile = &p
		}
		alerts[i] = a
	}
	// Only float64s that round() made finite, strings and bools: Marshal cannot fail.
	b, _ := json.Marshal(struct {
		Alerts []promptAlert `json:"alerts"`
	}{alerts})
	return systemPrompt(e.o.Lang), string(b), ids
}
