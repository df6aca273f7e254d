package enrich

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/event"
)

// A cascade's analysis: when a chat's cascade rule fires (package
// cascade), the model is asked once about the cascade as a whole, with
// its breakdown by venue, its largest liquidations and the asset's recent
// history from the rolling aggregates, under the same gate (budget,
// breaker, key) as the alerts' batches. When it cannot answer in time the
// rules read stands in, with its reason, in every language. Cascade
// analyses are not stored: they are not any one alert's.

// CascadeVenue is one venue's part of a cascade.
type CascadeVenue struct {
	Venue   string
	USD     float64
	Count   int
	Sampled bool // the venue pushes at most one liquidation per symbol a second
}

// Cascade is what the model is told about a cascade.
type Cascade struct {
	Asset        string // "" for the whole market
	Sides        string // long, short or both
	Window       time.Duration
	ThresholdUSD float64
	TotalUSD     float64
	Count        int
	UnknownSize  int // liquidations of unknown size, in no total
	Started      time.Time
	Fired        time.Time
	Venues       []CascadeVenue
	Largest      []event.Event
	LowerBound   bool // a sampled venue contributed: the real total is higher
}

// cascadeJob is a queued cascade and where its analysis goes.
type cascadeJob struct {
	c    Cascade
	done func(event.Analysis)
}

// cascadeQueue bounds the cascades waiting for the model: a handful of
// rules per chat fire at once at most.
const cascadeQueue = 32

// AnalyseCascade queues one request about c; done gets its analysis (the
// model's, or the rules read) from the enricher's goroutine. It never
// blocks: when the queue is full it returns false (counted) and done is
// not called.
func (e *Enricher) AnalyseCascade(c Cascade, done func(event.Analysis)) bool {
	select {
	case e.cascades <- cascadeJob{c: c, done: done}:
		e.m.cascades.Inc()
		return true
	default:
		e.m.cascadesDropped.Inc()
		return false
	}
}

// runCascades answers the queued cascades one at a time until ctx ends;
// Run starts it.
func (e *Enricher) runCascades(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.cascades:
			j.done(e.answerCascade(ctx, &j.c))
		}
	}
}

func (e *Enricher) answerCascade(run context.Context, c *Cascade) event.Analysis {
	now := e.now()
	if skip := e.gate(now, true); skip != "" {
		e.m.skipped[skip].Inc()
		return e.cascadeDelivered(cascadeRules(c, e.o.Lang, skipReason[skip]))
	}
	ctx, cancel := context.WithTimeoutCause(run, e.modelShare(), errEditDeadline)
	defer cancel()
	system, user := e.cascadePrompt(c, now)
	ans, err := e.ask(ctx, system, user, map[string]int{"cascade": 0})
	if err != nil {
		return e.cascadeDelivered(cascadeRules(c, e.o.Lang, e.failure(run, err)))
	}
	missing := e.answered(&ans)
	v, ok := ans.verdicts[0]
	if !ok {
		return e.cascadeDelivered(cascadeRules(c, e.o.Lang, missing))
	}
	return e.cascadeDelivered(event.Analysis{Risk: v.risk, Summary: v.summary, Recommendation: v.recommendation,
		Source: SourceLLM, Model: e.o.Model, Lang: e.o.Lang})
}

// cascadeDelivered counts an analysis handed on.
func (e *Enricher) cascadeDelivered(a event.Analysis) event.Analysis {
	e.m.analyses[a.Source].Inc()
	if a.Source == SourceRules {
		e.m.fallbacks[a.Reason].Inc()
	}
	return a
}

func cascadeSystemPrompt(lang string) string {
	return "You are a risk analyst for crypto derivatives traders. A liquidation cascade is under way: a trader's rule fired because the positions liquidated on one asset (or the whole market), summed across every exchange liqbox watches, crossed a threshold within a sliding window. " +
		"\"sides\" says which liquidated positions are counted (long: longs were force-sold). \"by_venue\" breaks the total down; a venue marked sampled pushes at most one liquidation per symbol a second, so with \"lower_bound\" true the real total is higher than shown. " +
		"\"recent_history\" is liqbox's own rolling measurement of the asset's liquidations per side over the last 1 minute, 5 minutes and 1 hour, which you cannot know otherwise. " +
		"Judge the short-term risk for traders of that asset: is the pile-up likely to feed on itself, on which side, and what a trader should do. " +
		languageLine(lang) + " " +
		"The user message holds it as the one entry of \"alerts\", id \"cascade\". " +
		"Reply with one JSON object and nothing else: {\"alerts\":[{\"id\":\"cascade\",\"risk_level\":\"LOW|MEDIUM|HIGH\",\"summary\":\"at most 200 characters\",\"recommendation\":\"at most 150 characters\"}]}."
}

type cascadePromptVenue struct {
	Venue   string  `json:"venue"`
	USD     float64 `json:"usd"`
	Count   int     `json:"liquidations"`
	Sampled bool    `json:"sampled"`
}

type cascadePromptLiq struct {
	Exchange    string   `json:"exchange"`
	Symbol      string   `json:"symbol"`
	Side        string   `json:"side"`
	Price       float64  `json:"price"`
	NotionalUSD *float64 `json:"notional_usd"`
	Time        string   `json:"time"`
}

type cascadeHistory struct {
	Liq1m sideUSD `json:"liquidated_usd_1m"`
	Liq5m sideUSD `json:"liquidated_usd_5m"`
	Liq1h sideUSD `json:"liquidated_usd_1h"`
}

type cascadePrompt struct {
	ID           string               `json:"id"`
	Kind         string               `json:"kind"`
	Asset        string               `json:"asset"`
	Sides        string               `json:"sides"`
	WindowS      int64                `json:"window_s"`
	ThresholdUSD float64              `json:"threshold_usd"`
	TotalUSD     float64              `json:"total_usd"`
	Count        int                  `json:"liquidations"`
	UnknownSize  int                  `json:"liquidations_of_unknown_size"`
	Started      string               `json:"started"`
	Fired        string               `json:"threshold_crossed"`
	LowerBound   bool                 `json:"lower_bound"`
	ByVenue      []cascadePromptVenue `json:"by_venue"`
	Largest      []cascadePromptLiq   `json:"largest"`
	History      cascadeHistory       `json:"recent_history"`
}

// cascadePrompt builds the messages about one cascade; the answer's one
// entry has the id "cascade".
func (e *Enricher) cascadePrompt(c *Cascade, now time.Time) (system, user string) {
	p := cascadePrompt{ID: "cascade", Kind: "cascade", Asset: c.Asset, Sides: c.Sides, WindowS: int64(c.Window / time.Second),
		ThresholdUSD: round(c.ThresholdUSD, 0), TotalUSD: round(c.TotalUSD, 0), Count: c.Count, UnknownSize: c.UnknownSize,
		Started: c.Started.UTC().Format(time.RFC3339), Fired: c.Fired.UTC().Format(time.RFC3339), LowerBound: c.LowerBound}
	if p.Asset == "" {
		p.Asset = "all (the whole market)"
	}
	for _, v := range c.Venues {
		p.ByVenue = append(p.ByVenue, cascadePromptVenue{Venue: v.Venue, USD: round(v.USD, 0), Count: v.Count, Sampled: v.Sampled})
	}
	for i := range c.Largest {
		ev := &c.Largest[i]
		l := cascadePromptLiq{Exchange: ev.Venue.String(), Symbol: ev.Symbol.String(), Side: ev.Side.String(), Price: finite(ev.Price),
			Time: time.Unix(0, eventNs(ev)).UTC().Format(time.RFC3339)}
		if ev.NotionalKnown() {
			n := round(ev.Notional, 0)
			l.NotionalUSD = &n
		}
		p.Largest = append(p.Largest, l)
	}
	h := e.agg.assetTotals(c.Asset, now.UnixNano())
	p.History = cascadeHistory{Liq1m: sideUSD{round(h.Long1m, 0), round(h.Short1m, 0)},
		Liq5m: sideUSD{round(h.Long5m, 0), round(h.Short5m, 0)}, Liq1h: sideUSD{round(h.Long1h, 0), round(h.Short1h, 0)}}
	// The alerts' shape, with one entry, so the answer is read as theirs.
	// Only float64s that round() made finite, strings, ints and bools:
	// Marshal cannot fail.
	b, _ := json.Marshal(struct {
		Alerts []cascadePrompt `json:"alerts"`
	}{[]cascadePrompt{p}})
	return cascadeSystemPrompt(e.o.Lang), string(b)
}

// assetTotals sums the rolling windows of every symbol of base asset name
// (every symbol for ""), as of t. It walks the symbol table: a cold path,
// once per cascade.
func (a *aggregates) assetTotals(name string, t int64) alertContext {
	want, _ := asset.Coin(name)
	a.mu.Lock()
	defer a.mu.Unlock()
	var out alertContext
	fs, cs := t/fineStepNs, t/coarseStepNs
	for k, s := range a.syms {
		if name != "" && asset.Of(k.venue, k.sym.Bytes()) != want {
			continue
		}
		for i := range s.fine {
			b := &s.fine[i]
			if age := fs - b.stamp; age >= 0 && age < fineBuckets {
				out.Long5m += b.long
				out.Short5m += b.short
				if age < fine1m {
					out.Long1m += b.long
					out.Short1m += b.short
				}
			}
		}
		for i := range s.coarse {
			b := &s.coarse[i]
			if age := cs - b.stamp; age >= 0 && age < coarseBuckets {
				out.Long1h += b.long
				out.Short1h += b.short
			}
		}
	}
	return out
}

// cascadeRules is the read liqbox gives a cascade without the model, in
// lang and, in Alt, in every other language: HIGH when the total is twice
// the rule's threshold or more, or spread over three venues or more (the
// whole market is moving, not one venue's book); MEDIUM otherwise.
func cascadeRules(c *Cascade, lang, reason string) event.Analysis {
	risk := event.RiskMedium
	if c.TotalUSD >= 2*c.ThresholdUSD || len(c.Venues) >= 3 {
		risk = event.RiskHigh
	}
	a := event.Analysis{Risk: risk, Source: SourceRules, Lang: lang, Reason: reason, Alt: make([]event.Text, 0, len(langs)-1)}
	for _, l := range langs {
		t := cascadeRulesText(c, risk, l)
		if l == lang {
			a.Summary, a.Recommendation = t.Summary, t.Recommendation
		} else {
			a.Alt = append(a.Alt, t)
		}
	}
	return a
}

func cascadeRulesText(c *Cascade, risk event.Risk, lang string) event.Text {
	vs := append([]CascadeVenue(nil), c.Venues...)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].USD > vs[j].USD })
	var shares []string
	for i, v := range vs {
		if i == 3 {
			break
		}
		share := 0.0
		if c.TotalUSD > 0 {
			share = 100 * v.USD / c.TotalUSD
		}
		shares = append(shares, v.Venue+" "+strconv.Itoa(int(share+0.5))+"%")
	}
	what := c.Asset
	var sides string
	t := event.Text{Lang: lang}
	var b strings.Builder
	if lang == langVI {
		if what == "" {
			what = "toàn thị trường"
		}
		switch c.Sides {
		case "long":
			sides = " (long)"
		case "short":
			sides = " (short)"
		}
		b.WriteString("Chuỗi thanh lý " + what + sides + ": " + usdShort(c.TotalUSD) + " trong " + strconv.Itoa(c.Count) + " lệnh trên " +
			strconv.Itoa(len(c.Venues)) + " sàn (" + strings.Join(shares, ", ") + "); ngưỡng " + usdShort(c.ThresholdUSD) + ".")
		if c.LowerBound {
			b.WriteString(" Là cận dưới: có sàn lấy mẫu.")
		}
		if risk == event.RiskHigh {
			t.Recommendation = "Có thể còn thanh lý tiếp: siết cắt lỗ, giảm đòn bẩy phía bị thanh lý đến khi chuỗi dừng."
		} else {
			t.Recommendation = "Theo dõi xem chuỗi còn tăng không; tránh tăng đòn bẩy phía bị thanh lý."
		}
	} else {
		if what == "" {
			what = "the whole market"
		}
		switch c.Sides {
		case "long":
			sides = " longs"
		case "short":
			sides = " shorts"
		}
		b.WriteString("Cascade on " + what + sides + ": " + usdShort(c.TotalUSD) + " in " + strconv.Itoa(c.Count) + " liquidations on " +
			strconv.Itoa(len(c.Venues)) + " venues (" + strings.Join(shares, ", ") + "); the threshold is " + usdShort(c.ThresholdUSD) + ".")
		if c.LowerBound {
			b.WriteString(" A lower bound: sampled venues.")
		}
		if risk == event.RiskHigh {
			t.Recommendation = "More forced orders are likely: tighten stops and cut leverage on the liquidated side until it stops."
		} else {
			t.Recommendation = "Watch whether it keeps growing; avoid adding leverage on the liquidated side."
		}
	}
	// Venue names and the asset came from the feed: clean as the model's text.
	t.Summary = cleanText(b.String(), maxSummaryRunes)
	t.Recommendation = cleanText(t.Recommendation, maxRecommendationRunes)
	return t
}
