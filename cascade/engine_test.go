package cascade

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// recorder is a Sink that keeps every call.
type recorder struct {
	calls []call
}

type call struct {
	kind string // opened, updated, closed
	s    Snapshot
}

func (r *recorder) Opened(s *Snapshot)  { r.calls = append(r.calls, call{"opened", *s}) }
func (r *recorder) Updated(s *Snapshot) { r.calls = append(r.calls, call{"updated", *s}) }
func (r *recorder) Closed(s *Snapshot)  { r.calls = append(r.calls, call{"closed", *s}) }

func (r *recorder) kinds(kind string) []Snapshot {
	var out []Snapshot
	for _, c := range r.calls {
		if c.kind == kind {
			out = append(out, c.s)
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// liq is one liquidation of usd at t0+at.
func liq(v event.Venue, sym string, side event.Side, usd float64, at time.Duration) event.Event {
	return event.Event{Venue: v, Symbol: event.MakeSymbol(sym), Side: side, Notional: usd, Basis: event.BasisLinear,
		Price: 60000, Qty: usd / 60000, RecvNs: t0.Add(at).UnixNano(), TimeMs: t0.Add(at).UnixMilli()}
}

func mustRule(t *testing.T, spec string) Rule {
	t.Helper()
	r, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drive offers evs in order and advances the clock every second between
// them and to end, as Run and the log tools do.
func drive(e *Engine, end time.Duration, evs ...event.Event) {
	at := t0
	for i := range evs {
		for t := at; t.UnixNano() < evs[i].RecvNs; t = t.Add(time.Second) {
			e.Advance(t.UnixNano())
		}
		at = time.Unix(0, evs[i].RecvNs)
		e.Offer(&evs[i])
	}
	for t := at; !t.After(t0.Add(end)); t = t.Add(time.Second) {
		e.Advance(t.UnixNano())
	}
}

// TestFiresOncePerCascadeAndRearms: one message per cascade however long
// it grows, one re-crossing within the quiet period is the same cascade,
// and after the quiet period the rule fires again as a new cascade.
func TestFiresOncePerCascadeAndRearms(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	e.SetRules(7, []Rule{mustRule(t, "BTC:1M:1m")}) // quiet period 1 m
	var evs []event.Event
	// Wave 1: $300K every 10 s from 0 s; the window crosses $1M at the
	// fourth ($1.2M at 30 s) and stays above while it goes on to 120 s.
	for s := 0; s <= 120; s += 10 {
		evs = append(evs, liq(event.BinanceUSDM, "BTCUSDT", event.Long, 300_000, time.Duration(s)*time.Second))
	}
	// It falls below at about 150 s (the 1 m window holds 130..150 s).
	// Wave 2 at 170 s, within the quiet minute: the same cascade resumes.
	for s := 170; s <= 200; s += 10 {
		evs = append(evs, liq(event.Bybit, "BTCUSDT", event.Short, 300_000, time.Duration(s)*time.Second))
	}
	// Then quiet until it closes (~260 s + 60 s), and wave 3 at 600 s:
	// a new cascade.
	for s := 600; s <= 630; s += 10 {
		evs = append(evs, liq(event.OKX, "BTC-USDT-SWAP", event.Long, 300_000, time.Duration(s)*time.Second))
	}
	drive(e, 1000*time.Second, evs...)

	opened, closed := rec.kinds("opened"), rec.kinds("closed")
	if len(opened) != 2 || len(closed) != 2 {
		t.Fatalf("opened %d, closed %d cascades; want 2 and 2 (calls: %v)", len(opened), len(closed), kindsOf(rec))
	}
	first := opened[0]
	if got := time.Unix(0, first.FiredNs).Sub(t0); got != 30*time.Second {
		t.Errorf("fired at %v, want 30s (the fourth $300K)", got)
	}
	if first.USD() != 1_200_000 || first.Total.N != 4 || first.StartNs != t0.UnixNano() {
		t.Errorf("at firing: total %v in %d, start %v; want $1.2M in 4 from t0", first.USD(), first.Total.N, time.Unix(0, first.StartNs).Sub(t0))
	}
	if closed[0].ID != first.ID || opened[1].ID == first.ID {
		t.Errorf("ids: opened %d, %d; closed %d", first.ID, opened[1].ID, closed[0].ID)
	}
	// The first cascade counts both waves: 13 + 4 liquidations.
	if c := closed[0]; c.Total.N != 17 || c.USD() != 17*300_000 || c.State != Closed {
		t.Errorf("first cascade closed with %d liquidations, $%v, %v; want 17, $5.1M, closed", c.Total.N, c.USD(), c.State)
	}
	if c := closed[0]; c.Venues[event.BinanceUSDM].N != 13 || c.Venues[event.Bybit].N != 4 {
		t.Errorf("breakdown %+v", c.Venues)
	}
	// Between the waves it faded and came back, with no new message.
	sawFading, sawBack := false, false
	for _, u := range rec.kinds("updated") {
		if u.ID != first.ID {
			continue
		}
		if u.State == Fading {
			sawFading = true
		}
		if sawFading && u.State == Open {
			sawBack = true
		}
	}
	if !sawFading || !sawBack {
		t.Errorf("updates of the first cascade: fading seen %v, back to open %v", sawFading, sawBack)
	}
	// It closes after the quiet period below the threshold.
	if q := time.Duration(closed[0].EndNs - closed[0].BelowNs); q < time.Minute || q > time.Minute+2*time.Second {
		t.Errorf("closed %v after falling below, want the 1 m quiet period", q)
	}
	if end := time.Unix(0, closed[0].EndNs).Sub(t0); end > 600*time.Second {
		t.Errorf("first cascade closed at %v, after the third wave began", end)
	}
	if got := time.Unix(0, opened[1].FiredNs).Sub(t0); got != 630*time.Second {
		t.Errorf("re-armed rule fired at %v, want 630s", got)
	}
	if opened[1].Venues[event.OKX].N != 4 || opened[1].LowerBound() != true {
		t.Errorf("second cascade: %+v, lower bound %v (OKX is sampled)", opened[1].Venues[event.OKX], opened[1].LowerBound())
	}
}

func kindsOf(r *recorder) []string {
	var out []string
	for _, c := range r.calls {
		out = append(out, c.kind)
	}
	return out
}

// TestOneAssetAcrossVenues: BTC on five venues under five names is one
// sum; ETH and BTCDOM are not in it; a long-only rule ignores shorts.
func TestOneAssetAcrossVenues(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	e.SetRules(1, []Rule{mustRule(t, "BTC:1M:5m:long"), mustRule(t, "all:3M:5m")})
	evs := []event.Event{
		liq(event.BinanceUSDM, "BTCUSDT", event.Long, 200_000, 0),
		liq(event.BinanceCOINM, "BTCUSD_PERP", event.Long, 200_000, time.Second),
		liq(event.BitMEX, "XBTUSD", event.Long, 200_000, 2*time.Second),
		liq(event.OKX, "BTC-USD-SWAP", event.Long, 200_000, 3*time.Second),
		liq(event.Bybit, "ETHUSDT", event.Long, 900_000, 4*time.Second),
		liq(event.BinanceUSDM, "BTCDOMUSDT", event.Long, 900_000, 5*time.Second),
		liq(event.Bybit, "BTCUSDT", event.Short, 900_000, 6*time.Second),
		liq(event.BitMEX, "XBTZ25", event.Long, 150_000, 7*time.Second), // $950K: not yet
		liq(event.Bybit, "BTCUSD", event.Long, 50_000, 8*time.Second),   // $1M: fires
	}
	drive(e, 10*time.Second, evs...)
	opened := rec.kinds("opened")
	if len(opened) != 2 {
		t.Fatalf("opened %d, want 2 (BTC longs and the market)", len(opened))
	}
	var btc, all Snapshot
	for _, s := range opened {
		if s.Rule.All() {
			all = s
		} else {
			btc = s
		}
	}
	if got := time.Unix(0, btc.FiredNs).Sub(t0); got != 8*time.Second || btc.USD() != 1_000_000 || btc.Total.N != 6 {
		t.Errorf("BTC longs fired at %v with $%v in %d; want 8s, $1M in 6", got, btc.USD(), btc.Total.N)
	}
	if btc.Venues[event.BitMEX].N != 2 || btc.Venues[event.Bybit].Cents != 5_000_000 {
		t.Errorf("BTC breakdown %+v", btc.Venues)
	}
	if l := btc.Largest(); len(l) != 5 || l[0].Notional != 200_000 || l[4].Notional != 150_000 {
		t.Errorf("largest %v", l)
	}
	// The market: every liquidation, both sides, $3M crossed at 6 s.
	if got := time.Unix(0, all.FiredNs).Sub(t0); got != 6*time.Second || all.USD() != 3_500_000 {
		t.Errorf("market fired at %v with $%v; want 6s, $3.5M", got, all.USD())
	}
}

func TestUnknownSizeAndBacklog(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	e.SetRules(1, []Rule{mustRule(t, "BTC:1M:5m")})
	unknown := liq(event.BitMEX, "XBTUSD", event.Long, math.NaN(), 2*time.Second)
	unknown.Basis = event.BasisUnknown
	backlog := liq(event.OKX, "BTC-USDT-SWAP", event.Long, 5_000_000, time.Second)
	backlog.Flags = event.FlagBacklog
	drive(e, 5*time.Second, backlog, unknown,
		liq(event.Bybit, "BTCUSDT", event.Long, 600_000, 3*time.Second),
		liq(event.Bybit, "BTCUSDT", event.Long, 600_000, 4*time.Second))
	opened := rec.kinds("opened")
	if len(opened) != 1 || opened[0].USD() != 1_200_000 || opened[0].Unknown != 1 {
		t.Fatalf("opened %+v; want one at $1.2M with one liquidation of unknown size (the backlog ignored)", opened)
	}
}

func TestSetRulesKeepsAndRemoves(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	btc, eth := mustRule(t, "BTC:1M:5m"), mustRule(t, "ETH:1M:5m")
	e.SetRules(1, []Rule{btc})
	e.SetRules(2, []Rule{btc})
	drive(e, 2*time.Second, liq(event.Bybit, "BTCUSDT", event.Long, 2_000_000, time.Second))
	if n := len(rec.kinds("opened")); n != 2 {
		t.Fatalf("opened %d, want one per owner", n)
	}
	// Chat 1 adds a rule: its BTC cascade goes on, unannounced again.
	e.SetRules(1, []Rule{btc, eth})
	drive(e, 3*time.Second, liq(event.Bybit, "BTCUSDT", event.Long, 10_000, 2500*time.Millisecond))
	if n := len(rec.kinds("opened")); n != 2 {
		t.Fatalf("opened %d after adding a rule, want still 2", n)
	}
	// Chat 2 removes its rule: its cascade is closed, marked removed.
	e.SetRules(2, nil)
	closed := rec.kinds("closed")
	if len(closed) != 1 || closed[0].Owner != 2 || !closed[0].Removed {
		t.Fatalf("closed %+v, want chat 2's, removed", closed)
	}
	if got := e.Rules(1); len(got) != 2 || len(e.Rules(2)) != 0 {
		t.Errorf("rules: %v / %v", got, e.Rules(2))
	}
}

// TestSeedResumes: after a restart the engine is rebuilt from the log; a
// cascade still going is handed on once, marked Resumed, and one that
// ended during the log is not reported at all.
func TestSeedResumes(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	e.SetRules(1, []Rule{mustRule(t, "BTC:1M:1m"), mustRule(t, "ETH:1M:1m")})
	log := []event.Event{
		liq(event.Bybit, "ETHUSDT", event.Long, 2_000_000, 0), // over long before the end
		liq(event.Bybit, "BTCUSDT", event.Long, 2_000_000, 10*time.Minute),
	}
	n, err := e.Seed(func(fn func(*event.Event) error) error {
		for i := range log {
			if err := fn(&log[i]); err != nil {
				return err
			}
		}
		return nil
	}, t0.Add(10*time.Minute+30*time.Second).UnixNano())
	if err != nil || n != 2 {
		t.Fatalf("Seed: %d, %v", n, err)
	}
	if len(rec.calls) != 1 || rec.calls[0].kind != "opened" || !rec.calls[0].s.Resumed || rec.calls[0].s.Rule.Asset.String() != "BTC" {
		t.Fatalf("calls after Seed: %+v; want one resumed BTC cascade", rec.calls)
	}
	// Live again: it goes on as the same cascade.
	drive(e, 11*time.Minute, liq(event.Bybit, "BTCUSDT", event.Long, 100_000, 10*time.Minute+40*time.Second))
	if n := len(rec.kinds("opened")); n != 1 {
		t.Errorf("opened %d, want the resumed one only", n)
	}
}

func TestFinishReportsOpenCascades(t *testing.T) {
	rec := &recorder{}
	e := New(Options{Sink: rec})
	e.SetRules(0, []Rule{mustRule(t, "BTC:1M:1h")})
	drive(e, 10*time.Second, liq(event.Bybit, "BTCUSDT", event.Long, 2_000_000, time.Second))
	e.Finish(t0.Add(time.Minute).UnixNano())
	closed := rec.kinds("closed")
	if len(closed) != 1 || closed[0].State != Open || closed[0].EndNs != t0.Add(time.Minute).UnixNano() {
		t.Fatalf("closed %+v; want one, still open at the end", closed)
	}
}

func TestOfferAllocatesNothing(t *testing.T) {
	e := New(Options{Sink: &recorder{}})
	e.SetRules(1, []Rule{mustRule(t, "BTC:1B:5m"), mustRule(t, "all:1B:1h:long")})
	evs := []event.Event{
		liq(event.Bybit, "BTCUSDT", event.Long, 100_000, 0),
		liq(event.OKX, "ETH-USDT-SWAP", event.Short, 100_000, 0),
	}
	for i := range evs {
		e.Offer(&evs[i]) // the symbols are cached from here on
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		ev := &evs[i%2]
		ev.RecvNs += int64(time.Second)
		e.Offer(ev)
		i++
	}); n != 0 {
		t.Fatalf("Offer allocates %v times per event", n)
	}
}

// TestConcurrentUse: the pipeline's Offer, Run's Advance and the bot's
// SetRules and Open at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	e := New(Options{Sink: &lockedRecorder{}})
	rules := []Rule{mustRule(t, "BTC:1M:1m"), mustRule(t, "all:2M:5m:long")}
	e.SetRules(1, rules)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 20000; i++ {
			ev := liq(event.Bybit, "BTCUSDT", event.Side(1+i%2), 100_000, time.Duration(i)*time.Millisecond)
			e.Offer(&ev)
		}
		close(done)
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			e.Advance(t0.Add(time.Duration(i) * 10 * time.Millisecond).UnixNano())
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			e.SetRules(int64(2+i%3), rules[:1+i%2])
			_ = e.Open(1)
		}
	}()
	wg.Wait()
}

// lockedRecorder is a recorder safe for concurrent calls.
type lockedRecorder struct {
	mu sync.Mutex
	recorder
}

func (r *lockedRecorder) Opened(s *Snapshot)  { r.mu.Lock(); r.recorder.Opened(s); r.mu.Unlock() }
func (r *lockedRecorder) Updated(s *Snapshot) { r.mu.Lock(); r.recorder.Updated(s); r.mu.Unlock() }
func (r *lockedRecorder) Closed(s *Snapshot)  { r.mu.Lock(); r.recorder.Closed(s); r.mu.Unlock() }

// TestSnapshotSampledOverItsSpan: a cascade replayed from a Gate log of
// before its 2026-08-20 change is a lower bound; one after it, or one
// straddling it only in part of its span, reads as its span says.
func TestSnapshotSampledOverItsSpan(t *testing.T) {
	at := func(m time.Month, d, h int) int64 { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC).UnixNano() }
	for _, c := range []struct {
		start, last int64
		lower       bool
	}{
		{at(8, 10, 12), at(8, 10, 13), true},
		{at(8, 19, 23), at(8, 20, 1), true},
		{at(9, 1, 12), at(9, 1, 13), false},
	} {
		s := Snapshot{StartNs: c.start, LastNs: c.last}
		s.Venues[event.Gate].N = 3
		if s.LowerBound() != c.lower || s.Sampled(event.Gate) != c.lower || s.Sampled(event.Bybit) {
			t.Errorf("gate cascade %s: lower bound %v, want %v", time.Unix(0, c.start).UTC().Format(time.DateTime), s.LowerBound(), c.lower)
		}
	}
}
