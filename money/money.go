// Package money reads and writes US dollar amounts and prices the way
// liqbox shows them everywhere: in alerts, on the terminal, in the log
// tools and in the configuration ("250k", "$1.25M", "65432.1").
//
// The Append functions allocate nothing, so the hot path may use them.
package money

import (
	"math"
	"strconv"
	"strings"
)

// AppendUSD appends a compact dollar amount: $950, $12.5K, $1.25M, $2.1B.
// NaN and infinities append unknown.
func AppendUSD(dst []byte, v float64, unknown string) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, unknown...)
	}
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = append(dst, '$')
	switch {
	case v >= 1e9:
		return appendTrim(dst, v/1e9, 'B')
	case v >= 1e6:
		return appendTrim(dst, v/1e6, 'M')
	case v >= 1e3:
		return appendTrim(dst, v/1e3, 'K')
	}
	return strconv.AppendFloat(dst, math.Round(v), 'f', 0, 64)
}

// appendTrim writes v with at most two decimals and no trailing zeros,
// then the unit.
func appendTrim(dst []byte, v float64, unit byte) []byte {
	dst = strconv.AppendFloat(dst, v, 'f', 2, 64)
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	return append(dst, unit)
}

// AppendPrice appends a price with enough significant digits to be useful
// at any magnitude (65432.1, 0.00001234).
func AppendPrice(dst []byte, p float64) []byte {
	if math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 {
		return append(dst, '?')
	}
	prec := 2
	switch {
	case p >= 1000:
		prec = 1
	case p >= 1:
		prec = 4
	default:
		// Six significant digits below one.
		prec = 6 - int(math.Floor(math.Log10(p))) - 1
		if prec > 12 {
			prec = 12
		}
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, p, 'f', prec, 64)
	if prec > 0 {
		for len(dst) > n+1 && dst[len(dst)-1] == '0' {
			dst = dst[:len(dst)-1]
		}
		if dst[len(dst)-1] == '.' {
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// ParseUSD reads a threshold such as 250k, 250000, 1.5m, $2M or 1,000,000.
// It rejects zero, negatives, NaN, infinities, anything above $10B and junk.
func ParseUSD(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	s = strings.ReplaceAll(s, ",", "")
	s = strings.ReplaceAll(s, "_", "")
	if s == "" {
		return 0, false
	}
	mult := 1.0
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1e3
	case 'm', 'M':
		mult = 1e6
	case 'b', 'B':
		mult = 1e9
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	for _, c := range s {
		// ParseFloat also takes "inf", "nan", hex and exponents: none is a
		// threshold anyone types on purpose.
		if (c < '0' || c > '9') && c != '.' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	v *= mult
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 1 || v > 10e9 {
		return 0, false
	}
	return v, true
}

// Spend prints a USD spend (the LLM's) with enough decimals that a small
// bill does not read $0.00: $0.000420, $1.2345, $123.45.
func Spend(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "$0"
	case a < 0.01:
		return "$" + strconv.FormatFloat(v, 'f', 6, 64)
	case a < 100:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	return "$" + strconv.FormatFloat(v, 'f', 2, 64)
}

// Group prints n with thousands separators: 1,234,567.
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
