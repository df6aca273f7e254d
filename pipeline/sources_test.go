package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/ring"
)

// relayCopy is what the relay sends for ev: the USD it reports (rounded to
// cents), the base quantity derived from it, its own time lagMs later, on
// the relay's connection, received recvLag after ev.
func relayCopy(ev event.Event, lagMs int64, recvLag time.Duration) event.Event {
	r := ev
	r.Conn = event.ConnRelay
	r.Notional = float64(int64(ev.Notional*100+0.5)) / 100
	r.Qty = r.Notional / r.Price
	r.TimeMs += lagMs
	r.RecvNs += int64(recvLag)
	return r
}

type crossRig struct {
	p      *Pipeline
	direct *ring.Ring
	relay  *ring.Ring
	rec    *recorder
	set    *metrics.Set
}

func newCrossRig(cross *CrossSource) *crossRig {
	w := ring.NewWaker()
	g := &crossRig{direct: ring.New(256, w), relay: ring.New(256, w), rec: &recorder{}, set: metrics.NewSet()}
	g.p = New(Options{Rings: []*ring.Ring{g.direct, g.relay}, Waker: w, Sinks: []Sink{g.rec}, Cross: cross, Metrics: g.set})
	return g
}

// push hands evs to the pipeline in their order, each on its source's ring.
func (g *crossRig) push(evs ...event.Event) {
	for i := range evs {
		r := g.direct
		if evs[i].Source() == event.SourceRelay {
			r = g.relay
		}
		r.Push(&evs[i])
		g.p.drainOnce()
	}
}

func (g *crossRig) stats(t *testing.T, v event.Venue) SourceStats {
	t.Helper()
	for _, s := range g.p.Sources() {
		if s.Venue == v {
			return s
		}
	}
	t.Fatalf("no source stats for %v", v)
	return SourceStats{}
}

func bybitLiq(sym string, t int64, price, qty float64) event.Event {
	e := liq(sym, t, price, qty, 0)
	e.Venue = event.Bybit
	return e
}

// TestRelayCopiesAreDuplicates: the relay's copy of a liquidation the
// venue's feed delivered (and the other way round) reaches the sinks once,
// the first copy wins, and the lead is counted for the source that was
// first; copies that disagree are counted by field, and a copy too
// different to be the same liquidation is one of its own.
func TestRelayCopiesAreDuplicates(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule(), Venues: []event.Venue{event.BinanceUSDM, event.Bybit}})
	base := time.Now().UnixNano()
	at := func(e event.Event, ms int) event.Event { e.RecvNs = base + int64(ms)*int64(time.Millisecond); return e }

	// Direct first, the relay 40 ms later with its own time and rounded USD.
	a := at(liq("BTCUSDT", 1_700_000_000_000, 61234.5, 0.123, 0), 0)
	// The redundant direct connection's copy: the exact dedup, not a race.
	a1 := a
	a1.Conn, a1.RecvNs = 1, a.RecvNs+int64(2*time.Millisecond)
	// The relay first, the venue 25 ms later.
	b := at(liq("ETHUSDT", 1_700_000_000_500, 3012.25, 4.2, 0), 100)
	// The relay reports the order side for c (side flipped, same size).
	c := at(bybitLiq("SOLUSDT", 1_700_000_001_000, 150.5, 100), 200)
	cr := relayCopy(c, 80, 30*time.Millisecond)
	cr.Side = event.Short
	// The relay's USD for d is 5 % short.
	d := at(bybitLiq("XRPUSDT", 1_700_000_002_000, 0.5, 100000), 300)
	dr := relayCopy(d, 0, 60*time.Millisecond)
	dr.Notional *= 0.95
	dr.Qty = dr.Notional / dr.Price
	// And for e 30 % short: not the same liquidation, both are passed on.
	e := at(bybitLiq("DOGEUSDT", 1_700_000_003_000, 0.1, 500000), 400)
	er := relayCopy(e, 0, 10*time.Millisecond)
	er.Notional *= 0.7
	er.Qty = er.Notional / er.Price

	br := relayCopy(b, 0, 0)
	b.RecvNs += int64(25 * time.Millisecond)
	g.push(a, a1, relayCopy(a, 150, 40*time.Millisecond), br, b, c, cr, d, dr, e, er)

	got := g.rec.snapshot()
	if len(got) != 6 {
		t.Fatalf("sinks got %d events, want 6 (a, b from the relay, c, d, e and e's disagreeing relay copy)", len(got))
	}
	if got[1].Source() != event.SourceRelay || got[1].Symbol.String() != "ETHUSDT" {
		t.Errorf("the relay's copy of b should win: got %v from %v", got[1].Symbol, got[1].Source())
	}
	bin := g.stats(t, event.BinanceUSDM)
	if bin.First[event.SourceDirect] != 1 || bin.First[event.SourceRelay] != 1 {
		t.Errorf("binance-usdm first = %v, want 1 direct, 1 relay", bin.First)
	}
	if q := bin.Lead[event.SourceDirect].Quantile(0.5); q == nil || *q < 0.025 || *q > 0.05 {
		t.Errorf("direct's lead p50 = %v, want the 40 ms in the 25–50 ms bucket", q)
	}
	if q := bin.Lead[event.SourceRelay].Quantile(0.5); q == nil || *q < 0.01 || *q > 0.025 {
		t.Errorf("relay's lead p50 = %v, want the 25 ms in the 10–25 ms bucket", q)
	}
	by := g.stats(t, event.Bybit)
	if by.First[event.SourceDirect] != 2 || by.Side != 1 || by.USD != 1 || by.Price != 0 {
		t.Errorf("bybit = %+v, want 2 direct first, 1 side and 1 usd disagreement", by)
	}
	var sb strings.Builder
	g.set.WritePrometheus(&sb)
	for _, want := range []string{
		`liqbox_pipeline_duplicates_total 5`,
		`liqbox_source_first_total{venue="binance-usdm",source="relay"} 1`,
		`liqbox_source_disagreements_total{venue="bybit",field="side"} 1`,
		`liqbox_source_lead_seconds_count{venue="bybit",first="direct"} 2`,
		`liqbox_redundancy_wins_total{venue="binance-usdm",conn="0"} 1`,
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if u := metricdoc.Undocumented(g.set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}

// TestWithoutCrossTheRelayCopyIsAlertedTwice is the failure the matching
// exists for: the relay's copy has another Key, so the exact dedup alone
// passes both copies on.
func TestWithoutCrossTheRelayCopyIsAlertedTwice(t *testing.T) {
	g := newCrossRig(nil)
	a := liq("BTCUSDT", 1_700_000_000_000, 61234.5, 0.123, 0)
	g.push(a, relayCopy(a, 150, 40*time.Millisecond))
	if n := len(g.rec.snapshot()); n != 2 {
		t.Fatalf("sinks got %d events; the exact dedup alone should pass both copies", n)
	}
	if g.p.Sources() != nil {
		t.Fatal("source stats without a relay")
	}
}

// TestRelayMatchingTakesTheClosestCopy: of two direct liquidations of the
// same symbol a second apart, the relay's copy matches the one it copies,
// and each copy matches once.
func TestRelayMatchingTakesTheClosestCopy(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule()})
	a := bybitLiq("BTCUSDT", 1_700_000_000_000, 60000, 1)
	b := bybitLiq("BTCUSDT", 1_700_000_000_300, 60000, 1.02)
	b.RecvNs = a.RecvNs + int64(300*time.Millisecond)
	// b's copy is within the window of both a and b (Bybit sends every
	// liquidation, several a second on one symbol), and its size within
	// 10 % of both: the closer candidate, b, is taken, and a's copy, 1.1 s
	// late, then finds a.
	bc, ac := relayCopy(b, 7, 30*time.Millisecond), relayCopy(a, 3, 1100*time.Millisecond)
	g.push(a, b, bc, ac)
	if n := len(g.rec.snapshot()); n != 2 {
		t.Fatalf("sinks got %d events, want the two direct ones", n)
	}
	st := g.stats(t, event.Bybit)
	if st.First[event.SourceDirect] != 2 || st.USD != 0 || st.Side != 0 {
		t.Fatalf("stats %+v: want two clean matches", st)
	}
	if q := st.Lead[event.SourceDirect].Quantile(0.99); q == nil || *q < 0.5 {
		t.Fatalf("p99 lead %v: a's copy came 1.1 s after a", q)
	}
	// A resend of a's copy by the relay finds nothing left to match; the
	// exact dedup catches it, and it is no race.
	g.push(ac)
	if n := len(g.rec.snapshot()); n != 2 {
		t.Fatalf("a resent relay copy was passed on (%d events)", n)
	}
	if st := g.stats(t, event.Bybit); st.First[event.SourceDirect]+st.First[event.SourceRelay] != 2 {
		t.Fatalf("a resend counted as a race: %+v", st.First)
	}
}

// TestExactRelayCopyIsARace: a relay copy that carries the venue's very
// numbers has its Key; the exact dedup drops it and the race is counted.
func TestExactRelayCopyIsARace(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule()})
	a := liq("BTCUSDT", 1_700_000_000_000, 60000, 1, 0)
	r := a
	r.Conn = event.ConnRelay
	r.RecvNs -= int64(15 * time.Millisecond)
	g.push(r, a)
	if n := len(g.rec.snapshot()); n != 1 {
		t.Fatalf("sinks got %d events, want 1", n)
	}
	if st := g.stats(t, event.BinanceUSDM); st.First[event.SourceRelay] != 1 {
		t.Fatalf("first %v, want the relay once", st.First)
	}
}

// TestSmallDirectEventsAreNotRemembered: below the relay's threshold the
// venue's liquidations can have no relay copy and take no room.
func TestSmallDirectEventsAreNotRemembered(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule(), MinUSD: 100000})
	small := liq("BTCUSDT", 1_700_000_000_000, 60000, 0.5, 0)
	g.push(small)
	if len(g.p.cross.syms) != 0 {
		t.Fatal("a $30K direct event was remembered under a $100K relay threshold")
	}
	big := liq("BTCUSDT", 1_700_000_000_100, 60000, 5, 0)
	g.push(big, relayCopy(big, 0, 5*time.Millisecond))
	if n := len(g.rec.snapshot()); n != 2 {
		t.Fatalf("sinks got %d events, want the two direct ones", n)
	}
}

func TestCrossMatchingAllocatesNothing(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule(), Venues: []event.Venue{event.BinanceUSDM}})
	a := liq("BTCUSDT", 1_700_000_000_000, 60000, 1, 0)
	n := testing.AllocsPerRun(200, func() {
		a.TimeMs += 3000
		a.RecvNs += int64(3 * time.Second)
		r := relayCopy(a, 20, 10*time.Millisecond)
		g.push(a, r)
	})
	if n != 0 {
		t.Fatalf("a direct event and its relay copy cost %v allocations", n)
	}
}

func BenchmarkPipelineProcessCross(b *testing.B) {
	w := ring.NewWaker()
	r := ring.New(1024, w)
	var n int
	p := New(Options{Rings: []*ring.Ring{r}, Waker: w, Sinks: []Sink{SinkFunc(func(*event.Event) { n++ })},
		Cross: &CrossSource{Rule: event.DefaultMatchRule(), Venues: []event.Venue{event.BinanceUSDM}}})
	ev := liq("BTCUSDT", 0, 60000, 1, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.TimeMs = int64(i) * 3000
		ev.RecvNs += int64(3 * time.Second)
		r.Push(&ev)
		p.drainOnce()
	}
	if n != b.N {
		b.Fatalf("sink saw %d of %d", n, b.N)
	}
}

// TestRelayFirstIsNotTakenForThePreviousLiquidation: Binance sends at most
// one liquidation per symbol a second. When the relay's copy of the next
// one arrives before the venue's, the previous one (a second older, a like
// size) is the only candidate; within the default window it is out of
// reach, so the relay's copy is alerted first and the venue's later copy
// matches it.
func TestRelayFirstIsNotTakenForThePreviousLiquidation(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule()})
	prev := liq("BTCUSDT", 1_700_000_000_000, 60000, 1, 0)
	next := liq("BTCUSDT", 1_700_000_001_000, 60010, 1.01, 0)
	next.RecvNs = prev.RecvNs + int64(time.Second)
	g.push(prev, relayCopy(prev, 0, 30*time.Millisecond), relayCopy(next, 0, -20*time.Millisecond), next)
	got := g.rec.snapshot()
	if len(got) != 2 || got[1].Source() != event.SourceRelay {
		t.Fatalf("sinks got %+v: want prev, then the relay's copy of next", got)
	}
	if st := g.stats(t, event.BinanceUSDM); st.First[event.SourceDirect] != 1 || st.First[event.SourceRelay] != 1 || st.USD != 0 {
		t.Fatalf("stats %+v: want one race each way, no disagreement", st)
	}
}

// TestRelayCopiesOfABurst: a cascade brings a hundred liquidations of one
// symbol at once from the venue, and the relay's copies 40 ms later; each
// finds its own (the demo's parallel run lost the first ones of such a
// burst when the table held sixteen a bucket).
func TestRelayCopiesOfABurst(t *testing.T) {
	g := newCrossRig(&CrossSource{Rule: event.DefaultMatchRule()})
	var direct, relay []event.Event
	for i := 0; i < 100; i++ {
		e := liq("SYNUSDT", 1_700_000_000_000+int64(i)*20, 0.69+float64(i)/1e4, 1000+float64(i)*37, 0)
		direct = append(direct, e)
		relay = append(relay, relayCopy(e, 0, 40*time.Millisecond))
	}
	g.push(direct...)
	g.push(relay...)
	if n := len(g.rec.snapshot()); n != 100 {
		t.Fatalf("sinks got %d events, want the hundred, each once", n)
	}
	if st := g.stats(t, event.BinanceUSDM); st.First[event.SourceDirect] != 100 || st.USD != 0 {
		t.Fatalf("stats %+v", st)
	}
}
