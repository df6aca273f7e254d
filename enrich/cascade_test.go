package enrich

import (
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

func testCascade() Cascade {
	now := time.Now()
	big := ev(1, "BTCUSDT", event.Long, 2_000_000, 0)
	return Cascade{Asset: "BTC", Sides: "long", Window: 5 * time.Minute, ThresholdUSD: 10e6, TotalUSD: 12.5e6, Count: 40,
		Started: now.Add(-3 * time.Minute), Fired: now, LowerBound: true, Largest: []event.Event{big},
		Venues: []CascadeVenue{{Venue: "binance-usdm", USD: 7e6, Count: 30, Sampled: true}, {Venue: "bybit", USD: 5.5e6, Count: 10}}}
}

// waitCascade analyses c and returns its analysis.
func waitCascade(t *testing.T, e *Enricher, c Cascade) event.Analysis {
	t.Helper()
	got := make(chan event.Analysis, 1)
	if !e.AnalyseCascade(c, func(a event.Analysis) { got <- a }) {
		t.Fatal("the cascade was not queued")
	}
	select {
	case a := <-got:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no analysis of the cascade")
	}
	return event.Analysis{}
}

// TestCascadeAnalysis: one request for the cascade, carrying its breakdown
// by venue and the asset's recent history; the model's answer is the
// analysis.
func TestCascadeAnalysis(t *testing.T) {
	llm := newLLM(t, answerHigh(100, 20))
	env := start(t, llm.BaseURL(), nil)
	// The asset's history on two venues' symbols, and another asset.
	for i, sym := range []string{"BTCUSDT", "BTCUSDT", "ETHUSDT"} {
		e := ev(uint64(i+1), sym, event.Long, 100_000, 0)
		e.TimeMs = time.Now().UnixMilli()
		env.e.Observe(&e)
	}
	a := waitCascade(t, env.e, testCascade())
	if a.Source != SourceLLM || a.Risk != event.RiskHigh || a.Summary != "Model summary for cascade" {
		t.Fatalf("analysis %+v", a)
	}
	reqs := llm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests for one cascade", len(reqs))
	}
	p := gjson.Get(reqs[0].Prompt, "alerts.0")
	for path, want := range map[string]string{"id": "cascade", "asset": "BTC", "sides": "long", "total_usd": "12500000",
		"by_venue.0.venue": "binance-usdm", "by_venue.0.sampled": "true", "lower_bound": "true",
		"recent_history.liquidated_usd_1m.long": "200000", "largest.0.symbol": "BTCUSDT", "window_s": "300"} {
		if got := p.Get(path).String(); got != want {
			t.Errorf("prompt %s = %q, want %q (prompt %s)", path, got, want, reqs[0].Prompt)
		}
	}
	if !strings.Contains(reqs[0].System, "cascade") {
		t.Errorf("system prompt: %q", reqs[0].System)
	}
}

// TestCascadeRulesFallback: without the model (off, or failing) the
// cascade gets the rules read, saying why, in both languages.
func TestCascadeRulesFallback(t *testing.T) {
	llm := newLLM(t, enrichtest.Status(500, ""))
	env := start(t, llm.BaseURL(), nil)
	a := waitCascade(t, env.e, testCascade())
	if a.Source != SourceRules || a.Reason != event.ReasonUnavailable || a.Risk != event.RiskMedium { // under twice the threshold, on two venues
		t.Fatalf("analysis %+v", a)
	}
	if !strings.Contains(a.Summary, "Cascade on BTC longs: $12.50M in 40 liquidations on 2 venues (binance-usdm 56%, bybit 44%)") ||
		!strings.Contains(a.Summary, "A lower bound") {
		t.Errorf("en summary %q", a.Summary)
	}
	if vi := a.In("vi"); !strings.Contains(vi.Summary, "Chuỗi thanh lý BTC (long): $12.50M") {
		t.Errorf("vi summary %q", vi.Summary)
	}
	off := start(t, llm.BaseURL(), func(o *Options) { o.Enabled = false })
	n := llm.Count()
	if a := waitCascade(t, off.e, testCascade()); a.Reason != event.ReasonDisabled || llm.Count() != n {
		t.Errorf("disabled: %+v, %d requests", a, llm.Count()-n)
	}
}
