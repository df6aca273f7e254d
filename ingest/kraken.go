package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default Kraken Futures endpoints.
const (
	DefaultKrakenFuturesURL  = "wss://futures.kraken.com/ws/v1"
	DefaultKrakenFuturesREST = "https://futures.kraken.com"
)

const (
	// krakenPingEvery: Kraken closes a connection not pinged for 60 s. A
	// WebSocket ping frame is the usual reading of "send a ping" (Kraken's
	// sample client pings that way).
	krakenPingEvery = 30 * time.Second
	// krakenStaleAfter: two missed pongs.
	krakenStaleAfter = 60 * time.Second
	// krakenCanaryAfter: the heartbeat feed publishes "at timed intervals"
	// (undocumented; every 10 s by a third-party measurement): three of
	// them.
	krakenCanaryAfter = 30 * time.Second
	// krakenProductsPerFrame bounds the product_ids of one subscribe
	// request: Kraken documents no limit, so the list goes in pieces the
	// size other clients use.
	krakenProductsPerFrame = 50
)

var (
	errNoKrakenProducts = errors.New("no Kraken Futures products to subscribe to")
	krakenHeartbeatSub  = []byte(`{"event":"subscribe","feed":"heartbeat"}`)
	krakenHeartbeat     = []byte(`{"feed":"heartbeat"`)
)

// KrakenFuturesDecoder decodes Kraken Futures `trade` and `trade_snapshot`
// messages in one pass. Liquidations are trades of type "liquidation";
// fills, terminations and block trades are not events. The snapshot sent
// after subscribing holds past trades: its liquidations are events flagged
// event.FlagBacklog (logged, never alerted).
//
// Side: `side` is the taker's (Kraken's docs); a liquidation is taken to be
// the liquidated user's order aggressing the book (tardis and aggr-server
// read it so, UNCONFIRMED), so sell means a long was liquidated. Size:
// inverse contracts (PI_, FI_) are worth 1 USD each, so USD = qty ×
// contractSize and base = USD / price (BasisInverse); linear multi-
// collateral ones (PF_, FF_) are in base units with no multiplier, USD =
// qty × price (BasisLinear). The instrument table (/derivatives/api/v3/
// instruments) gives contractSize; without it the prefix rule of Kraken's
// contract specifications applies; any other product is unknown. A trade
// outside the package's bounds is refused (product_id, side, qty, price,
// time) and a snapshot's other trades kept.
type KrakenFuturesDecoder struct {
	inst *Instruments
}

// NewKrakenFuturesDecoder returns a Kraken Futures decoder reading
// contract sizes from inst (nil: the prefix rule only).
func NewKrakenFuturesDecoder(inst *Instruments) *KrakenFuturesDecoder {
	return &KrakenFuturesDecoder{inst: inst}
}

var (
	krakenErrs        = newFieldErrors("product_id", "side", "qty", "price", "time")
	errKrakenTrades   = newDecodeError(ErrMalformed, "trades", reasonArray)
	errKrakenFeed     = newDecodeError(ErrUnexpected, "feed", "not trade, trade_snapshot or heartbeat")
	errKrakenSnapshot = newDecodeError(ErrMalformed, "trades", "a trade_snapshot without its trades array")
)

func krakenFields(k string) (int, bool) {
	switch k {
	case "product_id":
		return fSymbol, false
	case "side":
		return fSide, false
	case "type":
		return fSide2, false
	case "qty":
		return fSize, true
	case "price":
		return fPrice, true
	case "time":
		return fTime, true
	}
	return -1, false
}

// Decode implements Decoder.
func (d *KrakenFuturesDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	// A trade message is one trade at the top level; a snapshot carries
	// the product and a trades array.
	var vals [nFields]string
	var feed string
	var haveTrades, control bool
	var bad, shapeErr error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "feed":
			feed, i = strField(s, i)
			return i
		case "trades":
			if s[i] != '[' {
				shapeErr = errKrakenTrades
				return skip(s, i)
			}
			haveTrades = true
			product := vals[fSymbol]
			dst, i, bad = elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
				return d.snapshotTrade(s, i, dst, t, product, recvNs)
			})
			return i
		case "event":
			control = true
			return skip(s, i)
		}
		return readField(s, i, krakenFields, k, &vals)
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
	switch feed {
	case "trade":
		if vals[fSide2] != "liquidation" {
			return dst[:n0], nil
		}
		return d.trade(dst[:n0], &vals, t, recvNs)
	case "trade_snapshot":
		if !haveTrades {
			return dst[:n0], errKrakenSnapshot
		}
		for k := n0; k < len(dst); k++ {
			dst[k].Flags |= event.FlagBacklog
		}
		return dst, bad
	case "heartbeat": // the canary
		return dst[:n0], nil
	case "":
		if control {
			return dst[:n0], nil // info, subscribed, error (ControlInspector)
		}
		return dst[:n0], errUnknown
	}
	return dst[:n0], errKrakenFeed
}

// snapshotTrade decodes one trade of a snapshot at i; product is the
// snapshot's own, for a row that does not repeat it.
func (d *KrakenFuturesDecoder) snapshotTrade(s string, i int, dst []event.Event, t *Table, product string, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, krakenFields, &vals); i < 0 {
		return dst, i, nil
	}
	if vals[fSide2] != "liquidation" {
		return dst, i, nil
	}
	if vals[fSymbol] == "" {
		vals[fSymbol] = product
	}
	dst, err := d.trade(dst, &vals, t, recvNs)
	return dst, i, err
}

// trade appends the liquidation in vals.
func (d *KrakenFuturesDecoder) trade(dst []event.Event, vals *[nFields]string, t *Table, recvNs int64) ([]event.Event, error) {
	fe := &krakenErrs
	e, n, err := fe.liquidation(event.KrakenFutures, sideOf(vals[fSide], "sell", "buy"), vals, recvNs, -1)
	if err != nil {
		return dst, err
	}
	in, known := krakenInstrument(t, vals[fSymbol])
	if err := fe.finish(&e, in, known, n, e.Price); err != nil {
		return dst, err
	}
	return append(dst, e), nil
}

// krakenInstrument resolves a product: the table, else Kraken's prefix
// rule (PI_/FI_ inverse 1 USD contracts, PF_/FF_ linear in base units).
func krakenInstrument(t *Table, product string) (Instrument, bool) {
	if in, ok := t.Lookup(product); ok {
		return in, true
	}
	return krakenByPrefix(product)
}

func krakenByPrefix(product string) (Instrument, bool) {
	if len(product) < 4 || product[2] != '_' {
		return Instrument{}, false
	}
	// Older recordings and REST answers write products in lower case.
	switch string([]byte{product[0] &^ 0x20, product[1] &^ 0x20}) {
	case "PI", "FI":
		return Instrument{Market: event.Inverse, Basis: event.BasisInverse, Size: 1}, true
	case "PF", "FF":
		return linearBase, true
	}
	return Instrument{}, false
}

// Control implements ControlInspector: {"event":"error","message":"…"} and
// {"event":"subscribed_failed",…} are refusals. Every fill reaches here,
// so a byte test comes first.
func (d *KrakenFuturesDecoder) Control(frame []byte) (bool, string) {
	if !bytes.Contains(frame, []byte(`"event"`)) {
		return false, ""
	}
	s := view(frame)
	switch ev := gjson.Get(s, "event").String(); ev {
	case "error", "subscribed_failed", "unsubscribed_failed":
		return true, strings.Clone(ev + ": " + gjson.Get(s, "message").String() + gjson.Get(s, "feed").String())
	}
	return false, ""
}

// KrakenFuturesSpec returns the Spec of Kraken Futures' trade feed, in which
// liquidations are trades of their own type. Kraken takes no wildcard, so
// Subscribe lists every product of the instrument table (refreshing it once
// if it is empty), in pieces; products listed later are picked up on the
// next reconnect. The heartbeat feed is the canary.
func KrakenFuturesSpec(o VenueConfig, inst *Instruments) Spec {
	return Spec{
		Venue:      event.KrakenFutures,
		Stream:     "trade",
		URL:        orDefault(o.StreamURL, DefaultKrakenFuturesURL),
		Subscribe:  func(ctx context.Context) ([][]byte, error) { return krakenSubscribe(ctx, inst) },
		PingEvery:  krakenPingEvery,
		StaleAfter: orDuration(o.StaleAfter, krakenStaleAfter),
		Canary:     krakenCanary(o),
		Decoder:    NewKrakenFuturesDecoder(inst),
	}
}

func krakenCanary(o VenueConfig) *Canary {
	if strings.TrimSpace(o.Canary) == CanaryNone {
		return nil
	}
	// The heartbeat feed has no instruments: its name stands in for them.
	return newCanary([]string{"heartbeat"}, krakenHeartbeatSub, orDuration(o.CanaryAfter, krakenCanaryAfter),
		func(f []byte) bool { return bytes.HasPrefix(f, krakenHeartbeat) })
}

func krakenSubscribe(ctx context.Context, inst *Instruments) ([][]byte, error) {
	t := inst.Load()
	syms := append(t.Symbols(event.Linear), t.Symbols(event.Inverse)...)
	if len(syms) == 0 && inst != nil {
		if err := inst.Refresh(ctx); err != nil {
			return nil, fmt.Errorf("cannot list Kraken Futures products: %w", err)
		}
		t = inst.Load()
		syms = append(t.Symbols(event.Linear), t.Symbols(event.Inverse)...)
	}
	var out [][]byte
	var cur []byte
	n := 0
	for _, s := range syms {
		if !plainSymbol(s) {
			continue // never splice a symbol that would need JSON escaping
		}
		if cur == nil {
			cur = append(cur, `{"event":"subscribe","feed":"trade","product_ids":[`...)
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, '"')
		cur = append(cur, s...)
		cur = append(cur, '"')
		if n++; n == krakenProductsPerFrame {
			out, cur, n = append(out, append(cur, "]}"...)), nil, 0
		}
	}
	if cur != nil {
		out = append(out, append(cur, "]}"...))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot subscribe to Kraken Futures: %w", errNoKrakenProducts)
	}
	return out, nil
}

// fetchKrakenFutures reads GET /derivatives/api/v3/instruments.
func fetchKrakenFutures(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	body, err := getJSON(ctx, c, base, "/derivatives/api/v3/instruments", nil)
	if err != nil {
		return nil, err
	}
	if r := gjson.GetBytes(body, "result").String(); r != "success" {
		return nil, fmt.Errorf("cannot get Kraken Futures instruments: result %q %s: %w",
			r, gjson.GetBytes(body, "error").String(), ErrUnexpected)
	}
	m := make(map[string]Instrument)
	collect(m, gjson.GetBytes(body, "instruments"), parseKrakenFutures)
	return m, nil
}

// parseKrakenFutures reads one instruments[] record. Symbols are kept in
// upper case, as the WebSocket names products (older REST answers wrote
// them in lower case). Only the contract families whose units are known
// are kept: futures_inverse (PI_, FI_) and flexible_futures (PF_, FF_).
func parseKrakenFutures(r gjson.Result) (string, Instrument, bool) {
	sym := strings.ToUpper(r.Get("symbol").String())
	rule, ok := krakenByPrefix(sym)
	if !ok {
		return "", Instrument{}, false
	}
	switch typ := r.Get("type").String(); {
	case typ == "futures_inverse" && rule.Market == event.Inverse,
		typ == "flexible_futures" && rule.Market == event.Linear:
	default:
		return "", Instrument{}, false
	}
	if cs := r.Get("contractSize").Float(); cs > 0 {
		rule.Size = cs
	}
	rule.Trading = r.Get("tradeable").Bool()
	return sym, rule, true
}
