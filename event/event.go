// Package event defines the normalised liquidation that flows through liqbox.
//
// An Event is a plain value with no pointers, so it can be copied into the
// ring, the store's batch buffer and the per-chat queues without allocating,
// and so the garbage collector never has to scan it.
package event

import (
	"math"
	"strconv"
)

// Venue identifies an exchange feed (exchange plus product family).
type Venue uint8

// Venues liqbox can decode. The numeric values are persisted in the event log:
// never renumber them, only append.
const (
	VenueUnknown Venue = iota
	BinanceUSDM
	BinanceCOINM
	Bybit
	OKX
	BitMEX
	Deribit
	KrakenFutures
	HTX
	Bitfinex
	Gate
	Bitget
	Aster
	numVenues
)

var venueNames = [numVenues]string{"unknown", "binance-usdm", "binance-coinm", "bybit", "okx", "bitmex",
	"deribit", "kraken-futures", "htx", "bitfinex", "gate", "bitget", "aster"}

// String returns the venue's config and CLI name, e.g. "binance-usdm".
func (v Venue) String() string {
	if v < numVenues && venueNames[v] != "" {
		return venueNames[v]
	}
	return "venue(" + strconv.Itoa(int(v)) + ")"
}

// Known reports whether v is a venue this binary knows: not VenueUnknown,
// not one from a later version.
func (v Venue) Known() bool { return v > VenueUnknown && v < numVenues }

// ParseVenue maps a config or CLI name back to a Venue.
func ParseVenue(s string) (Venue, bool) {
	for i, n := range venueNames {
		if i > 0 && n != "" && n == s {
			return Venue(i), true
		}
	}
	return VenueUnknown, false
}

// VenueNames lists every known venue's name, in persisted order: the one
// list a help text or a usage message shows.
func VenueNames() []string {
	out := make([]string, 0, numVenues-1)
	for _, v := range Venues() {
		out = append(out, v.String())
	}
	return out
}

// Venues lists every known venue, in persisted order.
func Venues() []Venue {
	out := make([]Venue, 0, numVenues-1)
	for v := Venue(1); v < numVenues; v++ {
		if venueNames[v] != "" {
			out = append(out, v)
		}
	}
	return out
}

// Market is the contract family: it decides how size becomes USD.
type Market uint8

// Market kinds. Persisted: append only.
const (
	MarketUnknown Market = iota
	Linear               // margined and quoted in a stablecoin; size in base units
	Inverse              // margined in the coin; contracts worth a fixed USD amount
)

// String returns "linear", "inverse" or "unknown".
func (m Market) String() string {
	switch m {
	case Linear:
		return "linear"
	case Inverse:
		return "inverse"
	}
	return "unknown"
}

// Side is the side of the position that was liquidated, not the side of the
// liquidation order. Venues disagree on which one they report, so every
// decoder maps to this one meaning.
type Side uint8

// Sides. Persisted: append only.
const (
	SideUnknown Side = iota
	Long             // a long position was liquidated (the engine sold)
	Short            // a short position was liquidated (the engine bought)
)

// String returns "long", "short" or "unknown".
func (s Side) String() string {
	switch s {
	case Long:
		return "long"
	case Short:
		return "short"
	}
	return "unknown"
}

// Upper returns "LONG" or "SHORT", for alert text.
func (s Side) Upper() string {
	switch s {
	case Long:
		return "LONG"
	case Short:
		return "SHORT"
	}
	return "UNKNOWN"
}

// Basis records how an event's USD notional was computed, so that an operator
// can tell a measured figure from one that needed contract metadata.
type Basis uint8

// Notional bases. Persisted: append only.
const (
	BasisUnknown       Basis = iota // instrument metadata missing: Notional is NaN
	BasisLinear                     // base quantity × price (stablecoin-quoted)
	BasisInverse                    // contracts are worth USD: contracts × USD per contract
	BasisContractSize               // contracts × contractSize (Binance COIN-M)
	BasisContractValue              // contracts × ctVal × ctMult × price (OKX linear, BitMEX linear)
)

var basisNames = [...]string{"unknown", "linear", "inverse", "contracts×contractSize", "contracts×ctVal×ctMult×price"}

// String returns the basis as printed by `liqbox decode` (notional_basis).
func (b Basis) String() string {
	if int(b) < len(basisNames) {
		return basisNames[b]
	}
	return "unknown"
}

// SymbolCap is the longest symbol an Event can hold. The longest real
// instrument ids (OKX dated futures such as "1000SHIB-USDT-250926") fit.
const SymbolCap = 31

// Symbol is a fixed-size, comparable instrument id. It lives inside the Event
// by value, so an Event never points into a reused read buffer.
type Symbol struct {
	n uint8
	b [SymbolCap]byte
}

// MakeSymbol copies s, truncated to SymbolCap bytes. It does not allocate.
func MakeSymbol(s string) Symbol {
	var y Symbol
	y.n = uint8(copy(y.b[:], s))
	return y
}

// String returns the symbol as a new string (cold paths only: it allocates).
func (y Symbol) String() string { return string(y.b[:y.n]) }

// Bytes returns a view of the symbol's bytes, valid while y is.
func (y *Symbol) Bytes() []byte { return y.b[:y.n] }

// Len is the symbol's length in bytes.
func (y Symbol) Len() int { return int(y.n) }

// IsZero reports whether the symbol is empty.
func (y Symbol) IsZero() bool { return y.n == 0 }

// Event is one normalised liquidation.
//
// Fields are ordered by size so the struct has few padding bytes; it is 88
// bytes. Notional is NaN when the instrument's contract metadata was
// unknown: never zero, never guessed.
type Event struct {
	Seq      uint64  // assigned by the pipeline, strictly increasing, persisted
	RecvNs   int64   // local wall-clock receive time, Unix ns, stamped once per frame
	TimeMs   int64   // the liquidation's own exchange time, Unix ms
	Price    float64 // fill price where the venue gives one, else the bankruptcy price
	Qty      float64 // size in base-asset units
	Notional float64 // USD value; NaN if unknown (see Basis)
	Venue    Venue
	Market   Market
	Side     Side
	Basis    Basis
	Conn     uint8 // which redundant connection delivered it (0-based)
	Flags    Flags
	Symbol   Symbol
}

// Flags qualify an event without changing its identity.
type Flags uint8

const (
	// FlagBacklog marks an event that the venue replayed from before the
	// subscription (OKX sends a burst of old ones): it is logged, never alerted.
	FlagBacklog Flags = 1 << iota
	// FlagReplay marks an event re-delivered from the log after a restart.
	FlagReplay
	// FlagRemote marks an event another box logged and published on the
	// bus: this box took it from the bus, not from an exchange. Persisted,
	// so a box that both consumes and publishes never publishes it again.
	FlagRemote
)

// ConnRemote is the Conn of an event that came from the bus: no
// connection of this box delivered it, so redundancy counts leave it out.
const ConnRemote uint8 = 255

// NotionalKnown reports whether Notional holds a real figure: a basis this
// binary knows and a finite, non-negative value. An infinite or negative figure
// (which an old log or a careless caller may hold) is no size anyone can
// act on, so every writer shows it as unknown.
func (e *Event) NotionalKnown() bool {
	n := e.Notional
	return e.Basis != BasisUnknown && int(e.Basis) < len(basisNames) && n >= 0 && n <= math.MaxFloat64
}

// NotionalBasis is the basis to show beside the notional: BasisUnknown
// whenever NotionalKnown is false, so that a writer's notional_usd is null
// exactly when its notional_basis is unknown.
func (e *Event) NotionalBasis() Basis {
	if !e.NotionalKnown() {
		return BasisUnknown
	}
	return e.Basis
}

// Key is the identity used for deduplication: the same liquidation seen on
// two redundant connections (or before and after a restart) has the same
// key. It is FNV-1a over the fields that the exchange sets, never over local
// ones (Seq, RecvNs, Conn).
func (e *Event) Key() uint64 {
	h := uint64(fnvOffset)
	h = mix64(h, uint64(e.Venue)|uint64(e.Side)<<8)
	for _, c := range e.Symbol.b[:e.Symbol.n] {
		h = (h ^ uint64(c)) * fnvPrime
	}
	h = mix64(h, uint64(e.TimeMs))
	h = mix64(h, math.Float64bits(e.Price))
	h = mix64(h, math.Float64bits(e.Qty))
	if h == 0 { // 0 marks an empty slot in dedup tables
		h = 1
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix64(h, x uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (x & 0xff)) * fnvPrime
		x >>= 8
	}
	return h
}
