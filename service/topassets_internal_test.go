package service

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// openLog opens an event log in a temporary directory with its writer
// running, both stopped when tb ends.
func openLog(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "log.db"), store.Options{BatchDelay: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return st
}

// TestTopAssetsReading: the top assets come from the log through
// asset.Totals, over the day and the hour before now; a reading serves
// until its time is up and the log is read again after it, so a
// liquidation logged meanwhile shows then.
func TestTopAssetsReading(t *testing.T) {
	st := openLog(t)
	now := time.Now()
	var seq uint64
	add := func(v event.Venue, sym string, side event.Side, usd float64, ago time.Duration) {
		seq++
		st.Append(&event.Event{Seq: seq, Venue: v, Symbol: event.MakeSymbol(sym), Side: side, Notional: usd,
			Basis: event.BasisLinear, Price: 1, RecvNs: now.Add(-ago).UnixNano(), TimeMs: now.Add(-ago).UnixMilli()})
		for deadline := time.Now().Add(5 * time.Second); st.Durable() < seq; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("event %d not durable", seq)
			}
		}
	}
	add(event.Bybit, "BTCUSDT", event.Long, 100, 2*time.Hour)
	add(event.BitMEX, "XBTUSD", event.Short, 50, 10*time.Minute)
	add(event.Bybit, "ETHUSDT", event.Long, 120, 30*time.Minute)
	add(event.OKX, "ETH-USDT-SWAP", event.Short, 10, 3*time.Hour)
	add(event.Bybit, "SOLUSDT", event.Long, 999, 25*time.Hour) // older than a day

	ta := &topAssets{st: st}
	got, err := ta.at(now)
	if err != nil {
		t.Fatal(err)
	}
	if !got.AsOf.Equal(now) || len(got.Assets) != 2 {
		t.Fatalf("reading %+v", got)
	}
	btc, eth := got.Assets[0], got.Assets[1]
	if btc.Name.String() != "BTC" || btc.USD1d != 150 || btc.USD1h != 50 || btc.N1d != 2 || btc.N1h != 1 ||
		btc.Coverage1d.Coverage() != event.CoverageComplete {
		t.Errorf("BTC %+v", btc)
	}
	if eth.Name.String() != "ETH" || eth.USD1d != 130 || eth.USD1h != 120 || !eth.LowerBound ||
		eth.Coverage1h.Coverage() != event.CoverageComplete || eth.Coverage1d.Coverage() != event.CoverageSampled {
		t.Errorf("ETH %+v (OKX's, sampled, was 3 h ago)", eth)
	}
	j := newTopAssetsJSON(got)
	if j.AsOfMs == nil || *j.AsOfMs != now.UnixMilli() || len(j.Assets) != 2 || j.Coverage != "sampled" ||
		j.CoverageNote != "totals are a lower bound: okx sends only some liquidations" {
		t.Errorf("json %+v", j)
	}
	if a := j.Assets[1]; a != (AssetJSON{Asset: "ETH", USD1h: 120, USD24h: 130, Events1h: 1, Events24: 2,
		Coverage1h: "complete", Coverage24h: "sampled"}) {
		t.Errorf("ETH row %+v", a)
	}

	// A liquidation logged now shows once the reading has served its time.
	add(event.Bybit, "SOLUSDT", event.Long, 1000, 0)
	if ta.every < topAssetsMin || ta.every > topAssetsMax {
		t.Fatalf("a reading serves %v", ta.every)
	}
	later := now.Add(ta.every / 2)
	if again, _ := ta.at(later); !again.AsOf.Equal(now) || len(again.Assets) != 2 {
		t.Errorf("within its time the reading is read again: %+v", again)
	}
	later = now.Add(ta.every + time.Millisecond)
	again, err := ta.at(later)
	if err != nil {
		t.Fatal(err)
	}
	if !again.AsOf.Equal(later) || len(again.Assets) != 3 || again.Assets[0].Name.String() != "SOL" || again.Assets[0].USD1h != 1000 {
		t.Errorf("after its time: %+v", again)
	}
	// A reading from after now (a clock stepped back) is not served.
	if back, _ := ta.at(now); !back.AsOf.Equal(now) {
		t.Errorf("a reading from the future served: %+v", back)
	}
	// An empty log has a reading, with no rows.
	if j := newTopAssetsJSON(TopAssets{AsOf: now}); j.AsOfMs == nil || len(j.Assets) != 0 || j.Assets == nil || j.Coverage != "" || j.CoverageNote != "" {
		t.Errorf("empty reading %+v", j)
	}
	if j := newTopAssetsJSON(TopAssets{}); j.AsOfMs != nil {
		t.Errorf("no reading has a time: %+v", j)
	}
}

// BenchmarkTopAssetsRead is one reading of the top assets from a log of
// 100,000 liquidations over the day (20 assets, three venues): the cost
// topAssetsShare bounds. Per-event figures are ns/op ÷ 100,000.
func BenchmarkTopAssetsRead(b *testing.B) {
	const n = 100_000
	st := openLog(b)
	now := time.Now()
	venues := []struct {
		v   event.Venue
		sym string
	}{{event.BinanceUSDM, "C%02dUSDT"}, {event.OKX, "C%02d-USDT-SWAP"}, {event.Bybit, "C%02dUSDT"}}
	syms := make([]event.Symbol, 0, 60)
	for i := 0; i < 20; i++ {
		for _, v := range venues {
			syms = append(syms, event.MakeSymbol(fmt.Sprintf(v.sym, i)))
		}
	}
	for i := 1; i <= n; i++ {
		at := now.Add(-time.Duration(n-i) * (24 * time.Hour / n))
		ev := event.Event{Seq: uint64(i), Venue: venues[i%3].v, Symbol: syms[i%len(syms)], Side: event.Side(1 + i%2),
			Notional: float64(i % 9000), Basis: event.BasisLinear, Price: 1, RecvNs: at.UnixNano(), TimeMs: at.UnixMilli()}
		for !st.Append(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
	for st.Durable() < n {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ta := &topAssets{st: st}
		got, err := ta.at(now)
		if err != nil || len(got.Assets) != topAssetsN {
			b.Fatalf("%+v %v", got, err)
		}
	}
}
