package bus

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

var wireT0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func wireEvents() []event.Event {
	base := event.Event{Seq: 42, RecvNs: wireT0.UnixNano() + 734123, TimeMs: wireT0.UnixMilli() - 5,
		Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Long, Basis: event.BasisLinear, Conn: 1,
		Price: 39021, Qty: 0.288, Notional: 0.288 * 39021, Symbol: event.MakeSymbol("BTCUSDT")}
	inverse := base
	inverse.Venue, inverse.Market, inverse.Side, inverse.Basis = event.Bybit, event.Inverse, event.Short, event.BasisInverse
	inverse.Qty = 1000 / 97123.7 // a computed size: all 17 digits matter
	inverse.Notional, inverse.Symbol = 1000, event.MakeSymbol("BTCUSD")
	unknown := base
	unknown.Venue, unknown.Basis, unknown.Notional, unknown.Flags = event.BitMEX, event.BasisUnknown, math.NaN(), event.FlagBacklog
	unknown.Symbol, unknown.Price, unknown.Qty = event.MakeSymbol("币安人生USDT"), 2.17e-06, 1e9
	return []event.Event{base, inverse, unknown}
}

// TestEventRoundTrip: what AppendEvent writes is JSON that any reader
// parses, and DecodeEvent gives back the same event bit for bit, so its
// identity (the dedup key) is the same at both ends.
func TestEventRoundTrip(t *testing.T) {
	for _, ev := range wireEvents() {
		b := AppendEvent(nil, "tokyo-1", &ev)
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, b)
		}
		if generic["box"] != "tokyo-1" || generic["v"] != float64(1) || generic["venue"] != ev.Venue.String() {
			t.Errorf("members: %v", generic)
		}
		var got event.Event
		box, err := DecodeEvent(b, &got)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if box != "tokyo-1" || !sameLiquidation(got, ev) || got.Seq != ev.Seq || got.Conn != ev.Conn || got.Flags != ev.Flags {
			t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, ev, b)
		}
		if got.Key() != ev.Key() {
			t.Errorf("the identity changed on the wire: %x != %x", got.Key(), ev.Key())
		}
	}
	ev := wireEvents()[0]
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], "tokyo-1", &ev) }); n != 0 {
		t.Errorf("AppendEvent allocates %v times", n)
	}
}

func TestDecodeEventRefuses(t *testing.T) {
	ev := wireEvents()[0]
	good := string(AppendEvent(nil, "tokyo-1", &ev))
	for _, tc := range []struct{ name, msg, want string }{
		{"not json", `{"v":1,`, "not JSON"},
		{"array", `[1]`, "not a JSON object"},
		{"version 2", strings.Replace(good, `"v":1`, `"v":2`, 1), `"v"`},
		{"repeated", strings.Replace(good, `"seq":42`, `"seq":42,"seq":43`, 1), `"seq"`},
		{"missing", strings.Replace(good, `"recv_ns":`, `"recv_nz":`, 1), "recv_ns"},
		{"bad box", strings.Replace(good, `"tokyo-1"`, `"tok yo"`, 1), `"box"`},
		{"unknown venue", strings.Replace(good, `binance-usdm`, `kraken`, 1), `"venue"`},
		{"string price", strings.Replace(good, `"price":39021`, `"price":"39021"`, 1), `"price"`},
		{"zero price", strings.Replace(good, `"price":39021`, `"price":0`, 1), "price"},
		{"huge price", strings.Replace(good, `"price":39021`, `"price":1e300`, 1), "price"},
		{"negative qty", strings.Replace(good, `"qty":0.288`, `"qty":-1`, 1), "quantity"},
		{"side", strings.Replace(good, `"side":"long"`, `"side":"buy"`, 1), `"side"`},
		{"hostile symbol", strings.Replace(good, `"BTCUSDT"`, `"BTC\u202eUSDT"`, 1), "symbol"},
		{"long symbol", strings.Replace(good, `"BTCUSDT"`, `"`+strings.Repeat("A", 32)+`"`, 1), `"symbol"`},
		{"notional without basis", strings.Replace(good, `"notional_basis":"linear"`, `"notional_basis":"unknown"`, 1), "disagree"},
		{"basis without notional", strings.Replace(good, `"notional_usd":11238.048`, `"notional_usd":null`, 1), "disagree"},
		{"time far ahead", strings.Replace(good, `"time_ms":`, `"time_ms":9`, 1), "exchange time"},
		{"float seq", strings.Replace(good, `"seq":42`, `"seq":4.2`, 1), `"seq"`},
		{"conn 255", strings.Replace(good, `"conn":1`, `"conn":255`, 1), `"conn"`},
		{"backlog string", strings.Replace(good, `"backlog":false`, `"backlog":"no"`, 1), `"backlog"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got event.Event
			_, err := DecodeEvent([]byte(tc.msg), &got)
			if !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s\n→ %v, want ErrBadMessage naming %s", tc.msg, err, tc.want)
			}
		})
	}
	// A later version 1 may add members: they are ignored.
	var got event.Event
	if _, err := DecodeEvent([]byte(strings.Replace(good, `"v":1,`, `"v":1,"region":"ap-northeast-1",`, 1)), &got); err != nil {
		t.Errorf("an unknown member refused: %v", err)
	}
}

func TestGapRoundTrip(t *testing.T) {
	for _, g := range []store.Gap{
		{Venue: "bybit", Stream: "linear", Start: wireT0, Cause: "read_error"},
		{Venue: "okx", Stream: "liquidation-orders", Start: wireT0, End: wireT0.Add(1500 * time.Millisecond), Cause: "stale, then liqbox crashed"},
	} {
		b := AppendGap(nil, "tokyo-1", g)
		box, got, err := DecodeGap(b)
		if err != nil || box != "tokyo-1" || got.Venue != g.Venue || got.Stream != g.Stream || !got.Start.Equal(g.Start) ||
			!got.End.Equal(g.End) || got.Cause != g.Cause || got.IsOpen() != g.IsOpen() {
			t.Errorf("%s → %q %+v %v", b, box, got, err)
		}
	}
	good := string(AppendGap(nil, "tokyo-1", store.Gap{Venue: "bybit", Stream: "linear", Start: wireT0, End: wireT0.Add(time.Second), Cause: "x"}))
	for _, bad := range []string{
		strings.Replace(good, `"v":1`, `"v":2`, 1),
		strings.Replace(good, `"bybit"`, `"kraken"`, 1),
		strings.Replace(good, `"linear"`, `"a/b"`, 1),
		strings.Replace(good, `"linear"`, `""`, 1),
		strings.Replace(good, `"cause":"x"`, `"cause":"\u001b[31m"`, 1),
		strings.Replace(good, `"cause":"x"`, `"cause":"\u202e"`, 1),
		strings.Replace(good, `"start_ns":`, `"start_ns":9`, 1), // after the end
		`{"v":1}`,
		`nope`,
	} {
		if _, _, err := DecodeGap([]byte(bad)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s accepted (%v)", bad, err)
		}
	}
}

// FuzzDecodeEvent: no input panics; whatever decodes meets the bounds and
// writes back to a message that decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range wireEvents() {
		f.Add(AppendEvent(nil, "tokyo-1", &ev))
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"box":"a","seq":1,"venue":"okx","market":"inverse","symbol":"BTC-USD-SWAP","side":"short","price":1,"qty":1,"notional_usd":null,"notional_basis":"unknown","time_ms":1700000000000,"recv_ns":1700000000000000000}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev event.Event
		box, err := DecodeEvent(b, &ev)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		if CheckBoxName(box) != nil || ev.Seq == 0 || ev.RecvNs <= 0 {
			t.Fatalf("accepted box %q seq %d recv %d", box, ev.Seq, ev.RecvNs)
		}
		var again event.Event
		box2, err := DecodeEvent(AppendEvent(nil, box, &ev), &again)
		if err != nil || box2 != box || !sameLiquidation(again, ev) || again.Flags != ev.Flags {
			t.Fatalf("re-encoded: %v, %+v != %+v", err, again, ev)
		}
	})
}

// FuzzDecodeGap: no input panics; an accepted gap is plain text with a
// known venue and an end not before its start.
func FuzzDecodeGap(f *testing.F) {
	f.Add(AppendGap(nil, "tokyo-1", store.Gap{Venue: "bybit", Stream: "linear", Start: wireT0, Cause: "read_error"}))
	f.Add(AppendGap(nil, "b", store.Gap{Venue: "okx", Stream: "s", Start: wireT0, End: wireT0, Cause: ""}))
	f.Fuzz(func(t *testing.T, b []byte) {
		box, g, err := DecodeGap(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		if CheckBoxName(box) != nil || !knownVenue(g.Venue) || !plainText(g.Stream) || !plainText(g.Cause) ||
			IsRemoteStream(g.Stream) || !g.IsOpen() && g.End.Before(g.Start) {
			t.Fatalf("accepted %q %+v", box, g)
		}
	})
}

func TestRedactor(t *testing.T) {
	r, err := NewRedactor("nats://alice:s%40cr3t@10.0.0.1:4222, tls://tok3n@nats.example:4443,nats://plain:4222")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.URL(), "s@cr3t") || strings.Contains(r.URL(), "s%40cr3t") || strings.Contains(r.URL(), "tok3n") ||
		!strings.Contains(r.URL(), "alice") || !strings.Contains(r.URL(), "nats://plain:4222") {
		t.Errorf("URL() = %q", r.URL())
	}
	for _, s := range []string{
		"dial nats://alice:s%40cr3t@10.0.0.1:4222: refused", "password s@cr3t", "token tok3n rejected",
	} {
		if got := r.Text(s); strings.Contains(got, "cr3t") || strings.Contains(got, "tok3n") {
			t.Errorf("Text(%q) = %q", s, got)
		}
	}
	for _, bad := range []string{"http://x:1", "nats://", "::"} {
		if _, err := NewRedactor(bad); err == nil {
			t.Errorf("NewRedactor(%q) = %v", bad, err)
		}
	}
	if _, err := NewRedactor("nats://u:hunter2@[bad"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a bad URL's error repeats its password: %v", err)
	}
}

func TestConfigNames(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.BoxName = "a b" }, "box_name"},
		{func(c *Config) { c.Stream = "LIQ.BOX" }, "bus.stream"},
		{func(c *Config) { c.Subject = "liqbox.*" }, "bus.subject"},
		{func(c *Config) { c.Subject = "liqbox..x" }, "bus.subject"},
		{func(c *Config) { c.Consumer = "a.b" }, "bus.consumer"},
		{func(c *Config) { c.AlertMaxAge = time.Minute }, "alert_max_age"},
	} {
		c := Config{URL: "nats://127.0.0.1:4222", BoxName: "tokyo-1", Consume: true}
		tc.edit(&c)
		c.Defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %s", c, err, tc.want)
		}
	}
	c := Config{URL: "nats://127.0.0.1:4222", BoxName: "tokyo-1.example.com", Consume: true}
	c.Defaults()
	if err := c.Validate(); err != nil || c.Consumer != "liqbox-tokyo-1_example_com" {
		t.Errorf("a host name as box name: %v, consumer %q", err, c.Consumer)
	}
}
