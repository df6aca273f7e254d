package ingest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// TestCheckEvent: an event from elsewhere meets the decoders' bounds or is
// refused with the error naming its field.
func TestCheckEvent(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	good := event.Event{RecvNs: now.UnixNano(), TimeMs: now.UnixMilli(), Price: 97000, Qty: 0.5, Notional: 48500,
		Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Short, Basis: event.BasisLinear, Symbol: event.MakeSymbol("BTCUSDT")}
	if err := CheckEvent(&good); err != nil {
		t.Fatalf("good event refused: %v", err)
	}
	unknown := good
	unknown.Notional, unknown.Basis = math.NaN(), event.BasisUnknown
	if err := CheckEvent(&unknown); err != nil {
		t.Fatalf("unknown size refused: %v", err)
	}
	for _, tc := range []struct {
		edit func(*event.Event)
		want error
	}{
		{func(e *event.Event) { e.Venue = 99 }, ErrBadVenue},
		{func(e *event.Event) { e.Venue = event.VenueUnknown }, ErrBadVenue},
		{func(e *event.Event) { e.Market = 7 }, ErrBadMarket},
		{func(e *event.Event) { e.Side = event.SideUnknown }, ErrBadSide},
		{func(e *event.Event) { e.Symbol = event.MakeSymbol("BTC\x1b[31m") }, ErrBadSymbol},
		{func(e *event.Event) { e.Symbol = event.MakeSymbol("") }, ErrBadSymbol},
		{func(e *event.Event) { e.Price = 0 }, ErrBadPrice},
		{func(e *event.Event) { e.Price = math.Inf(1) }, ErrBadPrice},
		{func(e *event.Event) { e.Qty = math.NaN() }, ErrBadQty},
		{func(e *event.Event) { e.Notional = 2e10 }, ErrBadNotional},
		{func(e *event.Event) { e.Notional = math.NaN() }, ErrBadNotional},
		{func(e *event.Event) { e.Basis = event.BasisUnknown }, ErrBadNotional},
		{func(e *event.Event) { e.TimeMs = 1 }, ErrBadTime},
		{func(e *event.Event) { e.TimeMs = now.Add(48 * time.Hour).UnixMilli() }, ErrBadTime},
	} {
		e := good
		tc.edit(&e)
		if err := CheckEvent(&e); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", e, err, tc.want)
		}
	}
}
