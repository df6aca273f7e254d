package bus

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/store"
)

// The wire format, version 1: each message is one JSON object, UTF-8, no
// newline, so any consumer (`nats sub`, jq, a notebook) reads it without
// liqbox's code. JSON rather than the log's binary record: at liquidation
// rates the size (about 265 bytes against 55) and the encoding (under a
// microsecond) cost nothing that matters, and a consumer that is not
// liqbox needs no spec of ours to read it. Numbers are written in the
// shortest form that reads back as the same float64, so a liquidation's
// identity (event.Event.Key) is the same at both ends.
//
// An event, on <subject>.events.<venue>:
//
//	{"v":1,"box":"tokyo-1","seq":42,"venue":"binance-usdm","market":"linear",
//	 "symbol":"BTCUSDT","side":"long","price":39021,"qty":0.288,
//	 "notional_usd":11238.048,"notional_basis":"linear","time_ms":1650898329196,
//	 "recv_ns":1650898329201734000,"conn":0,"backlog":false}
//
// box is the publishing box, seq its own log's sequence number, side the
// liquidated position's, notional_usd null when unknown (with
// notional_basis "unknown"), time_ms the exchange's time, recv_ns the
// publishing box's receive time (it exceeds JavaScript's exact integers:
// use time_ms there), conn the box's connection that delivered it first,
// backlog true for an event the venue replayed at connect (never
// alerted). The other keys are decode's (see `liqbox decode`).
//
// A gap, on <subject>.gaps.<venue>:
//
//	{"v":1,"box":"tokyo-1","venue":"bybit","stream":"linear",
//	 "start_ns":1650898329201734000,"end_ns":null,"cause":"read_error"}
//
// end_ns is null while the gap is open; its closing is a second message
// with the same start. Readers ignore keys they do not know (a later
// version 1 may add some) and refuse any other "v".
const WireVersion = 1

// AppendEvent appends ev's message, published by box, to dst. It
// allocates nothing when dst has room (about 400 bytes).
func AppendEvent(dst []byte, box string, ev *event.Event) []byte {
	dst = append(dst, `{"v":1,"box":"`...)
	dst = append(dst, box...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"venue":"`...)
	dst = append(dst, ev.Venue.String()...)
	dst = append(dst, `","market":"`...)
	dst = append(dst, ev.Market.String()...)
	dst = append(dst, `","symbol":`...)
	dst = event.AppendJSONBytes(dst, ev.Symbol.Bytes())
	dst = append(dst, `,"side":"`...)
	dst = append(dst, ev.Side.String()...)
	dst = append(dst, `","price":`...)
	dst = appendExact(dst, ev.Price)
	dst = append(dst, `,"qty":`...)
	dst = appendExact(dst, ev.Qty)
	dst = append(dst, `,"notional_usd":`...)
	if ev.NotionalKnown() {
		dst = appendExact(dst, ev.Notional)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"notional_basis":"`...)
	dst = append(dst, ev.Basis.String()...)
	dst = append(dst, `","time_ms":`...)
	dst = strconv.AppendInt(dst, ev.TimeMs, 10)
	dst = append(dst, `,"recv_ns":`...)
	dst = strconv.AppendInt(dst, ev.RecvNs, 10)
	dst = append(dst, `,"conn":`...)
	dst = strconv.AppendUint(dst, uint64(ev.Conn), 10)
	if ev.Flags&event.FlagBacklog != 0 {
		dst = append(dst, `,"backlog":true}`...)
	} else {
		dst = append(dst, `,"backlog":false}`...)
	}
	return dst
}

// appendExact writes f in the shortest form that parses back to the same
// bits (f is finite: the log holds no other price or size).
func appendExact(dst []byte, f float64) []byte {
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// The members of an event message, as bits of a set.
const (
	kV = 1 << iota
	kBox
	kSeq
	kVenue
	kMarket
	kSymbol
	kSide
	kPrice
	kQty
	kNotional
	kBasis
	kTime
	kRecv
	kConn
	kBacklog
	kRequired = kV | kBox | kSeq | kVenue | kMarket | kSymbol | kSide | kPrice | kQty | kNotional | kBasis | kTime | kRecv
)

// DecodeEvent reads an event message into ev (Seq is the publisher's) and
// returns the publishing box. box points into data: copy it to keep it.
// A message that is not exactly what AppendEvent writes in version 1
// (unknown keys aside) is refused with ErrBadMessage naming the key: a
// missing or repeated member, a wrong type, a name or value outside what
// liqbox's own decoders accept (ingest.CheckEvent).
func DecodeEvent(data []byte, ev *event.Event) (box string, err error) {
	if !gjson.ValidBytes(data) {
		return "", fmt.Errorf("%w: not JSON", ErrBadMessage)
	}
	root := gjson.Parse(view(data))
	if !root.IsObject() {
		return "", fmt.Errorf("%w: not a JSON object", ErrBadMessage)
	}
	*ev = event.Event{}
	var seen int
	var bad string
	root.ForEach(func(k, v gjson.Result) bool {
		bit, ok := 0, true
		switch k.Str {
		case "v":
			bit = kV
			ok = v.Raw == "1"
		case "box":
			bit = kBox
			box, ok = v.Str, v.Type == gjson.String && CheckBoxName(v.Str) == nil
		case "seq":
			bit = kSeq
			ev.Seq, ok = uintOf(v)
			ok = ok && ev.Seq > 0
		case "venue":
			bit = kVenue
			ev.Venue, ok = event.ParseVenue(v.Str)
			ok = ok && v.Type == gjson.String
		case "market":
			bit = kMarket
			ev.Market, ok = parseMarket(v)
		case "symbol":
			bit = kSymbol
			ok = v.Type == gjson.String && len(v.Str) <= event.SymbolCap
			ev.Symbol = event.MakeSymbol(v.Str)
		case "side":
			bit = kSide
			ev.Side, ok = parseSide(v)
		case "price":
			bit = kPrice
			ev.Price, ok = floatOf(v)
		case "qty":
			bit = kQty
			ev.Qty, ok = floatOf(v)
		case "notional_usd":
			bit = kNotional
			if v.Type == gjson.Null {
				ev.Notional = math.NaN()
			} else {
				ev.Notional, ok = floatOf(v)
			}
		case "notional_basis":
			bit = kBasis
			ev.Basis, ok = parseBasis(v)
		case "time_ms":
			bit = kTime
			ev.TimeMs, ok = intOf(v)
		case "recv_ns":
			bit = kRecv
			ev.RecvNs, ok = intOf(v)
			ok = ok && ev.RecvNs > 0
		case "conn":
			bit = kConn
			var c uint64
			c, ok = uintOf(v)
			ok = ok && c < 255
			ev.Conn = uint8(c)
		case "backlog":
			bit = kBacklog
			switch v.Type {
			case gjson.True:
				ev.Flags |= event.FlagBacklog
			case gjson.False:
			default:
				ok = false
			}
		default:
			return true // a key of a later version 1
		}
		if !ok || seen&bit != 0 {
			bad = k.Str
			return false
		}
		seen |= bit
		return true
	})
	if bad != "" {
		return "", fmt.Errorf("%w: %q is repeated, of the wrong type or out of bounds", ErrBadMessage, bad)
	}
	if seen&kRequired != kRequired {
		return "", fmt.Errorf("%w: a member is missing (%s)", ErrBadMessage, missing(seen))
	}
	// A known notional has a basis, an unknown one none, as the log keeps them.
	if math.IsNaN(ev.Notional) != (ev.Basis == event.BasisUnknown) {
		return "", fmt.Errorf("%w: notional_usd and notional_basis disagree", ErrBadMessage)
	}
	if err := ingest.CheckEvent(ev); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return box, nil
}

var memberNames = []string{"v", "box", "seq", "venue", "market", "symbol", "side", "price", "qty",
	"notional_usd", "notional_basis", "time_ms", "recv_ns"}

func missing(seen int) string {
	for i, n := range memberNames {
		if seen&(1<<i) == 0 {
			return n
		}
	}
	return ""
}

// view is a string over b's bytes, valid while b is unchanged.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func floatOf(v gjson.Result) (float64, bool) {
	if v.Type != gjson.Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	return f, err == nil && !math.IsInf(f, 0)
}

func intOf(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	return n, err == nil
}

func uintOf(v gjson.Result) (uint64, bool) {
	if v.Type != gjson.Number {
		return 0, false
	}
	n, err := strconv.ParseUint(v.Raw, 10, 64)
	return n, err == nil
}

func parseMarket(v gjson.Result) (event.Market, bool) {
	for _, m := range []event.Market{event.MarketUnknown, event.Linear, event.Inverse} {
		if v.Type == gjson.String && v.Str == m.String() {
			return m, true
		}
	}
	return 0, false
}

func parseSide(v gjson.Result) (event.Side, bool) {
	switch {
	case v.Type != gjson.String:
	case v.Str == "long":
		return event.Long, true
	case v.Str == "short":
		return event.Short, true
	}
	return 0, false
}

func parseBasis(v gjson.Result) (event.Basis, bool) {
	if v.Type != gjson.String {
		return 0, false
	}
	for b := event.BasisUnknown; b <= event.BasisContractValue; b++ {
		if v.Str == b.String() {
			return b, true
		}
	}
	return 0, false
}

// gapJSON is a gap message.
type gapJSON struct {
	V       *int   `json:"v"`
	Box     string `json:"box"`
	Venue   string `json:"venue"`
	Stream  string `json:"stream"`
	StartNs int64  `json:"start_ns"`
	EndNs   *int64 `json:"end_ns"`
	Cause   string `json:"cause"`
}

// AppendGap appends g's message, published by box, to dst.
func AppendGap(dst []byte, box string, g store.Gap) []byte {
	v := WireVersion
	m := gapJSON{V: &v, Box: box, Venue: g.Venue, Stream: g.Stream, StartNs: g.Start.UnixNano(), Cause: g.Cause}
	if !g.IsOpen() {
		end := g.End.UnixNano()
		m.EndNs = &end
	}
	b, _ := json.Marshal(m) // strings and numbers only: it cannot fail
	return append(dst, b...)
}

// maxGapText bounds a remote gap's stream and cause: with the box's name
// in front, a remote stream still fits the ledger's 256 bytes.
const maxGapText = 190

// DecodeGap reads a gap message and returns it with the publishing box.
// It refuses another version, a venue liqbox does not know, a stream or
// cause that is empty (the stream), too long or holds control bytes or a
// slash (a stream), and an end before the start.
func DecodeGap(data []byte) (box string, g store.Gap, err error) {
	var m gapJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return "", g, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch {
	case m.V == nil || *m.V != WireVersion:
		return "", g, fmt.Errorf("%w: not version %d", ErrBadMessage, WireVersion)
	case CheckBoxName(m.Box) != nil:
		return "", g, fmt.Errorf("%w: box %q", ErrBadMessage, m.Box)
	case !knownVenue(m.Venue):
		return "", g, fmt.Errorf("%w: venue %q", ErrBadMessage, m.Venue)
	case m.Stream == "" || !plainText(m.Stream) || IsRemoteStream(m.Stream):
		return "", g, fmt.Errorf("%w: stream %q", ErrBadMessage, m.Stream)
	case !plainText(m.Cause):
		return "", g, fmt.Errorf("%w: cause %q", ErrBadMessage, m.Cause)
	case m.StartNs <= 0 || m.EndNs != nil && *m.EndNs < m.StartNs:
		return "", g, fmt.Errorf("%w: start %d, end %v", ErrBadMessage, m.StartNs, m.EndNs)
	}
	g = store.Gap{Venue: m.Venue, Stream: m.Stream, Start: timeNs(m.StartNs), Cause: m.Cause}
	if m.EndNs != nil {
		g.End = timeNs(*m.EndNs)
	}
	return m.Box, g, nil
}

func knownVenue(s string) bool {
	_, ok := event.ParseVenue(s)
	return ok
}

// plainText accepts up to maxGapText bytes of valid UTF-8 without control,
// format (bidi overrides, zero-width) or private-use characters: what may
// be shown as it is in a ledger, a chat or a terminal.
func plainText(s string) bool {
	if len(s) > maxGapText {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Co) {
			return false
		}
	}
	return true
}

func timeNs(ns int64) time.Time { return time.Unix(0, ns) }
