package ingest

import (
	"errors"
	"math"

	"github.com/liqbox/liqbox/event"
)

// Errors of CheckEvent, one per field, so a caller can name what was wrong.
var (
	ErrBadVenue    = errors.New("unknown venue")
	ErrBadSymbol   = errors.New("symbol " + reasonSymbol)
	ErrBadSide     = errors.New("side is neither long nor short")
	ErrBadMarket   = errors.New("unknown market")
	ErrBadPrice    = errors.New("price not between 1e-12 and 1e9")
	ErrBadQty      = errors.New("quantity not a finite number above 0")
	ErrBadNotional = errors.New("USD notional not above 0 and at most 1e10 with a known basis, nor unknown")
	ErrBadTime     = errors.New("exchange time not between 2015-01-01 and a day after receipt")
)

// CheckEvent holds an event that this box's decoders did not produce (one
// read from the bus) to the bounds every decoded liquidation meets: a known
// venue, market and side, a symbol a venue could list, a price in bounds, a
// positive finite quantity, a USD notional that is either a figure in
// bounds with its basis or unknown (NaN with BasisUnknown), and an exchange
// time from 2015 to a day after the receive time. It does not change e.
func CheckEvent(e *event.Event) error {
	if _, ok := event.ParseVenue(e.Venue.String()); !ok {
		return ErrBadVenue
	}
	if e.Market != event.Linear && e.Market != event.Inverse && e.Market != event.MarketUnknown {
		return ErrBadMarket
	}
	if e.Side != event.Long && e.Side != event.Short {
		return ErrBadSide
	}
	if !validSymbol(string(e.Symbol.Bytes())) {
		return ErrBadSymbol
	}
	if !priceOK(e.Price) {
		return ErrBadPrice
	}
	if !(e.Qty > 0) || math.IsInf(e.Qty, 0) {
		return ErrBadQty
	}
	if e.Basis == event.BasisUnknown {
		if !math.IsNaN(e.Notional) {
			return ErrBadNotional
		}
	} else if e.Basis > event.BasisContractValue || !(e.Notional > 0 && e.Notional <= MaxNotional) {
		return ErrBadNotional
	}
	if !timeOK(e.TimeMs, e.RecvNs) {
		return ErrBadTime
	}
	return nil
}
