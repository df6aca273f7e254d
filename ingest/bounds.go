package ingest

import (
	"math"
	"unicode"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
)

// Bounds every decoded liquidation is held to. A value outside them is not
// a liquidation any venue reports: the decoder refuses the liquidation with
// a DecodeError naming the field, and keeps the others of the frame.
const (
	// MinPrice and MaxPrice bound a price (fill or bankruptcy, in USD or
	// the quote coin). The cheapest contracts trade near 1e-6 (BitMEX
	// quoted TRX in XBT at 2.17e-06); no contract trades above a
	// billion. Zero is refused: a "$0" liquidation is no fact.
	MinPrice = 1e-12
	MaxPrice = 1e9
	// MaxSize bounds the size field as the venue sends it (base units,
	// contracts or USD); it must be above zero. Meme-coin quantities reach
	// 1e9 units; 1e13 leaves room.
	MaxSize = 1e13
	// MaxNotional bounds the USD value: the largest single liquidations
	// on record are in the hundreds of millions; ten billion is not one.
	MaxNotional = 1e10
	// MinTimeMs is 2015-01-01T00:00:00Z, before any of these futures
	// venues published liquidations; an exchange time may be at most
	// MaxTimeAheadMs after the frame's receive time.
	MinTimeMs      = 1420070400000
	MaxTimeAheadMs = 24 * 3600 * 1000
	// maxTimeMs is the ceiling used when the receive time is not a real
	// clock reading (tools that decode with recvNs 0): 2100-01-01.
	maxTimeMs = 4102444800000
)

// DecodeError says why a frame, or one liquidation in it, was refused: the
// field as the venue names it, and the reason. Decoders return shared,
// preallocated values, so refusing costs no allocation; the caller adds the
// venue and the frame's first bytes when it logs. errors.Is(err,
// ErrMalformed) or ErrUnexpected tells the two kinds apart.
type DecodeError struct {
	Field  string // e.g. "o.ap", "data[].p"; empty when the frame as a whole is at fault
	Reason string
	kind   error
	msg    string
}

func (e *DecodeError) Error() string { return e.msg }

// Unwrap returns ErrMalformed or ErrUnexpected.
func (e *DecodeError) Unwrap() error { return e.kind }

func newDecodeError(kind error, field, reason string) *DecodeError {
	msg := reason
	if field != "" {
		msg = field + ": " + reason
	}
	return &DecodeError{Field: field, Reason: reason, kind: kind, msg: kind.Error() + ": " + msg}
}

// Frame-level errors shared by every decoder.
var (
	errNotJSON   = newDecodeError(ErrMalformed, "", "not JSON, cut short, or nested deeper than 64 levels")
	errTrailing  = newDecodeError(ErrMalformed, "", "data after the JSON value")
	errNotObject = newDecodeError(ErrUnexpected, "", "not a JSON object")
	errUnknown   = newDecodeError(ErrUnexpected, "", "neither a liquidation nor a control message of this venue")
)

// Reasons shared by the field errors.
const (
	reasonSymbol   = "missing, longer than 31 bytes, or with a character no symbol has"
	reasonSide     = "missing or not one of the venue's side values"
	reasonSize     = "missing or not a decimal above 0 and at most 1e13"
	reasonPrice    = "missing or not a decimal between 1e-12 and 1e9"
	reasonTime     = "missing or not a millisecond time between 2015-01-01 and a day after receipt"
	reasonNotional = "USD value above 1e10"
	reasonObject   = "not an object"
	reasonArray    = "not an array"
)

// fieldErrors are one venue's errors for the fields of a liquidation.
type fieldErrors struct {
	symbol, side, size, price, time, notional *DecodeError
}

func newFieldErrors(symbol, side, size, price, time string) fieldErrors {
	return fieldErrors{
		symbol:   newDecodeError(ErrMalformed, symbol, reasonSymbol),
		side:     newDecodeError(ErrMalformed, side, reasonSide),
		size:     newDecodeError(ErrMalformed, size, reasonSize),
		price:    newDecodeError(ErrMalformed, price, reasonPrice),
		time:     newDecodeError(ErrMalformed, time, reasonTime),
		notional: newDecodeError(ErrMalformed, size+"×"+price, reasonNotional),
	}
}

func priceOK(p float64) bool { return p >= MinPrice && p <= MaxPrice }
func sizeOK(n float64) bool  { return n > 0 && n <= MaxSize }

// timeOK checks an exchange time against the receive time (ns).
func timeOK(ms, recvNs int64) bool {
	ceil := int64(maxTimeMs)
	if recvNs >= MinTimeMs*int64(1e6) {
		ceil = recvNs/1e6 + MaxTimeAheadMs
	}
	return ms >= MinTimeMs && ms <= ceil
}

// finish fills the size fields of e (applySize) and checks the result:
// a known notional must be positive and at most MaxNotional, an unknown one
// is NaN with BasisUnknown.
func (fe *fieldErrors) finish(e *event.Event, in Instrument, known bool, n, price float64) error {
	applySize(e, in, known, n, price)
	return fe.check(e)
}

// check holds e's size fields, however they were computed, to the bounds
// finish promises.
func (fe *fieldErrors) check(e *event.Event) error {
	if e.Basis == event.BasisUnknown {
		return nil
	}
	if !(e.Notional > 0 && e.Notional <= MaxNotional) || !(e.Qty > 0) || math.IsInf(e.Qty, 0) {
		return fe.notional
	}
	return nil
}

// validSymbol reports whether s can be an instrument id: 1 to SymbolCap
// bytes of ASCII letters, digits and . _ : / -, or letters and digits of
// other scripts (Binance lists symbols in Chinese characters). Control
// bytes, spaces, quotes, escapes and format characters (bidi overrides)
// never pass, so a symbol can reach a terminal, a CSV or a chat as it is.
func validSymbol(s string) bool {
	if len(s) == 0 || len(s) > event.SymbolCap {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
				c == '.' || c == '_' || c == ':' || c == '/' || c == '-') {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
		i += n
	}
	return true
}

// The members of a liquidation object a decoder reads, by slot.
const (
	fSymbol = iota
	fSide
	fSide2 // OKX's order side beside posSide
	fSize
	fPrice
	fAvgPrice // Binance's average fill price, preferred over fPrice
	fTime
	fBase  // a base-unit size the venue sends beside its own unit (HTX amount)
	fQuote // a quote-currency value the venue computed (HTX trade_turnover)
	fTime2 // the time under another name, read when fTime is absent (Gate time beside time_ms)
	nFields
)

// fieldMap maps a venue's member name to its slot, or -1 for a member the
// decoder skips; text says a number is accepted as well as a string. A
// switch over constant strings, which the compiler turns into length and
// word comparisons, is several times faster here than a table.
type fieldMap func(key string) (slot int, text bool)

// readFields reads the object whose '{' is at i, keeping the raw value of
// each member fm names (the last one wins) and skipping the rest.
func readFields(s string, i int, fm fieldMap, vals *[nFields]string) int {
	i++ // '{'
	for first := true; ; first = false {
		k, j, done := nextKey(s, i, first)
		if i = j; i < 0 || done {
			return i
		}
		if i = readField(s, i, fm, k, vals); i < 0 {
			return i
		}
	}
}

// readField reads the value at i of the member k into vals, where fm puts
// it, or skips it; it returns the position after the value.
func readField(s string, i int, fm fieldMap, k string, vals *[nFields]string) int {
	switch slot, text := fm(k); {
	case slot < 0:
		i = skip(s, i)
	case text:
		vals[slot], i = textField(s, i)
	default:
		vals[slot], i = strField(s, i)
	}
	return i
}

// sideOf maps a venue's side value to the liquidated position's side.
func sideOf(v, long, short string) event.Side {
	switch v {
	case long:
		return event.Long
	case short:
		return event.Short
	}
	return event.SideUnknown
}

// liquidation checks the fields read into vals against the bounds and
// returns the event (venue, side, symbol, price, time, receive time set)
// and the size as the venue sent it, for finish. Without a time field
// (timeMs ≥ 0) the event takes timeMs.
func (fe *fieldErrors) liquidation(v event.Venue, side event.Side, vals *[nFields]string, recvNs, timeMs int64) (event.Event, float64, error) {
	e := event.Event{Venue: v, Side: side, RecvNs: recvNs, TimeMs: timeMs}
	if side == event.SideUnknown {
		return e, 0, fe.side
	}
	if !validSymbol(vals[fSymbol]) {
		return e, 0, fe.symbol
	}
	n, ok := parseDecimal(vals[fSize])
	if !ok || !sizeOK(n) {
		return e, 0, fe.size
	}
	// An average fill price of zero (Binance, nothing filled yet) falls
	// back to the order price.
	if e.Price, ok = parseDecimal(vals[fAvgPrice]); !ok || e.Price == 0 {
		e.Price, ok = parseDecimal(vals[fPrice])
	}
	if !ok || !priceOK(e.Price) {
		return e, 0, fe.price
	}
	if timeMs < 0 {
		if e.TimeMs, ok = parseMs(vals[fTime]); !ok || !timeOK(e.TimeMs, recvNs) {
			return e, 0, fe.time
		}
	}
	e.Symbol = event.MakeSymbol(vals[fSymbol])
	return e, n, nil
}
