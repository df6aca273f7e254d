package ingest

import (
	"bytes"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// DefaultOKXURL is OKX's v5 public WebSocket.
const DefaultOKXURL = "wss://ws.okx.com:8443/ws/v5/public"

const (
	// okxPingEvery stays under the 30 s after which OKX drops a connection
	// that neither pushed nor was pinged.
	okxPingEvery = 20 * time.Second
	// okxStaleAfter: two missed pong replies.
	okxStaleAfter = 45 * time.Second
	// okxBacklogWindow: right after subscribing OKX pushes recent
	// liquidations of every instrument; events older than the subscription
	// that arrive within this window are logged, not alerted.
	okxBacklogWindow = 10 * time.Second
)

var (
	okxPing      = []byte("ping")
	okxSubscribe = []byte(`{"op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"},{"channel":"liquidation-orders","instType":"FUTURES"}]}`)
)

// OKXDecoder decodes OKX v5 `liquidation-orders` pushes. Every element of
// data[] and every entry of its details[] is one event.
//
// Side: posSide long/short is the liquidated position; when posSide is net
// (or absent) the order side decides, sell meaning a long was liquidated.
// Price is the bankruptcy price bkPx; time is details[].ts (a string). `sz`
// is in contracts: linear base = sz × ctVal × ctMult and USD = base × bkPx
// (BasisContractValue); inverse USD = sz × ctVal × ctMult (BasisInverse).
// An instrument missing from the table gets NaN and BasisUnknown.
type OKXDecoder struct {
	inst *Instruments
}

// NewOKXDecoder returns an OKX decoder reading ctVal/ctMult from inst.
func NewOKXDecoder(inst *Instruments) *OKXDecoder { return &OKXDecoder{inst: inst} }

// Decode implements Decoder.
func (d *OKXDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	if first(s) != '{' {
		return dst, notAnObject(frame, s)
	}
	// Get skips the members it does not match without unescaping them, so
	// an error reply with escaped text costs no allocation.
	data := gjson.Get(s, "data")
	if !data.Exists() {
		if gjson.Get(s, "event").Exists() {
			return dst, nil
		}
		if !gjson.Valid(s) {
			return dst, ErrMalformed
		}
		return dst, ErrUnexpected
	}
	if !data.IsArray() {
		return dst, ErrMalformed
	}
	t := d.inst.Load()
	n0 := len(dst)
	var err error
	data.ForEach(func(_, el gjson.Result) bool {
		dst, err = d.instrument(dst, el, t, recvNs)
		return err == nil
	})
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// instrument decodes one data[] element: every details[] entry.
func (d *OKXDecoder) instrument(dst []event.Event, el gjson.Result, t *Table, recvNs int64) ([]event.Event, error) {
	if !el.IsObject() {
		return dst, ErrMalformed
	}
	var instID string
	var details gjson.Result
	el.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "instId":
			instID = v.Str
		case "details":
			details = v
		}
		return true
	})
	if instID == "" || !details.IsArray() {
		return dst, ErrMalformed
	}
	in, known := t.Lookup(instID)
	market := in.Market
	if !known {
		market = okxMarketByName(instID)
	}
	sym := event.MakeSymbol(instID)
	var err error
	details.ForEach(func(_, det gjson.Result) bool {
		if !det.IsObject() {
			err = ErrMalformed
			return false
		}
		var posSide, side, px, sz string
		var ts int64
		var haveT bool
		det.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "posSide":
				posSide = v.Str
			case "side":
				side = v.Str
			case "bkPx":
				px = v.Str
			case "sz":
				sz = v.Str
			case "ts":
				ts, haveT = parseMs(v.Str)
			}
			return true
		})
		var e event.Event
		switch {
		case posSide == "long", (posSide == "net" || posSide == "") && side == "sell":
			e.Side = event.Long
		case posSide == "short", (posSide == "net" || posSide == "") && side == "buy":
			e.Side = event.Short
		default:
			err = ErrMalformed
			return false
		}
		n, ok1 := parseDecimal(sz)
		price, ok2 := parseDecimal(px)
		if !ok1 || !ok2 || !haveT {
			err = ErrMalformed
			return false
		}
		e.Venue = event.OKX
		e.Market = market
		e.Symbol = sym
		e.TimeMs = ts
		e.RecvNs = recvNs
		e.Price = price
		applySize(&e, in, known, n, price)
		dst = append(dst, e)
		return true
	})
	return dst, err
}

// okxMarketByName reads the market from an instrument id when metadata is
// missing (it never sets a notional): BTC-USD-SWAP is inverse, BTC-USDT-SWAP,
// BTC-USDC-SWAP and BTC-USD_UM-SWAP are linear.
func okxMarketByName(id string) event.Market {
	switch {
	case strings.Contains(id, "-USDT-"), strings.Contains(id, "-USDC-"), strings.Contains(id, "-USD_UM-"):
		return event.Linear
	case strings.Contains(id, "-USD-"):
		return event.Inverse
	}
	return event.MarketUnknown
}

// isTextPong reports whether frame is the literal text "pong" (OKX and
// BitMEX answer a text ping with it, not with JSON).
func isTextPong(frame []byte) bool {
	return string(bytes.TrimSpace(frame)) == "pong"
}

// notAnObject classifies a frame of a venue whose messages are JSON
// objects but that does not start with '{': the text "pong" is a keepalive
// reply (nil), invalid JSON is ErrMalformed, other JSON is ErrUnexpected.
func notAnObject(frame []byte, s string) error {
	if isTextPong(frame) {
		return nil
	}
	if !gjson.Valid(s) {
		return ErrMalformed
	}
	return ErrUnexpected
}

// Control implements ControlInspector: {"event":"error",…} is a rejected
// request; {"event":"notice","code":"64008",…} announces a disconnect for a
// service upgrade within 30 s, which the client should treat like an error
// and reconnect early.
func (d *OKXDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	switch gjson.Get(s, "event").String() {
	case "error", "notice":
		return true, strings.Clone(gjson.Get(s, "event").String() + " " +
			gjson.Get(s, "code").String() + ": " + gjson.Get(s, "msg").String())
	}
	return false, ""
}

// OKXSpec returns the Spec of OKX's liquidation-orders channel for SWAP
// and FUTURES on one connection, with the text ping keepalive and the
// backlog window for the burst OKX sends after subscribing.
func OKXSpec(o VenueConfig, inst *Instruments) Spec {
	return Spec{
		Venue:         event.OKX,
		Stream:        "liquidation-orders",
		URL:           orDefault(o.StreamURL, DefaultOKXURL),
		Subscribe:     staticFrames(okxSubscribe),
		Ping:          okxPing,
		PingEvery:     okxPingEvery,
		IsPong:        isTextPong,
		StaleAfter:    orDuration(o.StaleAfter, okxStaleAfter),
		BacklogWindow: okxBacklogWindow,
		Decoder:       NewOKXDecoder(inst),
	}
}
