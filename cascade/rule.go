package cascade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// Sides is the set of liquidated sides a rule adds up.
type Sides uint8

// The sides a rule may watch.
const (
	Longs  Sides = 1 << event.Long
	Shorts Sides = 1 << event.Short
	Both         = Longs | Shorts
)

// Has reports whether s includes side.
func (s Sides) Has(side event.Side) bool { return side <= event.Short && s&(1<<side) != 0 }

// String returns "long", "short" or "both".
func (s Sides) String() string {
	switch s {
	case Longs:
		return "long"
	case Shorts:
		return "short"
	}
	return "both"
}

// Limits on a rule: a shorter window than a minute is a single burst (the
// raw alerts tell it), a longer one than a day is no cascade, and less
// than $10K is background noise on any liquid asset.
const (
	MinWindow = time.Minute
	MaxWindow = 24 * time.Hour
	MinUSD    = 10_000
	// MaxRules is the most rules a chat may have.
	MaxRules = 5
)

// Rule is one cascade rule: alert when USD of Asset's positions on Sides
// are liquidated within any Window, summed across every venue. The zero
// Asset is the whole market. A Rule is comparable: it is its own identity.
type Rule struct {
	Asset  asset.Name
	USD    float64
	Window time.Duration
	Sides  Sides
}

// All reports whether the rule watches the whole market.
func (r Rule) All() bool { return r.Asset.IsZero() }

// Quiet is how long the window's total must stay below the threshold
// before a cascade is over and its rule re-armed: the rule's window, at
// most 10 minutes. A pile-up that crosses again within it is the same
// cascade, so its message resumes instead of a new one.
func (r Rule) Quiet() time.Duration { return min(r.Window, QuietMax) }

// QuietMax bounds Rule.Quiet.
const QuietMax = 10 * time.Minute

// String is the rule as `backtest --cascade` takes it: BTC:10M:5m:both.
func (r Rule) String() string {
	a := "all"
	if !r.All() {
		a = r.Asset.String()
	}
	return a + ":" + strings.TrimPrefix(string(money.AppendUSD(nil, r.USD, "?")), "$") + ":" + FormatWindow(r.Window) + ":" + r.Sides.String()
}

// FormatWindow writes a window as a user types it: 90s, 5m, 1h, 1h30m.
func FormatWindow(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0 && d > time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// ErrBadRule wraps every rule the parsers refuse; its text says what is
// wrong in English (the bot answers with its own usage line instead).
var ErrBadRule = errors.New("bad cascade rule")

// ParseArgs reads a rule as /cascade takes it: ASSET USD WINDOW [SIDE],
// e.g. BTC 10M 5m, all 50M 15m long. The amount comes before the window,
// so "10m 5m" is ten million within five minutes. ASSET is "all" or a
// coin or symbol, mapped as every venue's instruments are (XBT and
// BTCUSDT are BTC); USD is an amount money.ParseUSD reads, at least
// MinUSD; WINDOW is a duration from MinWindow to MaxWindow (90s, 5m, 1h,
// 1h30m, 1d); SIDE is long, short or both (the default).
func ParseArgs(args []string) (Rule, error) {
	if len(args) < 3 || len(args) > 4 {
		return Rule{}, fmt.Errorf("%w: want ASSET USD WINDOW [long|short|both], got %d words", ErrBadRule, len(args))
	}
	var r Rule
	if !strings.EqualFold(args[0], "all") {
		a, ok := asset.Parse(args[0])
		if !ok {
			return Rule{}, fmt.Errorf("%w: %q is not an asset (BTC, ETH) or all", ErrBadRule, args[0])
		}
		r.Asset = a
	}
	v, ok := money.ParseUSD(args[1])
	if !ok || v < MinUSD {
		return Rule{}, fmt.Errorf("%w: %q is not an amount of at least $10K (10M, 250k)", ErrBadRule, args[1])
	}
	r.USD = v
	w, ok := parseWindow(args[2])
	if !ok {
		return Rule{}, fmt.Errorf("%w: %q is not a window from 1m to 24h (5m, 1h)", ErrBadRule, args[2])
	}
	r.Window = w
	r.Sides = Both
	if len(args) == 4 {
		switch strings.ToLower(args[3]) {
		case "long", "longs":
			r.Sides = Longs
		case "short", "shorts":
			r.Sides = Shorts
		case "both", "all":
		default:
			return Rule{}, fmt.Errorf("%w: %q is not long, short or both", ErrBadRule, args[3])
		}
	}
	return r, nil
}

// ParseSpec reads a rule as one word, ASSET:USD:WINDOW[:SIDE], e.g.
// BTC:10M:5m or all:50M:15m:long (the command line's --cascade).
func ParseSpec(s string) (Rule, error) {
	r, err := ParseArgs(strings.Split(s, ":"))
	if err != nil {
		return Rule{}, fmt.Errorf("%w (in %q: want ASSET:USD:WINDOW[:SIDE], e.g. BTC:10M:5m)", err, s)
	}
	return r, nil
}

// parseWindow reads a Go duration (90s, 5m, 1h30m) or whole days (1d),
// within the rule limits and in whole seconds.
func parseWindow(s string) (time.Duration, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 1 {
			return 0, false
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, false
		}
	}
	if d < MinWindow || d > MaxWindow || d%time.Second != 0 {
		return 0, false
	}
	return d, true
}

// cents is a USD amount in whole cents: window sums are integers, so adding
// and expiring the same events leaves exactly zero, however long it runs.
func cents(usd float64) int64 {
	if math.IsNaN(usd) || usd <= 0 {
		return 0
	}
	return int64(math.Round(usd * 100))
}
