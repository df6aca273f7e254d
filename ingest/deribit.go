package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// DefaultDeribitURL is Deribit's JSON-RPC WebSocket.
const DefaultDeribitURL = "wss://www.deribit.com/ws/api/v2"

const (
	// deribitPingEvery: our own public/test, which measures the round trip
	// and proves the connection between the server's heartbeats.
	deribitPingEvery = 15 * time.Second
	// deribitStaleAfter: three missed public/test answers.
	deribitStaleAfter = 45 * time.Second
	// deribitCanaryAfter: deribit_price_index.btc_usd follows an index of
	// several spot venues and moves many times a minute; Deribit documents
	// no cadence, hence a limit of ten seconds.
	deribitCanaryAfter = 10 * time.Second
)

var (
	// Every future and perpetual in one channel. "raw" needs an
	// authenticated connection; 100ms batches the same trades.
	deribitSubscribe    = []byte(`{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["trades.future.any.100ms"]}}`)
	deribitHeartbeatReq = []byte(`{"jsonrpc":"2.0","id":2,"method":"public/set_heartbeat","params":{"interval":30}}`)
	// deribitTest answers a test_request and is the keepalive; its reply
	// starts with deribitTestReply.
	deribitTest      = []byte(`{"jsonrpc":"2.0","id":9,"method":"public/test","params":{}}`)
	deribitTestReply = []byte(`{"jsonrpc":"2.0","id":9,`)
	deribitTestReq   = []byte(`"test_request"`)
	deribitHeartbeat = []byte(`"method":"heartbeat"`)
	deribitIndex     = []byte(`"channel":"deribit_price_index.`)
)

// DeribitDecoder decodes Deribit `trades.*` subscription notifications in
// one pass. Liquidations are trades with the optional `liquidation` flag;
// trades without it are not events, and neither are option trades
// (instrument names ending in -C or -P), which the futures channel never
// carries and which this box does not cover.
//
// Side: `direction` is the taker's side (every normaliser reads it so; the
// docs do not say it in words, UNCONFIRMED). Flag T (the taker was
// liquidated): sell means a long was liquidated. Flag M (the maker was):
// the maker took the other side, so buy means a long. MT (both were): two
// liquidations of the full amount, one of each side.
//
// Size: for inverse (Deribit's "reversed": BTC-PERPETUAL, BTC-29SEP23)
// instruments `amount` is USD, so USD = amount and base = amount / price
// (BasisInverse); for linear (USDC-margined) ones it is base units, USD =
// amount × price (BasisLinear). Which applies comes from the instrument
// table (public/get_instruments, instrument_type); an instrument missing
// from it is inverse when its currency has no "_" (the coin-margined
// naming of the docs' examples), else unknown. Price is the trade price,
// time `timestamp`. A trade outside the package's bounds is refused
// (data[].instrument_name, .direction/liquidation, .amount, .price,
// .timestamp) and the others kept.
type DeribitDecoder struct {
	inst *Instruments
}

// NewDeribitDecoder returns a Deribit decoder reading instrument types from
// inst (nil: the naming rule only).
func NewDeribitDecoder(inst *Instruments) *DeribitDecoder { return &DeribitDecoder{inst: inst} }

var (
	deribitErrs = newFieldErrors("data[].instrument_name", "data[].direction/liquidation", "data[].amount",
		"data[].price", "data[].timestamp")
	errDeribitData    = newDecodeError(ErrMalformed, "params.data", reasonArray)
	errDeribitParams  = newDecodeError(ErrMalformed, "params", reasonObject)
	errDeribitChannel = newDecodeError(ErrUnexpected, "params.channel", "not a trades channel")
)

// Decode implements Decoder.
func (d *DeribitDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var method, channel string
	var haveChannel, haveData, control bool
	var bad, shapeErr error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "method":
			method, i = strField(s, i)
			return i
		case "params":
			if s[i] != '{' {
				shapeErr = errDeribitParams
				break
			}
			return members(s, i, func(k string, i int) int {
				switch k {
				case "channel":
					channel, i = strField(s, i)
					haveChannel = true
					return i
				case "data":
					// The channel comes first in Deribit's notifications;
					// should it not, the trades are decoded on trust and
					// dropped below unless it is a trades channel.
					if haveChannel && !strings.HasPrefix(channel, "trades.") || method != "" && method != "subscription" {
						break
					}
					if s[i] != '[' {
						// The canary's data is an object: judged by its
						// channel below.
						break
					}
					haveData = true
					dst, i, bad = elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
						return deribitTrade(s, i, dst, t, recvNs)
					})
					return i
				}
				return skip(s, i)
			})
		case "id", "result", "error":
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
	case method == "subscription" && strings.HasPrefix(channel, "trades."):
		if !haveData {
			return dst[:n0], errDeribitData
		}
		return dst, bad
	case method == "subscription" && haveChannel:
		if strings.HasPrefix(channel, "deribit_price_index.") { // the canary
			return dst[:n0], nil
		}
		return dst[:n0], errDeribitChannel
	case method == "heartbeat", control && method == "":
		// Heartbeats (a test_request is answered by Spec.Respond and not
		// decoded), replies
		// to our requests.
		return dst[:n0], nil
	}
	return dst[:n0], errUnknown
}

func deribitFields(k string) (int, bool) {
	switch k {
	case "instrument_name":
		return fSymbol, false
	case "direction":
		return fSide, false
	case "liquidation":
		return fSide2, false
	case "amount":
		return fSize, true
	case "price":
		return fPrice, true
	case "timestamp":
		return fTime, true
	}
	return -1, false
}

// deribitTrade decodes one trade at i: nothing for a trade that liquidated
// nobody or an option's, one event for T or M, two for MT.
func deribitTrade(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, deribitFields, &vals); i < 0 {
		return dst, i, nil
	}
	flag, dir := vals[fSide2], vals[fSide]
	if flag == "" || deribitOption(vals[fSymbol]) {
		return dst, i, nil
	}
	fe := &deribitErrs
	var taker, maker event.Side // the liquidated position of each party
	if dir == "sell" {
		taker, maker = event.Long, event.Short
	} else if dir == "buy" {
		taker, maker = event.Short, event.Long
	}
	var sides [2]event.Side
	switch flag {
	case "T":
		sides[0] = taker
	case "M":
		sides[0] = maker
	case "MT":
		sides[0], sides[1] = taker, maker
	default:
		return dst, i, fe.side
	}
	e, n, err := fe.liquidation(event.Deribit, sides[0], &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	in, known := deribitInstrument(t, vals[fSymbol])
	if err := fe.finish(&e, in, known, n, e.Price); err != nil {
		return dst, i, err
	}
	dst = append(dst, e)
	if sides[1] != event.SideUnknown {
		e.Side = sides[1]
		dst = append(dst, e)
	}
	return dst, i, nil
}

// deribitOption reports whether name is an option's: BTC-29SEP23-30000-C.
func deribitOption(name string) bool {
	n := len(name)
	return n > 2 && name[n-2] == '-' && (name[n-1] == 'C' || name[n-1] == 'P')
}

var deribitInverse = Instrument{Market: event.Inverse, Basis: event.BasisInverse, Size: 1}

// deribitInstrument resolves a future: the table, else the naming rule.
func deribitInstrument(t *Table, name string) (Instrument, bool) {
	if in, ok := t.Lookup(name); ok {
		return in, true
	}
	cur, _, ok := strings.Cut(name, "-")
	if !ok || cur == "" || strings.IndexByte(cur, '_') >= 0 {
		return Instrument{}, false
	}
	return deribitInverse, true
}

// Control implements ControlInspector: a refused request comes back as
// {"jsonrpc":"2.0","id":N,"error":{"message":"…","code":N}}.
func (d *DeribitDecoder) Control(frame []byte) (bool, string) {
	if !bytes.Contains(frame, []byte(`"error"`)) || bytes.Contains(frame, []byte(`"method":"subscription"`)) {
		return false, "" // every trade frame lands here: a byte test first
	}
	s := view(frame)
	if e := gjson.Get(s, "error"); e.IsObject() {
		return true, strings.Clone("code " + e.Get("code").Raw + ": " + e.Get("message").String())
	}
	return false, ""
}

// deribitRespond answers the server's test_request (a heartbeat message of
// that type) with public/test: without the answer Deribit closes the
// connection at once. The request is some 70 bytes, and a trade
// notification is several times that, so the length rejects those first.
func deribitRespond(dst, frame []byte) ([]byte, Response) {
	if len(frame) < 160 && bytes.Contains(frame, deribitTestReq) && bytes.Contains(frame, deribitHeartbeat) {
		return append(dst, deribitTest...), Reply
	}
	return dst, NoResponse
}

func isDeribitPong(frame []byte) bool { return bytes.HasPrefix(frame, deribitTestReply) }

// DeribitSpec returns the Spec of Deribit's futures trade channel, in which
// liquidations are flagged trades: the subscription, the heartbeat the
// server holds the connection to, and the price-index canary.
func DeribitSpec(o VenueConfig, inst *Instruments) Spec {
	return Spec{
		Venue:      event.Deribit,
		Stream:     "trades.future.any",
		URL:        orDefault(o.StreamURL, DefaultDeribitURL),
		Subscribe:  staticFrames(deribitHeartbeatReq, deribitSubscribe),
		Ping:       deribitTest,
		PingEvery:  deribitPingEvery,
		IsPong:     isDeribitPong,
		StaleAfter: orDuration(o.StaleAfter, deribitStaleAfter),
		Canary:     deribitCanary(o, mustCanary(o.Canary, defaultCanary["deribit"])),
		Respond:    deribitRespond,
		Decoder:    NewDeribitDecoder(inst),
	}
}

// deribitCanary subscribes to deribit_price_index.<index> for each index
// name (btc_usd). Its notifications carry the channel near their start.
func deribitCanary(o VenueConfig, syms []string) *Canary {
	sub := subscribeFrame(`{"jsonrpc":"2.0","id":3,"method":"public/subscribe","params":{"channels":[`, `]}}`, syms,
		func(b []byte, s string) []byte {
			b = append(b, `"deribit_price_index.`...)
			b = append(b, s...)
			return append(b, '"')
		})
	return newCanary(syms, sub, orDuration(o.CanaryAfter, deribitCanaryAfter), func(f []byte) bool {
		return bytes.Contains(f[:min(len(f), 96)], deribitIndex)
	})
}

// DefaultDeribitREST is the base of Deribit's public REST API.
const DefaultDeribitREST = "https://www.deribit.com"

// fetchDeribit reads GET /api/v2/public/get_instruments for every currency's
// futures and perpetuals (instrument_type reversed or linear).
func fetchDeribit(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	body, err := getJSON(ctx, c, base, "/api/v2/public/get_instruments", url.Values{"currency": {"any"}, "kind": {"future"}})
	if err != nil {
		return nil, err
	}
	res := gjson.GetBytes(body, "result")
	if !res.IsArray() {
		return nil, fmt.Errorf("cannot read Deribit instruments: no result array (%.200s): %w", gjson.GetBytes(body, "error").Raw, ErrUnexpected)
	}
	m := make(map[string]Instrument)
	collect(m, res, parseDeribit)
	return m, nil
}

// parseDeribit reads one get_instruments record: "reversed" instruments
// trade in USD amounts, "linear" ones in the base coin.
func parseDeribit(r gjson.Result) (string, Instrument, bool) {
	name := r.Get("instrument_name").String()
	if name == "" || r.Get("kind").String() != "future" {
		return "", Instrument{}, false
	}
	in := Instrument{Size: 1, Trading: r.Get("is_active").Bool()}
	switch r.Get("instrument_type").String() {
	case "reversed":
		in.Market, in.Basis = event.Inverse, event.BasisInverse
	case "linear":
		in.Market, in.Basis = event.Linear, event.BasisLinear
	default:
		return "", Instrument{}, false
	}
	return name, in, true
}
