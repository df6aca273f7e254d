package enrich

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

func TestDailyTokenCapStopsAtCap(t *testing.T) {
	srv := newLLM(t, answerHigh(60, 40)) // 100 tokens a request
	clock := newClock(baseTime)
	env := start(t, srv.URL(), func(o *Options) { o.DailyTokenCap = 300; o.Clock = clock.now })
	for i := uint64(1); i <= 5; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
		env.sink.wait(t, int(i))
	}
	if srv.Count() != 3 {
		t.Errorf("%d requests, want 3 (300-token cap at 100 a request)", srv.Count())
	}
	got := env.sink.all()
	for i, a := range got {
		if want := map[bool]string{true: SourceLLM, false: SourceRules}[i < 3]; a.Source != want {
			t.Errorf("analysis %d source %s, want %s", i, a.Source, want)
		}
	}
	if s := env.e.State(); s.State != StateOverBudget {
		t.Errorf("state = %v", s)
	}
	if float64(env.e.m.skipped[skipBudget].Get()) != 2 {
		t.Errorf("budget skips = %d, want 2", env.e.m.skipped[skipBudget].Get())
	}
	// The next UTC day starts afresh.
	clock.advance(24 * time.Hour)
	env.offer(ev(6, "BTCUSDT", event.Long, 100_000, 0))
	if a := env.sink.wait(t, 6)[5]; a.Source != SourceLLM || srv.Count() != 4 {
		t.Errorf("next day: %+v, %d requests", a, srv.Count())
	}
}

func TestMonthlyUSDCapStopsAtCap(t *testing.T) {
	// The server reports its own cost: it wins over the price table.
	srv := newLLM(t, enrichtest.WithUsage(enrichtest.Answer(highEntry), 1000, 1000, 0.01))
	env := start(t, srv.URL(), func(o *Options) { o.MonthlyUSDCap = 0.03 })
	for i := uint64(1); i <= 5; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
		env.sink.wait(t, int(i))
	}
	if srv.Count() != 3 {
		t.Errorf("%d requests, want 3 ($0.03 cap at $0.01 a request)", srv.Count())
	}
	if got := env.e.Cost(time.Now()).ThisMonth.USD; math.Abs(got-0.03) > 1e-12 {
		t.Errorf("month spend = %v", got)
	}
}

func TestCostReportArithmeticAndPersistence(t *testing.T) {
	srv := newLLM(t, answerHigh(1_000_000, 250_000))
	clock := newClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)) // 9 of November's 30 days gone
	env := start(t, srv.URL(), func(o *Options) { o.Clock = clock.now })
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	env.sink.wait(t, 1)
	env.offer(ev(2, "BTCUSDT", event.Long, 100_000, 0))
	env.sink.wait(t, 2)

	r := env.e.Cost(clock.now())
	// Two requests of 1M in + 0.25M out on deepseek-v3.2 ($0.28 / $0.42).
	want := 2 * (0.28 + 0.25*0.42)
	if r.Today.Requests != 2 || r.Today.PromptTokens != 2_000_000 || r.Today.CompletionTokens != 500_000 || math.Abs(r.Today.USD-want) > 1e-12 {
		t.Errorf("today = %+v, want $%v", r.Today, want)
	}
	if r.ThisMonth != r.Today || r.Day != "2026-11-10" || r.Month != "2026-11" {
		t.Errorf("month = %+v (%s %s)", r.ThisMonth, r.Day, r.Month)
	}
	if math.Abs(r.ProjectedUSD-want*30/9) > 1e-9 {
		t.Errorf("projected = %v, want %v", r.ProjectedUSD, want*30/9)
	}
	others := map[string]float64{}
	for _, o := range r.Others {
		others[o.Model] = o.USD
	}
	if _, self := others["deepseek-v3.2"]; self || len(others) != len(DefaultPrices())-1 {
		t.Errorf("others = %v", others)
	}
	for model, usd := range map[string]float64{
		"gpt-4.1":           2*2.00 + 0.5*8.00,
		"claude-sonnet-4.5": 2*3.00 + 0.5*15.00,
		"gemini-2.5-flash":  2*0.30 + 0.5*2.50,
	} {
		if math.Abs(others[model]-usd) > 1e-9 {
			t.Errorf("%s = %v, want %v", model, others[model], usd)
		}
	}
	for i := 1; i < len(r.Others); i++ {
		if r.Others[i-1].USD > r.Others[i].USD {
			t.Errorf("others not cheapest first: %+v", r.Others)
		}
	}
	en, vi := r.Text("en"), r.Text("vi")
	for _, s := range []string{"deepseek-v3.2", "2 requests", "2,000,000 in", "$0.7700", "gpt-4.1*: $8.0000", "Projected"} {
		if !strings.Contains(en, s) {
			t.Errorf("en report lacks %q:\n%s", s, en)
		}
	}
	if !strings.Contains(vi, "Tháng này") || !strings.Contains(vi, "Dự kiến") {
		t.Errorf("vi report:\n%s", vi)
	}

	// A restart keeps the month's spend; the next day starts at zero.
	e2, err := New(Options{Sink: newSink(), KV: env.kv, Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	r2 := e2.Cost(clock.now().Add(24 * time.Hour))
	if r2.ThisMonth != r.ThisMonth || r2.Today != (Usage{}) {
		t.Errorf("after restart: month %+v today %+v", r2.ThisMonth, r2.Today)
	}
	// A new month starts at zero too.
	if r3 := e2.Cost(time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)); r3.ThisMonth != (Usage{}) || r3.Month != "2026-12" {
		t.Errorf("next month = %+v", r3)
	}
}

func TestProjectMonthEarly(t *testing.T) {
	// Ten minutes into the month the rate is taken over an hour.
	now := time.Date(2026, 2, 1, 0, 10, 0, 0, time.UTC)
	if got, want := projectMonth(now, 1), float64(28*24); math.Abs(got-want) > 1e-9 {
		t.Errorf("projection = %v, want %v", got, want)
	}
}

// TestUsageBetween: a period's usage is the sum of its UTC days, each
// counted once, both ends included.
func TestUsageBetween(t *testing.T) {
	kv := newKV()
	l := ledger{kv: kv}
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i, u := range []Usage{{Requests: 1, PromptTokens: 100, CompletionTokens: 10, USD: 0.5},
		{Requests: 2, PromptTokens: 200, CompletionTokens: 20, USD: 1}, {Requests: 4, PromptTokens: 400, CompletionTokens: 40, USD: 2}} {
		if err := l.record(day.Add(time.Duration(i)*24*time.Hour+time.Hour), u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := UsageBetween(kv, day.Add(23*time.Hour), day.Add(25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got != (Usage{Requests: 3, PromptTokens: 300, CompletionTokens: 30, USD: 1.5}) {
		t.Fatalf("the first two days: %+v", got)
	}
	others := OnOtherModels(got, "deepseek-v3.2", DefaultPrices())
	if len(others) != len(DefaultPrices())-1 || others[0].USD > others[len(others)-1].USD {
		t.Fatalf("other models %+v: want every other model, cheapest first", others)
	}
}
