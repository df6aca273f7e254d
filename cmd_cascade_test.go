package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// cascadeLog builds a log with two BTC pile-ups across venues and
// background noise: from 12:10, 20 long liquidations of $600K every 5 s on
// Binance, BitMEX and OKX under three names (BTC:10M:5m crosses at the
// 17th, $10.2M, at 12:11:20); from 13:00, 25 shorts of $1M every 5 s
// (crosses at the 10th, 13:00:45); ETH noise of $20K a minute all along.
// The chats' settings hold chat 77's rule BTC:10M:5m.
func cascadeLog(t *testing.T) string {
	t.Helper()
	var evs []event.Event
	add := func(at time.Time, v event.Venue, sym string, side event.Side, usd float64) {
		evs = append(evs, event.Event{RecvNs: at.UnixNano(), TimeMs: at.UnixMilli() - 5, Price: 60000, Qty: usd / 60000, Notional: usd,
			Venue: v, Market: event.Linear, Side: side, Basis: event.BasisLinear, Symbol: event.MakeSymbol(sym)})
	}
	for m := 0; m < 120; m++ {
		add(logT0.Add(time.Duration(m)*time.Minute), event.Bybit, "ETHUSDT", event.Long, 20_000)
	}
	shapes := []struct {
		v   event.Venue
		sym string
	}{{event.BinanceUSDM, "BTCUSDT"}, {event.BitMEX, "XBTUSD"}, {event.OKX, "BTC-USDT-SWAP"}}
	for i := 0; i < 20; i++ {
		sh := shapes[i%3]
		add(logT0.Add(10*time.Minute+time.Duration(i)*5*time.Second), sh.v, sh.sym, event.Long, 600_000)
	}
	for i := 0; i < 25; i++ {
		add(logT0.Add(time.Hour+time.Duration(i)*5*time.Second), event.Bybit, "BTCUSDT", event.Short, 1_000_000)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].RecvNs < evs[j].RecvNs })
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	path, _ := writeEvents(t, evs, false, func(st *store.Store) {
		settings := `{"subscribed":true,"min_usd":100000,"lang":"en","cascades":[{"asset":"BTC","usd":10000000,"window_s":300,"sides":"both"}],"cascades_set":true}`
		if err := st.Put([]byte("telegram_chats"), []byte("77"), []byte(settings)); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

const cascadeFrom, cascadeTo = "2026-11-27T12:00:00Z", "2026-11-27T14:00:00Z"

func TestBacktestCascades(t *testing.T) {
	path := cascadeLog(t)
	out, _, err := runCLI(t, "backtest", "--db", path, "--from", cascadeFrom, "--to", cascadeTo,
		"--cascade", "BTC:10M:5m", "--cascade", "all:30M:15m:long", "--cascade", "ETH:1M:1m")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"BTC:10M:5m:both — Alert when $10M of BTC positions are liquidated within 5 min, all venues, both sides.",
		"would have fired 2 times; the largest: $25M from 2026-11-27 13:00:00, peak $25M within 5m",
		"1  2026-11-27 12:11:20  12:10:00", "≥$12M", "$600K BTCUSDT binance-usdm",
		"2  2026-11-27 13:00:45  13:00:00", "$25M", "$1M BTCUSDT bybit",
		"all:30M:15m:long —", "ETH:1M:1m:both —",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("backtest lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "would not have fired"); n != 2 {
		t.Errorf("%d rules that would not have fired, want 2 (the market's longs under $30M, ETH):\n%s", n, out)
	}
	if strings.Contains(out, "threshold  alerts") {
		t.Errorf("the threshold table without --threshold:\n%s", out)
	}
	// The rules see the window from its start: from 12:11 the first
	// pile-up is already going and is counted from 12:10.
	out, _, err = runCLI(t, "backtest", "--db", path, "--from", "2026-11-27T12:11:30Z", "--to", cascadeTo, "--cascade", "BTC:10M:5m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "(already going at --from)") || !strings.Contains(out, "≥$12M") {
		t.Errorf("a cascade going at --from:\n%s", out)
	}
	if _, _, err := runCLI(t, "backtest", "--db", path, "--cascade", "BTC:10M"); err == nil || !strings.Contains(err.Error(), "ASSET:USD:WINDOW") {
		t.Errorf("a bad --cascade: %v", err)
	}
}

func TestReplayShowsCascades(t *testing.T) {
	path := cascadeLog(t)
	// The rules see every event; --min-usd hides them all from the output.
	out, _, err := runCLI(t, "replay", "--db", path, "--from", cascadeFrom, "--to", cascadeTo, "--min-usd", "5m", "--cascade", "BTC:10M:5m")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "BTCUSDT          LONG") {
		t.Errorf("an event under --min-usd printed:\n%s", out)
	}
	for _, want := range []string{"│ 🌊 Cascade · BTC", "│ $10.2M liquidated · rule $10M within 5 min", "│ binance-usdm $4.2M (7) · sampled", "│ bitmex $4.2M (7)",
		"│ okx $3.6M (6) · sampled", "│ Over at 12:15:15 UTC · lasted 1 min 35 s · peak $12M within 5 min", "│ $25M liquidated"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "│ 🌊 Cascade · BTC"); n != 4 {
		t.Errorf("%d cascade messages, want 4: two cascades, their alert and their end", n)
	}
	// Without --cascade: the chats' rules from the log; JSON lines.
	out, _, err = runCLI(t, "replay", "--db", path, "--from", cascadeFrom, "--to", cascadeTo, "--format", "jsonl", "--symbol", "ETHUSDT")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var x struct {
			Cascade *struct {
				Rule, State string
				TotalUSD    float64 `json:"total_usd"`
				LowerBound  bool    `json:"lower_bound"`
			} `json:"cascade"`
			Symbol string `json:"symbol"`
		}
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if x.Cascade == nil {
			if x.Symbol != "ETHUSDT" {
				t.Errorf("event %q printed under --symbol ETHUSDT", x.Symbol)
			}
			continue
		}
		if x.Cascade.Rule != "BTC:10M:5m:both" {
			t.Errorf("cascade of rule %q", x.Cascade.Rule)
		}
		states = append(states, x.Cascade.State)
	}
	if strings.Join(states, ",") != "open,closed,open,closed" {
		t.Errorf("cascade lines %v, want open,closed twice", states)
	}
}
