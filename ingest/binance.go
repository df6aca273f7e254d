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
// defensively an array of either, in one pass over the frame.
//
// The event type `e` must be "forceOrder"; "markPriceUpdate" (the canary
// stream) and subscription or error replies are control frames. USD-M:
// quantity `q` is in base units, price is `ap` (average fill) or `p` where
// `ap` is zero, notional = q × price (BasisLinear), time `o.T`. COIN-M: `q`
// is in contracts; notional = q × contractSize USD (BasisContractSize),
// base quantity = notional / price; an unknown symbol gets NaN and
// BasisUnknown. Side: `S` is the liquidation order's side, so SELL means a
// long was liquidated. Every value is held to the package's bounds
// (MinPrice…); a liquidation outside them is refused with a DecodeError
// naming the field (o.s, o.S, o.q, o.ap, o.T). Aster's frames are USD-M's
// (NewAsterDecoder).
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

var (
	binanceErrs     = newFieldErrors("o.s", "o.S", "o.q", "o.ap", "o.T")
	errBinanceType  = newDecodeError(ErrUnexpected, "e", "missing or not forceOrder")
	errBinanceOrder = newDecodeError(ErrMalformed, "o", "missing or not an object")
	errBinanceData  = newDecodeError(ErrMalformed, "data", "not an object or an array")
)

// Decode implements Decoder.
func (d *BinanceDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	var t *Table
	if d.venue == event.BinanceCOINM {
		t = d.inst.Load()
	}
	return decodeFrame(frame, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.payload(s, i, dst, t, recvNs, true)
	}, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.payloads(s, i, dst, t, recvNs)
	})
}

// payloads decodes an array of payloads (defensively: Binance documents
// one object per message).
func (d *BinanceDecoder) payloads(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.payload(s, i, dst, t, recvNs, false)
	})
}

// payload decodes the object at i: a forceOrder payload, or (top) the
// combined envelope or a reply.
func (d *BinanceDecoder) payload(s string, i int, dst []event.Event, t *Table, recvNs int64, top bool) ([]event.Event, int, error) {
	n0 := len(dst)
	var typ string
	var haveOrder, haveData, control bool
	var orderBad, dataBad error
	// Binance writes its members in one order: the combined envelope's
	// stream and data, the payload's e, E and o. Matched as constant
	// prefixes, they are read without their keys being read and looked
	// up; anything else (another order, white space, a reply) is left to
	// the member walk below, which reads what the prefixes did not.
	i++ // '{'
	first := true
	if top && strings.HasPrefix(s[i:], `"stream":"`) {
		if _, j := str(s, i+len(`"stream":`)); j >= 0 {
			i, first = j, false
			if strings.HasPrefix(s[i:], `,"data":{`) {
				haveData = true
				if dst, i, dataBad = d.payload(s, i+len(`,"data":`), dst, t, recvNs, false); i < 0 {
					return dst, i, nil
				}
			}
		}
	} else if strings.HasPrefix(s[i:], `"e":"forceOrder","E":`) {
		if j := i + len(`"e":"forceOrder","E":`); isDigit(at(s, j)) {
			typ = "forceOrder"
			_, i = number(s, j)
			first = false
			if strings.HasPrefix(s[i:], `,"o":{`) {
				haveOrder = true
				if dst, i, orderBad = d.order(s, i+len(`,"o":`), dst, t, recvNs); i < 0 {
					return dst, i, nil
				}
			}
		}
	}
	i = membersFrom(s, i, first, func(k string, i int) int {
		switch {
		case k == "e":
			typ, i = strField(s, i)
			return i
		case k == "o":
			haveOrder = true
			if s[i] == '{' {
				dst, i, orderBad = d.order(s, i, dst, t, recvNs)
				return i
			}
			orderBad = errBinanceOrder
		case k == "data" && top:
			haveData = true
			switch s[i] {
			case '{':
				dst, i, dataBad = d.payload(s, i, dst, t, recvNs, false)
				return i
			case '[':
				dst, i, dataBad = d.payloads(s, i, dst, t, recvNs)
				return i
			}
			dataBad = errBinanceData
		case top && (k == "result" || k == "id" || k == "code" || k == "msg"):
			control = true
		}
		return skip(s, i)
	})
	if i < 0 {
		return dst, i, nil
	}
	switch {
	case haveOrder:
		if typ != "forceOrder" {
			return dst[:n0], i, errBinanceType
		}
		return dst, i, orderBad
	case haveData:
		return dst, i, dataBad
	case typ == "forceOrder":
		return dst, i, errBinanceOrder
	case typ == "markPriceUpdate", control:
		return dst, i, nil
	}
	return dst, i, errUnknown
}

func binanceFields(k string) (int, bool) {
	switch k {
	case "s":
		return fSymbol, false
	case "S":
		return fSide, false
	case "q":
		return fSize, true
	case "p":
		return fPrice, true
	case "ap":
		return fAvgPrice, true
	case "T":
		return fTime, true
	}
	return -1, false
}

// binanceOrderLayout is the `o` object as Binance's USD-M (since 2026
// with "ps" and "st" at the end) and Aster send it; COIN-M's "ps" after
// "s" is read by the general walk. The order type, time in force and
// status never change on a liquidation order.
var binanceOrderLayout = newLayout(binanceFields,
	`"s":"`, `"S":"`, `"o":"LIMIT"`, `"f":"IOC"`, `"q":"`, `"p":"`, `"ap":"`, `"X":"FILLED"`, `"l":"`, `"z":"`, `"T":`,
	`"ps":"`, `"st":`)

// order decodes the `o` object at i of one forceOrder event.
func (d *BinanceDecoder) order(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readLayout(s, i, binanceOrderLayout, binanceFields, &vals); i < 0 {
		return dst, i, nil
	}
	fe := &binanceErrs
	e, qty, err := fe.liquidation(d.venue, sideOf(vals[fSide], "SELL", "BUY"), &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	in, known := linearBase, true
	e.Market = event.Linear
	if d.venue == event.BinanceCOINM {
		e.Market = event.Inverse
		in, known = t.Lookup(vals[fSymbol])
	}
	if err := fe.finish(&e, in, known, qty, e.Price); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
}

// linearBase is the instrument of a venue that sends base units and a
// stablecoin price: USD = size × price.
var linearBase = Instrument{Market: event.Linear, Basis: event.BasisLinear, Size: 1}

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
	url := orDefault(o.StreamURL, DefaultBinanceUSDMURL)
	return Spec{
		Venue:       event.BinanceUSDM,
		Stream:      "!forceOrder@arr",
		URL:         url,
		StaleAfter:  orDuration(o.StaleAfter, binanceStaleAfter),
		MaxLifetime: binanceMaxLifetime,
		Canary:      binanceCanary(o, url, mustCanary(o.Canary, defaultCanary["binance-usdm"])),
		Decoder:     NewBinanceUSDMDecoder(),
	}
}

// BinanceCOINMSpec returns the Spec of the COIN-M all-market liquidation
// stream, decoding with the contract sizes in inst.
func BinanceCOINMSpec(o VenueConfig, inst *Instruments) Spec {
	url := orDefault(o.StreamURL, DefaultBinanceCOINMURL)
	return Spec{
		Venue:       event.BinanceCOINM,
		Stream:      "!forceOrder@arr",
		URL:         url,
		StaleAfter:  orDuration(o.StaleAfter, binanceStaleAfter),
		MaxLifetime: binanceMaxLifetime,
		Canary:      binanceCanary(o, url, mustCanary(o.Canary, defaultCanary["binance-coinm"])),
		Decoder:     NewBinanceCOINMDecoder(inst),
	}
}
