package event

import (
	"math"
	"strconv"
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

// TestVenueNumbersPersisted: the numbers issue 16 fixed for the new venues
// are the ones written to the log, and the numbers reserved for venues not
// built on this branch are not venues.
func TestVenueNumbersPersisted(t *testing.T) {
	if HTX != 8 || Gate != 10 || HTX.String() != "htx" || Gate.String() != "gate" {
		t.Fatalf("htx = %d %q, gate = %d %q; want 8 htx, 10 gate", HTX, HTX, Gate, Gate)
	}
	for _, n := range []Venue{6, 7, 9} {
		if n.String() != "venue("+strconv.Itoa(int(n))+")" {
			t.Errorf("reserved %d has name %q", n, n)
		}
		for _, v := range Venues() {
			if v == n {
				t.Errorf("reserved %d listed by Venues", n)
			}
		}
	}
	if _, ok := ParseVenue(""); ok {
		t.Error(`"" parsed as a venue`)
	}
}

func TestCoverage(t *testing.T) {
	before := time.Date(2026, 8, 10, 12, 0, 0, 0, time.UTC) // the gateio/WebSocket-API#132 capture
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    Venue
		at   time.Time
		want Coverage
	}{
		{BinanceUSDM, now, CoverageSampled}, {BinanceCOINM, now, CoverageSampled}, {OKX, now, CoverageSampled},
		{Bybit, now, CoverageComplete}, {BitMEX, now, CoverageComplete},
		{HTX, now, CoverageUndocumented},
		{Gate, before, CoverageSampled}, {Gate, now, CoverageComplete},
	} {
		if got := c.v.Coverage(c.at); got != c.want {
			t.Errorf("%s at %s: %s, want %s", c.v, c.at.Format(time.DateOnly), got, c.want)
		}
	}
}
