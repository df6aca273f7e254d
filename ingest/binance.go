package ingest

import (
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default Binance stream URLs. USD-M liquidations are routed under /market
// since the 2026 base-URL split: the legacy path connects but stays silent.
const (
	DefaultBinanceUSDMURL  = "wss://fstream.binance.com/market/stream?streams=!forceOrder@arr"
	DefaultBinanceCOINMURL = "wss://dstream.binance.com/stream?streams=!forceOrder@arr"
)

// Binance keepalive facts: the server pings every 3 minutes and closes a
// connection after 24 hours.
const (
	// binanceStaleAfter: the server's WebSocket ping every 3 min proves the
	// connection alive even when no liquidation happens; two minutes of
	// slack before declaring it dead.
	binanceStaleAfter = 5 * time.Minute
	// binanceMaxLifetime rotates ten minutes before Binance's 24 h cut, so
	// the replacement is up long before the old one is dropped.
	binanceMaxLifetime = 23*time.Hour + 50*time.Minute
)

// BinanceDecoder decodes Binance futures `forceOrder` frames, raw
// (`{"e":"forceOrder",…}`) or combined (`{"stream":…,"data":…}`), and
// defensively an array of either.
//
// USD-M: quantity `q` is in base units, price is `ap` (average fill) or `p`
// where `ap` is zero, notional = q × price (BasisLinear), time `o.T`.
// COIN-M: `q` is in contracts; notional = q × contractSize USD
// (BasisContractSize), base quantity = notional / price; an unknown symbol
// gets NaN and BasisUnknown. Side: `S` is the liquidation order's side, so
// SELL means a long was liquidated.
type BinanceDecoder struct {
	venue event.Venue
	inst  *Instruments // COIN-M contract sizes; unused for USD-M
}

// NewBinanceUSDMDecoder returns the USD-M decoder (no metadata needed).
func NewBinanceUSDMDecoder() *BinanceDecoder {
	return &BinanceDecoder{venue: event.BinanceUSDM}
}

// NewBinanceCOINMDecoder returns the COIN-M decoder reading contract sizes
// from inst (nil: every notional is unknown).
func NewBinanceCOINMDecoder(inst *Instruments) *BinanceDecoder {
	return &BinanceDecoder{venue: event.BinanceCOINM, inst: inst}
}

// Decode implements Decoder.
func (d *BinanceDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	var t *Table
	if d.venue == event.BinanceCOINM {
		t = d.inst.Load()
	}
	var err error
	// The combined envelope (the default URL's) always starts with
	// "stream": one path lookup reaches the order without scanning "data"
	// twice. Other shapes take the general route below.
	if strings.HasPrefix(s, `{"stream":`) {
		if o := gjson.Get(s, "data.o"); o.Exists() {
			if dst, err = d.order(dst, o, t, recvNs); err != nil {
				return dst[:n0], err
			}
			return dst, nil
		}
	}
	if o := gjson.Get(s, "o"); o.Exists() {
		dst, err = d.order(dst, o, t, recvNs)
	} else if data := gjson.Get(s, "data"); data.Exists() {
		dst, err = d.payload(dst, data, t, recvNs)
	} else if first(s) == '[' {
		dst, err = d.payload(dst, gjson.Parse(s), t, recvNs)
	} else {
		return dst, binanceControl(s)
	}
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// payload decodes a `data` member: one forceOrder object or an array of them.
func (d *BinanceDecoder) payload(dst []event.Event, p gjson.Result, t *Table, recvNs int64) ([]event.Event, error) {
	if !p.IsArray() {
		o := p.Get("o")
		if !o.Exists() {
			return dst, ErrUnexpected
		}
		return d.order(dst, o, t, recvNs)
	}
	var err error
	p.ForEach(func(_, el gjson.Result) bool {
		o := el.Get("o")
		if !o.Exists() {
			err = ErrUnexpected
			return false
		}
		dst, err = d.order(dst, o, t, recvNs)
		return err == nil
	})
	return dst, err
}

// order decodes the `o` object of one forceOrder event in a single pass.
func (d *BinanceDecoder) order(dst []event.Event, o gjson.Result, t *Table, recvNs int64) ([]event.Event, error) {
	if !o.IsObject() {
		return dst, ErrMalformed
	}
	var sym, side, q, p, ap string
	var ts int64
	var haveT bool
	// seen stops the walk once every field we use has appeared: live
	// frames carry trailing fields (X, l, z, ps, st) we never read.
	var seen uint8
	o.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "s":
			sym, seen = v.Str, seen|1
		case "S":
			side, seen = v.Str, seen|2
		case "q":
			q, seen = v.Str, seen|4
		case "p":
			p, seen = v.Str, seen|8
		case "ap":
			ap, seen = v.Str, seen|16
		case "T":
			ts, haveT = parseMs(v.Raw)
			seen |= 32
		}
		return seen != 63
	})
	var e event.Event
	switch side {
	case "SELL":
		e.Side = event.Long
	case "BUY":
		e.Side = event.Short
	default:
		return dst, ErrMalformed
	}
	qty, ok := parseDecimal(q)
	if !ok || sym == "" || !haveT {
		return dst, ErrMalformed
	}
	price, ok := parseDecimal(ap)
	if !ok || price == 0 {
		if price, ok = parseDecimal(p); !ok {
			return dst, ErrMalformed
		}
	}
	e.Venue = d.venue
	e.Symbol = event.MakeSymbol(sym)
	e.TimeMs = ts
	e.RecvNs = recvNs
	e.Price = price
	if d.venue == event.BinanceUSDM {
		e.Market = event.Linear
		e.Basis = event.BasisLinear
		e.Qty = qty
		e.Notional = qty * price
	} else {
		e.Market = event.Inverse
		in, ok := t.Lookup(sym)
		applySize(&e, in, ok, qty, price)
	}
	return append(dst, e), nil
}

// binanceControl classifies a frame without `o` or `data`: subscription
// replies and error replies are control frames; anything else is not ours.
func binanceControl(s string) error {
	if !gjson.Valid(s) {
		return ErrMalformed
	}
	r := gjson.Parse(s)
	if !r.IsObject() {
		return ErrUnexpected
	}
	if r.Get("id").Exists() || r.Get("result").Exists() || (r.Get("code").Exists() && r.Get("msg").Exists()) {
		return nil
	}
	return ErrUnexpected
}

// Control implements ControlInspector: Binance replies to a bad request with
// {"code":<n>,"msg":"…"}.
func (d *BinanceDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	code, msg := gjson.Get(s, "code"), gjson.Get(s, "msg")
	if code.Exists() && msg.Exists() {
		return true, "code " + strings.Clone(code.Raw) + ": " + strings.Clone(msg.String())
	}
	return false, ""
}

// first returns the first non-space byte of s, or 0.
func first(s string) byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' {
			return c
		}
	}
	return 0
}

// BinanceUSDMSpec returns the Spec of the USD-M all-market liquidation
// stream. Binance pings with WebSocket control frames (answered by the
// client), so there is no application keepalive.
func BinanceUSDMSpec(o VenueConfig) Spec {
	return Spec{
		Venue:       event.BinanceUSDM,
		Stream:      "!forceOrder@arr",
		URL:         orDefault(o.StreamURL, DefaultBinanceUSDMURL),
		StaleAfter:  orDuration(o.StaleAfter, binanceStaleAfter),
		MaxLifetime: binanceMaxLifetime,
		Decoder:     NewBinanceUSDMDecoder(),
	}
}

// BinanceCOINMSpec returns the Spec of the COIN-M all-market liquidation
// stream, decoding with the contract sizes in inst.
func BinanceCOINMSpec(o VenueConfig, inst *Instruments) Spec {
	return Spec{
		Venue:       event.BinanceCOINM,
		Stream:      "!forceOrder@arr",
		URL:         orDefault(o.StreamURL, DefaultBinanceCOINMURL),
		StaleAfter:  orDuration(o.StaleAfter, binanceStaleAfter),
		MaxLifetime: binanceMaxLifetime,
		Decoder:     NewBinanceCOINMDecoder(inst),
	}
}
