package event

import (
	"math"
	"testing"
)

func TestAppendJSON(t *testing.T) {
	ev := Event{Venue: BinanceUSDM, Side: Long, Basis: BasisLinear, Symbol: MakeSymbol("BTCUSDT"),
		Price: 39021, Qty: 0.288, Notional: 0.288 * 39021, TimeMs: 1650898329196}
	got := string(ev.AppendJSON(nil))
	want := `{"venue":"binance-usdm","symbol":"BTCUSDT","side":"long","price":39021,"qty":0.288,"notional_usd":11238.048,"notional_basis":"linear","time_ms":1650898329196}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	ev.Notional, ev.Basis, ev.Qty = math.NaN(), BasisUnknown, math.NaN()
	ev.Symbol = MakeSymbol(`A"B`)
	got = string(ev.AppendJSON(nil))
	want = `{"venue":"binance-usdm","symbol":"A\"B","side":"long","price":39021,"qty":null,"notional_usd":null,"notional_basis":"unknown","time_ms":1650898329196}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestKeyIgnoresLocalFields(t *testing.T) {
	a := Event{Venue: Bybit, Side: Short, Symbol: MakeSymbol("ETHUSDT"), TimeMs: 5, Price: 1, Qty: 2}
	b := a
	b.Seq, b.RecvNs, b.Conn = 9, 123, 1
	if a.Key() != b.Key() {
		t.Fatal("key depends on local fields")
	}
	b.Qty = 2.5
	if a.Key() == b.Key() {
		t.Fatal("key ignores quantity")
	}
}

func TestParseVenueRoundTrip(t *testing.T) {
	for _, v := range Venues() {
		got, ok := ParseVenue(v.String())
		if !ok || got != v {
			t.Fatalf("ParseVenue(%q) = %v, %v", v.String(), got, ok)
		}
	}
	if _, ok := ParseVenue("unknown"); ok {
		t.Fatal(`"unknown" parsed as a venue`)
	}
}

func TestSymbolTruncates(t *testing.T) {
	s := MakeSymbol("0123456789012345678901234567890123456789")
	if s.Len() != SymbolCap {
		t.Fatalf("len %d", s.Len())
	}
}

func TestSampledVenues(t *testing.T) {
	// PROTOCOLS.md section 14: Binance (both) and OKX push at most one
	// liquidation per symbol a second; Bybit's allLiquidation and BitMEX
	// push every one.
	want := map[Venue]bool{BinanceUSDM: true, BinanceCOINM: true, OKX: true, Bybit: false, BitMEX: false}
	for _, v := range Venues() {
		w, ok := want[v]
		if !ok {
			t.Errorf("%s: no sampling fact in this test: add it from PROTOCOLS.md section 14", v)
			continue
		}
		if v.Sampled() != w {
			t.Errorf("%s.Sampled() = %v, want %v", v, v.Sampled(), w)
		}
	}
	if VenueUnknown.Sampled() || Venue(200).Sampled() {
		t.Error("an unknown venue is reported as sampled")
	}
}
