package event

import (
	"math"
	"strconv"
)

// AppendJSON appends e as one JSON object (no newline) with the keys that
// `liqbox decode` promises: venue, symbol, side, price, qty, notional_usd,
// notional_basis, time_ms. An unknown notional is written as null.
// It allocates nothing when dst has room.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"venue":"`...)
	dst = append(dst, e.Venue.String()...)
	dst = append(dst, `","symbol":`...)
	dst = appendJSONString(dst, e.Symbol.b[:e.Symbol.n])
	dst = append(dst, `,"side":"`...)
	dst = append(dst, e.Side.String()...)
	dst = append(dst, `","price":`...)
	dst = AppendFloat(dst, e.Price)
	dst = append(dst, `,"qty":`...)
	dst = AppendFloat(dst, e.Qty)
	dst = append(dst, `,"notional_usd":`...)
	if e.NotionalKnown() {
		dst = AppendFloat(dst, e.Notional)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"notional_basis":"`...)
	dst = append(dst, e.Basis.String()...)
	dst = append(dst, `","time_ms":`...)
	dst = strconv.AppendInt(dst, e.TimeMs, 10)
	dst = append(dst, '}')
	return dst
}

// AppendFloat writes f rounded to 15 significant digits, in the shortest
// form that reads back as that value, or null for NaN and infinities (which
// JSON cannot carry). The rounding removes binary noise from a product of
// decimals (0.288 × 39021 is 11238.047999999999 in float64) without losing
// anything the exchange sent: its decimals have fewer digits.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	var tmp [32]byte
	r, err := strconv.ParseFloat(string(strconv.AppendFloat(tmp[:0], f, 'g', 15, 64)), 64)
	if err == nil {
		f = r
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// AppendJSONString appends s as a JSON string: quotes and backslashes
// escaped, control bytes as \u00XX, everything else as it is.
func AppendJSONString(dst, s []byte) []byte { return appendJSONString(dst, s) }
