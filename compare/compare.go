// Package compare is `liqbox compare A B`: two boxes' logs of one period
// side by side, the parallel run of a migration measured instead of
// assumed. A is the reference (the live box), B the candidate (a new
// version, another config, the HolySheep relay): for each venue and
// stream, the liquidations one logged and the other did not, and whether
// the other was blind then (its gap ledger); for the liquidations both
// logged, by how much A's copy led B's and where their side, price or USD
// differ; the alerts each chat would have had from each; the LLM analyses
// and their spend; and the rollback triggers, evaluated into a verdict a
// promotion script can gate on.
//
// Two copies are one liquidation when they have the same identity
// (event.Event.Key) or, failing that, when event.MatchRule says so: the
// rule the live pipeline matches a relay's copies with, so that the two
// count the same things. Each copy is matched at most once, to the closest
// candidate.
package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// Options select what is compared. Zero values take the defaults in
// brackets.
type Options struct {
	// From and To bound the period by receive time [From: a match window
	// before the later of the two logs' first events; To: Now, or when neither log is being
	// written, the later of their last moments (last heartbeat or clean
	// stop)].
	From, To time.Time
	// Venue and Symbols narrow the comparison [every venue and symbol].
	Venue   event.Venue
	Symbols map[string]bool
	// MinUSD leaves out liquidations of a known smaller size in both logs:
	// a relay's threshold, under which it sends nothing.
	MinUSD float64
	// Rule matches copies that do not share a Key [event.DefaultMatchRule].
	Rule event.MatchRule
	// ChatMinUSD is the threshold of a chat that never set one
	// (telegram.min_usd) [250k].
	ChatMinUSD float64
	// Model and Prices price each log's LLM usage on the other models:
	// Prices override lines of enrich.DefaultPrices, as [enrich.prices]
	// does [deepseek-v3.2, none].
	Model  string
	Prices map[string]enrich.Price
	// Triggers are the rollback triggers (Triggers' zero value fires
	// none but MinEvents of 0).
	Triggers Triggers
	Now      time.Time // [time.Now()]
}

// Log is one side of the comparison: a log opened read-only (a file, or a
// running service's snapshot) and the name the report gives it.
type Log struct {
	Name  string
	Store *store.Store
}

// side is what one log holds of the period.
type side struct {
	name     string
	info     store.Info
	evs      []event.Event // the period and the slack around it, filtered, in log order
	inPeriod []bool
	gaps     history.GapReport
	chats    []telegram.ChatFilter
	analyses map[uint64]event.Analysis
	usage    enrich.Usage
}

// slack is how far around the period each log is read, so a copy the
// other box received just outside it is still found.
func (o *Options) slack() time.Duration { return o.Rule.Window + 30*time.Second }

// Run compares a (the reference) with b (the candidate) and evaluates the
// triggers.
func Run(a, b Log, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Rule == (event.MatchRule{}) {
		o.Rule = event.DefaultMatchRule()
	}
	if o.ChatMinUSD <= 0 {
		o.ChatMinUSD = 250000
	}
	if o.Model == "" {
		o.Model = "deepseek-v3.2"
	}
	prices := enrich.DefaultPrices()
	for m, p := range o.Prices {
		prices[m] = p
	}
	o.Prices = prices
	var sides [2]*side
	var stopped time.Time
	running := false
	for i, l := range [2]Log{a, b} {
		info, err := l.Store.Info()
		if err != nil {
			return nil, fmt.Errorf("cannot read log %s: %w", l.Name, err)
		}
		sides[i] = &side{name: l.Name, info: info}
		if prev, ok := l.Store.PreviousRun(); ok && !prev.Running {
			stopped = later(stopped, prev.LastAlive)
		} else {
			running = true
		}
	}
	if o.From.IsZero() {
		// A match window before the later start: the first liquidation of
		// the box that started later is the copy of one the other box
		// received a moment before.
		o.From = later(sides[0].info.First, sides[1].info.First).Add(-o.Rule.Window)
	}
	if o.To.IsZero() {
		o.To = o.Now
		if !running && stopped.After(o.From) {
			o.To = stopped.Add(time.Nanosecond)
		}
	}
	if !o.To.After(o.From) {
		return nil, fmt.Errorf("cannot compare: the period %s to %s is empty", o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339))
	}
	for i, l := range [2]Log{a, b} {
		if err := sides[i].load(l.Store, &o); err != nil {
			return nil, fmt.Errorf("cannot read log %s: %w", l.Name, err)
		}
	}
	r := newReport(sides[0], sides[1], &o)
	r.evaluate(o.Triggers)
	return r, nil
}

func later(x, y time.Time) time.Time {
	if x.After(y) {
		return x
	}
	return y
}

func (s *side) load(st *store.Store, o *Options) error {
	from, to := o.From.Add(-o.slack()), o.To.Add(o.slack())
	fromNs, toNs := o.From.UnixNano(), o.To.UnixNano()
	err := st.Scan(from, to, func(ev *event.Event) error {
		if o.Venue != event.VenueUnknown && ev.Venue != o.Venue {
			return nil
		}
		if o.Symbols != nil && !o.Symbols[string(ev.Symbol.Bytes())] {
			return nil
		}
		if o.MinUSD > 0 && ev.NotionalKnown() && ev.Notional < o.MinUSD {
			return nil
		}
		s.evs = append(s.evs, *ev)
		s.inPeriod = append(s.inPeriod, ev.RecvNs >= fromNs && ev.RecvNs < toNs)
		return nil
	})
	if err != nil {
		return err
	}
	if s.gaps, err = history.LoadGaps(st, from, o.Now); err != nil {
		return err
	}
	if s.chats, err = telegram.LoadChatFilters(st, o.ChatMinUSD); err != nil {
		return err
	}
	s.analyses = map[uint64]event.Analysis{}
	if len(s.evs) > 0 {
		lo, hi := s.evs[0].Seq, s.evs[len(s.evs)-1].Seq
		err = enrich.ForEachAnalysis(st, func(a event.Analysis) error {
			if a.Seq >= lo && a.Seq <= hi {
				s.analyses[a.Seq] = a
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.usage, err = enrich.UsageBetween(st, o.From, o.To)
	return err
}

// blindAt says whether the log's box was blind to ev's venue and market
// at receive time ns: a gap of a stream that carries them (a venue with
// several streams names its market in the stream: Bybit's
// allLiquidation.linear), or the box's own downtime.
func (s *side) blindAt(ev *event.Event, ns int64) bool {
	covers := func(g store.Gap) bool {
		if g.Start.UnixNano() > ns || (!g.IsOpen() && g.End.UnixNano() < ns) {
			return false
		}
		if g.Venue == history.DownAll {
			return true
		}
		if g.Venue != ev.Venue.String() {
			return false
		}
		st := strings.ToLower(g.Stream)
		if strings.Contains(st, "linear") || strings.Contains(st, "inverse") {
			return strings.Contains(st, ev.Market.String())
		}
		return true
	}
	if s.gaps.HasDown && covers(s.gaps.Down) {
		return true
	}
	return slices.ContainsFunc(s.gaps.Gaps, covers)
}

// blindFor is how long the box was blind within [from, to): the union of
// its gaps' time there, its downtime included.
func (s *side) blindFor(from, to time.Time) time.Duration {
	type span struct{ a, b int64 }
	var spans []span
	all := s.gaps.Gaps
	if s.gaps.HasDown {
		all = append(all[:len(all):len(all)], s.gaps.Down)
	}
	for _, g := range all {
		end := g.End
		if g.IsOpen() {
			end = s.gaps.Now
		}
		a, b := max(g.Start.UnixNano(), from.UnixNano()), min(end.UnixNano(), to.UnixNano())
		if b > a {
			spans = append(spans, span{a, b})
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.a, y.a) })
	var total, reach int64
	for _, sp := range spans {
		if sp.a > reach {
			total += sp.b - sp.a
			reach = sp.b
		} else if sp.b > reach {
			total += sp.b - reach
			reach = sp.b
		}
	}
	return time.Duration(total)
}

// match pairs a's events with b's: the same Key first, then the closest
// copy under the rule; each event is in at most one pair. It returns, for
// each event of a, the index of its copy in b (−1: none), and the
// disagreement of each pair.
func match(a, b []event.Event, rule event.MatchRule) (pair []int, dis []event.Disagreement) {
	pair, dis = make([]int, len(a)), make([]event.Disagreement, len(a))
	for i := range pair {
		pair[i] = -1
	}
	taken := make([]bool, len(b))
	byKey := map[uint64][]int{}
	for i := range a {
		k := a[i].Key()
		byKey[k] = append(byKey[k], i)
	}
	for j := range b {
		for n, i := range byKey[b[j].Key()] {
			if pair[i] < 0 {
				pair[i], taken[j] = j, true
				_, dis[i], _ = rule.Compare(&a[i], &b[j])
				byKey[b[j].Key()] = slices.Delete(byKey[b[j].Key()], n, n+1)
				break
			}
		}
	}
	// The rest by the rule, per venue and symbol, a's events sorted by
	// exchange time so each of b's searches only its window.
	groups := map[[2]string][]int{}
	for i := range a {
		if pair[i] < 0 {
			k := [2]string{a[i].Venue.String(), a[i].Symbol.String()}
			groups[k] = append(groups[k], i)
		}
	}
	for _, g := range groups {
		slices.SortFunc(g, func(x, y int) int { return cmp.Compare(a[x].TimeMs, a[y].TimeMs) })
	}
	w := rule.Window.Milliseconds()
	for j := range b {
		if taken[j] {
			continue
		}
		g := groups[[2]string{b[j].Venue.String(), b[j].Symbol.String()}]
		lo, _ := slices.BinarySearchFunc(g, b[j].TimeMs-w, func(i int, t int64) int { return cmp.Compare(a[i].TimeMs, t) })
		best, bestDist := -1, math.Inf(1)
		var bestDis event.Disagreement
		for _, i := range g[lo:] {
			if a[i].TimeMs > b[j].TimeMs+w {
				break
			}
			if pair[i] >= 0 {
				continue
			}
			if same, d, dist := rule.Compare(&a[i], &b[j]); same && dist < bestDist {
				best, bestDist, bestDis = i, dist, d
			}
		}
		if best >= 0 {
			pair[best], dis[best], taken[j] = j, bestDis, true
		}
	}
	return pair, dis
}

// streamOf names the stream an event came in on as far as the log tells:
// the relay's, or the venue's market (Bybit's two streams are its linear
// and inverse endpoints; the other venues have one).
func streamOf(ev *event.Event) string {
	if ev.Source() == event.SourceRelay {
		return ingest.RelayStream
	}
	return ev.Market.String()
}

// percentiles are the p50, p95 and p99 of samples (seconds), nearest rank;
// nil without samples.
func percentiles(samples []float64) (p50, p95, p99 *float64) {
	if len(samples) == 0 {
		return nil, nil, nil
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q := func(p float64) *float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		v := s[max(0, min(i, len(s)-1))]
		return &v
	}
	return q(0.50), q(0.95), q(0.99)
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func chatName(id int64) string { return strconv.FormatInt(id, 10) }
