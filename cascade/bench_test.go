package cascade

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// benchEngine watches 100 assets, both sides, over 1 m, 5 m and 1 h: 600
// window rings, 300 rules. evs are liquidations spread over the assets,
// five venues' symbol shapes and both sides.
func benchEngine(b *testing.B, threshold string) (*Engine, []event.Event) {
	e := New(Options{Sink: &recorder{}})
	var rules []Rule
	shapes := []struct {
		v      event.Venue
		format string
	}{{event.BinanceUSDM, "%sUSDT"}, {event.Bybit, "%sUSDT"}, {event.OKX, "%s-USDT-SWAP"}, {event.BinanceCOINM, "%sUSD_PERP"}, {event.BitMEX, "%sUSD"}}
	rng := rand.New(rand.NewPCG(1, 2))
	var evs []event.Event
	for i := 0; i < 100; i++ {
		coin := fmt.Sprintf("C%03dX", i)
		for _, w := range []string{"1m", "5m", "1h"} {
			rules = append(rules, mustRuleB(b, coin+":"+threshold+":"+w))
		}
		for _, sh := range shapes {
			for _, side := range []event.Side{event.Long, event.Short} {
				evs = append(evs, event.Event{Venue: sh.v, Symbol: event.MakeSymbol(fmt.Sprintf(sh.format, coin)), Side: side,
					Notional: 1000 + rng.ExpFloat64()*20_000, Basis: event.BasisLinear, Price: 1})
			}
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	e.SetRules(1, rules)
	return e, evs
}

func mustRuleB(b *testing.B, spec string) Rule {
	r, err := ParseSpec(spec)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkOffer is the window sums' cost per event on the pipeline's
// path: 100 assets × both sides × 3 windows, about 2,000 events a second
// of feed time (each event advances the clock by 500 µs, so buckets
// expire as they do live), no rule firing.
func BenchmarkOffer(b *testing.B) {
	e, evs := benchEngine(b, "10B")
	now := t0.UnixNano()
	for i := range evs {
		evs[i].RecvNs = now
		e.Offer(&evs[i]) // warm the symbol cache
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += int64(500 * time.Microsecond)
		ev := &evs[i%len(evs)]
		ev.RecvNs = now
		e.Offer(ev)
	}
}

// BenchmarkOfferCascading is the same with every rule's cascade open: each
// event also updates the cascades of its asset (3 rules).
func BenchmarkOfferCascading(b *testing.B) {
	e, evs := benchEngine(b, "10K")
	now := t0.UnixNano()
	for r := 0; r < 5; r++ {
		for i := range evs {
			now += int64(time.Millisecond)
			evs[i].RecvNs = now
			evs[i].Notional = 50_000
			e.Offer(&evs[i])
		}
	}
	if n := e.open.Load(); n != 300 {
		b.Fatalf("%d cascades open, want 300", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += int64(500 * time.Microsecond)
		ev := &evs[i%len(evs)]
		ev.RecvNs = now
		e.Offer(ev)
	}
}

// BenchmarkAdvance is one tick with the 300 cascades open.
func BenchmarkAdvance(b *testing.B) {
	e, evs := benchEngine(b, "10K")
	now := t0.UnixNano()
	for r := 0; r < 5; r++ {
		for i := range evs {
			now += int64(time.Millisecond)
			evs[i].RecvNs = now
			evs[i].Notional = 50_000
			e.Offer(&evs[i])
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += int64(time.Millisecond)
		e.nextTick = 0
		e.Advance(now)
	}
}

// BenchmarkOfferTypical is a chat's five rules (BTC, ETH, SOL, the whole
// market's longs, BTC over an hour) over events on 200 assets: most
// events touch only the market's ring.
func BenchmarkOfferTypical(b *testing.B) {
	e := New(Options{Sink: &recorder{}})
	var rules []Rule
	for _, s := range []string{"BTC:10B:5m", "ETH:5B:5m", "SOL:2B:5m", "all:9B:15m:long", "BTC:9B:1h"} {
		rules = append(rules, mustRuleB(b, s))
	}
	e.SetRules(1, rules)
	var evs []event.Event
	for i := 0; i < 200; i++ {
		coin := fmt.Sprintf("C%03dX", i)
		if i < 3 {
			coin = []string{"BTC", "ETH", "SOL"}[i]
		}
		for _, side := range []event.Side{event.Long, event.Short} {
			evs = append(evs, event.Event{Venue: event.Bybit, Symbol: event.MakeSymbol(coin + "USDT"), Side: side, Notional: 25_000, Basis: event.BasisLinear, Price: 1})
		}
	}
	now := t0.UnixNano()
	for i := range evs {
		evs[i].RecvNs = now
		e.Offer(&evs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += int64(500 * time.Microsecond)
		ev := &evs[i%len(evs)]
		ev.RecvNs = now
		e.Offer(ev)
	}
}
