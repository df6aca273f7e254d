package ingest

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// The two kinds of decode error. Decoders return *DecodeError values that
// wrap one of them and name the field or the reason; they are shared and
// preallocated, so a bad frame costs no allocation, and the caller adds the
// context (venue, connection, first bytes of the frame) when it logs.
var (
	// ErrMalformed: the frame is not JSON, or a liquidation in it lacks a
	// required field or carries a value that does not parse or lies
	// outside the bounds (MinPrice…).
	ErrMalformed = errors.New("malformed frame")
	// ErrUnexpected: the frame is well-formed but is neither a liquidation
	// nor a control message this venue is known to send.
	ErrUnexpected = errors.New("unexpected frame")
)

// view returns a string that shares b's memory, so gjson can walk the frame
// without copying it.
//
// Lifetime: the string (and every gjson Result.Str/Raw cut from it) is valid
// only while b is not modified, that is for the duration of one Decode call:
// the client reuses its read buffer for the next frame. Nothing derived from
// it may be stored in an Event or anywhere else; symbols are copied into
// event.Symbol by value and numbers are parsed out.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal parses a plain non-negative decimal such as "38886.54",
// "0.0711500" or "2329", the shape of every price and size the venues send
// as JSON strings. When the digits fit in 2^53 and the scale is at most
// 10^22 the result is m / 10^k with both operands exact, which IEEE division
// rounds correctly (Clinger's fast path), so it equals strconv.ParseFloat.
// Anything else (exponents, signs, very long mantissas) goes to
// strconv.ParseFloat. It never allocates on success.
func parseDecimal(s string) (float64, bool) {
	if len(s) == 0 || len(s) > 40 {
		return 0, false
	}
	var m uint64
	digits, frac := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if m > (1<<53)/10 {
				return parseSlow(s)
			}
			m = m*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return parseSlow(s)
		}
	}
	if digits == 0 || m >= 1<<53 {
		return parseSlow(s)
	}
	f := float64(m)
	if frac > 0 {
		if frac >= len(pow10) {
			return parseSlow(s)
		}
		f /= pow10[frac]
	}
	return f, true
}

// parseSlow handles what parseDecimal's fast path does not: long mantissas
// and exponents (BitMEX prints 2.17e-06). Only a plain decimal with an
// exponent of at most two digits reaches strconv, which then can neither
// fail nor overflow: its errors allocate, and hostile frames must not.
func parseSlow(s string) (float64, bool) {
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		n := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			n++
		}
		if n == 0 || n > 2 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseMs parses a millisecond timestamp written as a JSON string of digits
// (OKX "ts"). It rejects anything that is not 1 to 18 digits.
func parseMs(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
