package telegram

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/cascade"
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
	// Cascades are the chat's cascade rules, in the order /cascades
	// numbers them; CascadesSet says the chat chose them (until then it
	// has Options.CascadeRules, the configured defaults).
	Cascades    []storedRule `json:"cascades,omitempty"`
	CascadesSet bool         `json:"cascades_set,omitempty"`

	// Derived, for Offer: matchers and a venue bit set; the rules.
	symbols  []matcher
	venueSet uint64
	mutes    []mute
	rules    []cascade.Rule
}

type mute struct {
	matcher
	until int64 // Unix ns
}

// prepare fills the derived fields. Call before publishing.
func (s *settings) prepare() *settings {
	s.symbols = s.symbols[:0]
	for _, y := range s.Symbols {
		s.symbols = append(s.symbols, newMatcher(y))
	}
	s.venueSet = 0
	for _, v := range s.Venues {
		if ve, ok := event.ParseVenue(v); ok {
			s.venueSet |= 1 << ve
		}
	}
	s.mutes = s.mutes[:0]
	for y, until := range s.Mutes {
		s.mutes = append(s.mutes, mute{matcher: newMatcher(y), until: until * int64(time.Second)})
	}
	s.rules = s.rules[:0]
	for _, r := range s.Cascades {
		if rule, ok := r.rule(); ok {
			s.rules = append(s.rules, rule)
		}
	}
	return s
}

// clone copies s deeply, for a change.
func (s *settings) clone() *settings {
	c := *s
	c.Symbols = append([]string(nil), s.Symbols...)
	c.Venues = append([]string(nil), s.Venues...)
	c.Cascades = append([]storedRule(nil), s.Cascades...)
	c.rules = nil
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

// accepts reports whether ev passes the chat's filters; a carries ev's
// base asset across the chats that ask for it. It allocates nothing.
func (s *settings) accepts(ev *event.Event, nowNs int64, a *lazyAsset) bool {
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
	if len(s.symbols) > 0 {
		ok := false
		for i := range s.symbols {
			if s.symbols[i].matches(ev, a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range s.mutes {
		if s.mutes[i].until > nowNs && s.mutes[i].matches(ev, a) {
			return false
		}
	}
	return true
}

// matcher is one symbol filter or mute: the text the chat gave, and the
// coin it names (asset.Coin), if it is one.
type matcher struct {
	sym  []byte
	coin asset.Name
}

func newMatcher(y string) matcher {
	coin, _ := asset.Coin(y)
	return matcher{sym: []byte(y), coin: coin}
}

// lazyAsset computes an event's base asset once, when a filter first asks.
type lazyAsset struct {
	a    asset.Name
	done bool
}

func (l *lazyAsset) of(ev *event.Event) asset.Name {
	if !l.done {
		l.a, l.done = asset.Of(ev.Venue, ev.Symbol.Bytes()), true
	}
	return l.a
}

// matches reports whether ev's symbol is m's, or a market of the coin m
// names on any venue (ETH matches ETHUSDT, ETH-USD-SWAP and ETHUSD_PERP
// but not ETHFIUSDT; BTC matches XBTUSD): the one asset mapping, package
// asset.
func (m *matcher) matches(ev *event.Event, a *lazyAsset) bool {
	if bytes.Equal(ev.Symbol.Bytes(), m.sym) {
		return true
	}
	return !m.coin.IsZero() && asset.MayBe(ev.Symbol.Bytes(), &m.coin) && a.of(ev) == m.coin
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

// storedRule is a cascade rule as the chat's settings keep it.
type storedRule struct {
	Asset   string  `json:"asset,omitempty"` // empty: the whole market
	USD     float64 `json:"usd"`
	WindowS int64   `json:"window_s"`
	Sides   string  `json:"sides"` // long, short or both
}

func storeRule(r cascade.Rule) storedRule {
	sr := storedRule{USD: r.USD, WindowS: int64(r.Window / time.Second), Sides: r.Sides.String()}
	if !r.All() {
		sr.Asset = r.Asset.String()
	}
	return sr
}

// rule reads a stored rule back, refusing one the parser would refuse.
func (sr storedRule) rule() (cascade.Rule, bool) {
	// Bounded in seconds first: a huge count of seconds would overflow
	// the Duration and could wrap into the allowed range.
	if sr.WindowS < int64(cascade.MinWindow/time.Second) || sr.WindowS > int64(cascade.MaxWindow/time.Second) {
		return cascade.Rule{}, false
	}
	r := cascade.Rule{USD: sr.USD, Window: time.Duration(sr.WindowS) * time.Second, Sides: cascade.Both}
	if sr.Asset != "" {
		a, ok := asset.Coin(sr.Asset)
		if !ok {
			return cascade.Rule{}, false
		}
		r.Asset = a
	}
	switch sr.Sides {
	case "long":
		r.Sides = cascade.Longs
	case "short":
		r.Sides = cascade.Shorts
	}
	if !(r.USD >= cascade.MinUSD) || r.Window < cascade.MinWindow || r.Window > cascade.MaxWindow {
		return cascade.Rule{}, false
	}
	return r, true
}
