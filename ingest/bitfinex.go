package ingest

import (
	"bytes"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// DefaultBitfinexURL is Bitfinex's public WebSocket.
const DefaultBitfinexURL = "wss://api-pub.bitfinex.com/ws/2"

const (
	// bitfinexStaleAfter: Bitfinex sends [chanId,"hb"] on a channel silent
	// for 15 s. No application ping is sent, so on a live connection only
	// the channel's own data and heartbeats arrive: three missed
	// heartbeats mean the subscription, or the connection, is dead.
	bitfinexStaleAfter = 45 * time.Second
	// bitfinexBacklogWindow: the channel replays recent liquidations on
	// subscribing (a recording's first frame was 12 h old); events older
	// than the subscription that arrive this soon after it are logged, not
	// alerted.
	bitfinexBacklogWindow = 10 * time.Second
)

var (
	bitfinexSubscribe = []byte(`{"event":"subscribe","channel":"status","key":"liq:global"}`)
	bitfinexInfo      = []byte(`{"event":"info"`)
	// Info codes after which Bitfinex wants the client to reconnect
	// (20051: server restart) or resubscribe (20061: maintenance over).
	bitfinexRestart     = []byte(`"code":20051`)
	bitfinexMaintenance = []byte(`"code":20061`)
)

// BitfinexDecoder decodes Bitfinex's `status` channel with key liq:global
// in one pass: [CHAN_ID,[[row],…]] with rows ["pos",POS_ID,MTS,null,SYMBOL,
// AMOUNT,BASE_PRICE,null,IS_MATCH,IS_MARKET_SOLD,null,LIQUIDATION_PRICE,…]
// (positions from Bitfinex's SDK serializers; elements appended later and
// trailing sequence numbers are tolerated).
//
// A liquidation is one row with IS_MATCH 0, the trigger; rows with
// IS_MATCH 1 are the market executions of the same position and are not
// new events. Side: AMOUNT is the position's signed size, positive for a
// long. Size: |AMOUNT| in base units. Price: LIQUIDATION_PRICE when the row
// has one, else BASE_PRICE, the position's entry price (trigger rows carry
// no liquidation price in the recordings, so their USD size is the
// position at its entry price, an approximation). Derivatives margined in
// USDt (SYMBOL …:USTF0) are linear, USD = |AMOUNT| × price (BasisLinear);
// others (EUR-margined) are unknown. The symbol loses its "t" prefix:
// ETHF0:USTF0. A row outside the package's bounds is refused ([4] SYMBOL,
// [5] AMOUNT, [6] BASE_PRICE/[11] LIQUIDATION_PRICE, [2] MTS) and the
// others kept.
//
// Data arrays carry the channel id that the subscription's ack assigned on
// this connection: a connection's decoder (NewBitfinexConnDecoder) learns
// it from the ack and refuses the frames of any other channel, and any
// before the ack. The decoder of NewBitfinexDecoder, for frames of unknown
// origin (several recordings, several connections), takes every channel.
type BitfinexDecoder struct {
	chanID int64 // from the liq:global ack; 0 before it
	strict bool  // a live connection's: no data before the ack
}

// NewBitfinexDecoder returns a decoder for frames of unknown origin
// (`liqbox decode`, tests).
func NewBitfinexDecoder() *BitfinexDecoder { return &BitfinexDecoder{} }

// NewBitfinexConnDecoder returns the decoder of one connection, which
// holds data frames to the channel id of its subscription.
func NewBitfinexConnDecoder() Decoder { return &BitfinexDecoder{strict: true} }

var (
	bitfinexErrs     = newFieldErrors("[4] SYMBOL", "[5] AMOUNT", "[5] AMOUNT", "[6] BASE_PRICE/[11] LIQUIDATION_PRICE", "[2] MTS")
	errBitfinexMatch = newDecodeError(ErrMalformed, "[8] IS_MATCH", "not 0 or 1")
	errBitfinexRow   = newDecodeError(ErrMalformed, "[0]", `not a "pos" row`)
	errBitfinexChan  = newDecodeError(ErrUnexpected, "[0] CHAN_ID", "not the channel of this connection's liq:global subscription")
	errBitfinexShape = newDecodeError(ErrMalformed, "[1]", `neither "hb" nor an array of rows`)
	errBitfinexID    = newDecodeError(ErrMalformed, "[0] CHAN_ID", "not a channel id")
)

// Decode implements Decoder.
func (d *BitfinexDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	switch at(s, i) {
	case '{':
		return dst, d.event(s, i)
	case '[':
	default:
		return dst, notAnObject(frame, s)
	}
	i++ // '['
	j, done := nextElem(s, i, true)
	if j < 0 || done {
		return dst, errNotJSON
	}
	idTok, i := textField(s, j)
	if i < 0 {
		return dst, errNotJSON
	}
	id, ok := parseMs(idTok)
	if !ok {
		return dst, errBitfinexID
	}
	j, done = nextElem(s, i, false)
	if j < 0 || done {
		return dst, errNotJSON
	}
	var bad error
	switch s[j] {
	case '"': // [CHAN_ID,"hb",…]
		var v string
		if v, i = str(s, j); i < 0 {
			return dst, errNotJSON
		}
		if v != "hb" {
			bad = errBitfinexShape
		}
	case '[':
		dst, i, bad = d.rows(s, j, dst, recvNs)
	default:
		i, bad = skip(s, j), errBitfinexShape
	}
	// Trailing elements (a sequence number, a timestamp, fields Bitfinex
	// appends later) are skipped.
	for i >= 0 {
		var done bool
		if i, done = nextElem(s, i, false); i < 0 || done {
			break
		}
		i = skip(s, i)
	}
	if i < 0 {
		return dst[:n0], errNotJSON
	}
	if !atEnd(s, i) {
		return dst[:n0], errTrailing
	}
	if bad == errBitfinexShape || d.chanID != 0 && id != d.chanID || d.chanID == 0 && d.strict {
		if bad != errBitfinexShape {
			bad = errBitfinexChan
		}
		return dst[:n0], bad
	}
	return dst, bad
}

// event reads an object frame: info, the subscription ack (whose chanId it
// learns), pong, error. All are control frames.
func (d *BitfinexDecoder) event(s string, i int) error {
	var ev, channel, key, id string
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "event":
			ev, i = strField(s, i)
			return i
		case "channel":
			channel, i = strField(s, i)
			return i
		case "key":
			key, i = strField(s, i)
			return i
		case "chanId":
			id, i = textField(s, i)
			return i
		}
		return skip(s, i)
	})
	if i < 0 {
		return errNotJSON
	}
	if !atEnd(s, i) {
		return errTrailing
	}
	if ev == "" {
		return errUnknown
	}
	if d.strict && ev == "subscribed" && channel == "status" && key == "liq:global" {
		if n, ok := parseMs(id); ok && n > 0 {
			d.chanID = n
		}
	}
	return nil
}

// rows decodes the array at i: an array of rows or, defensively, a single
// row.
func (d *BitfinexDecoder) rows(s string, i int, dst []event.Event, recvNs int64) ([]event.Event, int, error) {
	j, done := nextElem(s, i+1, true)
	if j < 0 {
		return dst, j, nil
	}
	if done || s[j] != '[' {
		return bitfinexRow(s, i, dst, recvNs)
	}
	return elemsOf(s, i, dst, '[', errBitfinexRow, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return bitfinexRow(s, i, dst, recvNs)
	})
}

// bitfinexRow decodes the row array at i.
func bitfinexRow(s string, i int, dst []event.Event, recvNs int64) ([]event.Event, int, error) {
	var kind, mts, sym, amount, base, match, liqPrice string
	i++ // '['
	for n, first := 0, true; ; n, first = n+1, false {
		j, done := nextElem(s, i, first)
		if i = j; i < 0 {
			return dst, i, nil
		}
		if done {
			break
		}
		switch n {
		case 0:
			kind, i = strField(s, i)
		case 2:
			mts, i = textField(s, i)
		case 4:
			sym, i = strField(s, i)
		case 5:
			amount, i = textField(s, i)
		case 6:
			base, i = textField(s, i)
		case 8:
			match, i = textField(s, i)
		case 11:
			liqPrice, i = textField(s, i) // "" for null
		default:
			i = skip(s, i)
		}
		if i < 0 {
			return dst, i, nil
		}
	}
	fe := &bitfinexErrs
	switch {
	case kind != "pos":
		return dst, i, errBitfinexRow
	case match == "1":
		return dst, i, nil // an execution of a position already counted
	case match != "0":
		return dst, i, errBitfinexMatch
	}
	var vals [nFields]string
	side := event.Long
	if strings.HasPrefix(amount, "-") {
		side, amount = event.Short, amount[1:]
	}
	vals[fSymbol], vals[fSize], vals[fTime] = strings.TrimPrefix(sym, "t"), amount, mts
	vals[fPrice], vals[fAvgPrice] = base, liqPrice
	e, n, err := fe.liquidation(event.Bitfinex, side, &vals, recvNs, -1)
	if err != nil {
		return dst, i, err
	}
	in, known := linearBase, strings.HasSuffix(vals[fSymbol], ":USTF0")
	if known {
		e.Market = event.Linear
	}
	if err := fe.finish(&e, in, known, n, e.Price); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
}

// Control implements ControlInspector: {"event":"error","msg":"…","code":N}.
func (d *BitfinexDecoder) Control(frame []byte) (bool, string) {
	if !bytes.HasPrefix(frame, []byte(`{"event":"error"`)) {
		return false, ""
	}
	s := view(frame)
	return true, strings.Clone("code " + gjson.Get(s, "code").Raw + ": " + gjson.Get(s, "msg").String())
}

// bitfinexRespond asks for a new connection on info 20051 (the server
// restarts) and 20061 (maintenance is over: subscriptions must be made
// again, which a new connection does). 20060, maintenance starting, needs
// nothing: the channel pauses, and a pause past the stale limit is a gap.
func bitfinexRespond(dst, frame []byte) ([]byte, Response) {
	if len(frame) > 256 || !bytes.HasPrefix(frame, bitfinexInfo) {
		return dst, NoResponse
	}
	if bytes.Contains(frame, bitfinexRestart) || bytes.Contains(frame, bitfinexMaintenance) {
		return dst, Reconnect
	}
	return dst, NoResponse
}

// BitfinexSpec returns the Spec of Bitfinex's global liquidation feed. The
// channel's own heartbeat stands in for a canary (see bitfinexStaleAfter);
// each connection gets its own decoder for its channel id.
func BitfinexSpec(o VenueConfig) Spec {
	return Spec{
		Venue:          event.Bitfinex,
		Stream:         "liq:global",
		URL:            orDefault(o.StreamURL, DefaultBitfinexURL),
		Subscribe:      staticFrames(bitfinexSubscribe),
		StaleAfter:     orDuration(o.StaleAfter, bitfinexStaleAfter),
		BacklogWindow:  bitfinexBacklogWindow,
		Respond:        bitfinexRespond,
		Decoder:        NewBitfinexDecoder(),
		NewConnDecoder: NewBitfinexConnDecoder,
	}
}
