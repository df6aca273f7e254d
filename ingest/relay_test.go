package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// relayRecvNs is the receive time the relay decoder tests decode with:
// 2024-04-10T08:15:31Z, a second after the frames' own times.
const relayRecvNs = int64(1712736931_000_000_000)

// relayFrames are frames in the shapes HolySheep published, and what the
// binance decoder makes of each.
var relayFrames = []struct {
	name, frame string
	want        []event.Event // Venue, Side, Symbol, Price, Notional, TimeMs, Market, Basis
	field       string        // the DecodeError's field; "-" for a frame-level error
	kind        error
}{
	{name: "bare object, numbers, no time",
		frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":125000.5,"price":61234.5}`,
		want:  []event.Event{{Venue: event.BinanceUSDM, Side: event.Long, Symbol: event.MakeSymbol("BTCUSDT"), Price: 61234.5, Notional: 125000.5, TimeMs: relayRecvNs / 1e6, Market: event.Linear, Basis: event.BasisLinear}}},
	{name: "decimal strings, lower-case side",
		frame: `{"symbol":"ETHUSDT","side":"short","quantity_usd":"48210.75","price":"3012.25"}`,
		want:  []event.Event{{Venue: event.BinanceUSDM, Side: event.Short, Symbol: event.MakeSymbol("ETHUSDT"), Price: 3012.25, Notional: 48210.75, TimeMs: relayRecvNs / 1e6, Market: event.Linear, Basis: event.BasisLinear}}},
	{name: "envelope with exchange, time, ai_analysis and unknown members",
		frame: `{"channel":"liquidation","id":"abc","data":{"exchange":"binance","symbol":"SOLUSDT","side":"LONG","quantity_usd":250000,"price":150.5,"timestamp":1712736930123,"leverage":null,"tags":["x",{"y":[1,2]}],"ai_analysis":{"risk_level":"HIGH","summary":"cascade \"likely\"","signals":[{"w":0.3}]},"model":"deepseek-v3.2"}}`,
		want:  []event.Event{{Venue: event.BinanceUSDM, Side: event.Long, Symbol: event.MakeSymbol("SOLUSDT"), Price: 150.5, Notional: 250000, TimeMs: 1712736930123, Market: event.Linear, Basis: event.BasisLinear}}},
	{name: "type liquidation, data array of two, seconds and RFC 3339",
		frame: `{"type":"liquidation","data":[{"symbol":"BTCUSDT","side":"SHORT","quantity_usd":1e5,"price":61000,"ts":1712736930.25},{"symbol":"DOGEUSDT","side":"LONG","quantity_usd":"60000","price":"0.1512","time":"2024-04-10T16:15:30.5+08:00"}]}`,
		want: []event.Event{
			{Venue: event.BinanceUSDM, Side: event.Short, Symbol: event.MakeSymbol("BTCUSDT"), Price: 61000, Notional: 1e5, TimeMs: 1712736930250, Market: event.Linear, Basis: event.BasisLinear},
			{Venue: event.BinanceUSDM, Side: event.Long, Symbol: event.MakeSymbol("DOGEUSDT"), Price: 0.1512, Notional: 60000, TimeMs: 1712736930500, Market: event.Linear, Basis: event.BasisLinear}}},
	{name: "microseconds, a COIN-M symbol",
		frame: `{"symbol":"BTCUSD_PERP","side":"LONG","quantity_usd":70000,"price":61000.1,"timestamp":1712736930123456}`,
		want:  []event.Event{{Venue: event.BinanceCOINM, Side: event.Long, Symbol: event.MakeSymbol("BTCUSD_PERP"), Price: 61000.1, Notional: 70000, TimeMs: 1712736930123, Market: event.Inverse, Basis: event.BasisContractSize}}},
	{name: "an array of liquidations, nanoseconds as a string",
		frame: `[{"symbol":"XRPUSDT","side":"SHORT","quantity_usd":55000,"price":0.61,"timestamp":"1712736930123456789"}]`,
		want:  []event.Event{{Venue: event.BinanceUSDM, Side: event.Short, Symbol: event.MakeSymbol("XRPUSDT"), Price: 0.61, Notional: 55000, TimeMs: 1712736930123, Market: event.Linear, Basis: event.BasisLinear}}},

	{name: "subscription ack", frame: `{"type":"subscribed","channel":"liquidation","params":{"exchange":"binance"}}`},
	{name: "pong", frame: `{"event":"pong"}`},
	{name: "heartbeat", frame: `{"type":"heartbeat","ts":1712736930123}`},
	{name: "status ok", frame: `{"status":"ok","channel":"liquidation"}`},

	{name: "order side", frame: `{"symbol":"BTCUSDT","side":"SELL","quantity_usd":125000,"price":61234.5}`, field: "side", kind: ErrMalformed},
	{name: "no price", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":125000}`, field: "price", kind: ErrMalformed},
	{name: "zero usd", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":0,"price":61234.5}`, field: "quantity_usd", kind: ErrMalformed},
	{name: "absurd usd", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":2e10,"price":61234.5}`, field: "quantity_usd", kind: ErrMalformed},
	{name: "hostile symbol", frame: `{"symbol":"BTC\u202eUSDT","side":"LONG","quantity_usd":1,"price":1}`, field: "symbol", kind: ErrMalformed},
	{name: "time from 1999", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":1,"price":1,"timestamp":915148800000}`, field: "timestamp", kind: ErrMalformed},
	{name: "time a week ahead", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":1,"price":1,"timestamp":1713341730000}`, field: "timestamp", kind: ErrMalformed},
	{name: "bad RFC 3339", frame: `{"symbol":"BTCUSDT","side":"LONG","quantity_usd":1,"price":1,"time":"2024-04-10T25:15:30Z"}`, field: "timestamp", kind: ErrMalformed},
	{name: "another exchange", frame: `{"exchange":"bybit","symbol":"BTCUSDT","side":"LONG","quantity_usd":1,"price":1}`, field: "exchange", kind: ErrUnexpected},
	{name: "another channel", frame: `{"channel":"orderbook","data":{"symbol":"BTCUSDT","side":"LONG","quantity_usd":1,"price":1}}`, field: "channel", kind: ErrUnexpected},
	{name: "data of numbers", frame: `{"channel":"liquidation","data":42}`, field: "data", kind: ErrMalformed},
	{name: "error reply", frame: `{"type":"error","message":"invalid subscription"}`, field: "-", kind: ErrUnexpected},
	{name: "error member", frame: `{"error":{"code":401,"msg":"unauthorized"}}`, field: "-", kind: ErrUnexpected},
	{name: "unknown object", frame: `{"foo":1,"bar":[true]}`, field: "-", kind: ErrUnexpected},
	{name: "unknown control word", frame: `{"type":"maintenance"}`, field: "-", kind: ErrUnexpected},
	{name: "not JSON", frame: `{"symbol":"BTCUSDT","side":`, field: "-", kind: ErrMalformed},
	{name: "trailing data", frame: `{"status":"ok"} {}`, field: "-", kind: ErrMalformed},
	{name: "a number", frame: `42`, field: "-", kind: ErrUnexpected},
}

func TestHolySheepDecode(t *testing.T) {
	d, err := NewHolySheepDecoder("Binance")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range relayFrames {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode(nil, []byte(tc.frame), relayRecvNs)
			checkRelayErr(t, err, tc.field, tc.kind)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Venue != w.Venue || g.Side != w.Side || g.Symbol != w.Symbol || g.Price != w.Price ||
					g.Notional != w.Notional || g.TimeMs != w.TimeMs || g.Market != w.Market || g.Basis != w.Basis {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
				}
				if g.RecvNs != relayRecvNs || g.Conn != 0 || math.Abs(g.Qty*g.Price-g.Notional) > 1e-9*g.Notional {
					t.Errorf("event %d: receive %d, conn %d, qty %v × price %v ≠ usd %v", i, g.RecvNs, g.Conn, g.Qty, g.Price, g.Notional)
				}
				if msg := checkBounds(&g, g.Venue, relayRecvNs); msg != "" {
					t.Errorf("event %d: %s", i, msg)
				}
			}
		})
	}
}

func checkRelayErr(t *testing.T, err error, field string, kind error) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, kind) {
		t.Fatalf("error %v, want a %v DecodeError", err, kind)
	}
	if want := strings.TrimPrefix(field, "-"); de.Field != want {
		t.Fatalf("error names field %q, want %q (%v)", de.Field, want, err)
	}
}

// TestHolySheepDecodeKeepsTheGoodOnes: a bad liquidation in an array costs
// only itself.
func TestHolySheepDecodeKeepsTheGoodOnes(t *testing.T) {
	d, _ := NewHolySheepDecoder("binance")
	frame := `{"channel":"liquidation","data":[{"symbol":"BTCUSDT","side":"LONG","quantity_usd":1e5,"price":61000},{"symbol":"BTCUSDT","side":"BUY","quantity_usd":1e5,"price":61000},{"symbol":"ETHUSDT","side":"SHORT","quantity_usd":5e4,"price":3000}]}`
	got, err := d.Decode([]event.Event{{Seq: 7}}, []byte(frame), relayRecvNs)
	checkRelayErr(t, err, "side", ErrMalformed)
	if len(got) != 3 || got[0].Seq != 7 || got[1].Symbol.String() != "BTCUSDT" || got[2].Symbol.String() != "ETHUSDT" {
		t.Fatalf("got %+v: want dst's event and the two good liquidations", got)
	}
}

func TestHolySheepMarkets(t *testing.T) {
	for _, tc := range []struct {
		exchange, symbol string
		venue            event.Venue
		market           event.Market
		basis            event.Basis
	}{
		{"bybit", "BTCUSDT", event.Bybit, event.Linear, event.BasisLinear},
		{"bybit", "BTCUSD", event.Bybit, event.Inverse, event.BasisInverse},
		{"bybit", "BTCPERP", event.Bybit, event.Linear, event.BasisLinear},
		{"okx", "BTC-USDT-SWAP", event.OKX, event.Linear, event.BasisContractValue},
		{"okx", "BTC-USD-250627", event.OKX, event.Inverse, event.BasisInverse},
		{"bitmex", "XBTUSD", event.BitMEX, event.Inverse, event.BasisInverse},
		{"binance", "BTCUSDT_250627", event.BinanceUSDM, event.Linear, event.BasisLinear},
	} {
		d, err := NewHolySheepDecoder(tc.exchange)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Decode(nil, []byte(`{"symbol":"`+tc.symbol+`","side":"LONG","quantity_usd":1e5,"price":60000}`), relayRecvNs)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s %s: %v %v", tc.exchange, tc.symbol, got, err)
		}
		if g := got[0]; g.Venue != tc.venue || g.Market != tc.market || g.Basis != tc.basis {
			t.Errorf("%s %s: %v %v %v, want %v %v %v", tc.exchange, tc.symbol, g.Venue, g.Market, g.Basis, tc.venue, tc.market, tc.basis)
		}
	}
	if _, err := NewHolySheepDecoder("kucoin"); err == nil {
		t.Fatal("an exchange liqbox has no venue for was accepted")
	}
}

func TestHolySheepDecodeAllocatesNothing(t *testing.T) {
	d, _ := NewHolySheepDecoder("binance")
	dst := make([]event.Event, 0, 8)
	for _, tc := range relayFrames {
		frame := []byte(tc.frame)
		if n := testing.AllocsPerRun(50, func() { d.Decode(dst[:0], frame, relayRecvNs) }); n != 0 {
			t.Errorf("%s: %v allocations", tc.name, n)
		}
	}
}

func TestParseRFC3339Ms(t *testing.T) {
	for _, s := range []string{"2024-04-10T08:15:30Z", "2024-04-10T08:15:30.123Z", "2024-04-10T16:15:30.1+08:00",
		"2024-04-09T22:15:30.987654-10:00"} {
		want, err := time.Parse(time.RFC3339Nano, s)
		got, ok := parseRFC3339Ms(s)
		if err != nil || !ok || got != want.UnixMilli() {
			t.Errorf("%s: %d, %v; time.Parse %d, %v", s, got, ok, want.UnixMilli(), err)
		}
	}
	for _, s := range []string{"2024-04-10", "2024-04-10T08:15:30", "2024-13-10T08:15:30Z", "2024-04-10T08:15:30.Z",
		"2024-04-10T08:15:30+0800", "2024-04-10T08:15:30+08:61", "2024-04-10x08:15:30Z", "2016-12-31T23:59:60Z"} {
		if ms, ok := parseRFC3339Ms(s); ok {
			t.Errorf("%s accepted as %d", s, ms)
		}
	}
}

// FuzzDecodeHolySheep: no input panics, an error leaves dst's events
// alone and is a DecodeError that says what is wrong, and every event is
// one of the venues the exchange forwards, within the bounds, with its
// quantity the USD over the price.
func FuzzDecodeHolySheep(f *testing.F) {
	for _, tc := range relayFrames {
		f.Add([]byte(tc.frame))
		f.Add([]byte(tc.frame[:len(tc.frame)/2]))
		f.Add([]byte(tc.frame[len(tc.frame)/2:]))
	}
	f.Add(ingesttest.AppendHolySheep(nil, &ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "BTCUSDT",
		Side: event.Long, QuantityUSD: "125000.5", Price: "61234.5", TimeMs: 1712736930123, AIAnalysis: true}))
	d, _ := NewHolySheepDecoder("binance")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, d, data, func(e *event.Event) string {
			if e.Venue != event.BinanceUSDM && e.Venue != event.BinanceCOINM {
				return "a venue the binance relay does not forward"
			}
			if math.Abs(e.Qty*e.Price-e.Notional) > 1e-9*e.Notional {
				return "qty × price is not the USD"
			}
			return checkBounds(e, e.Venue, fuzzRecvNs)
		})
	})
}

// lockedBuffer collects a logger's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const relayTestKey = "sk-holysheep-test-0123456789abcdef"

func relayStandIn(t *testing.T, o ingesttest.RelayOptions) *ingesttest.Relay {
	t.Helper()
	r, err := ingesttest.NewRelay(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRelayClientAgainstStandIn runs the real client, one stream per
// exchange, against the loopback stand-in: the key and the model arrive
// in the handshake, the subscription is the published message, the relay's
// liquidations arrive as the venues' events on the relay's connection id,
// pings are answered both ways, a close is reconnected and resubscribed,
// and a reply in another format is counted, never swallowed; the key
// appears in no log line, although the relay echoes it.
func TestRelayClientAgainstStandIn(t *testing.T) {
	r := relayStandIn(t, ingesttest.RelayOptions{Key: relayTestKey, PingEvery: 30 * time.Millisecond})
	specs, err := HolySheepSpecs(RelayConfig{URL: r.URL(), APIKey: relayTestKey, Model: "deepseek-v3.2",
		Exchanges: []string{"binance", "bybit"}, ThresholdUSD: 50000})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var hs []*harness
	for _, sp := range specs {
		sp.PingEvery = 20 * time.Millisecond
		hs = append(hs, startHarness(t, sp, StreamOptions{Logger: log}))
	}
	bin, byb := hs[0], hs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitSubscribed(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, h := range r.Handshakes() {
		if h.Get("Authorization") != "Bearer "+relayTestKey || h.Get("X-Model") != "deepseek-v3.2" {
			t.Fatalf("handshake headers %v", h)
		}
	}
	subs := r.Subscriptions()
	want := `{"action":"subscribe","channel":"liquidation","params":{"exchange":"binance","symbols":["ALL"],"threshold_usd":50000,"include_orderbook_snapshot":false}}`
	if len(subs) != 2 || (subs[0].Raw != want && subs[1].Raw != want) {
		t.Fatalf("subscriptions %+v, want one of them %s", subs, want)
	}

	now := time.Now().UnixMilli()
	r.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "BTCUSDT", Side: event.Long, QuantityUSD: "125000.5", Price: "61234.5", TimeMs: now, AIAnalysis: true})
	r.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "ETHUSDT", Side: event.Short, QuantityUSD: "20000", Price: "3000", TimeMs: now}) // below the threshold
	r.Send(ingesttest.HolySheepLiquidation{Exchange: "bybit", Symbol: "SOLUSDT", Side: event.Short, QuantityUSD: "80000", Price: "150.5"})
	waitFor(t, 5*time.Second, "the relay's liquidations", func() bool { return bin.count() == 1 && byb.count() == 1 })
	evs, _ := bin.snapshot()
	if e := evs[0]; e.Venue != event.BinanceUSDM || e.Conn != event.ConnRelay || e.Source() != event.SourceRelay ||
		e.Side != event.Long || e.Notional != 125000.5 || e.TimeMs != now {
		t.Fatalf("binance event %+v", e)
	}
	evs, _ = byb.snapshot()
	if e := evs[0]; e.Venue != event.Bybit || e.Symbol.String() != "SOLUSDT" || e.Conn != event.ConnRelay {
		t.Fatalf("bybit event %+v", e)
	}

	// Pings both ways: the stand-in's are answered, the client's measured.
	waitFor(t, 5*time.Second, "pongs to the relay's pings", func() bool { return r.Pongs() > 0 })
	waitFor(t, 5*time.Second, "the keepalive round-trip", func() bool { return bin.st.States()[0].RTT > 0 })

	// A relay that answers in another shape, echoing the key.
	r.SendRaw([]byte(`{"type":"error","message":"key ` + relayTestKey + ` is not entitled to liquidation"}`))
	r.SendRaw([]byte(`{"kind":"liq","payload":"` + relayTestKey + `"}`))
	waitFor(t, 5*time.Second, "the decode errors", func() bool {
		_, e, _ := bin.st.DecodeErrorRate()
		return e == 2
	})

	// The relay restarts its servers: both streams reconnect and subscribe again.
	r.CloseAll()
	waitFor(t, 5*time.Second, "the resubscriptions", func() bool { return len(r.Subscriptions()) == 4 })
	waitFor(t, 5*time.Second, "both streams live again", func() bool { return bin.st.Live() == 1 && byb.st.Live() == 1 })
	r.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "BTCUSDT", Side: event.Short, QuantityUSD: "99000", Price: "61000"})
	waitFor(t, 5*time.Second, "a liquidation after the reconnect", func() bool { return bin.count() == 2 })
	bin.stop()
	byb.stop()
	if g := bin.gaps.list(); len(g) != 1 || g[0].Stream != RelayStream || g[0].Venue != "binance-usdm" || g[0].Cause != "server_close" {
		t.Fatalf("gaps %+v, want one server_close gap of binance-usdm holysheep", g)
	}

	out := logs.String()
	if strings.Contains(out, relayTestKey) || strings.Contains(out, relayTestKey[:12]) {
		t.Fatalf("the key appears in the logs:\n%s", out)
	}
	if !strings.Contains(out, "cannot decode frame") || !strings.Contains(out, "[redacted]") {
		t.Fatalf("the bad frames were not logged with the key masked:\n%s", out)
	}
}

// TestRelayRefusedKey: a key the relay refuses is a refused handshake,
// retried with backoff; the stream is never live, its gap (here from the
// previous run's end) stays open, and neither the key nor any part of it
// reaches the log.
func TestRelayRefusedKey(t *testing.T) {
	r := relayStandIn(t, ingesttest.RelayOptions{Key: "sk-the-right-one"})
	specs, err := HolySheepSpecs(RelayConfig{URL: r.URL(), APIKey: relayTestKey, Exchanges: []string{"binance"}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	h := startHarness(t, specs[0], StreamOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		DownSince: time.Now().Add(-time.Second), DownCause: CauseNotRunning})
	waitFor(t, 5*time.Second, "three refused handshakes", func() bool { return r.Refused() >= 3 })
	if h.st.Live() != 0 {
		t.Fatal("a stream whose key was refused counts as live")
	}
	if g, ok := h.st.CurrentGap(); !ok || g.Stream != RelayStream {
		t.Fatalf("no open gap for the refused relay: %+v %v", g, ok)
	}
	h.stop()
	out := logs.String()
	if !strings.Contains(out, "HTTP 401") {
		t.Fatalf("the refusal is not in the log:\n%s", out)
	}
	if strings.Contains(out, relayTestKey[:12]) {
		t.Fatalf("the key appears in the logs:\n%s", out)
	}
	if len(r.Subscriptions()) != 0 {
		t.Fatal("subscribed although refused")
	}
}

func TestHolySheepSpecsRefuse(t *testing.T) {
	for _, o := range []RelayConfig{
		{Exchanges: []string{"binance"}},
		{APIKey: "k"},
		{APIKey: "k", Exchanges: []string{"ftx"}},
		{APIKey: "k", Exchanges: []string{"binance", "BINANCE"}},
	} {
		if _, err := HolySheepSpecs(o); err == nil {
			t.Errorf("%+v accepted", o)
		} else if strings.Contains(err.Error(), "k\"") {
			t.Errorf("error %v shows the key", err)
		}
	}
}

func BenchmarkDecodeHolySheep(b *testing.B) {
	d, _ := NewHolySheepDecoder("binance")
	frame := ingesttest.AppendHolySheep(nil, &ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "BTCUSDT",
		Side: event.Long, QuantityUSD: "125000.5", Price: "61234.5", TimeMs: 1712736930123, AIAnalysis: true})
	dst := make([]event.Event, 0, 4)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := d.Decode(dst[:0], frame, relayRecvNs); err != nil {
			b.Fatal(err)
		}
	}
}
