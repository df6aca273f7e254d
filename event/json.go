package event

import (
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSON appends e as one JSON object (no newline) with the keys that
// `liqbox decode` promises: venue, symbol, side, price, qty, notional_usd,
// notional_basis, time_ms. Every number that is not finite is written as
// null, and notional_usd is null exactly when notional_basis is "unknown"
// (see NotionalBasis), so the line is valid JSON for any event a log can
// hold. It allocates nothing when dst has room.
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
	dst = append(dst, e.NotionalBasis().String()...)
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

// AppendJSONString appends s as a JSON string, escaped as AppendJSON
// escapes the symbol, for other text a JSON writer carries (an analysis).
// It copies s once: for cold paths (AppendJSONBytes takes bytes as they are).
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, []byte(s)) }

// AppendJSONBytes is AppendJSONString for bytes, without the copy.
func AppendJSONBytes(dst, s []byte) []byte { return appendJSONString(dst, s) }

// appendJSONString writes s as a JSON string that is valid UTF-8 and
// carries no byte a terminal acts on: C0 and C1 controls and DEL are
// escaped, and so are format characters (bidi overrides, zero-width
// characters), which reorder or hide what a terminal shows; invalid UTF-8
// becomes U+FFFD.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, `\ufffd`...)
		case r < 0xa0 || unicode.Is(unicode.Cf, r): // C1 controls, bidi and other format characters
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				dst = appendU(dst, r1)
				r = r2
			}
			dst = appendU(dst, r)
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
