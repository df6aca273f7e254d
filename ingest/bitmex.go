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

// BitMEXDecoder decodes BitMEX `liquidation` table messages in one pass;
// any other table is refused, except the canary `instrument`, a control
// frame.
//
// Each `insert` row is one liquidation, counted once; `update` and `delete`
// rows describe the same order again and are never new events; `partial`
// rows (the table image sent on subscribing) are events flagged
// event.FlagBacklog. `side` is the liquidation order's side (Sell: a long
// was liquidated). `price` is the order's (bankruptcy) price and `leavesQty`
// is in contracts, converted with the instrument's multipliers: inverse
// (XBTUSD) USD = contracts × multiplier / underlyingToSettleMultiplier;
// linear (XBTUSDT) base = contracts / underlyingToPositionMultiplier;
// quanto and unknown instruments get NaN and BasisUnknown. A row outside the
// package's bounds is refused (data[].symbol, .side, .price, .leavesQty)
// and the message's other rows are kept.
//
// The rows carry no timestamp, so TimeMs is the frame's receive time.
type BitMEXDecoder struct {
	inst *Instruments
}

// NewBitMEXDecoder returns a BitMEX decoder reading multipliers from inst.
func NewBitMEXDecoder(inst *Instruments) *BitMEXDecoder { return &BitMEXDecoder{inst: inst} }

var (
	bitmexErrs      = newFieldErrors("data[].symbol", "data[].side", "data[].leavesQty", "data[].price", "")
	errBitMEXAction = newDecodeError(ErrMalformed, "action", "not partial, insert, update or delete")
	errBitMEXData   = newDecodeError(ErrMalformed, "data", reasonArray)
	errBitMEXTable  = newDecodeError(ErrUnexpected, "table", "not liquidation")
)

// Decode implements Decoder.
func (d *BitMEXDecoder) Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	i := ws(s, 0)
	if at(s, i) != '{' {
		return dst, notAnObject(frame, s)
	}
	t := d.inst.Load()
	var table, action string
	var haveTable, haveAction, haveData, badData, control bool
	var bad error
	i = members(s, i, func(k string, i int) int {
		switch k {
		case "table":
			table, i = strField(s, i)
			haveTable = true
			return i
		case "action":
			action, i = strField(s, i)
			haveAction = true
			return i
		case "data":
			// table and action come first in BitMEX's messages; should
			// they not, the rows are decoded on trust and dropped below.
			if haveTable && table != "liquidation" || haveAction && (action == "update" || action == "delete") {
				break
			}
			if s[i] != '[' {
				badData = true
				break
			}
			haveData = true
			dst, i, bad = d.rows(s, i, dst, t, recvNs)
			return i
		case "info", "success", "error", "status", "subscribe", "unsubscribe":
			control = true
		}
		return skip(s, i)
	})
	if i < 0 {
		return dst[:n0], errNotJSON
	}
	if badData {
		return dst[:n0], errBitMEXData
	}
	if !atEnd(s, i) {
		return dst[:n0], errTrailing
	}
	switch {
	case table == "liquidation":
	case table == "instrument": // the canary
		return dst[:n0], nil
	case haveTable:
		return dst[:n0], errBitMEXTable
	case control:
		return dst[:n0], nil
	default:
		return dst[:n0], errUnknown
	}
	switch action {
	case "insert":
	case "partial":
		// The table image sent on subscribing: logged, never alerted.
		for k := n0; k < len(dst); k++ {
			dst[k].Flags |= event.FlagBacklog
		}
	case "update", "delete":
		// The same orders again: never new liquidations.
		return dst[:n0], nil
	default:
		return dst[:n0], errBitMEXAction
	}
	if !haveData {
		return dst[:n0], errBitMEXData
	}
	return dst, bad
}

// rows decodes the data array at i; a bad row is dropped, the others kept.
// The rows carry no time: each gets the frame's receive time.
func (d *BitMEXDecoder) rows(s string, i int, dst []event.Event, t *Table, recvNs int64) ([]event.Event, int, error) {
	timeMs := recvNs / int64(time.Millisecond)
	return elems(s, i, dst, func(s string, i int, dst []event.Event) ([]event.Event, int, error) {
		return d.row(s, i, dst, t, recvNs, timeMs)
	})
}

func bitmexFields(k string) (int, bool) {
	switch k {
	case "symbol":
		return fSymbol, false
	case "side":
		return fSide, false
	case "price":
		return fPrice, true
	case "leavesQty":
		return fSize, true
	}
	return -1, false
}

// row decodes one liquidation row at i.
func (d *BitMEXDecoder) row(s string, i int, dst []event.Event, t *Table, recvNs, timeMs int64) ([]event.Event, int, error) {
	var vals [nFields]string
	if i = readFields(s, i, bitmexFields, &vals); i < 0 {
		return dst, i, nil
	}
	fe := &bitmexErrs
	e, n, err := fe.liquidation(event.BitMEX, sideOf(vals[fSide], "Sell", "Buy"), &vals, recvNs, timeMs)
	if err != nil {
		return dst, i, err
	}
	in, known := t.Lookup(vals[fSymbol])
	if err := fe.finish(&e, in, known, n, e.Price); err != nil {
		return dst, i, err
	}
	return append(dst, e), i, nil
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
		Canary:     bitmexCanary(o, mustCanary(o.Canary, defaultCanary["bitmex"])),
		RecvTime:   true,
		Decoder:    NewBitMEXDecoder(inst),
	}
}
