// Package asset maps every venue's instrument symbols to one base asset,
// so that BTCUSDT (Binance), BTCUSD_PERP (Binance COIN-M), BTC-USDT-SWAP
// (OKX), XBTUSD and XBTZ25 (BitMEX), BTC-PERPETUAL (Deribit), PI_XBTUSD
// and PF_XBTUSD (Kraken Futures), tBTCF0:USTF0 (Bitfinex), BTC-USDT and
// BTC200703 (HTX), BTC_USDT (Gate) and BTCUSDT (Bitget, Aster) are all
// BTC. It is the one mapping liqbox has: the chats' symbol filters and
// mutes (`/symbols ETH` matches every ETH market), the cascade rules
// (`/cascade BTC 10M 5m`) and the top assets of /stats and the page all
// use Of.
//
// The mapping, in order, on the symbol's bytes:
//
//  1. Bitfinex: a lower-case type prefix (t, f) is dropped, then
//     everything from ':' (the settlement side), then the perpetual's F0.
//  2. Kraken Futures: the product prefix PF_, PI_, FF_ or FI_ is dropped.
//  3. The symbol is cut at its first separator (- _ /). The first part is
//     the base when what follows it is a quote currency (BTC-USDT-SWAP,
//     BTC_USDT, BTC-USD-250926, BTC_USDC-PERPETUAL, ETH_XBT). Otherwise
//     the first part is a concatenated pair (BTCUSD_PERP, BTCUSDT_250926,
//     XBTUSD_210625, ETHUSD_ETH on BitMEX) or the whole symbol is
//     (BTCUSDT, XBTZ25, BTC200703, BTCPERP): an expiry suffix is removed
//     (a futures month code and year such as Z25, or YYMMDD), then a
//     PERP suffix, then the venue's quote currency (the longest that
//     leaves something: BitMEX also quotes in ETH, EUR and XBT; Binance
//     USD-M in BUSD but never USD, so BNBUSD stays unambiguous where it
//     is listed).
//  4. A contract multiplier is removed: 1000PEPE, 10000LADYS, 1000000MOG,
//     1MBABYDOGE, 1TAIDOGE (BitMEX's own root symbol is AIDOGE) and
//     SHIB1000 are PEPE, LADYS, MOG, BABYDOGE, AIDOGE and SHIB: the USD
//     notional is the venue's either way, so they are one asset.
//  5. Aliases: XBT is BTC (BitMEX, Kraken), XDG is DOGE (Kraken).
//
// A new venue plugs in without a change when its symbols take one of
// these shapes with USDT, USDC or USD as quote (the shapes of Deribit,
// Kraken Futures, HTX, Bitfinex, Gate, Bitget and Aster all do); one
// with other quotes adds its line to quotesOf, and one with a new shape
// adds a step here. Either way it adds its recorded symbols to the test
// (TestEveryVenueSymbol), which checks every venue's recorded and
// snapshot instruments against the venue's own base-asset field.
//
// Of allocates nothing; a Name is a comparable fixed-size value.
package asset

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
)

// NameCap is the longest asset name a Name holds, in bytes: the longest
// real bases (BABYDOGE, 1000000BABYDOGE's base) fit, and so do a few
// characters of other scripts (Binance lists symbols in Chinese).
const NameCap = 23

// Name is a base asset such as "BTC": upper case, comparable, and held by
// value, so a map keyed by it needs no allocation to look up.
type Name struct {
	n uint8
	b [NameCap]byte
}

// String returns the name (cold paths: it allocates).
func (a Name) String() string { return string(a.b[:a.n]) }

// Bytes returns a view of the name's bytes, valid while a is.
func (a *Name) Bytes() []byte { return a.b[:a.n] }

// IsZero reports whether a is no asset (the symbol could not be mapped).
func (a Name) IsZero() bool { return a.n == 0 }

// Quote currencies a concatenated pair may end with, longest first so
// that USDT wins over USD.
var (
	quotesDefault = [][]byte{[]byte("USDT"), []byte("USDC"), []byte("USD")}
	// Binance USD-M quotes in USDT, USDC and (delisted) BUSD, never in USD.
	quotesBinanceUSDM = [][]byte{[]byte("FDUSD"), []byte("BUSD"), []byte("USDT"), []byte("USDC")}
	// BitMEX also lists XBTETH, XBTEUR, ETH_XBT.
	quotesBitMEX = [][]byte{[]byte("USDT"), []byte("USDC"), []byte("USD"), []byte("EUR"), []byte("ETH"), []byte("XBT")}
)

// quotesOf returns the quote currencies of v's concatenated symbols.
func quotesOf(v event.Venue) [][]byte {
	switch v {
	case event.BinanceUSDM:
		return quotesBinanceUSDM
	case event.BitMEX:
		return quotesBitMEX
	}
	return quotesDefault
}

// Of returns the base asset of venue v's instrument sym, or the zero Name
// when nothing recognisable is left. It allocates nothing.
func Of(v event.Venue, sym []byte) Name {
	s := sym
	// 1. Bitfinex: tBTCF0:USTF0.
	if len(s) > 1 && (s[0] == 't' || s[0] == 'f') && isUpperOrDigit(s[1]) {
		s = s[1:]
	}
	if i := bytes.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
		if len(s) > 2 && s[len(s)-2] == 'F' && s[len(s)-1] == '0' {
			s = s[:len(s)-2]
		}
	}
	// 2. Kraken Futures: PF_XBTUSD, PI_XBTUSD, FI_XBTUSD_210625; not
	// Gate's PI_USDT, whose PI is the coin.
	quotes := quotesOf(v)
	if len(s) > 3 && s[2] == '_' && (upper(s[0]) == 'P' || upper(s[0]) == 'F') && (upper(s[1]) == 'F' || upper(s[1]) == 'I') &&
		!isQuote(quotes, firstToken(s[3:])) {
		s = s[3:]
	}
	// 3. The pair.
	first, rest := s, []byte(nil)
	if i := indexSep(s); i >= 0 {
		first, rest = s[:i], s[i+1:]
	}
	nextQuote := len(rest) > 0 && isQuote(quotes, firstToken(rest))
	base := first
	// BitMEX's ETHUSD_ETH is a concatenated pair before a quote.
	if !nextQuote || v == event.BitMEX {
		if len(rest) == 0 {
			base = stripExpiry(base)
		}
		base = stripSuffix(base, "PERP")
		base = stripQuote(quotes, base)
	}
	// 4. Multipliers.
	base = stripMultiplier(base)
	return makeName(base)
}

// Coin normalises a coin's name as a user types it (eth, XBT, 1000PEPE):
// upper case, the aliases and the multiplier applied, no quote stripped,
// so BTCUSDT stays BTCUSDT and matches no asset: a symbol filter that is
// a full symbol means that symbol. It reports false for an invalid name.
func Coin(s string) (Name, bool) {
	if len(s) > NameCap {
		return Name{}, false
	}
	a := makeName(stripMultiplier([]byte(s)))
	return a, !a.IsZero()
}

// MayBe reports whether sym can be an instrument of asset a: false means
// Of(v, sym) != a for every venue v, so a filter can skip Of (a few
// nanoseconds instead of a hundred). sym must hold a's name, or the name
// an alias maps to a (XBT for BTC, XDG for DOGE), in any case.
func MayBe(sym []byte, a *Name) bool {
	name := a.b[:a.n]
	switch string(name) {
	case "BTC":
		return containsFold(sym, name) || containsFold(sym, []byte("XBT"))
	case "DOGE":
		return containsFold(sym, name) || containsFold(sym, []byte("XDG"))
	}
	return containsFold(sym, name)
}

// containsFold reports whether s holds u (upper case) in any ASCII case.
func containsFold(s, u []byte) bool {
	for i := 0; i+len(u) <= len(s); i++ {
		if equalUpper(s[i:i+len(u)], u) {
			return true
		}
	}
	return false
}

// OfString is Of for a string (cold paths: tests, commands).
func OfString(v event.Venue, sym string) Name { return Of(v, []byte(sym)) }

// Parse reads an asset as a user types it (btc, XBT, 1000PEPE) or as a
// symbol (BTCUSDT, BTC-USDT-SWAP), with the same mapping as Of, so that
// what a chat names is what Of finds in the feed. It reports false for an
// empty name or one with characters no symbol has.
func Parse(s string) (Name, bool) {
	if s == "" || len(s) > event.SymbolCap {
		return Name{}, false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '/' || r == ':') {
			return Name{}, false
		}
	}
	a := Of(event.VenueUnknown, []byte(s))
	return a, !a.IsZero()
}

// firstToken is s up to its first separator.
func firstToken(s []byte) []byte {
	if i := indexSep(s); i >= 0 {
		return s[:i]
	}
	return s
}

// indexSep is the index of s's first separator (- _ /), or -1.
func indexSep(s []byte) int {
	for i, c := range s {
		if c == '-' || c == '_' || c == '/' {
			return i
		}
	}
	return -1
}

func isUpperOrDigit(c byte) bool { return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isQuote(quotes [][]byte, tok []byte) bool {
	for _, q := range quotes {
		if len(tok) == len(q) && equalUpper(tok, q) {
			return true
		}
	}
	return false
}

// stripQuote removes the longest quote suffix that leaves a base.
func stripQuote(quotes [][]byte, s []byte) []byte {
	for _, q := range quotes {
		if len(s) > len(q) && hasSuffixFold(s, q) {
			return s[:len(s)-len(q)]
		}
	}
	return s
}

func stripSuffix(s []byte, suffix string) []byte {
	if len(s) > len(suffix) && hasSuffixFold(s, []byte(suffix)) {
		return s[:len(s)-len(suffix)]
	}
	return s
}

func hasSuffixFold(s, suffix []byte) bool {
	return len(s) >= len(suffix) && equalUpper(s[len(s)-len(suffix):], suffix)
}

// equalUpper reports whether s, upper-cased in ASCII, is u (upper case,
// same length).
func equalUpper(s, u []byte) bool {
	for i := range u {
		if upper(s[i]) != u[i] {
			return false
		}
	}
	return true
}

// monthCodes are the futures month letters (F = January … Z = December).
const monthCodes = "FGHJKMNQUVXZ"

// stripExpiry removes a dated future's suffix from a symbol without
// separators: a month code and a two-digit year (XBTZ25, BTCUSDH25,
// CYBERUSDTQ23) or YYMMDD (HTX's BTC200703).
func stripExpiry(s []byte) []byte {
	n := len(s)
	if n > 6+2 && allDigits(s[n-6:]) && !isDigit(s[n-7]) {
		mm := int(s[n-4]-'0')*10 + int(s[n-3]-'0')
		dd := int(s[n-2]-'0')*10 + int(s[n-1]-'0')
		if mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31 {
			return s[:n-6]
		}
	}
	if n > 3+1 && isDigit(s[n-1]) && isDigit(s[n-2]) && bytes.IndexByte([]byte(monthCodes), upper(s[n-3])) >= 0 && !isDigit(s[n-4]) {
		return s[:n-3]
	}
	return s
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// stripMultiplier removes a contract multiplier: a leading 1 followed by
// at least two zeros (1000PEPE) or by K, M, B or T (1MBABYDOGE,
// 1TAIDOGE), or a trailing one (SHIB1000). What is left must start with a
// letter and, for the letter prefixes, be at least three long, so 1INCH
// and the like stay themselves.
func stripMultiplier(s []byte) []byte {
	n := len(s)
	if n > 3 && s[0] == '1' {
		z := 1
		for z < n && s[z] == '0' {
			z++
		}
		if z >= 3 && z < n && !isDigit(s[z]) {
			return s[z:]
		}
		if z == 1 && n >= 5 && bytes.IndexByte([]byte("KMBT"), upper(s[1])) >= 0 && !isDigit(s[2]) {
			return s[2:]
		}
	}
	if n > 4 {
		i := n
		for i > 0 && s[i-1] == '0' {
			i--
		}
		if n-i >= 2 && i >= 2 && s[i-1] == '1' && !isDigit(s[i-2]) {
			return s[:i-1]
		}
	}
	return s
}

// makeName upper-cases b, applies the aliases and checks what is left: one
// to NameCap bytes of letters and digits (other scripts' letters too).
func makeName(b []byte) Name {
	var a Name
	if len(b) == 0 || len(b) > NameCap {
		return a
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			c = upper(c)
			if !isUpperOrDigit(c) {
				return Name{}
			}
			a.b[i] = c
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return Name{}
		}
		copy(a.b[i:], b[i:i+size])
		i += size
	}
	a.n = uint8(len(b))
	switch string(a.b[:a.n]) { // no allocation: compared, never kept
	case "XBT":
		a = Name{n: 3, b: [NameCap]byte{'B', 'T', 'C'}}
	case "XDG":
		a = Name{n: 4, b: [NameCap]byte{'D', 'O', 'G', 'E'}}
	}
	return a
}
