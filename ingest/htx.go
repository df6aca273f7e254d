package ingest

import (
	"bytes"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default HTX endpoints. The liquidation topic lives on the notification
// hosts, not the market hosts: USDT-margined swaps (and USDT-margined
// futures, whose codes look like BTC-USDT-210625) on one, coin-margined
// swaps on the other.
const (
	DefaultHTXLinearURL  = "wss://api.hbdm.com/linear-swap-notification"
	DefaultHTXInverseURL = "wss://api.hbdm.com/swap-notification"
)

const (
	// htxStaleAfter: the notification hosts send {"op":"ping"} every 5 s
	// and close a connection that ignores five; nothing for 20 s means the
	// server stopped pinging.
	htxStaleAfter = 20 * time.Second
	// htxCanaryAfter: public.<contract>.funding_rate is "pushed every 60
	// seconds by default" (HTX's funding-rate subscription page); two and
	// a half pushes.
	htxCanaryAfter = 150 * time.Second
	// htxMaxInflated bounds an inflated frame: the client's default frame
	// limit, so a few compressed bytes cannot inflate to gigabytes.
	htxMaxInflated = 1 << 20
)

// htxSubscribe takes every contract of the endpoint with the wildcard;
// subscribing a single contract after it would be refused with 2014
// "Repeated subscription".
var htxSubscribe = []byte(`{"op":"sub","cid":"liqbox","topic":"public.*.liquidation_orders"}`)

// HTXDecoder decodes HTX `public.<contract>.liquidation_orders` pushes
// (op "notify", every data[] element an event), inflated (the client
// inflates HTX's gzip frames first: Spec.Inflate), in one pass. Acks,
// pings, close and error notices and the canary's funding_rate pushes are
// control frames; any other notify topic is refused.
//
// Side: `direction` is the liquidation order's side and `offset` is close
// (or both, in one-way mode): selling to close is closing a long, so sell
// means a long was liquidated, buy a short. Price is the bankruptcy price.
// `volume` is in contracts.
//
// USDT-margined (codes with -USDT): qty = `amount` (base coin) and USD =
// `trade_turnover` (USDT), both the venue's own figures (BasisLinear);
// without trade_turnover USD = amount × price; without amount, qty =
// volume × contract_size (base coin per contract, whatever HTX's docs call
// it) from the instrument table and USD = qty × price (BasisContractValue).
// Coin-margined (-USD swaps, and delivery futures such as BTC200703): USD =
// volume × contract_size (USD per contract, from the table; a delivery
// future missing there takes the size every listed future of its coin
// shares) with qty = `amount`, or USD / price without it
// (BasisContractSize). A size that needs metadata the table lacks is
// unknown (NaN, BasisUnknown). A row outside the package's bounds is
// refused (data[].contract_code, .direction/offset, .volume, .price,
// .created_at, .amount, .trade_turnover) and the push's others are kept.
type HTXDecoder struct {
	inst   *Instruments
	market event.Market // the endpoint's market, or MarketUnknown
}

// NewHTXDecoder returns an HTX decoder reading contract sizes from inst.
// market is the endpoint's (Linear: USDT-margined, Inverse:
// coin-margined), or MarketUnknown for frames of unknown origin, whose
// market comes from the contract code.
func NewHTXDecoder(inst *Instruments, market event.Market) *HTXDecoder {
	return &HTXDecoder{inst: inst, market: market}
}

var (
	htxErrs        = newFieldErrors("data[].contract_code", "data[].direction/offset", "data[].volume", "data[].price", "data[].created_at")
	errHTXAmount   = newDecodeError(ErrMalformed, "data[].amount", reasonSize)
	errHTXTurnover = newDecodeError(ErrMalformed, "data[].trade_turnover", "not a decimal above 0 and at most 1e10")
	errHTXData     = newDecodeError(ErrMalformed, "data", "missing or not an array of liquidations")
	errHTXTopic    = newDecodeError(ErrUnexpected, "topic", "not public.<contract>.liquidation_orders")
)

// Decode implements Decoder.
func (d *HTXDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var op, topic string
	var haveTopic, haveData, marketPing bool // marketPing: a market-host heartbeat or reply
	var bad, shapeErr error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "op":
			op, i = strField(s, i)
			return i
		case "topic":
			topic, i = strField(s, i)
			haveTopic = true
			return i
		case "data":
			// op and topic come first in HTX's pushes; should they not,
			// the rows are decoded on trust and dropped below unless the
			// push is a liquidation one.
			if haveTopic && !htxLiquidationTopic(topic) {
				break
			}
			if s[i] != '[' {
				shapeErr = errHTXData
				break
			}
			haveData = true
			dst, i, bad = d.rows(s, i, dst, t, recvNs)
			return i
		case "ping", "status": // the market hosts' heartbeat {"ping":<ts>} and replies {"status":…}
			marketPing = true
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
	switch op {
	case "notify":
		switch {
		case htxLiquidationTopic(topic):
			if !haveData {
				return dst[:n0], errHTXData
			}
			return dst, bad
		case strings.HasSuffix(topic, ".funding_rate"): // the canary
			return dst[:n0], nil
		}
		return dst[:n0], errHTXTopic
	case "sub", "unsub", "ping", "pong", "close", "error", "auth":
		// Acks (err-code 0, or an error the client logs through Control),
		// the heartbeat, and the notices of a closing or failing session.
		return dst[:n0], nil
	case "":
		if marketPing {
			return dst[:n0], nil
		}
	}
	return dst[:n0], errUnknown
}

func htxLiquidationTopic(t string) bool {
	return strings.HasPrefix(t, "public.") && strings.HasSuffix(t, ".liquidation_orders")
}

// rows decodes the data array at i; a bad row is dropped, the others kept.
func (d *HTXDecoder) rows(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.row(s, i, dst, t, recvNs)
	})
}

func htxFields(k string) (int, bool) {
	switch k {
	case "contract_code":
		return fSymbol, false
	case "direction":
		return fSide, false
	case "offset":
		return fSide2, false
	case "volume":
		return fSize, true
	case "price":
		return fPrice, true
	case "created_at":
		return fTime, true
	case "amount":
		return fBase, true
	case "trade_turnover":
		return fQuote, true
	}
	return -1, false
}

// row decodes one data[] object at i.
func (d *HTXDecoder) row(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, htxFields, &vals); i < 0 {
		return dst, i, nil
	}
	fe := &htxErrs
	e, volume, err := fe.liquidation(event.HTX, htxSide(vals[fSide], vals[fSide2]), &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	base, haveBase := 0.0, vals[fBase] != ""
	if haveBase {
		var ok bool
		if base, ok = parseDecimal(vals[fBase]); !ok || !sizeOK(base) {
			return dst, i, errHTXAmount
		}
	}
	quote, haveQuote := 0.0, vals[fQuote] != ""
	if haveQuote {
		var ok bool
		if quote, ok = parseDecimal(vals[fQuote]); !ok || !(quote > 0 && quote <= MaxNotional) {
			return dst, i, errHTXTurnover
		}
	}
	code := vals[fSymbol]
	market := d.market
	if market == event.MarketUnknown {
		market = htxMarketByName(code)
	}
	e.Market = market
	switch {
	case market == event.Linear && haveBase:
		// The venue's own base amount and USDT turnover: no metadata.
		e.Basis, e.Qty = event.BasisLinear, base
		e.Notional = base * e.Price
		if haveQuote {
			e.Notional = quote
		}
	default:
		in, known := htxInstrument(t, code, market)
		applySize(&e, in, known, volume, e.Price)
		switch {
		case e.Basis == event.BasisUnknown:
		case e.Market == event.Inverse && haveBase:
			e.Qty = base
		case e.Market == event.Linear && haveQuote:
			e.Notional = quote
		}
	}
	if err := fe.check(&e); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
}

// htxSide: a liquidation closes a position (offset close, or both in
// one-way mode); selling to close ends a long.
func htxSide(direction, offset string) event.Side {
	if offset != "close" && offset != "both" {
		return event.SideUnknown
	}
	return sideOf(direction, "sell", "buy")
}

// htxInstrument returns code's contract terms from the table when they
// are of market (a family entry of the other market never applies); a
// delivery future missing from the table takes its coin's (BTC200703:
// the terms every listed BTC delivery future shares, see
// htxDeliveryFamilies).
func htxInstrument(t *Table, code string, market event.Market) (Instrument, bool) {
	in, ok := t.Lookup(code)
	if !ok {
		if coin, dated := htxDeliveryCoin(code); dated {
			in, ok = t.Lookup(coin)
		}
	}
	if !ok || market != event.MarketUnknown && in.Market != market {
		return Instrument{}, false
	}
	return in, true
}

// htxMarketByName reads the market from a contract code: BTC-USDT and
// BTC-USDT-210625 are USDT-margined, BTC-USD coin-margined swaps and
// BTC200703 coin-margined delivery futures.
func htxMarketByName(code string) event.Market {
	switch {
	case strings.Contains(code, "-USDT"):
		return event.Linear
	case strings.HasSuffix(code, "-USD"):
		return event.Inverse
	}
	if _, dated := htxDeliveryCoin(code); dated {
		return event.Inverse
	}
	return event.MarketUnknown
}

// htxDeliveryCoin splits a coin-margined delivery-futures code (letters
// and a six-digit delivery date, BTC200703) into its coin.
func htxDeliveryCoin(code string) (string, bool) {
	n := len(code)
	if n < 7 {
		return "", false
	}
	for i := n - 6; i < n; i++ {
		if !isDigit(code[i]) {
			return "", false
		}
	}
	for i := 0; i < n-6; i++ {
		if c := code[i]; !(c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	return code[:n-6], true
}

// htxDeliveryFamilies adds, for each coin whose listed delivery futures
// all share their contract terms, an entry under the bare coin (BTC),
// which htxInstrument consults for a delivery future the table lacks (one
// that expired before the snapshot). HTX sizes contracts by coin (its
// contract-info example lists BTC210813 at 100 USD and ETH210813 at 10);
// a coin whose futures disagree gets no entry.
func htxDeliveryFamilies(m map[string]Instrument) {
	fam := map[string]Instrument{}
	conflict := map[string]bool{}
	for code, in := range m {
		coin, dated := htxDeliveryCoin(code)
		if !dated || conflict[coin] {
			continue
		}
		in.Trading = false
		if prev, seen := fam[coin]; seen && prev != in {
			conflict[coin] = true
			delete(fam, coin)
			continue
		}
		fam[coin] = in
	}
	for coin, in := range fam {
		if _, taken := m[coin]; !taken {
			m[coin] = in
		}
	}
}

// htxPing is in the notification hosts' heartbeat, {"op":"ping","ts":"…"},
// and the market hosts', {"ping":<ts>}.
var htxPing = []byte(`"ping"`)

// htxRespond answers HTX's heartbeat: {"op":"ping","ts":"1492420473058"}
// gets {"op":"pong","ts":"1492420473058"}, and the market hosts'
// {"ping":N} gets {"pong":N}. ts is echoed verbatim, quotes and all: HTX
// sends it as a string in pings and as a number elsewhere, and a client
// that parsed it as a number never answered and was cut off after five
// pings (the 2026-09-18 incident quoted in PROTOCOLS.md). Only a ts made
// of digits, quoted or not, is echoed, so nothing else a frame carries
// can be reflected into the connection. A heartbeat is a few dozen bytes:
// longer frames are not looked at.
func htxRespond(dst, frame []byte) ([]byte, Response) {
	if len(frame) > 96 {
		return dst, NoResponse
	}
	if !bytes.Contains(frame, htxPing) {
		return dst, NoResponse
	}
	s := view(frame)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, NoResponse
	}
	var op, ts, bare string
	i = members(s, i, func(k string, i int) int {
		j := skip(s, i)
		switch k {
		case "op":
			op, i = strField(s, i)
			return i
		case "ts":
			ts = s[i:max(i, j)]
		case "ping":
			bare = s[i:max(i, j)]
		}
		return j
	})
	switch {
	case i < 0:
		return dst, NoResponse
	case op == "ping" && digitsToken(ts):
		dst = append(dst, `{"op":"pong","ts":`...)
	case op == "" && digitsToken(bare):
		dst = append(dst, `{"pong":`...)
		ts = bare
	default:
		return dst, NoResponse
	}
	dst = append(dst, ts...)
	return append(dst, '}'), Reply
}

// digitsToken reports whether tok is 1 to 20 digits, bare or quoted.
func digitsToken(tok string) bool {
	if len(tok) >= 2 && tok[0] == '"' && tok[len(tok)-1] == '"' {
		tok = tok[1 : len(tok)-1]
	}
	if len(tok) == 0 || len(tok) > 20 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if !isDigit(tok[i]) {
			return false
		}
	}
	return true
}

// Control implements ControlInspector: a refused subscription comes back
// with a non-zero err-code (2030: "Exceeds connection limit of single
// user"; 2014 "Repeated subscription" is harmless and not reported), and
// {"op":"close"} and {"op":"error"} announce that HTX is ending the
// session or refusing a request.
func (d *HTXDecoder) Control(frame []byte) (bool, string) {
	s := view(frame)
	op := gjson.Get(s, "op").String()
	switch op {
	case "close", "error":
		return true, strings.Clone(op + ": " + gjson.Get(s, "err-msg").String())
	}
	if gjson.Get(s, "status").String() == "error" { // the market hosts' form
		return true, strings.Clone("error " + gjson.Get(s, "err-code").String() + ": " + gjson.Get(s, "err-msg").String())
	}
	if code := gjson.Get(s, "err-code"); code.Exists() && code.Int() != 0 && code.Int() != 2014 {
		return true, strings.Clone(op + " " + gjson.Get(s, "topic").String() + ": err-code " + code.Raw + " " + gjson.Get(s, "err-msg").String())
	}
	return false, ""
}

// HTXSpec returns the Spec of HTX's USDT-margined (market Linear) or
// coin-margined (Inverse) liquidation stream: the wildcard subscription
// and the canary's on the notification host, gzip frames inflated per
// connection, and HTX's heartbeat answered.
func HTXSpec(o VenueConfig, inst *Instruments, market event.Market) Spec {
	url, stream := orDefault(o.StreamURL, DefaultHTXLinearURL), "liquidation_orders.linear"
	syms := mustCanary(o.Canary, defaultCanary["htx-linear"])
	if market == event.Inverse {
		url, stream = orDefault(o.InverseStreamURL, DefaultHTXInverseURL), "liquidation_orders.inverse"
		syms = mustCanary(o.InverseCanary, defaultCanary["htx-inverse"])
	}
	frames := [][]byte{htxSubscribe}
	for _, sym := range syms {
		frames = append(frames, []byte(`{"op":"sub","cid":"liqbox-canary","topic":"public.`+sym+`.funding_rate"}`))
	}
	return Spec{
		Venue:      event.HTX,
		Stream:     stream,
		URL:        url,
		Subscribe:  staticFrames(frames...),
		Respond:    htxRespond,
		Inflate:    func() Inflater { return newGzipInflater(htxMaxInflated) },
		StaleAfter: orDuration(o.StaleAfter, htxStaleAfter),
		Canary:     htxCanary(o, syms),
		Decoder:    NewHTXDecoder(inst, market),
	}
}

// htxFundingRate marks the canary's pushes, whatever the contract; the
// search starts at its first byte, rare in a liquidation frame.
var htxFundingRate = []byte(`funding_rate"`)

// htxCanary is the funding_rate push of the canary contracts, subscribed
// by the Spec's own frames (one topic per sub request).
func htxCanary(o VenueConfig, syms []string) *Canary {
	return newCanary(syms, nil, orDuration(o.CanaryAfter, htxCanaryAfter),
		func(f []byte) bool { return bytes.Contains(f, htxFundingRate) })
}
