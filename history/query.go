// Package history answers questions about the past from the event log,
// offline and read-only (it works while `liqbox run` writes the log):
// which events (Query), written how (Writer: the terminal line, JSON lines,
// CSV), replayed at what pace and where (Replay, TelegramReplay), summed
// up how (Stats) and what a threshold would have meant (Backtest). The
// command line's replay, export, stats, backtest and gaps are adapters
// over it.
package history

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
)

// Query is the selection shared by replay, stats, export and backtest:
// which log, which time window (by local receive time), which events.
type Query struct {
	DB, Config, From, To, Venue, MinUSD string
	Symbols                             SymbolList

	// Set by Parse.
	FromT, ToT time.Time
	MinUSDV    float64
	venueV     event.Venue
	syms       map[string]bool
}

// SymbolList is a repeatable, comma-separated --symbol flag.
type SymbolList []string

// String implements flag.Value.
func (l *SymbolList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *SymbolList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, strings.ToUpper(p))
		}
	}
	return nil
}

// Register adds the selection flags to fs; defFrom is --from's default.
func (q *Query) Register(fs *flag.FlagSet, defFrom string) {
	fs.StringVar(&q.DB, "db", "", "log `FILE` (default: store.path from the config)")
	fs.StringVar(&q.Config, "config", "", "config `FILE`, for the default log path")
	fs.StringVar(&q.From, "from", defFrom, "start `TIME`: RFC 3339, 2006-01-02, or relative to now (-2h, -7d)")
	fs.StringVar(&q.To, "to", "now", "end `TIME` (exclusive), same forms as --from")
	fs.StringVar(&q.Venue, "venue", "", "only this `VENUE` ("+strings.Join(event.VenueNames(), ", ")+")")
	fs.Var(&q.Symbols, "symbol", "only these `SYMBOLS` (repeat or comma-separate)")
	fs.StringVar(&q.MinUSD, "min-usd", "", "only liquidations of at least this notional in `USD` (250k, 1.5m)")
}

// Parse checks the flags; its errors name the flag.
func (q *Query) Parse(now time.Time) error {
	var err error
	if q.FromT, err = ParseWhen(q.From, now); err != nil {
		return fmt.Errorf("--from: %v", err)
	}
	if q.ToT, err = ParseWhen(q.To, now); err != nil {
		return fmt.Errorf("--to: %v", err)
	}
	if !q.ToT.IsZero() && q.ToT.Before(q.FromT) {
		return fmt.Errorf("--to %s is before --from %s", q.To, q.From)
	}
	if q.Venue != "" {
		v, ok := event.ParseVenue(q.Venue)
		if !ok {
			return fmt.Errorf("unknown venue %q", q.Venue)
		}
		q.venueV = v
	}
	if len(q.Symbols) > 0 {
		q.syms = make(map[string]bool, len(q.Symbols))
		for _, s := range q.Symbols {
			q.syms[s] = true
		}
	}
	if q.MinUSD != "" {
		v, ok := money.ParseUSD(q.MinUSD)
		if !ok {
			return fmt.Errorf("--min-usd %q is not an amount (250k, 1.5m)", q.MinUSD)
		}
		q.MinUSDV = v
	}
	return nil
}

// Match applies the venue, symbol and size filters.
func (q *Query) Match(ev *event.Event) bool {
	if q.venueV != event.VenueUnknown && ev.Venue != q.venueV {
		return false
	}
	if q.syms != nil && !q.syms[string(ev.Symbol.Bytes())] {
		return false
	}
	if q.MinUSDV > 0 && (!ev.NotionalKnown() || ev.Notional < q.MinUSDV) {
		return false
	}
	return true
}

// Everything is q's window without its venue, symbol and size filters:
// what the cascade rules read, as they do live.
func (q *Query) Everything() *Query {
	all := *q
	all.Venue, all.MinUSD, all.Symbols = "", "", nil
	all.venueV, all.syms, all.MinUSDV = event.VenueUnknown, nil, 0
	return &all
}

// Open opens the log read-only; it works while `liqbox run` writes it.
func (q *Query) Open() (*store.Store, error) {
	path, err := LogPath(q.DB, q.Config)
	if err != nil {
		return nil, err
	}
	return store.Open(path, store.Options{ReadOnly: true})
}

// Scan runs fn over the matching events in the window.
func (q *Query) Scan(st *store.Store, fn func(*event.Event) error) error {
	return st.Scan(q.FromT, q.ToT, func(ev *event.Event) error {
		if !q.Match(ev) {
			return nil
		}
		return fn(ev)
	})
}

// LogPath is --db, or the config's store path.
func LogPath(db, config string) (string, error) {
	if db != "" {
		return db, nil
	}
	cfg, err := service.LoadConfig(config)
	if err != nil {
		return "", err
	}
	return cfg.StorePath(), nil
}

// ParseWhen reads RFC 3339, a date, "now", or a duration relative to now
// ("-2h", "-7d", "-30m"). An empty string is the zero time (no bound).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now, nil
	case s[0] == '-' || s[0] == '+':
		num := s[1:]
		mult := time.Duration(1)
		if strings.HasSuffix(num, "d") {
			num, mult = strings.TrimSuffix(num, "d")+"h", 24
		}
		d, err := time.ParseDuration(num)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a relative time such as -2h or -7d", s)
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d * mult), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 (2026-11-27T12:00:00Z), a date, or relative (-2h)", s)
}
