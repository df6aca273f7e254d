package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/service"
)

// tally is a count and the known USD behind it.
type tally struct {
	n       int
	usd     float64
	unknown int // events whose notional is unknown
}

func (t *tally) add(ev *event.Event) {
	t.n++
	if ev.NotionalKnown() {
		t.usd += ev.Notional
	} else {
		t.unknown++
	}
}

// logStats is what `liqbox stats` reports over a window.
type logStats struct {
	total    tally
	venues   map[event.Venue]*tally
	sides    map[event.Side]*tally
	symbols  map[string]*tally
	minutes  map[int64]*tally // by Unix minute of receive time
	largest  []event.Event    // descending by notional, at most top
	top      int
	first    time.Time
	lastSeen time.Time
}

func newLogStats(top int) *logStats {
	return &logStats{
		venues: map[event.Venue]*tally{}, sides: map[event.Side]*tally{},
		symbols: map[string]*tally{}, minutes: map[int64]*tally{}, top: top,
	}
}

func bump[K comparable](m map[K]*tally, k K, ev *event.Event) {
	t := m[k]
	if t == nil {
		t = &tally{}
		m[k] = t
	}
	t.add(ev)
}

func (s *logStats) add(ev *event.Event) {
	s.total.add(ev)
	bump(s.venues, ev.Venue, ev)
	bump(s.sides, ev.Side, ev)
	bump(s.symbols, ev.Symbol.String(), ev)
	bump(s.minutes, ev.RecvNs/int64(time.Minute), ev)
	at := time.Unix(0, ev.RecvNs)
	if s.first.IsZero() {
		s.first = at
	}
	s.lastSeen = at
	if !ev.NotionalKnown() {
		return
	}
	if len(s.largest) == s.top && s.largest[s.top-1].Notional >= ev.Notional {
		return
	}
	i := sort.Search(len(s.largest), func(i int) bool { return s.largest[i].Notional < ev.Notional })
	if len(s.largest) < s.top {
		s.largest = append(s.largest, event.Event{})
	}
	copy(s.largest[i+1:], s.largest[i:])
	s.largest[i] = *ev
}

func usd(v float64) string { return string(money.AppendUSD(nil, v, "unknown")) }

// ranked returns m's keys ordered by USD, then count, descending.
func ranked[K comparable](m map[K]*tally, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := m[keys[i]], m[keys[j]]
		if a.usd != b.usd {
			return a.usd > b.usd
		}
		if a.n != b.n {
			return a.n > b.n
		}
		return less(keys[i], keys[j])
	})
	return keys
}

func (s *logStats) write(a *app, q *logQuery) error {
	fmt.Fprintf(a.stdout, "window        %s → %s\n", fmtWhen(q.fromT), fmtWhen(q.toT))
	fmt.Fprintf(a.stdout, "liquidations  %d\n", s.total.n)
	fmt.Fprintf(a.stdout, "notional      %s\n", usd(s.total.usd))
	if s.total.unknown > 0 {
		fmt.Fprintf(a.stdout, "unknown size  %d\n", s.total.unknown)
	}
	if s.total.n == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("venue\tcount\tUSD\t\n")
	for _, v := range ranked(s.venues, func(a, b event.Venue) bool { return a < b }) {
		p("%s\t%d\t%s\t\n", v, s.venues[v].n, usd(s.venues[v].usd))
	}
	p("\t\t\t\n")
	p("side liquidated\tcount\tUSD\t\n")
	for _, v := range ranked(s.sides, func(a, b event.Side) bool { return a < b }) {
		p("%s\t%d\t%s\t\n", v, s.sides[v].n, usd(s.sides[v].usd))
	}
	p("\t\t\t\n")
	p("symbol\tcount\tUSD\t\n")
	for i, v := range ranked(s.symbols, func(a, b string) bool { return a < b }) {
		if i == s.top {
			p("… %d more\t\t\t\n", len(s.symbols)-s.top)
			break
		}
		p("%s\t%d\t%s\t\n", v, s.symbols[v].n, usd(s.symbols[v].usd))
	}
	p("\t\t\t\n")
	p("busiest minute (UTC)\tcount\tUSD\t\n")
	for i, m := range ranked(s.minutes, func(a, b int64) bool { return a < b }) {
		if i == s.top {
			break
		}
		p("%s\t%d\t%s\t\n", time.Unix(m*60, 0).UTC().Format("2006-01-02 15:04"), s.minutes[m].n, usd(s.minutes[m].usd))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nlargest liquidations:\n")
	var buf []byte
	for i := range s.largest {
		ev := &s.largest[i]
		buf = time.Unix(0, ev.RecvNs).UTC().AppendFormat(buf[:0], "2006-01-02 ")
		buf = service.AppendTerminalLine(buf, ev, time.Unix(0, ev.RecvNs), false)
		a.stdout.Write(buf)
	}
	return nil
}

func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.UTC().Format(time.RFC3339)
}

// cmdStats prints totals by venue, side and symbol, the largest
// liquidations and the busiest minutes of a window of the log.
func cmdStats(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q logQuery
	q.register(fs, "-24h")
	top := fs.Int("top", 10, "rows in each ranking")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *top < 1 {
		return fmt.Errorf("%w: --top %s: want at least 1", errUsage, strconv.Itoa(*top))
	}
	st, err := q.parseAndOpen(time.Now())
	if err != nil {
		return err
	}
	defer st.Close()
	s := newLogStats(*top)
	if err := q.scan(st, func(ev *event.Event) error { s.add(ev); return nil }); err != nil {
		return fmt.Errorf("cannot compute stats: %w", err)
	}
	return s.write(a, &q)
}
