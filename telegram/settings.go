package telegram

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
)

// settings is one chat's configuration. A value is immutable once
// published through chat.cfg: changes build a new one, so Offer reads it
// without locks.
type settings struct {
	Subscribed bool             `json:"subscribed"`
	MinUSD     float64          `json:"min_usd"`
	Symbols    []string         `json:"symbols,omitempty"` // upper case; full symbols or base assets
	Sides      uint8            `json:"sides"`             // bit 1<<event.Long | 1<<event.Short; 0 = both
	Venues     []string         `json:"venues,omitempty"`
	Mutes      map[string]int64 `json:"mutes,omitempty"` // symbol or base → until, Unix s
	Lang       string           `json:"lang"`

	// Derived, for Offer: byte views and a venue bit set.
	symbols  [][]byte
	venueSet uint64
	mutes    []mute
}

type mute struct {
	sym   []byte
	until int64 // Unix ns
}

// prepare fills the derived fields. Call before publishing.
func (s *settings) prepare() *settings {
	s.symbols = s.symbols[:0]
	for _, y := range s.Symbols {
		s.symbols = append(s.symbols, []byte(y))
	}
	s.venueSet = 0
	for _, v := range s.Venues {
		if ve, ok := event.ParseVenue(v); ok {
			s.venueSet |= 1 << ve
		}
	}
	s.mutes = s.mutes[:0]
	for y, until := range s.Mutes {
		s.mutes = append(s.mutes, mute{sym: []byte(y), until: until * int64(time.Second)})
	}
	return s
}

// clone copies s deeply, for a change.
func (s *settings) clone() *settings {
	c := *s
	c.Symbols = append([]string(nil), s.Symbols...)
	c.Venues = append([]string(nil), s.Venues...)
	c.Mutes = make(map[string]int64, len(s.Mutes))
	for k, v := range s.Mutes {
		c.Mutes[k] = v
	}
	c.symbols, c.mutes = nil, nil
	return &c
}

// pruneMutes drops expired mutes; it reports whether any was dropped.
func (s *settings) pruneMutes(now time.Time) bool {
	changed := false
	for k, v := range s.Mutes {
		if v <= now.Unix() {
			delete(s.Mutes, k)
			changed = true
		}
	}
	return changed
}

// accepts reports whether ev passes the chat's filters. It allocates
// nothing.
func (s *settings) accepts(ev *event.Event, nowNs int64) bool {
	if !s.Subscribed {
		return false
	}
	if ev.NotionalKnown() {
		if ev.Notional < s.MinUSD {
			return false
		}
	}
	// An unknown notional passes: the venue did liquidate something and
	// staying silent would hide it; the alert says the size is unknown.
	if s.Sides != 0 && s.Sides&(1<<ev.Side) == 0 {
		return false
	}
	if s.venueSet != 0 && s.venueSet&(1<<ev.Venue) == 0 {
		return false
	}
	sym := ev.Symbol.Bytes()
	if len(s.symbols) > 0 {
		ok := false
		for _, f := range s.symbols {
			if symbolMatches(sym, f) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range s.mutes {
		if s.mutes[i].until > nowNs && symbolMatches(sym, s.mutes[i].sym) {
			return false
		}
	}
	return true
}

// quotes are what may follow a base asset in a venue's symbol: BTCUSDT,
// BTC-USDT-SWAP, BTCUSD_PERP, XBTUSD, BTC-PERPETUAL (Deribit), and
// Bitfinex's perpetual suffix BTCF0:USTF0.
var quotes = [...][]byte{[]byte("USDT"), []byte("USDC"), []byte("USD"), []byte("BUSD"), []byte("FDUSD"), []byte("-"), []byte("_"), []byte("/"), []byte("F0:")}

// symbolMatches reports whether symbol sym is f, or a market of base asset
// f (ETH matches ETHUSDT and ETH-USD-SWAP but not ETHFI). BTC also matches
// BitMEX's XBT.
func symbolMatches(sym, f []byte) bool {
	if bytes.Equal(sym, f) {
		return true
	}
	// Kraken Futures puts the contract family first: PF_XBTUSD, PI_ETHUSD.
	if len(sym) > 3 && sym[2] == '_' && (sym[0] == 'P' || sym[0] == 'F') && (sym[1] == 'F' || sym[1] == 'I') {
		sym = sym[3:]
	}
	if baseMatches(sym, f) {
		return true
	}
	// BitMEX calls bitcoin XBT.
	if len(f) == 3 && f[0] == 'B' && f[1] == 'T' && f[2] == 'C' && len(sym) > 3 && sym[0] == 'X' && sym[1] == 'B' && sym[2] == 'T' {
		return quoteFollows(sym[3:])
	}
	return false
}

func baseMatches(sym, base []byte) bool {
	if len(sym) <= len(base) || !bytes.HasPrefix(sym, base) {
		return false
	}
	return quoteFollows(sym[len(base):])
}

func quoteFollows(rest []byte) bool {
	for _, q := range quotes {
		if bytes.HasPrefix(rest, q) {
			return true
		}
	}
	return false
}

// normSymbols upper-cases and deduplicates a symbol list.
func normSymbols(args []string) ([]string, bool) {
	seen := map[string]bool{}
	var out []string
	for _, a := range args {
		for _, y := range strings.Split(a, ",") {
			y = strings.ToUpper(strings.TrimSpace(y))
			if y == "" {
				continue
			}
			if len(y) > event.SymbolCap || !validSymbol(y) {
				return nil, false
			}
			if !seen[y] {
				seen[y] = true
				out = append(out, y)
			}
		}
	}
	sort.Strings(out)
	return out, len(out) > 0
}

func validSymbol(y string) bool {
	for i := 0; i < len(y); i++ {
		c := y[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/') {
			return false
		}
	}
	return true
}

func (s *settings) marshal() ([]byte, error) { return json.Marshal(s) }
