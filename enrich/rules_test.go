package enrich

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
)

func TestAggregatesWindows(t *testing.T) {
	a := newAggregates(16)
	add := func(side event.Side, usd float64, at time.Duration) {
		e := ev(0, "BTCUSDT", side, usd, at)
		a.observe(&e)
	}
	add(event.Long, 1000, -50*time.Minute) // in 1 h only
	add(event.Short, 2000, -4*time.Minute) // in 5 m and 1 h
	add(event.Long, 3000, -30*time.Second) // in all three
	add(event.Long, 9999, -2*time.Hour)    // too old for any window
	other := ev(0, "ETHUSDT", event.Long, 5e6, 0)
	a.observe(&other) // another symbol
	alert := ev(1, "BTCUSDT", event.Long, 4000, 0)
	a.observe(&alert)
	cx := a.snapshot(&alert)
	want := alertContext{Long1m: 7000, Long5m: 7000, Short5m: 2000, Long1h: 8000, Short1h: 2000, N1mSame: 2}
	if cx.Long1m != want.Long1m || cx.Short1m != 0 || cx.Long5m != want.Long5m || cx.Short5m != want.Short5m ||
		cx.Long1h != want.Long1h || cx.Short1h != want.Short1h || cx.N1mSame != want.N1mSame {
		t.Errorf("context = %+v, want %+v", cx, want)
	}
	if cx.HistoryN != 4 || cx.Cascade { // the size history is the last hour's too
		t.Errorf("history %d cascade %v", cx.HistoryN, cx.Cascade)
	}
	// A venue's replayed backlog (old exchange time) does not land in the current minute.
	old := ev(0, "BTCUSDT", event.Long, 1e6, -10*time.Minute)
	a.observe(&old)
	if cx2 := a.snapshot(&alert); cx2.Long1m != 7000 || cx2.Long5m != 7000 || cx2.Long1h != 1_008_000 {
		t.Errorf("backlog landed in the wrong window: %+v", cx2)
	}
}

func TestAggregatesSymbolCap(t *testing.T) {
	a := newAggregates(1)
	e1, e2 := ev(0, "A", event.Long, 1, 0), ev(0, "B", event.Long, 1, 0)
	if !a.observe(&e1) || a.observe(&e2) {
		t.Error("symbol table cap not enforced")
	}
}

func TestPercentileAndRules(t *testing.T) {
	a := newAggregates(16)
	for i := 1; i <= 100; i++ {
		e := ev(0, "BTCUSDT", event.Long, float64(i*1000), -time.Duration(100-i)*30*time.Second)
		a.observe(&e)
	}
	alert := ev(1, "BTCUSDT", event.Long, 99_500, 0)
	cx := a.snapshot(&alert)
	if cx.Percentile != 99 || cx.HistoryN != 100 {
		t.Fatalf("percentile %v of %d, want 99 of 100", cx.Percentile, cx.HistoryN)
	}
	r := rulesAnalysis(&alert, &cx, "en", event.ReasonDisabled)
	if r.Risk != event.RiskHigh || r.Source != SourceRules || r.Seq != 1 || !strings.Contains(r.Summary, "larger than 99% of the last 100") {
		t.Errorf("rules = %+v", r)
	}
	small := ev(2, "BTCUSDT", event.Long, 1500, 0)
	cx = a.snapshot(&small)
	if r := rulesAnalysis(&small, &cx, "en", event.ReasonDisabled); r.Risk != event.RiskLow {
		t.Errorf("small = %+v", r)
	}
	fresh := ev(3, "NEWUSDT", event.Short, 1e6, 0)
	cx = a.snapshot(&fresh)
	if r := rulesAnalysis(&fresh, &cx, "en", event.ReasonDisabled); r.Risk != event.RiskMedium || !math.IsNaN(cx.Percentile) || !strings.Contains(r.Summary, "not enough history") {
		t.Errorf("no history = %+v %+v", r, cx)
	}
}

func TestCascadeDetection(t *testing.T) {
	a := newAggregates(16)
	// A quiet hour, then six long liquidations within 30 s.
	for i := 0; i < 10; i++ {
		e := ev(0, "ETHUSDT", event.Long, 5_000, -time.Duration(55-5*i)*time.Minute)
		a.observe(&e)
	}
	var alert event.Event
	for i := 0; i < 6; i++ {
		alert = ev(uint64(i+1), "ETHUSDT", event.Long, 200_000, -time.Duration(30-5*i)*time.Second)
		a.observe(&alert)
	}
	cx := a.snapshot(&alert)
	if !cx.Cascade || cx.N1mSame != 6 || cx.CascadeMultiplier < cascadeFactor {
		t.Fatalf("context = %+v, want a cascade", cx)
	}
	vi := rulesAnalysis(&alert, &cx, "vi", event.ReasonDisabled)
	if vi.Risk != event.RiskHigh || vi.Lang != "vi" || !strings.Contains(vi.Summary, "dây chuyền") || !strings.Contains(vi.Recommendation, "đòn bẩy") {
		t.Errorf("vi rules = %+v", vi)
	}
	en := rulesAnalysis(&alert, &cx, "en", event.ReasonDisabled)
	if !strings.Contains(en.Summary, "Cascade under way") || !utf8.ValidString(vi.Summary) {
		t.Errorf("en rules = %+v", en)
	}
	// The other side of the same symbol is not in a cascade.
	short := ev(9, "ETHUSDT", event.Short, 200_000, 0)
	if cx := a.snapshot(&short); cx.Cascade {
		t.Errorf("short side flagged as cascade: %+v", cx)
	}
}

func TestExtractJSON(t *testing.T) {
	obj := `{"alerts":[{"id":"1","summary":"a } brace"}]}`
	for name, tc := range map[string]struct {
		in   string
		want string
		ok   bool
	}{
		"bare":        {obj, obj, true},
		"spaces":      {"  \n" + obj + "\n", obj, true},
		"fence":       {"```json\n" + obj + "\n```", obj, true},
		"fence plain": {"Here:\n```\n" + obj + "\n```", obj, true},
		"prose":       {"I think {this} is it: " + obj + " thanks", obj, true},
		"broken":      {`{"alerts": [`, "", false},
		"none":        {"no json here", "", false},
		"empty":       {"", "", false},
	} {
		got, ok := extractJSON(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %q %v", name, got, ok)
		}
	}
}

func TestParseVerdictsShapes(t *testing.T) {
	ids := map[string]int{"1": 0, "2": 1}
	for name, js := range map[string]string{
		"array":    `[{"id":"1","risk_level":"LOW","summary":"s","recommendation":"r"}]`,
		"analyses": `{"analyses":[{"alert_id":1,"risk_level":"LOW","summary":"s","recommendation":"r"}]}`,
		"keyed":    `{"1":{"risk_level":"LOW","summary":"s","recommendation":"r"}}`,
	} {
		v, _ := parseVerdicts(js, ids)
		if len(v) != 1 || v[0].risk != event.RiskLow || v[0].summary != "s" {
			t.Errorf("%s: %+v", name, v)
		}
	}
}

func TestCutRunes(t *testing.T) {
	if got := cutRunes("ăâđêôơư", 4); got != "ăâđ…" || utf8.RuneCountInString(got) != 4 {
		t.Errorf("cutRunes = %q", got)
	}
	if got := cleanText("a\x00b\n\n c\xff", 10); got != "a b c" {
		t.Errorf("cleanText = %q", got)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"NaN":                           0,
		"1e300":                         24 * time.Hour,
		"Fri, 27 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"garbage":                       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestObserveOfferDoNotAllocate(t *testing.T) {
	e, err := New(Options{Sink: newSink(), QueueLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	x := ev(1, "BTCUSDT", event.Long, 1e5, 0)
	e.Observe(&x) // first sight of the symbol allocates its state
	if n := testing.AllocsPerRun(1000, func() { x.TimeMs++; x.Seq++; e.Observe(&x) }); n != 0 {
		t.Errorf("Observe: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { e.Offer(&x) }); n != 0 {
		t.Errorf("Offer: %v allocs", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	e, err := New(Options{Sink: newSink()})
	if err != nil {
		b.Fatal(err)
	}
	syms := []string{"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "1000PEPEUSDT", "BNBUSDT", "ADAUSDT"}
	evs := make([]event.Event, len(syms))
	for i, s := range syms {
		evs[i] = ev(uint64(i), s, event.Side(1+i%2), float64(1000*(i+1)), 0)
		e.Observe(&evs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := &evs[i%len(evs)]
		x.TimeMs += 7 // walk forward through the buckets
		x.Seq += uint64(len(evs))
		e.Observe(x)
	}
}

func BenchmarkOffer(b *testing.B) {
	e, err := New(Options{Sink: newSink(), QueueLen: 256})
	if err != nil {
		b.Fatal(err)
	}
	x := ev(1, "BTCUSDT", event.Long, 1e5, 0)
	for i := 0; i < histLen; i++ {
		x.TimeMs += 100
		x.Seq++
		e.Observe(&x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Offer(&x) // observed already, as the pipeline does; the queue stays full: every call also drops the oldest
	}
}
