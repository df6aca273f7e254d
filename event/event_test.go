package event

import (
	"math"
	"testing"
	"time"
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

// TestVenueValuesPersisted pins the numbers the log stores for each venue:
// renumbering one would turn old records into another venue's.
func TestVenueValuesPersisted(t *testing.T) {
	want := map[Venue]string{1: "binance-usdm", 2: "binance-coinm", 3: "bybit", 4: "okx", 5: "bitmex",
		6: "deribit", 7: "kraken-futures", 8: "htx", 9: "bitfinex", 10: "gate", 11: "bitget", 12: "aster"}
	for v, name := range want {
		if v.String() != name {
			t.Errorf("venue %d = %q, want %q", v, v.String(), name)
		}
	}
	if len(Venues()) != len(want) {
		t.Errorf("%d venues, want %d", len(Venues()), len(want))
	}
	if Deribit != 6 || KrakenFutures != 7 || Bitfinex != 9 || Bitget != 11 || Aster != 12 {
		t.Error("a venue constant moved")
	}
}

// TestCoverage pins each venue's label to what PROTOCOLS.md section 14
// quotes from the venue itself.
func TestCoverage(t *testing.T) {
	want := map[Venue]Coverage{
		BinanceUSDM: CoverageSampled, BinanceCOINM: CoverageSampled, OKX: CoverageSampled,
		Bitget: CoverageSampled, Aster: CoverageSampled,
		Bybit: CoverageComplete, KrakenFutures: CoverageComplete, Deribit: CoverageComplete,
		BitMEX: CoverageComplete, Bitfinex: CoverageUndocumented, HTX: CoverageUndocumented, Gate: CoverageComplete,
	}
	for _, v := range Venues() {
		w, ok := want[v]
		if !ok {
			t.Errorf("%s: no coverage fact in this test: add it from PROTOCOLS.md section 14", v)
			continue
		}
		if got := v.Coverage(); got.Coverage != w || got.Rule == "" {
			t.Errorf("%s: %s %q, want %s with its rule", v, got.Coverage, got.Rule, w)
		}
		if v.Sampled() != (w == CoverageSampled) {
			t.Errorf("%s.Sampled() = %v", v, v.Sampled())
		}
	}
	// Gate sampled until its 2026-08-20 change (the gateio/WebSocket-API#132
	// capture is from before it).
	if c := Gate.CoverageAt(time.Date(2026, 8, 10, 12, 0, 0, 0, time.UTC)); c.Coverage != CoverageSampled {
		t.Errorf("gate before 2026-08-20: %s", c.Coverage)
	}
	if VenueUnknown.Sampled() || Venue(200).Sampled() {
		t.Error("an unknown venue is reported as sampled")
	}
}
