package ingest

import (
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// DefaultBitMEXURL subscribes to the liquidation table in the URL.
const DefaultBitMEXURL = "wss://ws.bitmex.com/realtime?subscribe=liquidation"

const (
	// bitmexPingEvery: BitMEX answers the text "ping" with "pong" and
	// advises pinging when nothing arrived for a few seconds.
	bitmexPingEvery = 15 * time.Second
	// bitmexStaleAfter: several missed pongs.
	bitmexStaleAfter = 60 * time.Second
)

var bitmexPing = []byte("ping")

// BitMEXDecoder decodes BitMEX `liquidation` table messages.
//
// Each `insert` row is one liquidation, counted once; `update` and `delete`
// rows describe the same order again and are never new events; `partial`
// rows (the table image sent on subscribing) are events flagged
// event.FlagBacklog. `side` is the liquidation order's side (Sell: a long
// was liquidated). `price` is the order's (bankruptcy) price and `leavesQty`
// is in contracts, converted with the instrument's multipliers: inverse
// (XBTUSD) USD = contracts × multiplier / underlyingToSettleMultiplier;
// linear (XBTUSDT) base = contracts / underlyingToPositionMultiplier;
// quanto and unknown instruments get NaN and BasisUnknown.
//
// The rows carry no timestamp, so TimeMs is the frame's receive time.
type BitMEXDecoder struct {
	inst *Instruments
}

// NewBitMEXDecoder returns a BitMEX decoder reading multipliers from inst.
func NewBitMEXDecoder(inst *Instruments) *BitMEXDecoder { return &BitMEXDecoder{inst: inst} }

// Decode implements Decoder.
func (d *BitMEXDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	if first(s) != '{' {
		return dst, notAnObject(frame, s)
	}
	var table, action string
	var data gjson.Result
	var control bool
	gjson.Parse(s).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "table":
			table = v.Str
		case "action":
			action = v.Str
		case "data":
			data = v
		case "info", "success", "error", "status", "subscribe", "unsubscribe":
			control = true
		}
		return true
	})
	if table == "" {
		if control {
			return dst, nil
		}
		if !gjson.Valid(s) {
			return dst, ErrMalformed
		}
		return dst, ErrUnexpected
	}
	if table != "liquidation" {
		return dst, ErrUnexpected
	}
	var flags event.Flags
	switch action {
	case "insert":
	case "partial":
		flags = event.FlagBacklog
	case "update", "delete":
		return dst, nil
	default:
		return dst, ErrMalformed
	}
	if !data.IsArray() {
		return dst, ErrMalformed
	}
	t := d.inst.Load()
	n0 := len(dst)
	timeMs := recvNs / int64(time.Millisecond)
	var err error
	data.ForEach(func(_, row gjson.Result) bool {
		if !row.IsObject() {
			err = ErrMalformed
			return false
		}
		var sym, side string
		var price, qty gjson.Result
		row.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "symbol":
				sym = v.Str
			case "side":
				side = v.Str
			case "price":
				price = v
			case "leavesQty":
				qty = v
			}
			return true
		})
		var e event.Event
		switch side {
		case "Sell":
			e.Side = event.Long
		case "Buy":
			e.Side = event.Short
		default:
			err = ErrMalformed
			return false
		}
		p, ok1 := jsonNumber(price)
		n, ok2 := jsonNumber(qty)
		if !ok1 || !ok2 || sym == "" {
			err = ErrMalformed
			return false
		}
		e.Venue = event.BitMEX
		e.Symbol = event.MakeSymbol(sym)
		e.TimeMs = timeMs
		e.RecvNs = recvNs
		e.Price = p
		e.Flags = flags
		in, ok := t.Lookup(sym)
		applySize(&e, in, ok, n, p)
		dst = append(dst, e)
		return true
	})
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// jsonNumber reads a non-negative finite JSON number (gjson already parsed
// it) or a decimal string.
func jsonNumber(r gjson.Result) (float64, bool) {
	switch r.Type {
	case gjson.Number:
		if r.Num >= 0 && r.Num <= 1e300 {
			return r.Num, true
		}
	case gjson.String:
		return parseDecimal(r.Str)
	}
	return 0, false
}

// Control implements ControlInspector: BitMEX replies to a bad request with
// {"status":4xx,"error":"…"}.
func (d *BitMEXDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	if e := gjson.Get(s, "error"); e.Exists() {
		return true, strings.Clone(e.String())
	}
	return false, ""
}

// BitMEXSpec returns the Spec of BitMEX's liquidation table, subscribed
// through the URL, with the text ping keepalive.
func BitMEXSpec(o VenueConfig, inst *Instruments) Spec {
	return Spec{
		Venue:      event.BitMEX,
		Stream:     "liquidation",
		URL:        orDefault(o.StreamURL, DefaultBitMEXURL),
		Ping:       bitmexPing,
		PingEvery:  bitmexPingEvery,
		IsPong:     isTextPong,
		StaleAfter: orDuration(o.StaleAfter, bitmexStaleAfter),
		Decoder:    NewBitMEXDecoder(inst),
	}
}
