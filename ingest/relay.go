package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
)

// The HolySheep relay: a WebSocket service that forwards exchanges'
// liquidations from its own servers, advertised at under 50 ms. liqbox
// reads it as one more source of the venues it forwards, beside (or
// instead of) their own feeds; its copies are matched to the venues'
// (event.MatchRule) and never trusted blindly.
//
// The protocol is known only from HolySheep's publication; nothing of it
// was verified against the live service. Everything below is therefore an
// assumption, and a relay that sends something else fails loudly: every
// frame that is neither a liquidation nor a control message of the shapes
// below is a decode error (counted, logged rate-limited with its first
// bytes, the key masked, and graded into the stream's health in /status
// and /healthz), never skipped in silence.
//
//   - Endpoint DefaultHolySheepURL; the API key (the one enrichment uses)
//     is sent as "Authorization: Bearer <key>" with the handshake, the
//     model as "X-Model"; a refused key is a refused handshake (HTTP 401
//     or 403), retried with backoff and visible as the stream's gap.
//   - One connection per exchange, subscribed with the published message
//     {"action":"subscribe","channel":"liquidation","params":{"exchange":
//     "binance","symbols":["ALL"],"threshold_usd":N,
//     "include_orderbook_snapshot":false}}.
//   - A liquidation is a JSON object with "symbol" (as the venue writes
//     it), "side" ("LONG" or "SHORT": the liquidated position, any case;
//     an order side such as "SELL" is refused, not guessed), "quantity_usd"
//     and "price" (numbers or decimal strings), optionally "exchange" (it
//     must be the subscribed one) and the time as "timestamp", "time" or
//     "ts" (seconds, milliseconds, microseconds or nanoseconds by
//     magnitude, or RFC 3339); without one the event takes its receive
//     time. Any other member is skipped, "ai_analysis" (an object) among
//     them: liqbox's own enrichment analyses its alerts.
//   - A frame is such an object, an array of them, or an envelope whose
//     "data" holds one or an array (its "channel", "type" or "event", when
//     present, must say "liquidation"; its other members are not applied
//     to the data).
//   - A control message has no liquidation and no data; its "type",
//     "event", "status" or "action" is one of subscribed, ack, ok,
//     success, pong, ping, heartbeat, welcome, connected, info. One with an
//     "error" member, or whose type, event or status is "error", is the
//     relay refusing something: a decode error, so that it shows.
//   - Keepalive: WebSocket pings both ways (the relay's answered, ours
//     every 20 s); a connection silent for 60 s is dead.
//
// The USD notional is the relay's quantity_usd and the base quantity is
// derived from it (quantity_usd / price): the relay gives no contract
// count, so its copy's Key differs from the venue's own and the pipeline
// matches the two by event.MatchRule. Market and basis are the venue's
// for the symbol (Binance "binance": USD-M, linear; a COIN-M symbol such as
// BTCUSD_PERP: COIN-M), so the copies of one liquidation read alike.

// DefaultHolySheepURL is the relay's published stream endpoint.
const DefaultHolySheepURL = "wss://api.holysheep.ai/v1/ws/stream"

// RelayStream names a relay connection in metrics, /status and the gap
// ledger, beside the venue's own streams: venue "binance-usdm", stream
// "holysheep".
const RelayStream = "holysheep"

// Relay keepalive: WebSocket pings every 20 s, dead after 60 s of nothing.
const (
	relayPingEvery  = 20 * time.Second
	relayStaleAfter = 60 * time.Second
	// relayBacklog: liquidations older than the subscription that arrive
	// in its first 5 s are a replay (logged, not alerted), as OKX's are.
	relayBacklog = 5 * time.Second
)

// RelayConfig is what the [relay.holysheep] section sets.
type RelayConfig struct {
	URL string // "" is DefaultHolySheepURL
	// APIKey goes in the Authorization header; it is never logged: frame
	// bytes the stream logs have it masked.
	APIKey string
	Model  string // the X-Model header; "" sends none
	// Exchanges are the relay's exchange names, one connection each
	// (RelayVenue says which venue each is).
	Exchanges []string
	// Symbols to subscribe; nil is ["ALL"].
	Symbols      []string
	ThresholdUSD float64
	StaleAfter   time.Duration // 0: 60 s
}

// RelayVenue returns the venue whose liquidations the relay's exchange
// forwards: binance → binance-usdm (COIN-M symbols go to binance-coinm),
// bybit, okx, bitmex and deribit as liqbox names them, when this binary
// has the venue.
func RelayVenue(exchange string) (event.Venue, bool) {
	name := strings.ToLower(exchange)
	switch name {
	case "binance":
		name = event.BinanceUSDM.String()
	case "bybit", "okx", "bitmex", "deribit":
	default:
		return event.VenueUnknown, false
	}
	return event.ParseVenue(name)
}

// HolySheepSpecs returns the relay's streams, one per exchange, each
// labelled with the exchange's venue and RelayStream, its events on
// connection ids from event.ConnRelay.
func HolySheepSpecs(o RelayConfig) ([]Spec, error) {
	if o.APIKey == "" {
		return nil, fmt.Errorf("cannot build the relay's streams: no API key (HOLYSHEEP_API_KEY or enrich.api_key_file)")
	}
	if len(o.Exchanges) == 0 {
		return nil, fmt.Errorf("cannot build the relay's streams: no exchange")
	}
	syms := o.Symbols
	if len(syms) == 0 {
		syms = []string{"ALL"}
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+o.APIKey)
	if o.Model != "" {
		hdr.Set("X-Model", o.Model)
	}
	var specs []Spec
	seen := map[event.Venue]string{}
	for _, ex := range o.Exchanges {
		d, err := NewHolySheepDecoder(ex)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[d.venue]; dup {
			return nil, fmt.Errorf("cannot build the relay's streams: %s and %s are both %s", prev, ex, d.venue)
		}
		seen[d.venue] = ex
		msg, err := json.Marshal(relaySubscribe{Action: "subscribe", Channel: "liquidation",
			Params: relayParams{Exchange: d.exchange, Symbols: syms, ThresholdUSD: o.ThresholdUSD}})
		if err != nil {
			return nil, fmt.Errorf("cannot build the relay's subscription: %w", err)
		}
		specs = append(specs, Spec{
			Venue:         d.venue,
			Stream:        RelayStream,
			URL:           orDefault(o.URL, DefaultHolySheepURL),
			Subscribe:     staticFrames(msg),
			PingEvery:     relayPingEvery,
			StaleAfter:    orDuration(o.StaleAfter, relayStaleAfter),
			BacklogWindow: relayBacklog,
			Decoder:       d,
			Header:        hdr,
			Secret:        o.APIKey,
			ConnBase:      event.ConnRelay,
		})
	}
	return specs, nil
}

// relaySubscribe is the published subscribe message, field for field.
type relaySubscribe struct {
	Action  string      `json:"action"`
	Channel string      `json:"channel"`
	Params  relayParams `json:"params"`
}

type relayParams struct {
	Exchange     string   `json:"exchange"`
	Symbols      []string `json:"symbols"`
	ThresholdUSD float64  `json:"threshold_usd"`
	OrderBook    bool     `json:"include_orderbook_snapshot"`
}

// HolySheepDecoder decodes the relay's frames of one subscribed exchange
// into the events of the venue it forwards (see the package's notes on the
// relay above). It allocates nothing.
type HolySheepDecoder struct {
	exchange string
	venue    event.Venue
}

// NewHolySheepDecoder returns the decoder of the relay's exchange (its
// name as the relay spells it, e.g. "binance").
func NewHolySheepDecoder(exchange string) (*HolySheepDecoder, error) {
	v, ok := RelayVenue(exchange)
	if !ok {
		return nil, fmt.Errorf("cannot decode the relay's exchange %q: liqbox has no venue for it (binance, bybit, okx, bitmex, deribit)", exchange)
	}
	return &HolySheepDecoder{exchange: strings.ToLower(exchange), venue: v}, nil
}

var (
	relayErrs = func() fieldErrors {
		fe := newFieldErrors("symbol", "side", "quantity_usd", "price", "timestamp")
		fe.side = newDecodeError(ErrMalformed, "side", "missing or not LONG or SHORT (the liquidated position; an order side is refused, not guessed)")
		fe.size = newDecodeError(ErrMalformed, "quantity_usd", "missing or not a decimal above 0 and at most 1e10")
		fe.time = newDecodeError(ErrMalformed, "timestamp", "not a time (s, ms, µs or ns since 1970, or RFC 3339) between 2015-01-01 and a day after receipt")
		return fe
	}()
	errRelayExchange = newDecodeError(ErrUnexpected, "exchange", "not the exchange this connection subscribed to")
	errRelayChannel  = newDecodeError(ErrUnexpected, "channel", "not liquidation: the relay sent a channel liqbox did not subscribe to")
	errRelayData     = newDecodeError(ErrMalformed, "data", "not an object or an array")
	errRelayRefused  = newDecodeError(ErrUnexpected, "", "an error reply from the relay (a refused subscription or key, or a fault on its side)")
)

// Decode implements Decoder.
func (d *HolySheepDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	return decodeFrame(frame, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.object(s, i, dst, recvNs, true)
	}, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.liquidations(s, i, dst, recvNs)
	})
}

func (d *HolySheepDecoder) liquidations(s string, i int, dst []event.Event, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.object(s, i, dst, recvNs, false)
	})
}

// The members of a relay object the decoder reads.
const (
	rSymbol = iota
	rSide
	rUSD
	rPrice
	rExchange
	rTime
	nRelayFields
)

// object decodes the object at i: a liquidation, or (top) an envelope or
// a control message.
func (d *HolySheepDecoder) object(s string, i int, dst []event.Event, recvNs int64, top bool) ([]event.Event, int, error) {
	n0 := len(dst)
	var vals [nRelayFields]string
	var have [nRelayFields]bool
	var kind [3]string // channel, type, event
	var status, action string
	var haveData, isError bool
	var dataBad error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "symbol":
			have[rSymbol] = true
			vals[rSymbol], i = strField(s, i)
		case "side":
			have[rSide] = true
			vals[rSide], i = strField(s, i)
		case "quantity_usd":
			have[rUSD] = true
			vals[rUSD], i = textField(s, i)
		case "price":
			have[rPrice] = true
			vals[rPrice], i = textField(s, i)
		case "exchange":
			have[rExchange] = true
			vals[rExchange], i = strField(s, i)
		case "timestamp", "time", "ts":
			have[rTime] = true
			vals[rTime], i = textField(s, i)
		case "channel":
			kind[0], i = strField(s, i)
		case "type":
			kind[1], i = strField(s, i)
		case "event":
			kind[2], i = strField(s, i)
		case "status":
			status, i = strField(s, i)
		case "action":
			action, i = strField(s, i)
		case "error":
			isError = true
			i = skip(s, i)
		case "data":
			if !top {
				return skip(s, i)
			}
			haveData = true
			switch s[i] {
			case '{':
				dst, i, dataBad = d.object(s, i, dst, recvNs, false)
			case '[':
				dst, i, dataBad = d.liquidations(s, i, dst, recvNs)
			default:
				dataBad, i = errRelayData, skip(s, i)
			}
		default:
			i = skip(s, i)
		}
		return i
	})
	if i < 0 {
		return dst, i, nil
	}
	liquidation := have[rSymbol] || have[rSide] || have[rUSD] || have[rPrice]
	switch {
	case isError || strings.EqualFold(kind[1], "error") || strings.EqualFold(kind[2], "error") || strings.EqualFold(status, "error"):
		return dst[:n0], i, errRelayRefused
	case liquidation || haveData:
		for _, k := range kind {
			if k != "" && !isLiquidationWord(k) {
				return dst[:n0], i, errRelayChannel
			}
		}
		if haveData {
			return dst, i, dataBad
		}
		return d.liquidation(dst, &vals, have[rExchange], have[rTime], recvNs, i)
	case top && (isControlWord(kind[1]) || isControlWord(kind[2]) || isControlWord(status) || isControlWord(action)):
		return dst, i, nil
	}
	return dst, i, errUnknown
}

func isLiquidationWord(w string) bool {
	return strings.EqualFold(w, "liquidation") || strings.EqualFold(w, "liquidations")
}

func isControlWord(w string) bool {
	for _, c := range [...]string{"subscribed", "ack", "ok", "success", "pong", "ping", "heartbeat", "welcome", "connected", "info"} {
		if strings.EqualFold(w, c) {
			return true
		}
	}
	return false
}

// liquidation checks the members read into vals and appends the event.
func (d *HolySheepDecoder) liquidation(dst []event.Event, vals *[nRelayFields]string, haveExchange, haveTime bool, recvNs int64, i int) ([]event.Event, int, error) {
	fe := &relayErrs
	if haveExchange && !strings.EqualFold(vals[rExchange], d.exchange) {
		return dst, i, errRelayExchange
	}
	var side event.Side
	switch v := vals[rSide]; {
	case strings.EqualFold(v, "LONG"):
		side = event.Long
	case strings.EqualFold(v, "SHORT"):
		side = event.Short
	default:
		return dst, i, fe.side
	}
	sym := vals[rSymbol]
	if !validSymbol(sym) {
		return dst, i, fe.symbol
	}
	usd, ok := parseDecimal(vals[rUSD])
	if !ok || !(usd > 0 && usd <= MaxNotional) {
		return dst, i, fe.size
	}
	price, ok := parseDecimal(vals[rPrice])
	if !ok || !priceOK(price) {
		return dst, i, fe.price
	}
	e := event.Event{Side: side, RecvNs: recvNs, TimeMs: recvNs / 1e6, Price: price, Notional: usd, Qty: usd / price,
		Symbol: event.MakeSymbol(sym)}
	if haveTime {
		if e.TimeMs, ok = parseRelayTime(vals[rTime]); !ok || !timeOK(e.TimeMs, recvNs) {
			return dst, i, fe.time
		}
	}
	e.Venue, e.Market, e.Basis = d.market(sym)
	if math.IsInf(e.Qty, 0) || !(e.Qty > 0) {
		return dst, i, fe.notional
	}
	return append(dst, e), i, nil
}

// market says which venue, market and basis the relay's symbol is: the
// ones the venue's own decoder gives it, so both copies read alike.
func (d *HolySheepDecoder) market(sym string) (event.Venue, event.Market, event.Basis) {
	switch d.venue {
	case event.BinanceUSDM:
		if strings.Contains(sym, "USD_") { // BTCUSD_PERP, ETHUSD_250627: COIN-M
			return event.BinanceCOINM, event.Inverse, event.BasisContractSize
		}
		return event.BinanceUSDM, event.Linear, event.BasisLinear
	case event.OKX:
		if strings.Contains(sym, "-USD-") {
			return event.OKX, event.Inverse, event.BasisInverse
		}
		return event.OKX, event.Linear, event.BasisContractValue
	}
	// Bybit, BitMEX and the rest: stablecoin-quoted (or settled) symbols
	// are linear; the others (BTCUSD, XBTUSD, BTC-PERPETUAL) inverse.
	if strings.Contains(sym, "USDT") || strings.Contains(sym, "USDC") || strings.HasSuffix(sym, "PERP") {
		return d.venue, event.Linear, event.BasisLinear
	}
	return d.venue, event.Inverse, event.BasisInverse
}

// parseRelayTime reads a time as Unix milliseconds: a number (or a string
// of one) of seconds (with or without a fraction), milliseconds,
// microseconds or nanoseconds, told apart by magnitude (any real time
// after 2001 has 10, 13, 16 or 19 integer digits), or an RFC 3339 string.
func parseRelayTime(v string) (int64, bool) {
	if len(v) >= 20 && v[4] == '-' {
		return parseRFC3339Ms(v)
	}
	f, ok := parseDecimal(v)
	if !ok {
		return 0, false
	}
	switch {
	case f < 1e11:
		return int64(math.Round(f * 1e3)), true
	case f < 1e14:
		return int64(f), true
	case f < 1e17:
		return int64(f / 1e3), true
	}
	return int64(f / 1e6), true
}

// parseRFC3339Ms reads 2006-01-02T15:04:05[.fraction](Z|±07:00) without
// allocating (time.Parse allocates a zone for a numeric offset).
func parseRFC3339Ms(v string) (int64, bool) {
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != 't' && v[10] != ' ') || v[13] != ':' || v[16] != ':' {
		return 0, false
	}
	y, ok1 := num(v[0:4])
	mo, ok2 := num(v[5:7])
	dd, ok3 := num(v[8:10])
	hh, ok4 := num(v[11:13])
	mi, ok5 := num(v[14:16])
	ss, ok6 := num(v[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59 {
		return 0, false
	}
	i, ms, scale := 19, 0, 100
	if v[i] == '.' {
		i++
		start := i
		for ; i < len(v) && isDigit(v[i]); i++ {
			ms += int(v[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return 0, false
		}
	}
	off := 0
	switch rest := v[i:]; {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		off = (oh*60 + om) * 60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	t := time.Date(y, time.Month(mo), dd, hh, mi, ss, 0, time.UTC).Unix() - int64(off)
	return t*1000 + int64(ms), true
}
