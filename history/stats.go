package history

import (
	"fmt"
	"io"
	"sort"
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
	// first and last are the receive times of the oldest and newest
	// event (Unix ns): the period a venue's coverage is taken over.
	first, last int64
}

func (t *tally) add(ev *event.Event) {
	if t.n == 0 || ev.RecvNs < t.first {
		t.first = ev.RecvNs
	}
	t.last = max(t.last, ev.RecvNs)
	t.n++
	if ev.NotionalKnown() {
		t.usd += ev.Notional
	} else {
		t.unknown++
	}
}

// Stats is what `liqbox stats` reports over a window.
type Stats struct {
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

// NewStats ranks at most top rows per table.
func NewStats(top int) *Stats {
	return &Stats{
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

// Add counts one event.
func (s *Stats) Add(ev *event.Event) {
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

// VenueCoverage returns whether venue v's figures in the report are
// complete or a lower bound, over the span of its events in it (a Gate
// log of before 2026-08-20 is sampled, one straddling it in part); false
// when v has no event in it.
func (s *Stats) VenueCoverage(v event.Venue) (event.VenueCoverage, bool) {
	t := s.venues[v]
	if t == nil {
		return event.VenueCoverage{}, false
	}
	return v.CoverageOver(time.Unix(0, t.first), time.Unix(0, t.last)), true
}

// Coverage returns whether the report's totals, which sum its venues, are
// complete or a lower bound.
func (s *Stats) Coverage() event.CoverageSum {
	var sum event.CoverageSum
	for v := range s.venues {
		c, _ := s.VenueCoverage(v)
		sum.Add(v, c.Coverage)
	}
	return sum
}

// usd formats a USD total for the tables.
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

// Write writes the report over q's window.
func (s *Stats) Write(out io.Writer, q *Query) error {
	fmt.Fprintf(out, "window        %s → %s\n", FmtWhen(q.FromT), FmtWhen(q.ToT))
	fmt.Fprintf(out, "liquidations  %d\n", s.total.n)
	fmt.Fprintf(out, "notional      %s\n", usd(s.total.usd))
	if s.total.unknown > 0 {
		fmt.Fprintf(out, "unknown size  %d\n", s.total.unknown)
	}
	if s.total.n == 0 {
		return nil
	}
	fmt.Fprintf(out, "complete?     %s\n", service.TerminalText(s.Coverage().Text("en")))
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	venues := ranked(s.venues, func(a, b event.Venue) bool { return a < b })
	p("venue\tcount\tUSD\tfigures\n")
	for _, v := range venues {
		c, _ := s.VenueCoverage(v)
		p("%s\t%d\t%s\t%s\n", v, s.venues[v].n, usd(s.venues[v].usd), c.Coverage.Label("en"))
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
		p("%s\t%d\t%s\t\n", service.TerminalText(v), s.symbols[v].n, usd(s.symbols[v].usd))
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
	// Each venue's rule, after the tables so that its length does not
	// widen their columns.
	fmt.Fprintf(out, "\nwhat each venue's figures are:\n")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, v := range venues {
		c, _ := s.VenueCoverage(v)
		fmt.Fprintf(tw, "%s\t%s\n", v, service.TerminalText(c.Text("en")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nlargest liquidations:\n")
	var buf []byte
	for i := range s.largest {
		ev := &s.largest[i]
		buf = time.Unix(0, ev.RecvNs).UTC().AppendFormat(buf[:0], "2006-01-02 ")
		buf = service.AppendTerminalLine(buf, ev, time.Time{}, false)
		out.Write(buf)
	}
	return nil
}

// FmtWhen writes a window bound, "(open)" for none.
func FmtWhen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.UTC().Format(time.RFC3339)
}
