package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default Bybit v5 public stream URLs.
const (
	DefaultBybitLinearURL  = "wss://stream.bybit.com/v5/public/linear"
	DefaultBybitInverseURL = "wss://stream.bybit.com/v5/public/inverse"
)

const (
	// bybitPingEvery is Bybit's recommended heartbeat period.
	bybitPingEvery = 20 * time.Second
	// bybitStaleAfter: three missed pong replies.
	bybitStaleAfter = 60 * time.Second
	// bybitArgsBudget bounds the characters of one subscribe request's args
	// array. Bybit allows 21,000; half leaves room for any accounting
	// difference (quotes, commas) on their side.
	bybitArgsBudget = 10000
)

// bybitPing is Bybit's application heartbeat; the reply is
// {"success":true,"ret_msg":"pong",…,"op":"ping"}.
var bybitPing = []byte(`{"op":"ping"}`)

var errNoBybitSymbols = errors.New("no Bybit symbols to subscribe to")

// BybitDecoder decodes Bybit v5 `allLiquidation.<SYMBOL>` frames (data is an
// array, every element an event) and the deprecated `liquidation.<SYMBOL>`
// topic (data is one object; v2 and v5 field names) for replaying old data,
// in one pass over the frame. Any other topic is refused, except the canary
// `tickers.<SYMBOL>`, a control frame.
//
// `S`/`side` is the liquidated POSITION's side: Buy means a long was
// liquidated (the opposite of Binance). `p` is the bankruptcy price. Linear:
// `v` is base units, notional = v × p (BasisLinear). Inverse: `v` is USD
// (1 USD contracts), base = v / p (BasisInverse). Which market a symbol is
// in comes from the instrument table, else from the endpoint the decoder
// serves, else from Bybit's symbol naming (…USDT, …USDC, …PERP and dated
// "-" symbols are linear; …USD and …USD<month><yy> are inverse); a symbol
// none of these settles gets NaN and BasisUnknown. A row outside the
// package's bounds is refused (data[].s, .S, .v, .p, .T) and the frame's
// other rows are kept.
type BybitDecoder struct {
	inst   *Instruments
	market event.Market // the endpoint's market, or MarketUnknown
}

// NewBybitDecoder returns a Bybit decoder. market is the endpoint's market
// (Linear or Inverse) when the decoder serves one endpoint, MarketUnknown
// for frames of unknown origin.
func NewBybitDecoder(inst *Instruments, market event.Market) *BybitDecoder {
	return &BybitDecoder{inst: inst, market: market}
}

var (
	bybitErrs          = newFieldErrors("data[].s", "data[].S", "data[].v", "data[].p", "data[].T")
	errBybitRows       = newDecodeError(ErrMalformed, "data", "not an array of liquidations")
	errBybitLegacyData = newDecodeError(ErrMalformed, "data", "not a liquidation object")
	errBybitTopic      = newDecodeError(ErrUnexpected, "topic", "not a liquidation topic")
)

// Decode implements Decoder.
func (d *BybitDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var topic string
	var haveTopic, control bool
	var shape byte // '[' or '{' once data was decoded
	var bad error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "topic":
			topic, i = strField(s, i)
			haveTopic = true
			return i
		case "data":
			// The topic comes first in Bybit's frames; should it not, the
			// data is decoded on trust and dropped below if the topic
			// turns out not to be a liquidation one.
			if haveTopic && !bybitLiquidationTopic(topic) {
				break
			}
			switch shape = s[i]; shape {
			case '[':
				dst, i, bad = d.rows(s, i, dst, t, recvNs)
				return i
			case '{':
				dst, i, bad = d.element(s, i, dst, t, recvNs)
				return i
			}
			shape = 0
		case "op", "success":
			control = true
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
	case strings.HasPrefix(topic, "allLiquidation."):
		if shape != '[' {
			return dst[:n0], errBybitRows
		}
		return dst, bad
	case strings.HasPrefix(topic, "liquidation."):
		if shape != '{' {
			return dst[:n0], errBybitLegacyData
		}
		return dst, bad
	case strings.HasPrefix(topic, "tickers."): // the canary
		return dst[:n0], nil
	case haveTopic:
		return dst[:n0], errBybitTopic
	case control:
		return dst[:n0], nil
	}
	return dst[:n0], errUnknown
}

func bybitLiquidationTopic(t string) bool {
	return strings.HasPrefix(t, "allLiquidation.") || strings.HasPrefix(t, "liquidation.")
}

// rows decodes the data array at i; a bad row is dropped and the others
// kept.
func (d *BybitDecoder) rows(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.element(s, i, dst, t, recvNs)
	})
}

// element decodes the liquidation object at i: allLiquidation {T,s,S,v,p},
// v5 liquidation {updatedTime|updateTime,symbol,side,size,price} or v2
// liquidation {time,symbol,side,qty,price}.
func (d *BybitDecoder) element(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, bybitFields, &vals); i < 0 {
		return dst, i, nil
	}
	fe := &bybitErrs
	e, size, err := fe.liquidation(event.Bybit, sideOf(vals[fSide], "Buy", "Sell"), &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	in, known := d.instrument(t, vals[fSymbol])
	if err := fe.finish(&e, in, known, size, e.Price); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
}

func bybitFields(k string) (int, bool) {
	switch k {
	case "s", "symbol":
		return fSymbol, false
	case "S", "side":
		return fSide, false
	case "v", "size", "qty":
		return fSize, true
	case "p", "price":
		return fPrice, true
	case "T", "updatedTime", "updateTime", "time":
		return fTime, true
	}
	return -1, false
}

// instrument resolves sym's market: table, then endpoint, then naming.
func (d *BybitDecoder) instrument(t *Table, sym string) (Instrument, bool) {
	if in, ok := t.Lookup(sym); ok {
		return in, true
	}
	m := d.market
	if m == event.MarketUnknown {
		m = bybitMarketByName(sym)
	}
	switch m {
	case event.Linear:
		return linearBase, true
	case event.Inverse:
		return Instrument{Market: event.Inverse, Basis: event.BasisInverse, Size: 1}, true
	}
	return Instrument{}, false
}

// bybitMarketByName applies Bybit's symbol naming: USDT/USDC perpetuals end
// in USDT or PERP (USDC), dated linear futures carry a "-DDMMMYY" suffix,
// inverse perpetuals end in USD and inverse futures in USD plus a month
// code and a two-digit year (BTCUSDH25).
func bybitMarketByName(s string) event.Market {
	switch {
	case strings.HasSuffix(s, "USDT"), strings.HasSuffix(s, "USDC"), strings.HasSuffix(s, "PERP"),
		strings.IndexByte(s, '-') > 0:
		return event.Linear
	case strings.HasSuffix(s, "USD"):
		return event.Inverse
	}
	if n := len(s); n > 6 && s[n-6:n-3] == "USD" && s[n-3] >= 'A' && s[n-3] <= 'Z' &&
		isDigit(s[n-2]) && isDigit(s[n-1]) {
		return event.Inverse
	}
	return event.MarketUnknown
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Control implements ControlInspector: a rejected request comes back as
// {"success":false,"ret_msg":"…",…}.
func (d *BybitDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	if r := gjson.Get(s, "success"); r.Type == gjson.False {
		return true, strings.Clone(gjson.Get(s, "ret_msg").String())
	}
	return false, ""
}

// isBybitPong recognises the linear/inverse pong, whose op stays "ping".
func isBybitPong(frame []byte) bool {
	return bytes.Contains(frame, []byte(`"ret_msg":"pong"`)) || bytes.Contains(frame, []byte(`"op":"pong"`))
}

// BybitSpec returns the Spec of Bybit's linear or inverse allLiquidation
// stream. Bybit has one topic per symbol, so Subscribe takes the trading
// symbols of that market from inst (refreshing it once if it is empty) and
// sends them in requests whose args stay within Bybit's size limit. Symbols
// listed later are picked up on the next reconnect.
func BybitSpec(o VenueConfig, inst *Instruments, market event.Market) Spec {
	url, stream := orDefault(o.StreamURL, DefaultBybitLinearURL), "allLiquidation.linear"
	canary := mustCanary(o.Canary, defaultCanary["bybit-linear"])
	if market == event.Inverse {
		url, stream = orDefault(o.InverseStreamURL, DefaultBybitInverseURL), "allLiquidation.inverse"
		canary = mustCanary(o.InverseCanary, defaultCanary["bybit-inverse"])
	}
	return Spec{
		Venue:      event.Bybit,
		Stream:     stream,
		URL:        url,
		Subscribe:  func(ctx context.Context) ([][]byte, error) { return bybitSubscribe(ctx, inst, market) },
		Ping:       bybitPing,
		PingEvery:  bybitPingEvery,
		IsPong:     isBybitPong,
		StaleAfter: orDuration(o.StaleAfter, bybitStaleAfter),
		Canary:     bybitCanary(o, canary),
		Decoder:    NewBybitDecoder(inst, market),
	}
}

func bybitSubscribe(ctx context.Context, inst *Instruments, market event.Market) ([][]byte, error) {
	syms := inst.Load().Symbols(market)
	if len(syms) == 0 && inst != nil {
		if err := inst.Refresh(ctx); err != nil {
			return nil, fmt.Errorf("cannot list Bybit %s symbols: %w", market, err)
		}
		syms = inst.Load().Symbols(market)
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("cannot subscribe to Bybit %s: %w", market, errNoBybitSymbols)
	}
	return bybitSubscribeFrames(syms, bybitArgsBudget), nil
}

// bybitSubscribeFrames builds subscribe requests for allLiquidation.<sym>,
// each with an args array (brackets, quotes, commas included) of at most
// budget characters.
func bybitSubscribeFrames(syms []string, budget int) [][]byte {
	var out [][]byte
	var cur []byte
	argsLen := 0
	flush := func() {
		if cur != nil {
			cur = append(cur, "]}"...)
			out = append(out, cur)
			cur, argsLen = nil, 0
		}
	}
	for _, s := range syms {
		if !plainSymbol(s) {
			continue // never splice a symbol that would need JSON escaping
		}
		arg := len(`"allLiquidation.`) + len(s) + len(`"`)
		if cur != nil && argsLen+1+arg+1 > budget {
			flush()
		}
		if cur == nil {
			cur = append(cur, `{"op":"subscribe","args":[`...)
			argsLen = 1 // the opening bracket
		} else {
			cur = append(cur, ',')
			argsLen++
		}
		cur = append(cur, `"allLiquidation.`...)
		cur = append(cur, s...)
		cur = append(cur, '"')
		argsLen += arg
	}
	flush()
	return out
}

// plainSymbol reports whether s is made of the characters exchange symbols
// use, so it can be written into JSON without escaping.
func plainSymbol(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
