package compare

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/store"
)

// logSpec is what a constructed log holds beside its events.
type logSpec struct {
	evs      []event.Event
	gaps     []store.Gap
	chats    map[int64]string // chat id → its settings as the bot stores them
	analyses map[int]event.Analysis
	usage    enrich.Usage
}

// writeLog writes spec's log at path, its events numbered in receive
// order (analyses keyed by the index of their event), and closes it.
func writeLog(t *testing.T, path string, spec logSpec, day time.Time) {
	t.Helper()
	st, err := store.Open(path, store.Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	evs := slices.Clone(spec.evs)
	slices.SortStableFunc(evs, func(a, b event.Event) int { return int(a.RecvNs - b.RecvNs) })
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		st.Append(&evs[i])
	}
	for st.Durable() < uint64(len(evs)) {
		time.Sleep(time.Millisecond)
	}
	for _, g := range spec.gaps {
		if err := st.AddGap(g); err != nil {
			t.Fatal(err)
		}
	}
	for id, s := range spec.chats {
		if err := st.Put([]byte("telegram_chats"), []byte(chatName(id)), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range spec.analyses {
		// The analysis of the event that was spec.evs[i].
		for j := range evs {
			if evs[j].RecvNs == spec.evs[i].RecvNs && evs[j].Symbol == spec.evs[i].Symbol {
				a.Seq = evs[j].Seq
			}
		}
		if err := enrich.SaveAnalysis(st, a, day); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := json.Marshal(spec.usage)
	if err := st.Put([]byte(enrich.UsageBucket), []byte("day/"+day.UTC().Format("2006-01-02")), u); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func openRO(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fixture is the reference log A (the venue's own feed) and the candidate
// B (the relay) of twenty liquidations, ten seconds apart, with these
// known differences: L3 is missing in B outside any gap, L7 inside a gap
// of B's relay stream; B's copy of L10 is 1.5 s late, of L12 5 % short in
// USD, of L14 on the other side, of L15 20 ms early, of L16 exact (the
// venue's very numbers: the same Key); B has two liquidations A lacks, X1
// outside any gap of A and X2 inside one. The other copies are 40 ms late
// with the relay's own time and rounded USD.
type fixture struct {
	t0   time.Time
	a, b string
}

func newFixture(t *testing.T) fixture {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	var A, B logSpec
	syms := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT"}
	for i := 0; i < 20; i++ {
		side := event.Long
		if i%2 == 1 {
			side = event.Short
		}
		price := 1000.0 + float64(i)
		usd := 100000 + 10000*float64(i)
		a := event.Event{Venue: event.BinanceUSDM, Market: event.Linear, Basis: event.BasisLinear, Side: side,
			Symbol: event.MakeSymbol(syms[i%3]), Price: price, Qty: usd / price, Notional: usd,
			TimeMs: at(i).UnixMilli() - 5, RecvNs: at(i).UnixNano()}
		A.evs = append(A.evs, a)
		b := a
		b.Conn = event.ConnRelay
		b.Notional = math.Round(usd*100) / 100
		b.Qty = b.Notional / b.Price * (1 + 1e-12)
		b.TimeMs += 30
		b.RecvNs += int64(40 * time.Millisecond)
		switch i {
		case 3:
			continue
		case 7:
			B.gaps = append(B.gaps, store.Gap{Venue: "binance-usdm", Stream: ingest.RelayStream, Start: at(7).Add(-time.Second),
				End: at(7).Add(time.Second), Cause: "read_error"})
			continue
		case 10:
			b.RecvNs = a.RecvNs + int64(1500*time.Millisecond)
		case 12:
			b.Notional *= 0.95
			b.Qty = b.Notional / b.Price
		case 14:
			b.Side = event.Short + event.Long - a.Side
		case 15:
			b.RecvNs = a.RecvNs - int64(20*time.Millisecond)
		case 16:
			b = a
			b.Conn = event.ConnRelay
			b.RecvNs += int64(40 * time.Millisecond)
		}
		B.evs = append(B.evs, b)
	}
	x := func(i int, sym string) event.Event {
		when := at(i).Add(5 * time.Second)
		return event.Event{Venue: event.BinanceUSDM, Market: event.Linear, Basis: event.BasisLinear, Side: event.Long, Conn: event.ConnRelay,
			Symbol: event.MakeSymbol(sym), Price: 50, Qty: 10000, Notional: 500000, TimeMs: when.UnixMilli(), RecvNs: when.UnixNano()}
	}
	B.evs = append(B.evs, x(4, "XRPUSDT"), x(9, "DOGEUSDT"))
	A.gaps = []store.Gap{{Venue: "binance-usdm", Stream: "!forceOrder@arr", Start: at(9).Add(4 * time.Second),
		End: at(9).Add(6 * time.Second), Cause: "stale"}}
	A.chats = map[int64]string{
		100: `{"subscribed":true,"min_usd":150000,"sides":0,"lang":"en"}`,
		200: `{"subscribed":true,"min_usd":100000,"sides":2,"lang":"vi"}`, // 1<<event.Long
		300: `{"subscribed":false,"min_usd":100000,"sides":0,"lang":"en"}`,
	}
	A.analyses, B.analyses = map[int]event.Analysis{}, map[int]event.Analysis{}
	for i := 0; i < 5; i++ { // L3's copy is missing in B: four pairs analysed by both
		A.analyses[i] = event.Analysis{Risk: event.RiskHigh, Source: "llm", Model: "deepseek-v3.2", Summary: "x"}
		risk := event.RiskHigh
		if i == 2 {
			risk = event.RiskLow
		}
		B.analyses[i] = event.Analysis{Risk: risk, Source: "rules", Summary: "y"}
	}
	A.usage = enrich.Usage{Requests: 5, PromptTokens: 10000, CompletionTokens: 2000, USD: 0.00364}
	dir := t.TempDir()
	f := fixture{t0: t0, a: filepath.Join(dir, "a.db"), b: filepath.Join(dir, "b.db")}
	writeLog(t, f.a, A, t0)
	writeLog(t, f.b, B, t0)
	return f
}

func (f fixture) run(t *testing.T, o Options) *Report {
	t.Helper()
	if o.From.IsZero() {
		o.From, o.To = f.t0.Add(-time.Minute), f.t0.Add(10*time.Minute)
	}
	r, err := Run(Log{Name: "A", Store: openRO(t, f.a)}, Log{Name: "B", Store: openRO(t, f.b)}, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCompareKnownDifferences(t *testing.T) {
	f := newFixture(t)
	r := f.run(t, Options{Triggers: DefaultTriggers()})
	tt := r.Totals
	if tt.A != 20 || tt.B != 20 || tt.Matched != 18 || tt.MissingInB != 2 || tt.MissingInBGap != 1 || tt.ExtraInB != 2 || tt.ExtraInBGap != 1 {
		t.Errorf("totals %+v: want 20 and 20, 18 matched, 2 missing in B (1 in its gap), 2 extra (1 in A's gap)", tt)
	}
	if tt.Disagree != 2 || tt.Side != 1 || tt.USD != 1 || tt.Price != 0 {
		t.Errorf("disagreements %+v: want L12's USD and L14's side", tt)
	}
	if tt.AFirst != 17 || tt.BFirst != 1 {
		t.Errorf("A first %d, B first %d; want 17 and 1 (L15)", tt.AFirst, tt.BFirst)
	}
	if tt.LeadP50 == nil || math.Abs(*tt.LeadP50-0.040) > 1e-6 || tt.LeadP99 == nil || math.Abs(*tt.LeadP99-1.5) > 1e-6 {
		t.Errorf("lead p50 %v, p99 %v: want 40 ms and the late copy's 1.5 s", tt.LeadP50, tt.LeadP99)
	}
	want := []StreamRow{
		{Venue: "binance-usdm", Stream: "holysheep", B: 20, ExtraInB: 2, ExtraInBGap: 1},
		{Venue: "binance-usdm", Stream: "linear", A: 20, Matched: 18, MissingInB: 2, MissingInBGap: 1},
	}
	if !slices.Equal(r.Streams, want) {
		t.Errorf("streams %+v, want %+v", r.Streams, want)
	}
	if len(r.Venues) != 1 || r.Venues[0].Matched != 18 || r.Venues[0].Side != 1 || r.Venues[0].USD != 1 {
		t.Errorf("venues %+v", r.Venues)
	}
	chats := map[string]ChatRow{}
	for _, c := range r.Chats {
		chats[c.name()] = c
	}
	for name, w := range map[string]ChatRow{
		"100": {AlertsA: 15, AlertsB: 16, OnlyA: 1, OnlyB: 2}, // ≥ $150K: L7 only in A, X1 and X2 only in B
		"200": {AlertsA: 10, AlertsB: 11, OnlyA: 1, OnlyB: 2}, // longs: L14 turned short in B
		"all": {AlertsA: 20, AlertsB: 20, OnlyA: 2, OnlyB: 2},
	} {
		c, ok := chats[name]
		if !ok || c.AlertsA != w.AlertsA || c.AlertsB != w.AlertsB || c.OnlyA != w.OnlyA || c.OnlyB != w.OnlyB {
			t.Errorf("chat %s: %+v, want %+v", name, c, w)
		}
	}
	if _, ok := chats["300"]; ok || len(r.Chats) != 3 {
		t.Errorf("chats %+v: the unsubscribed chat is not a row", r.Chats)
	}
	l := r.LLM
	if l.A.Analyses != 5 || l.A.ByModel != 5 || l.A.Models["deepseek-v3.2"] != 5 || l.B.ByRules != 5 || l.BothAnalysed != 4 || l.RiskDiffers != 1 {
		t.Errorf("llm %+v", l)
	}
	if l.A.Usage.USD != 0.00364 || len(l.A.Others) != 5 || l.A.Others[0].USD > l.A.Others[4].USD {
		t.Errorf("spend %+v on others %+v", l.A.Usage, l.A.Others)
	}
	if r.B.Gaps != 1 || math.Abs(r.B.BlindS-2) > 1e-6 || r.A.Gaps != 1 {
		t.Errorf("logs A %+v, B %+v: one 2 s gap each", r.A, r.B)
	}
	fired := map[string]bool{}
	for _, x := range r.Fired() {
		fired[x.Name] = true
	}
	if !fired["max-missing"] || !fired["max-extra"] || !fired["max-disagree"] || !fired["max-alert-diff"] || fired["min-events"] || r.Verdict != VerdictRollback {
		t.Errorf("triggers %+v, verdict %s", r.Triggers, r.Verdict)
	}
}

func TestCompareTriggerLimits(t *testing.T) {
	f := newFixture(t)
	lenient := Triggers{MaxMissing: 0.10, MaxExtra: 0.10, MaxDisagree: 0.12, MaxAlertDiff: 0.30, MinEvents: 20}
	if r := f.run(t, Options{Triggers: lenient}); r.Verdict != VerdictPromote || len(r.Fired()) != 0 {
		t.Errorf("lenient limits: verdict %s, fired %+v", r.Verdict, r.Fired())
	}
	for name, tr := range map[string]Triggers{
		"max-lead-p99": {MaxMissing: -1, MaxExtra: -1, MaxDisagree: -1, MaxAlertDiff: -1, MaxLeadP99: time.Second},
		"max-blind":    {MaxMissing: -1, MaxExtra: -1, MaxDisagree: -1, MaxAlertDiff: -1, MaxBlind: time.Second},
		"min-events":   {MaxMissing: -1, MaxExtra: -1, MaxDisagree: -1, MaxAlertDiff: -1, MinEvents: 21},
	} {
		r := f.run(t, Options{Triggers: tr})
		if f := r.Fired(); len(f) != 1 || f[0].Name != name || r.Verdict != VerdictRollback {
			t.Errorf("%s: fired %+v, verdict %s", name, f, r.Verdict)
		}
	}
	// A lead limit above the late copy's 1.5 s holds.
	if r := f.run(t, Options{Triggers: Triggers{MaxMissing: -1, MaxExtra: -1, MaxDisagree: -1, MaxAlertDiff: -1, MaxLeadP99: 2 * time.Second}}); r.Verdict != VerdictPromote {
		t.Errorf("2 s lead limit: fired %+v", r.Fired())
	}
}

func TestCompareFilters(t *testing.T) {
	f := newFixture(t)
	// At or above $150K: L5…L19 and the two extras; L12's copy (5 %
	// short, $209K) still counts, L7 is the one missing.
	r := f.run(t, Options{MinUSD: 150000})
	if tt := r.Totals; tt.A != 15 || tt.MissingInB != 1 || tt.ExtraInB != 2 || tt.Matched != 14 {
		t.Errorf("≥ $150K totals %+v", tt)
	}
	r = f.run(t, Options{Symbols: map[string]bool{"ETHUSDT": true}})
	if tt := r.Totals; tt.A != 7 || tt.Matched != 6 || tt.MissingInB != 1 || tt.MissingInBGap != 1 { // L1, L4, …, L19; L7 in B's gap
		t.Errorf("ETHUSDT totals %+v", tt)
	}
	// A tighter rule: within 10 ms the relay's copies 30 ms off in time
	// are other liquidations; only the exact one (L16, by its Key) matches.
	r = f.run(t, Options{Rule: event.MatchRule{Window: 10 * time.Millisecond, SizeTol: 0.1, Agree: 0.01}})
	if tt := r.Totals; tt.Matched != 1 || tt.MissingInB != 19 {
		t.Errorf("10 ms rule totals %+v", tt)
	}
}

func TestCompareALogWithItself(t *testing.T) {
	f := newFixture(t)
	r, err := Run(Log{Name: "A", Store: openRO(t, f.a)}, Log{Name: "A again", Store: openRO(t, f.a)},
		Options{From: f.t0.Add(-time.Minute), To: f.t0.Add(10 * time.Minute), Triggers: DefaultTriggers()})
	if err != nil {
		t.Fatal(err)
	}
	if tt := r.Totals; tt.Matched != 20 || tt.MissingInB != 0 || tt.ExtraInB != 0 || tt.Disagree != 0 || *tt.LeadP99 != 0 || r.Verdict != VerdictPromote {
		t.Errorf("a log against itself: %+v, verdict %s", tt, r.Verdict)
	}
}

func TestCompareOutput(t *testing.T) {
	f := newFixture(t)
	r := f.run(t, Options{Triggers: DefaultTriggers()})
	var tb, js strings.Builder
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"binance-usdm  holysheep", "2 (1)", "verdict: ROLLBACK (4 of 5 triggers fired: max-missing, max-extra, max-disagree, max-alert-diff)",
		"--max-missing", "10.00% (2 of 20, 1 during B's gaps)", "FIRED", "\nall ", "risk level differs for 1"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatal(err)
	}
	if back["verdict"] != "rollback" || back["totals"].(map[string]any)["missing_in_b_during_gap"] != 1.0 {
		t.Errorf("json %s", js.String())
	}
}
