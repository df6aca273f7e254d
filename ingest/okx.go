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

// OKXDecoder decodes OKX v5 `liquidation-orders` pushes in one pass. Every
// element of data[] and every entry of its details[] is one event; arg.channel
// must be liquidation-orders (the canary `mark-price` is a control frame).
//
// Side: posSide long/short is the liquidated position; when posSide is net
// (or absent) the order side decides, sell meaning a long was liquidated.
// Price is the bankruptcy price bkPx; time is details[].ts (a string). `sz`
// is in contracts: linear base = sz × ctVal × ctMult and USD = base × bkPx
// (BasisContractValue); inverse USD = sz × ctVal × ctMult (BasisInverse).
// An instrument missing from the table gets NaN and BasisUnknown. A detail
// outside the package's bounds is refused (details[].posSide/side, .sz,
// .bkPx, .ts; data[].instId) and the push's others are kept.
type OKXDecoder struct {
	inst *Instruments
}

// NewOKXDecoder returns an OKX decoder reading ctVal/ctMult from inst.
func NewOKXDecoder(inst *Instruments) *OKXDecoder { return &OKXDecoder{inst: inst} }

var (
	okxErrs         = newFieldErrors("data[].instId", "details[].posSide/side", "details[].sz", "details[].bkPx", "details[].ts")
	errOKXData      = newDecodeError(ErrMalformed, "data", reasonArray)
	errOKXDetails   = newDecodeError(ErrMalformed, "data[].details", reasonArray)
	errOKXChannel   = newDecodeError(ErrUnexpected, "arg.channel", "missing or not liquidation-orders")
	errOKXArg       = newDecodeError(ErrMalformed, "arg", reasonObject)
	okxLiquidations = "liquidation-orders"
)

// Decode implements Decoder.
func (d *OKXDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var channel string
	var haveArg, haveData, control bool
	var bad, shapeErr error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "arg":
			haveArg = true
			if s[i] != '{' {
				shapeErr = errOKXArg
				break
			}
			return members(s, i, func(k string, i int) int {
				if k == "channel" {
					channel, i = strField(s, i)
					return i
				}
				return skip(s, i)
			})
		case "data":
			// arg comes first in OKX's pushes; should it not, the data is
			// decoded on trust and dropped below unless the channel is
			// liquidation-orders.
			if haveArg && channel != okxLiquidations {
				break
			}
			if s[i] != '[' {
				shapeErr = errOKXData
				break
			}
			haveData = true
			dst, i, bad = d.data(s, i, dst, t, recvNs)
			return i
		case "event":
			control = true
		}
		return skip(s, i)
	})
	if i < 0 {
		return dst[:n0], errNotJSON
	}
	if shapeErr != nil {
		return dst[:n0], shapeErr
	}
	if !atEnd(s, i) {
		return dst[:n0], errTrailing
	}
	switch {
	case control && !haveData:
		// Subscription acks and errors, which echo the arg.
		return dst[:n0], nil
	case channel == okxLiquidations:
		if !haveData {
			return dst[:n0], errOKXData
		}
		return dst, bad
	case channel == "mark-price": // the canary
		return dst[:n0], nil
	case haveArg, haveData:
		return dst[:n0], errOKXChannel
	}
	return dst[:n0], errUnknown
}

// data decodes the data array at i: every details[] entry of every
// element. A bad entry or element is dropped, the others kept.
func (d *OKXDecoder) data(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.instrument(s, i, dst, t, recvNs)
	})
}

// instrument decodes the data[] element at i. OKX writes details before
// instId, so the details are decoded first (price and raw size in Price
// and Qty) and completed once the instrument is known.
func (d *OKXDecoder) instrument(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	n0 := len(dst)
	var instID string
	var haveDetails bool
	var bad error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "instId":
			instID, i = strField(s, i)
			return i
		case "details":
			if s[i] != '[' {
				bad = errOKXDetails
				break
			}
			haveDetails = true
			dst, i, bad = okxDetails(s, i, dst, recvNs)
			return i
		}
		return skip(s, i)
	})
	if i < 0 {
		return dst, i, nil
	}
	fe := &okxErrs
	if !validSymbol(instID) {
		return dst[:n0], i, fe.symbol
	}
	if !haveDetails {
		return dst[:n0], i, errOKXDetails
	}
	in, known := t.Lookup(instID)
	market := in.Market
	if !known {
		market = okxMarketByName(instID)
	}
	sym := event.MakeSymbol(instID)
	kept := n0
	for k := n0; k < len(dst); k++ {
		e := dst[k]
		e.Market, e.Symbol = market, sym
		if err := fe.finish(&e, in, known, e.Qty, e.Price); err != nil {
			if bad == nil {
				bad = err
			}
			continue
		}
		dst[kept] = e
		kept++
	}
	return dst[:kept], i, bad
}

// okxDetails decodes the details array at i into events holding the side,
// time, bankruptcy price and the raw size (in Qty), for instrument to
// complete.
func okxDetails(s string, i int, dst []event.Event, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return okxDetail(s, i, dst, recvNs)
	})
}

func okxFields(k string) (int, bool) {
	switch k {
	case "posSide":
		return fSide, false
	case "side":
		return fSide2, false
	case "bkPx":
		return fPrice, true
	case "sz":
		return fSize, true
	case "ts":
		return fTime, true
	}
	return -1, false
}

// okxDetail decodes one details[] object at i. The symbol is the
// element's instId, checked by instrument; the raw size goes in Qty.
func okxDetail(s string, i int, dst []event.Event, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, okxFields, &vals); i < 0 {
		return dst, i, nil
	}
	vals[fSymbol] = "-" // checked with the instrument
	e, n, err := okxErrs.liquidation(event.OKX, okxSide(vals[fSide], vals[fSide2]), &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	e.Qty = n
	return append(dst, e), i, nil
}

// okxSide: posSide long/short names the position; net (or none) leaves it
// to the order side, sell closing a long.
func okxSide(posSide, side string) event.Side {
	switch {
	case posSide == "long", (posSide == "net" || posSide == "") && side == "sell":
		return event.Long
	case posSide == "short", (posSide == "net" || posSide == "") && side == "buy":
		return event.Short
	}
	return event.SideUnknown
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
// reply (nil), other JSON is errNotObject, anything else errNotJSON. It
// runs only for such frames, off the path of liquidations.
func notAnObject(frame []byte, s string) error {
	if isTextPong(frame) {
		return nil
	}
	if !gjson.Valid(s) {
		return errNotJSON
	}
	return errNotObject
}

// Control implements ControlInspector: {"event":"error",…} is a rejected
// request; any other {"event":"notice",…} is reported (the 64008
// service-upgrade notice rotates the connection: okxRespond).
func (d *OKXDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	switch gjson.Get(s, "event").String() {
	case "error", "notice":
		return true, strings.Clone(gjson.Get(s, "event").String() + " " +
			gjson.Get(s, "code").String() + ": " + gjson.Get(s, "msg").String())
	}
	return false, ""
}

// okxEvent starts OKX's event messages (acks, errors, notices), as in the
// service-upgrade notice {"event":"notice","code":"64008","msg":"The
// connection will soon be closed for a service upgrade. Please
// reconnect.","connId":"a4d3ae55"}; pushes start {"arg":.
var okxEvent = []byte(`{"event":`)

// okxRespond rotates the connection on the 64008 notice: OKX closes it
// about 30 s later and says to reconnect before that, which a replacement
// brought up beside it does without a blind moment. A push is turned away
// by its first bytes.
func okxRespond(dst, frame []byte) ([]byte, Response) {
	if len(frame) > 512 || !bytes.HasPrefix(frame, okxEvent) {
		return dst, NoResponse
	}
	s := view(frame)
	if gjson.Get(s, "event").Str == "notice" && gjson.Get(s, "code").Str == "64008" {
		return dst, Rotate
	}
	return dst, NoResponse
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
		Respond:       okxRespond,
		StaleAfter:    orDuration(o.StaleAfter, okxStaleAfter),
		BacklogWindow: okxBacklogWindow,
		Canary:        okxCanary(o, mustCanary(o.Canary, defaultCanary["okx"])),
		Decoder:       NewOKXDecoder(inst),
	}
}
