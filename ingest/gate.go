package ingest

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default Gate futures endpoints: USDT-settled and BTC-settled perpetuals.
const (
	DefaultGateUSDTURL = "wss://fx-ws.gateio.ws/v4/ws/usdt"
	DefaultGateBTCURL  = "wss://fx-ws.gateio.ws/v4/ws/btc"
)

const (
	// gatePingEvery: Gate keeps connections alive with WebSocket
	// protocol pings, which it sends and the client answers; the client
	// pings too, for the round-trip and so a silent server is noticed.
	gatePingEvery = 20 * time.Second
	// gateStaleAfter: three missed pongs.
	gateStaleAfter = 60 * time.Second
	// gateCanaryAfter: futures.tickers has no documented cadence; Gate's
	// maintainers say the spot ticker pushes "at a fixed 1 s" (gatews#4),
	// and BTC's ticker (mark and index price) moves every second. 15 s
	// allows for a quiet spell without waiting long on a dead stream.
	gateCanaryAfter = 15 * time.Second
	gateLiquidates  = "futures.public_liquidates"
)

// gateSizeDecimal asks Gate for sizes with decimals: without the header
// "size is an integer" (Gate's 2026-08-20 changelog), and a fractional
// contract count would arrive cut to its integer part.
var gateSizeDecimal = http.Header{"X-Gate-Size-Decimal": {"1"}}

// GateDecoder decodes Gate futures `futures.public_liquidates` updates in
// one pass: `result` is one liquidation object (what Gate sends live) or
// an array of them (its documentation, and the batches it pushes since
// 2026-08-20); price and size come as numbers or strings; a row's time is
// `time_ms`, else `time` (milliseconds; a value below 10^12 is seconds, as
// in an older example). Acks, pongs and the canary `futures.tickers` are
// control frames; any other channel is refused.
//
// Side (UNCONFIRMED: Gate does not document it for this channel): `size`
// is the liquidation order's, signed as Gate signs orders (negative to
// ask), so a negative size is a sell: a long was liquidated; positive, a
// short. Gate's REST liq_orders signs the position instead (the opposite):
// that mapping does not apply here. `price` is the order's price.
//
// `size` is in contracts. USDT-settled: base = |size| × quanto_multiplier
// from GET /api/v4/futures/usdt/contracts, USD = base × price
// (BasisContractValue). BTC-settled (inverse, BTC_USD): USD = |size|, one
// contract taken as 1 USD (UNCONFIRMED), base = USD / price
// (BasisInverse), for contracts Gate lists as inverse. A contract the
// table lacks is unknown (NaN, BasisUnknown). A row outside the package's
// bounds is refused (result[].contract, .size, .price, .time) and the
// update's others are kept.
type GateDecoder struct {
	inst   *Instruments
	market event.Market // the endpoint's market, or MarketUnknown
}

// NewGateDecoder returns a Gate decoder reading multipliers from inst.
// market is the endpoint's (Linear: USDT-settled, Inverse: BTC-settled),
// or MarketUnknown for frames of unknown origin, whose market comes from
// the contract name (_USDT linear, _USD inverse).
func NewGateDecoder(inst *Instruments, market event.Market) *GateDecoder {
	return &GateDecoder{inst: inst, market: market}
}

var (
	gateErrs       = newFieldErrors("result[].contract", "result[].size", "result[].size", "result[].price", "result[].time")
	errGateResult  = newDecodeError(ErrMalformed, "result", "missing or not a liquidation object or array")
	errGateEvent   = newDecodeError(ErrUnexpected, "event", "not update, subscribe or unsubscribe")
	errGateChannel = newDecodeError(ErrUnexpected, "channel", "not futures.public_liquidates")
)

// Decode implements Decoder.
func (d *GateDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var channel, evt string
	var haveChannel, haveEvent, haveResult bool
	var bad error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "channel":
			channel, i = strField(s, i)
			haveChannel = true
			return i
		case "event":
			evt, i = strField(s, i)
			haveEvent = true
			return i
		case "result":
			// channel and event come first in Gate's messages; should
			// they not, the rows are decoded on trust and dropped below
			// unless the message is a liquidation update.
			if haveChannel && channel != gateLiquidates || haveEvent && evt != "update" {
				break
			}
			switch s[i] {
			case '{':
				haveResult = true
				dst, i, bad = d.row(s, i, dst, t, recvNs)
				return i
			case '[':
				haveResult = true
				dst, i, bad = d.rows(s, i, dst, t, recvNs)
				return i
			}
		}
		return skip(s, i)
	})
	if i < 0 {
		return dst[:n0], errNotJSON
	}
	if !atEnd(s, i) {
		return dst[:n0], errTrailing
	}
	switch {
	case channel == gateLiquidates:
		switch evt {
		case "update":
			if !haveResult {
				return dst[:n0], errGateResult
			}
			return dst, bad
		case "subscribe", "unsubscribe":
			// The ack, or a refusal the client logs through Control.
			return dst[:n0], nil
		}
		return dst[:n0], errGateEvent
	case channel == "futures.tickers", channel == "futures.pong":
		// The canary, and the answer to an application ping.
		return dst[:n0], nil
	case haveChannel && (evt == "subscribe" || evt == "unsubscribe"):
		return dst[:n0], nil
	case haveChannel:
		return dst[:n0], errGateChannel
	}
	return dst[:n0], errUnknown
}

// rows decodes the result array at i; a bad row is dropped, the others
// kept.
func (d *GateDecoder) rows(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.row(s, i, dst, t, recvNs)
	})
}

func gateFields(k string) (int, bool) {
	switch k {
	case "contract":
		return fSymbol, false
	case "size":
		return fSize, true
	case "price":
		return fPrice, true
	case "time_ms":
		return fTime, true
	case "time":
		return fTime2, true
	}
	return -1, false
}

// row decodes one liquidation object at i.
func (d *GateDecoder) row(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, gateFields, &vals); i < 0 {
		return dst, i, nil
	}
	fe := &gateErrs
	side := event.Short
	if size, neg := strings.CutPrefix(vals[fSize], "-"); neg {
		side, vals[fSize] = event.Long, size
	}
	timeField := vals[fTime]
	if timeField == "" {
		timeField = vals[fTime2]
	}
	ms, ok := parseMs(timeField)
	if ok && ms < 1e12 {
		ms *= 1000 // seconds, as an older example wrote the row time
	}
	e, n, err := fe.liquidation(event.Gate, side, &vals, recvNs, max(ms, 0))
	if err != nil {
		return dst, i, err
	}
	if !ok || !timeOK(ms, recvNs) {
		return dst, i, fe.time
	}
	contract := vals[fSymbol]
	market := d.market
	if market == event.MarketUnknown {
		market = gateMarketByName(contract)
	}
	e.Market = market
	in, known := gateInstrument(t, contract, market)
	if err := fe.finish(&e, in, known, n, e.Price); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
}

// gateInstrument returns contract's terms from the table when they are of
// market: a family entry of the other settlement (XYZ_USD's for an
// unlisted XYZ_USDT) never sizes a contract.
func gateInstrument(t *Table, contract string, market event.Market) (Instrument, bool) {
	in, ok := t.Lookup(contract)
	if !ok || market != event.MarketUnknown && in.Market != market {
		return Instrument{}, false
	}
	return in, true
}

// gateMarketByName reads the settlement from a contract name: BTC_USDT
// is USDT-settled (linear), BTC_USD BTC-settled (inverse).
func gateMarketByName(c string) event.Market {
	switch {
	case strings.HasSuffix(c, "_USDT"):
		return event.Linear
	case strings.HasSuffix(c, "_USD"):
		return event.Inverse
	}
	return event.MarketUnknown
}

// Control implements ControlInspector: Gate answers a refused request
// with a non-null error object, {"code":2,"message":"invalid argument"}.
func (d *GateDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	if e := gjson.Get(s, "error"); e.Exists() && e.Type != gjson.Null {
		return true, strings.Clone(gjson.Get(s, "channel").String() + ": code " + e.Get("code").Raw + " " + e.Get("message").String())
	}
	return false, ""
}

// GateSpec returns the Spec of Gate's USDT-settled (market Linear) or
// BTC-settled (Inverse) futures.public_liquidates stream for every
// contract ("!all"), with sizes in decimals, protocol pings and the
// futures.tickers canary.
func GateSpec(o VenueConfig, inst *Instruments, market event.Market) Spec {
	url, stream := orDefault(o.StreamURL, DefaultGateUSDTURL), "public_liquidates.usdt"
	syms := mustCanary(o.Canary, defaultCanary["gate-usdt"])
	if market == event.Inverse {
		url, stream = orDefault(o.InverseStreamURL, DefaultGateBTCURL), "public_liquidates.btc"
		syms = mustCanary(o.InverseCanary, defaultCanary["gate-btc"])
	}
	return Spec{
		Venue:  event.Gate,
		Stream: stream,
		URL:    url,
		Header: gateSizeDecimal,
		Subscribe: func(context.Context) ([][]byte, error) {
			return gateSubscribeFrames(time.Now(), syms), nil
		},
		PingEvery:  gatePingEvery,
		StaleAfter: orDuration(o.StaleAfter, gateStaleAfter),
		Canary: newCanary(syms, nil, orDuration(o.CanaryAfter, gateCanaryAfter),
			func(f []byte) bool { return bytes.Contains(f, gateTickers) }),
		Decoder: NewGateDecoder(inst, market),
	}
}

// gateTickers marks the canary's pushes; the search starts at its rare
// first byte, so a liquidation frame costs a few tens of nanoseconds.
var gateTickers = []byte(`futures.tickers"`)

// gateSubscribeFrames subscribes to every contract's liquidations and to
// the canary's tickers, stamped with the request time Gate asks for.
func gateSubscribeFrames(now time.Time, canary []string) [][]byte {
	ts := strconv.FormatInt(now.Unix(), 10)
	out := [][]byte{[]byte(`{"time":` + ts + `,"channel":"` + gateLiquidates + `","event":"subscribe","payload":["!all"]}`)}
	if len(canary) > 0 {
		out = append(out, subscribeFrame(`{"time":`+ts+`,"channel":"futures.tickers","event":"subscribe","payload":[`, `]}`, canary,
			func(b []byte, s string) []byte {
				b = append(b, '"')
				b = append(b, s...)
				return append(b, '"')
			}))
	}
	return out
}
