package event

import (
	"math"
	"slices"
	"testing"
)

func TestMatchRule(t *testing.T) {
	r := DefaultMatchRule()
	direct := Event{Venue: BinanceUSDM, Symbol: MakeSymbol("BTCUSDT"), Side: Long, TimeMs: 1_700_000_000_000,
		Price: 60000, Qty: 2, Notional: 120000, Basis: BasisLinear}
	for _, tc := range []struct {
		name string
		edit func(e *Event)
		same bool
		d    []string
	}{
		{"identical", func(*Event) {}, true, nil},
		{"rounded usd, own time 300 ms later", func(e *Event) { e.Notional = 120000.4; e.TimeMs += 300 }, true, nil},
		{"usd 5 % lower", func(e *Event) { e.Notional = 114000 }, true, []string{"usd"}},
		{"order price for the fill price", func(e *Event) { e.Price = 59000; e.Notional = 2 * 59000 }, true, []string{"usd", "price"}},
		{"usd 20 % lower is another liquidation", func(e *Event) { e.Notional = 96000 }, false, nil},
		{"side flipped, same size", func(e *Event) { e.Side = Short }, true, []string{"side"}},
		{"side flipped and 5 % off is another liquidation", func(e *Event) { e.Side = Short; e.Notional = 114000 }, false, nil},
		{"600 ms apart", func(e *Event) { e.TimeMs += 600 }, false, nil},
		{"500 ms apart", func(e *Event) { e.TimeMs -= 500 }, true, nil},
		{"other symbol", func(e *Event) { e.Symbol = MakeSymbol("ETHUSDT") }, false, nil},
		{"other venue", func(e *Event) { e.Venue = Bybit }, false, nil},
		{"unknown notional matches on time and side", func(e *Event) { e.Notional, e.Basis = math.NaN(), BasisUnknown }, true, nil},
		{"unknown notional on the other side does not", func(e *Event) {
			e.Notional, e.Basis, e.Side = math.NaN(), BasisUnknown, Short
		}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := direct
			relay.Conn = ConnRelay
			tc.edit(&relay)
			for _, pair := range [][2]*Event{{&direct, &relay}, {&relay, &direct}} {
				same, d, dist := r.Compare(pair[0], pair[1])
				if same != tc.same {
					t.Fatalf("same = %v, want %v", same, tc.same)
				}
				if !slices.Equal(d.Fields(), tc.d) {
					t.Fatalf("disagreement %v, want %v", d.Fields(), tc.d)
				}
				if same && (dist < 0 || math.IsNaN(dist)) {
					t.Fatalf("distance %v", dist)
				}
			}
		})
	}
}

// TestMatchRoundingIsNoDifference: a dollar of difference is rounding, so
// the cent-rounded copy of a small liquidation is the same one and agrees.
func TestMatchRoundingIsNoDifference(t *testing.T) {
	r := DefaultMatchRule()
	for _, tc := range []struct {
		a, b float64
		same bool
		d    []string
	}{
		{0.304, 0.30, true, nil},
		{0.004, 0.01, true, nil},
		{50, 48.5, true, nil},
		{50, 47, true, []string{"usd"}},
		{50, 40, false, nil},
	} {
		a := Event{Venue: BinanceUSDM, Symbol: MakeSymbol("PEPEUSDT"), Side: Short, TimeMs: 1, Price: 1e-5, Notional: tc.a, Basis: BasisLinear}
		b := a
		b.Notional = tc.b
		if same, d, _ := r.Compare(&a, &b); same != tc.same || !slices.Equal(d.Fields(), tc.d) {
			t.Errorf("$%v against $%v: same %v %v, want %v %v", tc.a, tc.b, same, d.Fields(), tc.same, tc.d)
		}
	}
}

func TestMatchPrefersTheCloserCopy(t *testing.T) {
	r := DefaultMatchRule()
	a := Event{Venue: Bybit, Symbol: MakeSymbol("SOLUSDT"), Side: Short, TimeMs: 1_700_000_000_000, Price: 150, Notional: 30000, Basis: BasisLinear}
	near, far, flipped := a, a, a
	near.TimeMs += 100
	far.TimeMs += 450
	flipped.Side = Long
	_, _, dNear := r.Compare(&a, &near)
	_, _, dFar := r.Compare(&a, &far)
	_, _, dFlip := r.Compare(&a, &flipped)
	if !(dNear < dFar && dFar < dFlip) {
		t.Fatalf("distances near %v, far %v, flipped %v: want near < far < flipped", dNear, dFar, dFlip)
	}
}

func TestSourceOf(t *testing.T) {
	for conn, want := range map[uint8]Source{0: SourceDirect, 7: SourceDirect, ConnRelay: SourceRelay,
		ConnRelay + 7: SourceRelay, ConnRelay + 8: SourceDirect, 255: SourceDirect} {
		if got := SourceOf(conn); got != want {
			t.Errorf("SourceOf(%d) = %v, want %v", conn, got, want)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	r := DefaultMatchRule()
	a := Event{Venue: OKX, Symbol: MakeSymbol("BTC-USDT-SWAP"), Side: Long, TimeMs: 1, Price: 1, Notional: 1, Basis: BasisLinear}
	b := a
	if n := testing.AllocsPerRun(100, func() { r.Compare(&a, &b) }); n != 0 {
		t.Fatalf("Compare allocates %v times", n)
	}
}
